"""Live events across processes: Redis pub/sub carries them, the event log fills any gap.

One pub/sub connection per process fans out to every local subscriber, so a thousand
dashboards cost one Redis connection. Events carry their log id; a subscriber that falls
behind, reconnects, or lives through a Redis restart catches up from the log, in order,
without duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

Backlog = Callable[[int, int], Awaitable[list[dict[str, Any]]]]
LatestId = Callable[[int], Awaitable[int]]


#: Event ids are handed out at insert but become visible at commit, so on PostgreSQL a
#: concurrent transaction can make id 10 visible after id 11. Catch-up therefore re-reads
#: this many ids below the newest one seen, and delivery dedupes by id instead of by order.
LATE_COMMIT_WINDOW = 200
SEEN_KEPT = 4096


@dataclass(eq=False)
class _Subscriber:
    account_id: int
    floor: int  # events at or below this id happened before the subscription
    last_id: int
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    lagging: bool = False
    seen: dict[int, None] = field(default_factory=dict)  # insertion-ordered, trimmed to SEEN_KEPT

    def fresh(self, event: dict[str, Any]) -> bool:
        """True once per event id above the floor; remembers it."""
        event_id = int(event["id"])
        if event_id <= self.floor or event_id in self.seen:
            return False
        self.seen[event_id] = None
        if len(self.seen) > SEEN_KEPT:
            del self.seen[next(iter(self.seen))]
        self.last_id = max(self.last_id, event_id)
        return True


class EventBus:
    def __init__(self, redis: Redis, backlog: Backlog, latest_id: LatestId, channel: str) -> None:
        """`backlog(account_id, after_id)` reads the event log (a page, oldest first): the truth behind pub/sub."""
        self._redis = redis
        self._backlog = backlog
        self._latest_id = latest_id
        self._channel = channel
        self._subscribers: set[_Subscriber] = set()
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def publish(self, events: list[dict[str, Any]]) -> None:
        """Best effort: a lost message is recovered from the log by the subscriber."""
        if not events:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self._channel, json.dumps(event, default=str))
                await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("event publish failed (%s); subscribers will catch up from the log", exc)

    async def subscribe(self, account_id: int, after_id: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Events of one account, each once, in commit order, after `after_id` (None: only new ones)."""
        self._ensure_reader()
        await asyncio.wait_for(self._connected.wait(), timeout=10)
        start = after_id if after_id is not None else await self._latest_id(account_id)
        subscriber = _Subscriber(account_id, floor=start, last_id=start)
        self._subscribers.add(subscriber)
        try:
            missed = await self._missed(subscriber)
            while True:
                while missed:
                    for event in missed:
                        yield event
                    missed = await self._missed(subscriber)
                event = await subscriber.queue.get()
                if event is not None and subscriber.fresh(event):
                    yield event
                if event is None or (subscriber.lagging and subscriber.queue.empty()):
                    missed = await self._missed(subscriber)  # lagged or reconnected: the log has the gap
        finally:
            self._subscribers.discard(subscriber)

    async def _missed(self, subscriber: _Subscriber) -> list[dict[str, Any]]:
        """What the log has that this subscriber has not seen, including late commits just below."""
        subscriber.lagging = False
        since = max(subscriber.floor, subscriber.last_id - LATE_COMMIT_WINDOW)
        page = await self._backlog(subscriber.account_id, since)
        fresh = [event for event in page if subscriber.fresh(event)]
        return fresh

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="waybill-event-bus")

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._connected.set()
                delay = 0.1
                for subscriber in list(self._subscribers):
                    self._wake(subscriber)  # anything published while we were away is in the log
                async for message in pubsub.listen():
                    self._dispatch(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("event bus lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _dispatch(self, event: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.account_id != event.get("account_id") or subscriber.lagging:
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.lagging = True
                self._wake(subscriber)

    @staticmethod
    def _wake(subscriber: _Subscriber) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            subscriber.queue.put_nowait(None)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for subscriber in list(self._subscribers):
            self._wake(subscriber)
