"""Process a recorded webhook: import the order it carries, or ask for a (coalesced) sync.

The import is the sync's own page import (content hash, older-copy check, retried on a concurrent
write), so a webhook racing a poll of the same order converges to one row and one event per change,
and a late webhook never overwrites a newer order.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from arq import Retry

from adapters.channels.catalog import spec_for
from adapters.locks import try_lock
from adapters.persistence import models
from adapters.persistence.repositories import ConcurrentUpdate
from adapters.runtime import Runtime
from domain.model import ConnectionState, SyncStatus, SyncTrigger
from jobs.sync import import_page, start_sync_run

log = logging.getLogger(__name__)

PROCESSED, FAILED = "PROCESSED", "FAILED"
#: A page import that keeps losing to concurrent writes is retried by arq this many times.
MAX_TRIES = 5
SYNCABLE = (ConnectionState.CONNECTED.value, ConnectionState.ERROR.value)


async def process_webhook(ctx: dict[str, Any], delivery_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    delivery = await models.WebhookDelivery.get_or_none(id=delivery_id)
    if delivery is None:
        return "missing"
    if delivery.status == PROCESSED:
        return "done"  # arq ran the job twice
    channel = await models.Channel.get_or_none(id=delivery.channel_id)  # type: ignore[attr-defined]
    spec = spec_for(channel.kind) if channel is not None else None
    if channel is None or spec is None or spec.webhooks is None or channel.state == ConnectionState.DISABLED.value:
        return await _finish(delivery, FAILED, "The channel no longer takes webhooks")
    try:
        credentials = runtime.secrets.decrypt(channel.credentials) if channel.credentials else {}
        orders = spec.webhooks.orders(delivery.topic, delivery.body.encode(), credentials)
        if orders is None:
            outcome = await request_sync(runtime, channel)
        else:
            counts = await import_page(runtime, channel, orders)
            outcome = f"imported: {counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged"
    except ConcurrentUpdate:
        if ctx.get("job_try", 1) < MAX_TRIES:
            raise Retry(defer=ctx.get("job_try", 1) * 0.5) from None
        return await _finish(delivery, FAILED, "The order kept changing while it was imported; the next sync reads it")
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("webhook %s of channel %s unreadable: %s", delivery.event_id, channel.id, exc)
        return await _finish(delivery, FAILED, f"Unreadable payload: {exc}")
    return await _finish(delivery, PROCESSED, None, outcome)


async def request_sync(runtime: Runtime, channel: models.Channel) -> str:
    """One queued webhook sync per channel at a time: a burst of thin webhooks costs one sync.

    A run still QUEUED has not listed anything yet, so it will see every change announced before now;
    a RUNNING one may have listed already, so it does not count. The lock makes check-and-create atomic.
    """
    if channel.state not in SYNCABLE:
        return f"no sync: the channel is {channel.state}"
    async with try_lock(runtime.redis, runtime.key(f"lock:webhook-sync:{channel.id}"), 10_000) as lock:
        if lock is None:
            return "sync being requested by another webhook"
        queued = await models.SyncRun.filter(
            channel_id=channel.id, trigger=SyncTrigger.WEBHOOK.value, status=SyncStatus.QUEUED.value
        ).exists()
        if queued:
            return "sync already queued"
        run_id = await start_sync_run(runtime, channel.account_id, channel.id, SyncTrigger.WEBHOOK)
        return f"sync run {run_id} queued"


async def _finish(delivery: models.WebhookDelivery, status: str, error: str | None, outcome: str = "") -> str:
    await models.WebhookDelivery.filter(id=delivery.id).update(
        status=status, error=error, processed_at=datetime.now(UTC)
    )
    return outcome or f"{status.lower()}: {error}"
