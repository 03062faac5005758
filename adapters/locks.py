"""A Redis lock with expiry: one sync per channel and one outbox drain per order, across all workers."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class Lock:
    def __init__(self, redis: Redis, key: str, ttl_ms: int) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = secrets.token_hex(16)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def extend(self) -> bool:
        """Long syncs call this between pages so the lock outlives them but not a dead worker."""
        return bool(await self.redis.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)


@asynccontextmanager
async def try_lock(redis: Redis, key: str, ttl_ms: int = 60_000) -> AsyncIterator[Lock | None]:
    """Yields the held lock, or None when another process holds it. `key` is the full Redis key."""
    lock = Lock(redis, key, ttl_ms)
    if not await lock.acquire():
        yield None
        return
    try:
        yield lock
    finally:
        await lock.release()


@asynccontextmanager
async def wait_lock(redis: Redis, key: str, ttl_ms: int = 30_000, wait_s: float = 30.0) -> AsyncIterator[Lock]:
    """Like try_lock, but waits (polling) up to `wait_s` for the holder; TimeoutError after that."""
    lock = Lock(redis, key, ttl_ms)
    deadline = asyncio.get_running_loop().time() + wait_s
    while not await lock.acquire():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"lock {key} still held after {wait_s}s")
        await asyncio.sleep(0.05)
    try:
        yield lock
    finally:
        await lock.release()
