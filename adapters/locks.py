"""A Redis lock with expiry: one sync per channel and one outbox drain per order, across all workers.

The lock is a short lease that its holder renews in the background for as long as it holds it. A
holder that dies (SIGKILL, a lost machine) stops renewing, so its lock is free again within
MAX_LEASE_MS, not after the caller's whole `ttl_ms`: a killed worker used to block an order's
write-backs for a minute and a channel's sync for two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Longest a lock outlives a holder that stopped renewing it.
MAX_LEASE_MS = 10_000

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
        self.ttl_ms = min(ttl_ms, MAX_LEASE_MS)
        self.token = secrets.token_hex(16)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def extend(self) -> bool:
        """Long syncs call this between pages so the lock outlives them but not a dead worker."""
        return bool(await self.redis.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.token)
        except (RedisError, OSError) as exc:  # Redis gone: the lease expires by itself
            log.warning("could not release %s (%s); it expires within %d ms", self.key, exc, self.ttl_ms)

    async def renew_forever(self) -> None:
        """Renews the lease every third of it while the holder lives; survives a Redis blip."""
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                if not await self.extend():
                    log.warning("lost the lock %s (expired or Redis restarted)", self.key)
                    return
            except (RedisError, OSError) as exc:
                log.warning("could not renew %s (%s); trying again", self.key, exc)


@asynccontextmanager
async def _held(lock: Lock) -> AsyncIterator[Lock]:
    renewal = asyncio.create_task(lock.renew_forever(), name=f"renew {lock.key}")
    try:
        yield lock
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        await lock.release()


@asynccontextmanager
async def try_lock(redis: Redis, key: str, ttl_ms: int = 60_000) -> AsyncIterator[Lock | None]:
    """Yields the held lock, or None when another process holds it. `key` is the full Redis key."""
    lock = Lock(redis, key, ttl_ms)
    if not await lock.acquire():
        yield None
        return
    async with _held(lock) as held:
        yield held


@asynccontextmanager
async def wait_lock(redis: Redis, key: str, ttl_ms: int = 30_000, wait_s: float = 30.0) -> AsyncIterator[Lock]:
    """Like try_lock, but waits (polling) up to `wait_s` for the holder; TimeoutError after that."""
    lock = Lock(redis, key, ttl_ms)
    deadline = asyncio.get_running_loop().time() + wait_s
    while not await lock.acquire():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"lock {key} still held after {wait_s}s")
        await asyncio.sleep(0.05)
    async with _held(lock) as held:
        yield held
