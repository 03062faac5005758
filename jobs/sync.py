"""Import from a channel: page by page, one transaction a page, one sync per channel at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.channels.catalog import spec_for
from adapters.locks import Lock, try_lock
from adapters.persistence import models
from adapters.persistence.repositories import ConcurrentUpdate
from adapters.runtime import Runtime
from domain import services
from domain.model import ConnectionState, SyncStatus, SyncTrigger
from domain.ports import ChannelAuthFailed, ChannelFailure, ChannelThrottled
from jobs import forwarding

log = logging.getLogger(__name__)

#: Poll a little before the cursor: a late-committed order on the channel is not missed.
OVERLAP = timedelta(minutes=5)
LOCK_TTL_MS = 120_000
MAX_BACKOFF_S = 3600.0
PAGE_ATTEMPTS = 3


async def start_sync_run(runtime: Runtime, account_id: int, channel_id: int, trigger: SyncTrigger) -> int:
    """Records a QUEUED run and enqueues it; the run id is what `syncChannel` returns."""
    async with runtime.uow("api") as uow:
        run = await models.SyncRun.create(
            account_id=account_id,
            channel_id=channel_id,
            trigger=trigger.value,
            status=SyncStatus.QUEUED.value,
            using_db=uow.connection,
        )
        uow.add_event(account_id, "SYNC_RUN_UPDATED", _run_data(run), channel_id=channel_id, sync_run_id=run.id)
    # A sync asked for now also counts as the scheduled one: the tick does not start a second.
    channel = await models.Channel.get(id=channel_id)
    await models.Channel.filter(id=channel_id).update(
        next_sync_at=datetime.now(UTC) + timedelta(seconds=channel.sync_interval_seconds)
    )
    await runtime.enqueue("sync_channel", channel_id, run.id, job_id=f"sync-run:{run.id}")
    return int(run.id)


async def sync_channel(ctx: dict[str, Any], channel_id: int, run_id: int | None = None) -> str:
    runtime: Runtime = ctx["runtime"]
    async with try_lock(runtime.redis, runtime.key(f"lock:sync:{channel_id}"), LOCK_TTL_MS) as lock:
        if lock is None:
            if run_id is not None:  # asked for by hand: run it when the current one ends
                await runtime.enqueue("sync_channel", channel_id, run_id, defer_by=2)
            return "busy"
        channel = await models.Channel.get_or_none(id=channel_id)
        if channel is None:
            return "skipped"
        if channel.state not in (ConnectionState.CONNECTED, ConnectionState.ERROR):
            if run_id is not None:  # asked for by hand: say why nothing happened
                run = await _load_or_create_run(channel, run_id)
                run.status, run.finished_at = SyncStatus.FAILED.value, _now()
                run.error = f"The channel is {channel.state}: {channel.last_error or 'reconnect it to sync again'}"
                await _save_run(runtime, run)
            return "skipped"
        run = await _load_or_create_run(channel, run_id)
        if run.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED):
            return "done"  # arq ran the job twice: the run already finished
        # We hold the channel's lock: any other RUNNING run was cut off (worker killed, shutdown).
        await (
            models.SyncRun.filter(channel_id=channel_id, status=SyncStatus.RUNNING.value)
            .exclude(id=run.id)
            .update(
                status=SyncStatus.FAILED.value,
                finished_at=_now(),
                error="Interrupted (worker stopped); a new run took over",
            )
        )
        client, _ = await runtime.channel_client(channel_id)
        run.status, run.started_at, run.cursor_before = SyncStatus.RUNNING.value, _now(), channel.sync_cursor
        await _save_run(runtime, run)
        heartbeat = asyncio.create_task(_keep_lock(lock))
        try:
            await _import_all(runtime, channel, run, client, lock)
        except ChannelFailure as exc:
            await _fail(runtime, channel, run, exc)
            return "failed"
        except Exception:
            # A bug, not the store: the run must still end, visibly, and the next one can retry.
            log.exception("sync of channel %s crashed", channel_id)
            await _fail(runtime, channel, run, ChannelFailure("Waybill hit an internal error; it has been logged"))
            return "failed"
        finally:
            heartbeat.cancel()
            await client.aclose()
        run.status, run.finished_at, run.cursor_after = SyncStatus.SUCCEEDED.value, _now(), channel.sync_cursor
        await _save_run(runtime, run)
        next_sync = _now() + timedelta(seconds=channel.sync_interval_seconds)
        await models.Channel.filter(id=channel_id).update(
            last_synced_at=_now(), next_sync_at=next_sync, consecutive_failures=0
        )
        # Only a channel still healthy or in plain ERROR is cleared: a NEEDS_REAUTH flag raised
        # meanwhile (e.g. by a refused write) stays until the merchant reconnects.
        await models.Channel.filter(
            id=channel_id, state__in=[ConnectionState.CONNECTED.value, ConnectionState.ERROR.value]
        ).update(state=ConnectionState.CONNECTED.value, last_error=None)
        return "succeeded"


async def _keep_lock(lock: Lock) -> None:
    """Extends the channel lock while the sync runs, however long one page takes."""
    while True:
        await asyncio.sleep(LOCK_TTL_MS / 3000)
        if not await lock.extend():
            log.warning("lost the sync lock of %s", lock.key)
            return


async def _import_all(runtime: Runtime, channel: models.Channel, run: models.SyncRun, client: Any, lock: Any) -> None:
    since = channel.sync_cursor - OVERLAP if channel.sync_cursor else None
    spec = spec_for(channel.kind)
    per_page = spec is None or spec.pages_in_update_order
    newest_seen: datetime | None = None
    fetching: asyncio.Future[Any] | None = asyncio.ensure_future(client.list_orders(since, None))
    while fetching is not None:
        try:
            result = await fetching
        except BaseException:
            fetching.cancel()  # a cancelled sync must not leave the read behind it running
            raise
        # The next page is read while this one is written: the store answers while the database works.
        # The cursor still moves only after this page committed; a failed write discards the read ahead.
        fetching = asyncio.ensure_future(client.list_orders(since, result.next_page)) if result.next_page else None
        try:
            newest_seen = await _import_fetched(runtime, channel, run, result, newest_seen, per_page)
        except BaseException:
            await _discard(fetching)
            raise
    if newest_seen is not None:
        await _advance_cursor(channel, newest_seen)


async def _import_fetched(
    runtime: Runtime,
    channel: models.Channel,
    run: models.SyncRun,
    result: Any,
    newest_seen: datetime | None,
    per_page: bool,
) -> datetime | None:
    counts = await import_page(runtime, channel, result.orders)
    run.pages += 1
    for name in ("fetched", "created", "updated", "unchanged", "failed"):
        setattr(run, name, getattr(run, name) + getattr(counts, name))
    if result.unreadable:
        run.fetched += len(result.unreadable)
        run.failed += len(result.unreadable)
        run.error = "; ".join(f"order {external_id}: {why}" for external_id, why in result.unreadable[:5])
        log.warning("channel %s: %d unreadable orders skipped", channel.id, len(result.unreadable))
    if result.orders:
        newest = max(order.channel_updated_at for order in result.orders)
        newest_seen = newest if newest_seen is None else max(newest, newest_seen)
        if per_page:
            # Only after the page committed: a crash re-reads this page, never skips it.
            await _advance_cursor(channel, newest_seen)
    await _save_run(runtime, run)
    return newest_seen


async def _discard(fetching: asyncio.Future[Any] | None) -> None:
    """Stops a read ahead that is no longer wanted, and swallows what it raised (the caller's error wins)."""
    if fetching is None:
        return
    fetching.cancel()
    with contextlib.suppress(BaseException):
        await fetching


async def _advance_cursor(channel: models.Channel, newest: datetime) -> None:
    if channel.sync_cursor is None or newest > channel.sync_cursor:
        channel.sync_cursor = newest
        await channel.save(update_fields=["sync_cursor", "updated_at"])


async def import_page(runtime: Runtime, channel: models.Channel, orders: list[Any]) -> services.ImportCounts:
    """A label bought or tracked on one of the page's orders meanwhile rolls the page back;
    the import is idempotent, so the page is simply read against the new state again."""
    # Waybill's own forwarded copies on a store are not orders of the store: their tracking goes back instead.
    plain, copies = forwarding.split_copies(orders)
    if copies:
        plain += await forwarding.import_copies(runtime, channel, copies)
    for attempt in range(PAGE_ATTEMPTS):
        try:
            uow = runtime.uow(f"sync:{channel.id}")
            counts = await services.import_orders(uow, channel.account_id, channel.id, plain)
        except ConcurrentUpdate:
            if attempt == PAGE_ATTEMPTS - 1:
                raise
            continue
        counts.fetched += len(orders) - len(plain)
        counts.unchanged += len(orders) - len(plain)
        try:
            await forwarding.after_import(runtime, channel, uow.committed_events)
        except Exception:  # the page is in; forwarding must not fail the sync (the order's next change retries)
            log.exception("forwarding after the import of channel %s failed", channel.id)
        return counts
    raise AssertionError("unreachable")


def failure_backoff(failures: int, interval_s: int, retry_after: float | None) -> float:
    """Seconds to the next try after `failures` failed syncs in a row: doubling from a minute, capped at
    the longer of an hour and the channel's own interval, never sooner than the platform asked."""
    delay = min(60.0 * 2 ** max(0, failures - 1), max(MAX_BACKOFF_S, float(interval_s)))
    return max(delay, retry_after or 0.0)


async def _fail(runtime: Runtime, channel: models.Channel, run: models.SyncRun, exc: ChannelFailure) -> None:
    title = _platform(channel)
    fields = ["state", "last_error", "next_sync_at", "consecutive_failures", "updated_at"]
    if isinstance(exc, ChannelThrottled):
        # Not the channel's fault and not a failure: the cursor kept every committed page, so the
        # next run resumes where this one stopped, as soon as the platform allows.
        wait = max(1.0, exc.retry_after or 0.0)
        message = f"{title} asked Waybill to slow down; the sync resumes in {wait:.0f} s from where it stopped."
        channel.next_sync_at = _now() + timedelta(seconds=wait)
        await channel.save(update_fields=["next_sync_at", "updated_at"])
        run.status, run.finished_at, run.error = SyncStatus.FAILED.value, _now(), message
        await _save_run(runtime, run)
        log.info("sync of channel %s throttled for %.0fs", channel.id, wait)
        return
    channel.consecutive_failures += 1
    if isinstance(exc, ChannelAuthFailed):
        channel.state = ConnectionState.NEEDS_REAUTH.value
        message = f"{title} refused Waybill's access ({exc.message}). Reconnect the channel to resume syncing."
    else:
        channel.state = ConnectionState.ERROR.value
        delay = failure_backoff(channel.consecutive_failures, channel.sync_interval_seconds, exc.retry_after)
        message = (
            f"{title} could not be reached or refused the request: {exc.message}. "
            f"Waybill will try again in {_duration(delay)}"
            + (f" ({channel.consecutive_failures} failures in a row)." if channel.consecutive_failures > 1 else ".")
        )
        channel.next_sync_at = _now() + timedelta(seconds=delay)
    channel.last_error = message
    await channel.save(update_fields=fields)
    run.status, run.finished_at, run.error = SyncStatus.FAILED.value, _now(), message
    await _save_run(runtime, run)
    log.warning("sync of channel %s failed: %s", channel.id, exc.message)


async def _load_or_create_run(channel: models.Channel, run_id: int | None) -> models.SyncRun:
    if run_id is not None:
        run = await models.SyncRun.get_or_none(id=run_id, channel_id=channel.id)
        if run is not None:
            return run
    return await models.SyncRun.create(
        account_id=channel.account_id,
        channel_id=channel.id,
        trigger=SyncTrigger.SCHEDULE.value,
        status=SyncStatus.QUEUED.value,
    )


async def _save_run(runtime: Runtime, run: models.SyncRun) -> None:
    async with runtime.uow("sync") as uow:
        await run.save(using_db=uow.connection)
        uow.add_event(run.account_id, "SYNC_RUN_UPDATED", _run_data(run), channel_id=run.channel_id, sync_run_id=run.id)


def _run_data(run: models.SyncRun) -> dict[str, Any]:
    return {"status": run.status, "pages": run.pages, "fetched": run.fetched, "created": run.created}


def _platform(channel: models.Channel) -> str:
    spec = spec_for(channel.kind)
    return spec.title if spec else "The store"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def _now() -> datetime:
    return datetime.now(UTC)
