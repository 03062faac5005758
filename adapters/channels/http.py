"""The HTTP plumbing every channel client shares: bounded retries, throttling, and error mapping.

A platform adapter supplies how its errors read and how it says "wait"; this turns transport errors,
429s and 5xx into the ChannelFailure kinds the sync and the outbox act on. Long waits are not slept
here: they are handed back as ChannelThrottled(retry_after) so a job can defer instead of blocking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from domain.ports import ChannelAuthFailed, ChannelRejected, ChannelThrottled, ChannelUnavailable

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 2.0


def json_error_text(response: httpx.Response) -> str:
    """A readable one-liner from the usual error bodies: {"message"}, {"error"}, {"errors": [...]}."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    return flatten(body)[:500] or response.reason_phrase


def flatten(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("message", "error_description", "error", "errors", "detail", "longMessage"):
            if value.get(key):
                return flatten(value[key])
        return "; ".join(f"{k}: {flatten(v)}" for k, v in value.items() if v)
    if isinstance(value, list | tuple):
        return "; ".join(text for text in (flatten(item) for item in value) if text)
    return str(value)


def retry_after_header(response: httpx.Response) -> float:
    """Seconds from `Retry-After` (any case); a default when the platform gives none (Amazon)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER)))
    except ValueError:
        return DEFAULT_RETRY_AFTER


class ChannelHttp:
    """One platform's transport over a shared httpx client. Never logs headers or bodies (tokens)."""

    def __init__(
        self,
        platform: str,
        http: httpx.AsyncClient,
        *,
        error_text: Callable[[httpx.Response], str] = json_error_text,
        retry_after: Callable[[httpx.Response], float] = retry_after_header,
        retry_backoff: tuple[float, ...] = (0.2, 0.6),
        max_throttle_retries: int = 3,
        max_retry_after: float = 10.0,
    ) -> None:
        self.platform = platform
        self.http = http
        self.error_text = error_text
        self.retry_after = retry_after
        self.retry_backoff = retry_backoff
        self.max_throttle_retries = max_throttle_retries
        self.max_retry_after = max_retry_after
        self.throttled = 0  # 429s seen, for tests and metrics

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        retry_transient: bool = True,
        auth_status: tuple[int, ...] = (401, 403),
        **kwargs: Any,
    ) -> httpx.Response:
        """One call: retried on 429 (short waits) and, when `retry_transient`, on 5xx and transport errors.

        Set `retry_transient=False` for a non-idempotent POST: the caller checks what landed first.
        """
        label = f"{self.platform} {method} {_path(url)}"
        throttled = transient = 0
        while True:
            try:
                response = await self.http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:  # timeouts, refused/reset connections, protocol errors
                failure = ChannelUnavailable(f"{label}: {type(exc).__name__}")
                if not retry_transient:
                    raise failure from exc
                transient = await self.backoff_or_raise(transient, failure)
                continue
            status = response.status_code
            if status < 300 or status == 304:
                return response
            if status == 429:
                self.throttled += 1
                wait = self.retry_after(response)
                if throttled >= self.max_throttle_retries or wait > self.max_retry_after:
                    raise ChannelThrottled(f"{self.platform} is throttling requests: {self.error_text(response)}", wait)
                throttled += 1
                log.info("%s: 429, waiting %.1fs", label, wait)
                await asyncio.sleep(wait)
                continue
            message = f"{self.platform} answered {status} to {method} {_path(url)}: {self.error_text(response)}"
            if status >= 500:
                if not retry_transient:
                    raise ChannelUnavailable(message)
                transient = await self.backoff_or_raise(transient, ChannelUnavailable(message))
                continue
            if status in auth_status:
                raise ChannelAuthFailed(message)
            raise ChannelRejected(message)

    async def backoff_or_raise(self, attempt: int, failure: ChannelUnavailable) -> int:
        if attempt >= len(self.retry_backoff):
            raise failure
        log.info("%s; retrying", failure.message)
        await asyncio.sleep(self.retry_backoff[attempt])
        return attempt + 1


class TokenBucket:
    """Client-side pacing for platforms with published token-bucket limits (Amazon SP-API).

    `acquire()` waits until a token is there, so a sync spends its burst and then paces itself
    instead of collecting 429s. Waits longer than `max_wait` raise ChannelThrottled instead.
    """

    def __init__(self, rate: float, burst: int, *, max_wait: float = 60.0) -> None:
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    def _fill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_time(self) -> float:
        self._fill(time.monotonic())
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def acquire(self, what: str = "request") -> None:
        async with self._lock:
            wait = self.wait_time()
            if wait > self.max_wait:
                raise ChannelThrottled(f"rate limit: the next {what} is allowed in {wait:.0f}s", wait)
            if wait > 0:
                await asyncio.sleep(wait)
                self._fill(time.monotonic())
            self._tokens -= 1

    def drain(self) -> None:
        """The platform said 429: assume the bucket is empty."""
        self._tokens = 0.0
        self._at = time.monotonic()

    def set_rate(self, rate: float) -> None:
        """The platform told us its real rate (e.g. `x-amzn-RateLimit-Limit`)."""
        if rate > 0:
            self._fill(time.monotonic())
            self.rate = rate


def _path(url: str) -> str:
    return httpx.URL(url).path
