"""A leaky bucket of query-cost points per API key, in Redis: one atomic Lua script per request.

Shopify's model: a key holds at most `capacity` points, `restore_rate` points come back each second,
and a request is charged its requested cost before it runs (the difference to its actual cost is
refunded after, or charged when the answer cost more: the bucket may then go below zero). Redis' own clock is used, so every API process sees the same bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# KEYS[1] the bucket; ARGV capacity, restore rate, cost (negative: a refund, always granted), force
# (1: taken even when the bucket does not hold it, for what an answer cost beyond its request).
_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local force = tonumber(ARGV[4]) or 0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'available', 'at')
local available = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
available = math.min(capacity, available + math.max(0, now - at) * rate)
local granted = 0
if cost <= available or force == 1 then
  available = math.min(capacity, available - cost)
  granted = 1
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {granted, tostring(available)}
"""


@dataclass(frozen=True)
class ThrottleStatus:
    granted: bool
    maximum_available: float
    currently_available: float
    restore_rate: float

    def retry_after(self, cost: float) -> float:
        """Seconds until `cost` points are back (rounded up to a tenth)."""
        missing = max(0.0, cost - self.currently_available)
        return math.ceil(missing / self.restore_rate * 10) / 10

    def as_extension(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": math.floor(self.currently_available),
            "restoreRate": self.restore_rate,
        }


class CostBucket:
    def __init__(self, redis: Any, key_prefix: str, capacity: float, restore_rate: float) -> None:
        if capacity <= 0 or restore_rate <= 0:
            raise ValueError("the cost bucket needs a positive capacity and restore rate")
        self.capacity, self.restore_rate, self.key_prefix = capacity, restore_rate, key_prefix
        self._script = redis.register_script(_SCRIPT)

    async def charge(self, principal: str, cost: float, force: bool = False) -> ThrottleStatus:
        granted, available = await self._script(
            keys=[f"{self.key_prefix}{principal}"], args=[self.capacity, self.restore_rate, cost, int(force)]
        )
        return ThrottleStatus(bool(int(granted)), self.capacity, float(available), self.restore_rate)
