"""Forward marketplace orders into the store platform, and bring the store's tracking back (docs/forwarding.md).

- `request_push`: pushOrder and the after-import hook record a NOT_SENT push and enqueue `push_order`.
- `push_order` (arq): looks for the copy by its reference on the store first, creates it only if missing, so a
  retried or duplicated job never makes two.
- `after_import`: called by the sync's page import once it committed; queues eligible orders and flags forwarded
  ones the marketplace cancelled afterwards.
- `import_copies`: the store's own sync sees the copies; they are never imported as orders, but their
  fulfillments become shipments of the marketplace order, whose write goes to the marketplace via the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError

from adapters.channels.catalog import spec_for
from adapters.locks import try_lock
from adapters.persistence import forwarding as store
from adapters.persistence import models
from adapters.persistence.repositories import ConcurrentUpdate, DuplicateIdempotencyKey
from adapters.runtime import Runtime
from domain import forwarding as rules
from domain import lifecycle
from domain.forwarding import ForwardedCopy, ForwardingSettings, PushStatus, StoreFulfillment
from domain.model import ChannelCapability, ChannelKind, OrderStatus, Shipment, ShipmentLine, ShipmentStatus
from domain.ports import ChannelFailure

log = logging.getLogger(__name__)

JOB = "push_order"
#: Transient failures (5xx, timeouts, throttling) are retried this many times before the push shows ERROR.
MAX_ATTEMPTS = 5
#: A queued push nobody worked on for this long (enqueue lost) is enqueued again by the tick.
STRANDED_AFTER = timedelta(seconds=30)
#: Shipments the store made are tracked by the store, not by Waybill's carriers.
NEVER_TRACK = datetime(9999, 1, 1, tzinfo=UTC)
_EVENTS = ("ORDER_IMPORTED", "ORDER_UPDATED")


def job_id(order_id: int, attempts: int) -> str:
    """One job per push attempt: a duplicate enqueue collapses, a retry after ERROR gets a fresh one."""
    return f"push:{order_id}:{attempts}"


async def enqueue_push(runtime: Runtime, order_id: int, attempts: int, defer_by: float | None = None) -> None:
    try:
        await runtime.enqueue(JOB, order_id, job_id=job_id(order_id, attempts), defer_by=defer_by)
    except (RedisError, OSError) as exc:  # the row is committed: the tick picks it up
        log.warning("could not enqueue the push of order %s (%s); the tick will", order_id, exc)


async def request_push(runtime: Runtime, account_id: int, order_id: int, target_id: int, trigger: str) -> store.Push:
    try:
        push, queued = await store.queue_push(account_id, order_id, target_id, trigger)
    except store.PushRaced:  # the other one enqueues it
        found = await store.get_push(order_id)
        assert found is not None
        return found
    if queued:
        await _event(runtime, push, "ORDER_PUSH_QUEUED")
        await enqueue_push(runtime, order_id, push.attempts)
    return push


async def forward_target(account_id: int, channel_id: int) -> models.Channel | None:
    """The account's channel `channel_id` if it is a store platform that takes forwarded orders."""
    channel = await models.Channel.get_or_none(id=channel_id, account_id=account_id)
    if channel is None:
        return None
    spec = spec_for(channel.kind)
    return channel if spec is not None and spec.can(ChannelCapability.FORWARD_TARGET) else None


async def push_order(ctx: dict[str, Any], order_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    async with try_lock(runtime.redis, runtime.key(f"lock:push:{order_id}"), 60_000) as lock:
        if lock is None:  # another worker is pushing this order; look again when it is done
            await runtime.enqueue(JOB, order_id, defer_by=2.0)
            return "busy"
        push = await store.get_push(order_id)
        if push is None or push.status is not PushStatus.NOT_SENT:
            return "nothing to do"
        found = await store.orders(push.account_id, [order_id])
        if not found:
            return "gone"
        order = found[0]
        source = await models.Channel.get(id=order.channel_id)
        if push.trigger == "AUTO" and order.status in (OrderStatus.CANCELLED, OrderStatus.ARCHIVED):
            await store.mark_skipped(push.id, "Not forwarded: the order was cancelled on the marketplace first")
            return "skipped"
        target = await forward_target(push.account_id, push.target_channel_id)
        if target is None:
            await store.mark_error(push.id, "The store channel to forward to is gone or cannot take orders", final=True)
            await _event(runtime, push, "ORDER_PUSH_FAILED")
            return "no target"
        spec = spec_for(source.kind)
        request = rules.request_for(order, spec.title if spec else source.kind)
        client, _ = await runtime.channel_client(target.id)
        try:
            # The reference is looked up first: a job that created the copy and died before recording it, or a
            # duplicated job, finds it instead of creating a second one.
            platform_id = await client.find_forwarded(request.reference)  # type: ignore[attr-defined]
            if platform_id is None:
                platform_id = await client.create_forwarded(request)  # type: ignore[attr-defined]
        except ChannelFailure as exc:
            final = not exc.retryable or push.attempts + 1 >= MAX_ATTEMPTS
            await store.mark_error(push.id, exc.message, final=final)
            await _event(runtime, push, "ORDER_PUSH_FAILED" if final else "ORDER_PUSH_RETRYING", error=exc.message)
            if not final:
                delay = max(exc.retry_after or 0.0, 0.5 * 2**push.attempts)
                await enqueue_push(runtime, order_id, push.attempts + 1, defer_by=delay)
            return "failed" if final else "retrying"
        finally:
            await client.aclose()
        await store.mark_sent(push.id, platform_id)
        await _event(runtime, push, "ORDER_PUSHED", platform_order_id=platform_id)
        return f"sent: {platform_id}"


async def after_import(runtime: Runtime, channel: models.Channel, events: Iterable[Any]) -> None:
    """After a page of a marketplace channel committed: queue what became eligible, flag late cancellations."""
    order_ids = sorted({e.order_id for e in events if e.type in _EVENTS and e.order_id is not None})
    if not order_ids or ChannelKind(channel.kind) not in rules.MARKETPLACES:
        return
    account_id: int = channel.account_id  # type: ignore[attr-defined]
    # Read now, not from the sync's channel row: a sync that started before updateForwarding committed would
    # otherwise import the page under the old setting, and the order, unchanged later, would never be pushed.
    current = await models.Channel.filter(id=channel.id, account_id=account_id).values_list("settings", flat=True)
    settings = ForwardingSettings.from_settings(current[0] if current else channel.settings)
    pushes = await store.pushes_for(account_id, order_ids)
    sent = [order_id for order_id in order_ids if order_id in pushes]
    if settings.mode is rules.ForwardMode.OFF and not sent:
        return
    orders = await store.orders(account_id, order_ids)
    managed: set[str] = set()
    if settings.mode is rules.ForwardMode.MANAGED:
        managed = await store.managed_skus(account_id, [line.sku or "" for o in orders for line in o.lines])
    for order in orders:
        assert order.id is not None
        push = pushes.get(order.id)
        if push is not None:
            text = rules.flag_after_update(order, push.status)
            if text and await store.flag(push.id, text):
                await _event(runtime, push, "ORDER_PUSH_FLAGGED", flag=text)
            continue
        if settings.to_channel_id is None:
            continue
        decision = rules.auto_decision(order, ChannelKind(channel.kind), settings, managed)
        if decision.forward:
            await request_push(runtime, account_id, order.id, settings.to_channel_id, "AUTO")


def split_copies(orders: Sequence[Any]) -> tuple[list[Any], list[ForwardedCopy]]:
    """A store page: (orders to import, Waybill's own forwarded copies)."""
    plain = [order for order in orders if not isinstance(order, ForwardedCopy)]
    return plain, [order for order in orders if isinstance(order, ForwardedCopy)]


async def import_copies(runtime: Runtime, channel: models.Channel, copies: Sequence[ForwardedCopy]) -> list[Any]:
    """Links each copy to its push and turns its fulfillments into shipments of the marketplace order.
    Returns the copies that belong to no push of this store channel: they are ordinary orders, imported as such."""
    account_id: int = channel.account_id  # type: ignore[attr-defined]
    strangers: list[Any] = []
    for copy in copies:
        push = await store.push_for_copy(account_id, channel.id, copy.waybill_order_id)
        if push is None:
            strangers.append(copy)
            continue
        if push.status is not PushStatus.SENT or push.platform_order_id != copy.external_id:
            # The job created it but died before recording it: the store's list proves it exists.
            await store.mark_sent(push.id, copy.external_id)
        for fulfillment in copy.fulfillments:
            if fulfillment.tracking_number:
                await _record_store_shipment(runtime, push, fulfillment)
    return strangers


async def _record_store_shipment(runtime: Runtime, push: store.Push, fulfillment: StoreFulfillment) -> None:
    """The store shipped the copy: the marketplace order gets the shipment, and its channel the tracking (outbox)."""
    key = f"forwarded:{push.id}:{fulfillment.fulfillment_id}"
    for attempt in range(3):
        try:
            await _add_store_shipment(runtime, push, fulfillment, key)
            return
        except DuplicateIdempotencyKey:
            return  # a webhook and a sync read the same parcel at once: the other one recorded it
        except ConcurrentUpdate:
            if attempt == 2:
                raise  # the page fails visibly and the next sync reads the parcel again


async def _add_store_shipment(runtime: Runtime, push: store.Push, fulfillment: StoreFulfillment, key: str) -> None:
    async with runtime.uow(f"forwarding:{push.target_channel_id}") as uow:
        # The order's lock first: two readers of the same parcel see each other's shipment.
        order = await uow.orders.get(push.account_id, push.order_id, for_update=True)
        if order is None or await uow.shipments.by_idempotency_key(push.account_id, key) is not None:
            return
        if order.status not in (OrderStatus.READY_TO_SHIP, OrderStatus.PARTIALLY_SHIPPED):
            return  # cancelled, flagged or shipped by Waybill meanwhile: nothing to tell the marketplace
        lines = rules.lines_shipped(order, fulfillment)
        if not lines:
            return
        company = fulfillment.company or "Other"
        shipment = await uow.shipments.add(
            Shipment(
                id=None,
                account_id=push.account_id,
                order_id=push.order_id,
                carrier=company,
                service="store",
                idempotency_key=key,
                lines=[ShipmentLine(line_id, channel_line_id, qty) for line_id, channel_line_id, qty in lines],
                status=ShipmentStatus.PURCHASED,
                tracking_number=fulfillment.tracking_number,
                tracking_url=fulfillment.url,
                carrier_name=company,
            )
        )
        await models.Shipment.filter(id=shipment.id).using_db(uow.connection).update(next_track_at=NEVER_TRACK)
        lifecycle.label_purchased(order, shipment)
        await uow.orders.save(order)


async def stranded_pushes(runtime: Runtime, now: datetime) -> int:
    """The tick's sweep: queued pushes whose job was lost."""
    order_ids = await store.stranded(now - STRANDED_AFTER)
    for order_id in order_ids:
        push = await store.get_push(order_id)
        if push is not None:
            await enqueue_push(runtime, order_id, push.attempts)
    return len(order_ids)


async def _event(runtime: Runtime, push: store.Push, type_: str, **data: Any) -> None:
    async with runtime.uow("forwarding") as uow:
        uow.add_event(push.account_id, type_, {"push_id": push.id, **data}, order_id=push.order_id)
