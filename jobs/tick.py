"""The worker's clock: what is due now is enqueued (arq's unique cron runs it once across workers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from arq.constants import in_progress_key_prefix
from tortoise.expressions import Q

from adapters.persistence import models
from adapters.runtime import Runtime
from domain.model import ConnectionState, SyncStatus
from jobs.forwarding import stranded_pushes
from jobs.notify import due_notifications
from jobs.shipping import reconcile_purchases

#: An outbox row this late was not picked up after its commit (enqueue lost): pick it up now.
OUTBOX_GRACE = timedelta(seconds=10)
#: A RUNNING sync whose worker died (its lock lease ran out) is resumed after this long, not at the next poll.
ORPHAN_GRACE = timedelta(seconds=20)
#: A webhook recorded but never processed (crash before the enqueue, Redis lost the job).


async def tick(ctx: dict[str, Any]) -> dict[str, int]:
    runtime: Runtime = ctx["runtime"]
    now = datetime.now(UTC)
    syncs = await _due_syncs(runtime, now)
    writes = await _due_writes(runtime, now)
    webhooks = await _stranded_webhooks(runtime, now)
    resumed = await _orphaned_syncs(runtime, now)
    notices = await due_notifications(runtime)
    pushes = await stranded_pushes(runtime, now)
    await reconcile_purchases(runtime)
    interval = runtime.settings.tracking_interval_seconds
    bucket = int(now.timestamp() // interval)
    await runtime.enqueue("track_shipments", job_id=f"track:{bucket}")
    return {
        "syncs": syncs,
        "writes": writes,
        "webhooks": webhooks,
        "resumed": resumed,
        "notices": notices,
        "pushes": pushes,
    }


async def _due_syncs(runtime: Runtime, now: datetime) -> int:
    due = await models.Channel.filter(
        Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now),
        state__in=[ConnectionState.CONNECTED.value, ConnectionState.ERROR.value],
    ).values_list("id", flat=True)
    for channel_id in due:
        # A fixed id per channel and minute: many ticks or workers, one scheduled sync.
        await runtime.enqueue("sync_channel", channel_id, job_id=f"sync:{channel_id}:{int(now.timestamp() // 30)}")
    return len(due)


async def _due_writes(runtime: Runtime, now: datetime) -> int:
    order_ids = await (
        models.OutboxWrite.filter(status="PENDING", next_attempt_at__lte=now - OUTBOX_GRACE)
        .distinct()
        .limit(200)
        .values_list("order_id", flat=True)
    )
    for order_id in order_ids:
        await runtime.enqueue_outbox(order_id)
    return len(order_ids)


async def _stranded_webhooks(runtime: Runtime, now: datetime) -> int:
    grace = timedelta(seconds=runtime.settings.webhook_rescue_seconds)
    delivery_ids = await (
        models.WebhookDelivery.filter(status="RECEIVED", received_at__lte=now - grace)
        .order_by("id")
        .limit(200)
        .values_list("id", flat=True)
    )
    rescued = 0
    for delivery_id in delivery_ids:
        # The endpoint's own job id first: a job that was lost is queued again under it.
        if await runtime.enqueue("process_webhook", delivery_id, job_id=f"webhook:{delivery_id}") is not None:
            rescued += 1
        elif await _started_and_stuck(runtime, f"webhook:{delivery_id}"):
            # Arrived `grace` ago and still unfinished: its worker was killed, and arq would leave the job
            # in-progress for job_timeout + 10 s (5 min). A second run is harmless: the import is idempotent.
            bucket = int(now.timestamp() // grace.total_seconds())
            await runtime.enqueue("process_webhook", delivery_id, job_id=f"webhook-rescue:{delivery_id}:{bucket}")
            rescued += 1
    return rescued


async def _started_and_stuck(runtime: Runtime, job_id: str) -> bool:
    """A job arq shows as in progress (a job merely waiting in the queue is left alone)."""
    return bool(await runtime.redis.exists(in_progress_key_prefix + runtime.key(job_id)))


async def _orphaned_syncs(runtime: Runtime, now: datetime) -> int:
    """Runs nobody is working on: RUNNING without the channel's lock (their worker was killed), or QUEUED
    for long (their job was lost with Redis). Run them again: a sync job for a finished run does nothing."""
    running = await models.SyncRun.filter(
        status=SyncStatus.RUNNING.value, started_at__lte=now - ORPHAN_GRACE
    ).values_list("id", "channel_id")
    queued = await models.SyncRun.filter(
        status=SyncStatus.QUEUED.value, created_at__lte=now - ORPHAN_GRACE
    ).values_list("id", "channel_id")
    resumed = 0
    for run_id, channel_id in [*running, *queued]:
        if await runtime.redis.exists(runtime.key(f"lock:sync:{channel_id}")):
            continue  # the channel is being synced: this run's turn comes after
        bucket = int(now.timestamp() // 30)
        await runtime.enqueue("sync_channel", channel_id, run_id, job_id=f"sync-resume:{run_id}:{bucket}")
        resumed += 1
    return resumed
