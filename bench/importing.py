"""Import benchmark: one full sync through the production path, then re-syncs of unchanged orders.

ShopHandle on loopback -> ShopifyClient (from the stored channel, via adapters.registry) -> mapper ->
domain.services.import_orders -> the database, driven by jobs.sync.sync_channel as the worker runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tortoise import connections

from adapters.persistence import models
from adapters.runtime import Runtime
from bench import baseline
from bench.env import Database, Tenant
from bench.profiling import Profile, profiling
from bench.shop_process import ShopHandle
from bench.sqlcount import counting_queries
from domain import services
from jobs.sync import sync_channel


@dataclass
class SyncMeasure:
    seconds: float
    persist_seconds: float  # inside domain.services.import_orders (transaction, commit, event publish)
    fetched: int
    created: int
    updated: int
    unchanged: int
    pages: int
    requests: dict[str, int]
    wrote_nothing: bool = True
    profile: Profile | None = None


@dataclass
class ImportMeasure:
    orders: int
    lines: int
    first: SyncMeasure
    incremental: SyncMeasure  # the next scheduled sync: only the cursor's overlap window is re-read
    full_reread: SyncMeasure  # cursor cleared: every order re-read and compared, none written
    fetch_only: float  # baseline: the same client reading every page (fulfillment orders too), storing nothing
    raw_insert: float  # baseline: orders + lines
    raw_insert_events: float  # baseline: orders + lines + the ORDER_IMPORTED event rows
    rss_growth_mib: float
    rss_peak_mib: float


@contextlib.contextmanager
def timing_import_orders() -> Iterator[list[float]]:
    """Wraps domain.services.import_orders (jobs.sync calls it through the module) to time each page."""
    spent: list[float] = []
    original: Callable[..., Awaitable[services.ImportCounts]] = services.import_orders

    async def timed(*args: Any, **kwargs: Any) -> services.ImportCounts:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    services.import_orders = timed
    try:
        yield spent
    finally:
        services.import_orders = original  # type: ignore[assignment]


def request_kinds(requests: list[tuple[str, str, dict[str, str]]]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for method, path, _ in requests:
        name = path.rsplit("/", 1)[-1]
        kind = (
            f"{method} {name}"
            if name in ("orders.json", "fulfillment_orders.json", "graphql.json")
            else f"{method} other"
        )
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


async def table_state() -> tuple[Any, ...]:
    """What a sync that writes nothing must leave as it was."""
    db = connections.get("default")
    orders = await db.execute_query_dict("SELECT COUNT(*) AS n, MAX(updated_at) AS m, SUM(version) AS v FROM orders")
    lines = await db.execute_query_dict("SELECT COUNT(*) AS n FROM order_lines")
    events = await db.execute_query_dict("SELECT COUNT(*) AS n FROM events WHERE type <> 'SYNC_RUN_UPDATED'")
    outbox = await db.execute_query_dict("SELECT COUNT(*) AS n FROM outbox_writes")
    return (*orders[0].values(), lines[0]["n"], events[0]["n"], outbox[0]["n"])


async def one_sync(runtime: Runtime, shop: ShopHandle, channel_id: int, profile_dir: Path | None = None) -> SyncMeasure:
    before_requests = await shop.request_count()
    before_state = await table_state()
    profile: Profile | None = None
    with timing_import_orders() as spent:
        async with profiling("import", profile_dir) if profile_dir else contextlib.nullcontext() as profile:
            started = time.perf_counter()
            outcome = await sync_channel({"runtime": runtime}, channel_id)
            seconds = time.perf_counter() - started
    if outcome != "succeeded":
        raise RuntimeError(f"sync ended {outcome!r}")
    run = await models.SyncRun.filter(channel_id=channel_id).order_by("-id").first()
    assert run is not None
    after_state = await table_state()
    return SyncMeasure(
        seconds=seconds,
        persist_seconds=sum(spent),
        fetched=run.fetched,
        created=run.created,
        updated=run.updated,
        unchanged=run.unchanged,
        pages=run.pages,
        requests=request_kinds(await shop.requests(before_requests)),
        wrote_nothing=before_state == after_state,
        profile=profile,
    )


async def fetch_only(runtime: Runtime, channel_id: int) -> float:
    """Seconds for the production client alone to read (and map) every order: the floor under any import."""
    client, _ = await runtime.channel_client(channel_id)
    try:
        started = time.perf_counter()
        page: str | None = None
        while True:
            result = await client.list_orders(None, page)
            if not result.next_page:
                return time.perf_counter() - started
            page = result.next_page
    finally:
        await client.aclose()


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def measure_import(
    runtime: Runtime, database: Database, shop: ShopHandle, tenant: Tenant, scratch: Path
) -> ImportMeasure:
    snapshot = scratch / "schema-snapshot.sqlite3"
    if database.kind == "sqlite":
        await asyncio.to_thread(baseline.sqlite_snapshot, database.sqlite_path, snapshot)
    rss_before = _maxrss_mib()
    first = await one_sync(runtime, shop, tenant.channel_id)
    rss_after = _maxrss_mib()
    incremental = await one_sync(runtime, shop, tenant.channel_id)
    await models.Channel.filter(id=tenant.channel_id).update(sync_cursor=None)
    full = await one_sync(runtime, shop, tenant.channel_id)
    fetch = await fetch_only(runtime, tenant.channel_id)
    if database.kind == "sqlite":
        raw = await asyncio.to_thread(
            baseline.sqlite_insert, database.sqlite_path, snapshot, scratch / "raw.sqlite3", with_events=False
        )
        raw_events = await asyncio.to_thread(
            baseline.sqlite_insert, database.sqlite_path, snapshot, scratch / "raw-events.sqlite3", with_events=True
        )
    else:
        assert database.url is not None
        raw = await baseline.postgres_insert(database.url, with_events=False)
        raw_events = await baseline.postgres_insert(database.url, with_events=True)
    return ImportMeasure(
        orders=shop.orders,
        lines=shop.lines,
        first=first,
        incremental=incremental,
        full_reread=full,
        fetch_only=fetch,
        raw_insert=raw,
        raw_insert_events=raw_events,
        rss_growth_mib=rss_after - rss_before,
        rss_peak_mib=rss_after,
    )


async def profile_import(runtime: Runtime, shop: ShopHandle, tenant: Tenant, out_dir: Path) -> Profile:
    """One more first import, profiled (slower than the timed ones: the profiler's own overhead)."""
    measure = await one_sync(runtime, shop, tenant.channel_id, profile_dir=out_dir)
    assert measure.profile is not None
    # Then the same first import again, unprofiled, counting statements (DEBUG logging costs: not timed).
    await models.Order.filter(channel_id=tenant.channel_id).delete()  # lines go with them (ON DELETE CASCADE)
    await models.Channel.filter(id=tenant.channel_id).update(sync_cursor=None)
    with counting_queries() as counter:
        await sync_channel({"runtime": runtime}, tenant.channel_id)
    verbs: dict[str, int] = {}
    for statement in counter.messages:
        verb = statement.split(" ", 1)[0].upper()
        verbs[verb] = verbs.get(verb, 0) + 1
    measure.profile.notes.append(
        f"SQL statements per imported order: {len(counter.messages) / shop.orders:.2f} ("
        + ", ".join(f"{verb} {count / shop.orders:.2f}" for verb, count in sorted(verbs.items()))
        + ")"
    )
    return measure.profile
