"""The event bus over real Redis/Valkey: fan-out per account, catch-up from the log, late commits, lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from adapters.bus import EventBus
from adapters.queue import EmbeddedValkey
from tests.support.harness import eventually

pytestmark = pytest.mark.queue


class Log:
    """The event log stand-in: the bus only reads it through these two callables."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, event_id: int, account_id: int = 1) -> dict[str, Any]:
        event = {"id": event_id, "account_id": account_id, "type": "ORDER_UPDATED"}
        self.events.append(event)
        return event

    async def after(self, account_id: int, after_id: int) -> list[dict[str, Any]]:
        found = [e for e in self.events if e["account_id"] == account_id and e["id"] > after_id]
        return sorted(found, key=lambda e: e["id"])[:500]

    async def latest(self, account_id: int) -> int:
        return max((e["id"] for e in self.events if e["account_id"] == account_id), default=0)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[Redis]:
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        server = EmbeddedValkey(tmp_path)
        url = server.start()
    client = Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()
        if server is not None:
            server.stop()


@contextlib.asynccontextmanager
async def collecting(bus: EventBus, account_id: int, after: int | None = None) -> AsyncIterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    async def run() -> None:
        async for event in bus.subscribe(account_id, after):
            received.append(event)

    task = asyncio.create_task(run())
    await asyncio.sleep(0)  # let the subscription register before the test publishes
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_account_gets_its_own_events_once(redis: Redis) -> None:
    log = Log()
    bus = EventBus(redis, log.after, log.latest, f"test:{secrets.token_hex(4)}")
    try:
        async with collecting(bus, 1) as mine, collecting(bus, 2) as theirs:
            await eventually(lambda: _subscribed(bus, 2))
            events = [log.add(1, account_id=1), log.add(2, account_id=2), log.add(3, account_id=1)]
            await bus.publish(events)
            await bus.publish([events[0]])  # a duplicate publish is delivered once
            await eventually(lambda: _ids(mine, [1, 3]))
            await eventually(lambda: _ids(theirs, [2]))
    finally:
        await bus.aclose()


async def test_resuming_after_an_id_replays_the_log_then_goes_live(redis: Redis) -> None:
    log = Log()
    for event_id in (1, 2, 3):
        log.add(event_id)
    bus = EventBus(redis, log.after, log.latest, f"test:{secrets.token_hex(4)}")
    try:
        async with collecting(bus, 1, after=1) as received:
            await eventually(lambda: _ids(received, [2, 3]))
            await bus.publish([log.add(4)])
            await eventually(lambda: _ids(received, [2, 3, 4]))
    finally:
        await bus.aclose()


async def test_a_late_commit_below_the_newest_id_is_not_lost(redis: Redis) -> None:
    log = Log()
    bus = EventBus(redis, log.after, log.latest, f"test:{secrets.token_hex(4)}")
    try:
        async with collecting(bus, 1) as received:
            await eventually(lambda: _subscribed(bus, 1))
            await bus.publish([log.add(11)])
            await eventually(lambda: _ids(received, [11]))
            await bus.publish([log.add(10)])  # committed after 11 (PostgreSQL can do this)
            await eventually(lambda: _ids(received, [11, 10]))
    finally:
        await bus.aclose()


async def test_a_lost_publish_is_recovered_from_the_log_on_the_next_wake_up(redis: Redis) -> None:
    log = Log()
    bus = EventBus(redis, log.after, log.latest, f"test:{secrets.token_hex(4)}")
    try:
        async with collecting(bus, 1) as received:
            await eventually(lambda: _subscribed(bus, 1))
            log.add(1)  # committed, but its publish never reached Redis
            await bus.publish([log.add(2)])
            await eventually(lambda: _ids(received, [2]))
            for subscriber in list(bus._subscribers):  # what a Redis reconnect does
                bus._wake(subscriber)
            await eventually(lambda: _ids(received, [2, 1]))
    finally:
        await bus.aclose()


async def _subscribed(bus: EventBus, count: int) -> bool:
    assert len(bus._subscribers) >= count
    return True


async def _ids(received: list[dict[str, Any]], expected: list[int]) -> bool:
    assert [e["id"] for e in received] == expected
    return True
