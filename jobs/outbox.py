"""Deliver owed channel writes: at least once, in order per order, with backoff until accepted.

Each write is made idempotent on the channel side by the adapter (a fulfillment with the
same tracking number is found, not created again), so a redelivery after a crash between
the channel's answer and our commit does nothing twice.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.carriers.catalog import carrier_title
from adapters.channels.catalog import spec_for
from adapters.locks import try_lock
from adapters.persistence import models, outbox
from adapters.runtime import Runtime
from domain.model import ChannelCapability, ConnectionState, WriteKind
from domain.ports import ChannelAuthFailed, ChannelClient, ChannelFailure, Tracking

log = logging.getLogger(__name__)

#: A write still failing after this long is given up and shown as failed on the order.
GIVE_UP_AFTER = timedelta(days=2)
MAX_DELAY_S = 3600.0
REAUTH_RETRY_S = 300.0


def backoff(attempts: int, retry_after: float | None) -> float:
    """Exponential with full jitter, never sooner than the channel asked."""
    delay = random.uniform(0, min(MAX_DELAY_S, 0.5 * 2**attempts))
    return max(delay, retry_after or 0.0, 0.2)


async def deliver_outbox(ctx: dict[str, Any], order_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    # A lease renewed while the drain runs (a slow channel keeps it), free soon after a crash.
    async with try_lock(runtime.redis, runtime.key(f"lock:outbox:{order_id}"), 60_000) as lock:
        if lock is None:  # another worker drains this order; look again once it is done
            await runtime.enqueue_outbox(order_id, defer_by=1.0)
            return "busy"
        rows = await outbox.pending_for_order(order_id)
        if not rows:
            return "empty"
        order = await models.Order.get(id=order_id)
        client, channel = await runtime.channel_client(order.channel_id)  # type: ignore[attr-defined]
        settings = dict(channel.settings or {})
        spec = spec_for(channel.kind)
        if spec is None or not spec.can(ChannelCapability.LOCATIONS):
            settings.pop("location_mapping", None)  # only platforms with locations are told one
        try:
            return await _drain(runtime, client, order, rows, settings)
        finally:
            await client.aclose()


async def _drain(
    runtime: Runtime, client: ChannelClient, order: models.Order, rows: list[Any], settings: dict[str, Any]
) -> str:
    for row in rows:
        now = datetime.now(UTC)
        if row.next_attempt_at > now:
            await runtime.enqueue_outbox(order.id, defer_by=(row.next_attempt_at - now).total_seconds())
            return "waiting"
        try:
            result = await _deliver(client, order.external_id, row, settings)
        except ChannelAuthFailed as exc:
            # Not the write's fault: it waits for the merchant to reconnect instead of failing for good.
            await _needs_reauth(order.channel_id, exc.message)  # type: ignore[attr-defined]
            await outbox.mark_retry(row.id, exc.message, REAUTH_RETRY_S)
            await _event(runtime, order, "CHANNEL_WRITE_RETRYING", row, error=exc.message)
            await runtime.enqueue_outbox(order.id, defer_by=REAUTH_RETRY_S)
            return "needs_reauth"
        except ChannelFailure as exc:
            if exc.retryable and now - row.created_at < GIVE_UP_AFTER:
                delay = backoff(row.attempts, exc.retry_after)
                await outbox.mark_retry(row.id, exc.message, delay)
                await _event(runtime, order, "CHANNEL_WRITE_RETRYING", row, error=exc.message)
                await runtime.enqueue_outbox(order.id, defer_by=delay)
                return "retrying"  # later writes wait: the channel sees them in order
            await outbox.mark_failed(row.id, exc.message)
            await _event(runtime, order, "CHANNEL_WRITE_FAILED", row, error=exc.message)
            log.warning("channel write %s for order %s failed for good: %s", row.kind, order.id, exc.message)
            continue
        except Exception:
            # A bug of ours: keep the write, retry later, and leave a trace.
            log.exception("delivering channel write %s for order %s crashed", row.id, order.id)
            delay = backoff(row.attempts, None)
            await outbox.mark_retry(row.id, "Waybill hit an internal error; it has been logged", delay)
            await runtime.enqueue_outbox(order.id, defer_by=delay)
            return "crashed"
        await outbox.mark_delivered(row.id, result)
        await _event(runtime, order, "CHANNEL_WRITE_DELIVERED", row)
    return "delivered"


def tracking_for(payload: dict[str, Any], settings: dict[str, Any]) -> Tracking:
    """How the parcel's carrier appears on the channel: the channel's carrier mapping first, then the carrier
    that moves the parcel (an aggregator's label names it), then Waybill's own name for the carrier."""
    carrier = payload.get("carrier_name") or payload["carrier"]
    mapped = (settings.get("carrier_mapping") or {}).get(payload["carrier"]) or (
        settings.get("carrier_mapping") or {}
    ).get(carrier)
    company = mapped or carrier_title(carrier)
    return Tracking(
        company=company,
        number=payload["tracking_number"],
        url=payload.get("tracking_url"),
        carrier=(mapped or carrier).lower(),
        service=payload.get("service"),
    )


async def _deliver(client: ChannelClient, external_id: str, row: Any, settings: dict[str, Any]) -> dict[str, Any]:
    payload = row.payload
    kind = WriteKind(row.kind)
    if kind is WriteKind.SHIPMENT_CREATED:
        tracking = tracking_for(payload, settings)
        lines = [(str(line_id), int(qty)) for line_id, qty in payload["lines"]]
        complete = bool(payload.get("completes_order", True))
        where: dict[str, Any] = {}
        if payload.get("location"):
            # buyLabel refused a location without a mapping on channels that need one; others ignore it.
            platform_location = (settings.get("location_mapping") or {}).get(payload["location"])
            if platform_location:
                where["location_id"] = str(platform_location)
        fulfillment_id = await client.create_fulfillment(external_id, lines, tracking, order_complete=complete, **where)
        await models.Shipment.filter(id=payload["shipment_id"]).update(channel_fulfillment_id=fulfillment_id)
        return {"fulfillment_id": fulfillment_id}
    if kind is WriteKind.ORDER_FULFILLED:
        lines = [(str(line_id), int(qty)) for line_id, qty in payload["lines"]]
        return {"fulfillment_id": await client.create_fulfillment(external_id, lines or None, None)}
    shipment = await models.Shipment.get(id=payload["shipment_id"])
    if shipment.channel_fulfillment_id is None:
        return {"skipped": "the shipment never reached the channel"}
    if kind is WriteKind.SHIPMENT_DELIVERED:
        await client.mark_delivered(external_id, shipment.channel_fulfillment_id)
    elif kind is WriteKind.SHIPMENT_CANCELLED:
        await client.cancel_fulfillment(external_id, shipment.channel_fulfillment_id)
    return {"fulfillment_id": shipment.channel_fulfillment_id}


async def _event(runtime: Runtime, order: models.Order, type_: str, row: Any, error: str | None = None) -> None:
    async with runtime.uow("outbox") as uow:
        data: dict[str, Any] = {"write_id": row.id, "kind": row.kind, "status": order.status}
        if error:
            data["error"] = error
        uow.add_event(order.account_id, type_, data, order_id=order.id)  # type: ignore[attr-defined]


async def _needs_reauth(channel_id: int, message: str) -> None:
    await models.Channel.filter(id=channel_id).update(
        state=ConnectionState.NEEDS_REAUTH.value,
        last_error=f"The store refused Waybill's access ({message}). Reconnect the channel to resume.",
    )
