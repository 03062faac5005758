"""Fault injection shared by the fake platform servers: the next n matching calls fail, stall or throttle.

Each fake renders the fault in its own platform's shape (error body, rate-limit headers); this only
decides which request is hit. Used by tests and by fault drills against the sandbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request


@dataclass
class Fault:
    remaining: int
    status: int | None = None  # None: handled normally (maybe late)
    retry_after: float | None = None
    delay: float = 0.0
    path_contains: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.path_contains or "") in path
            and (self.method is None or self.method.upper() == method)
        )


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def fail_next(
        self, n: int, status: int = 500, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """The next n matching requests get `status` with the platform's error body."""
        self._faults.append(Fault(n, status=status, path_contains=path_contains, method=method))

    def throttle_next(
        self, n: int, retry_after: float = 1.0, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """The next n matching requests get 429 with this retry-after."""
        self._faults.append(Fault(n, status=429, retry_after=retry_after, path_contains=path_contains, method=method))

    def delay_next(
        self, n: int, seconds: float, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """The next n matching requests are handled normally, `seconds` late (client timeouts)."""
        self._faults.append(Fault(n, delay=seconds, path_contains=path_contains, method=method))

    async def take(self, request: Request) -> Fault | None:
        """The fault for this request, if any; a delay is slept here (after reading the body, so a
        client that times out has still delivered its write, as on a real server)."""
        for fault in self._faults:
            if fault.matches(request.method, request.url.path):
                fault.remaining -= 1
                if fault.delay:
                    await request.body()
                    await asyncio.sleep(fault.delay)
                return fault
        return None
