"""Open subscriptions re-check their caller: a revoke, an expiry, a sign-out or a role change ends them.

HTTP requests authenticate every time; a WebSocket authenticates once, at connection_init, and may
stay open for days. Each subscription therefore asks again before it starts and then at least every
RECHECK_SECONDS while it delivers events (one indexed read per subscriber per interval, not per event,
so a thousand dashboards cost a thousand reads every few seconds, not one per event each).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TypeVar

from graphql import GraphQLError

from adapters.persistence import models
from adapters.persistence.accounts import ApiPrincipal, covers
from adapters.persistence.users import ROLES, SEEN_RESOLUTION

T = TypeVar("T")

#: How long a revoked key or ended session can still receive events on a socket it already had open.
RECHECK_SECONDS = 5.0


async def still_allowed(principal: ApiPrincipal | None, scope: str = "read_orders") -> bool:
    """The principal's key or session is still valid now and still holds `scope`."""
    if principal is None:
        return False
    now = datetime.now(UTC)
    if principal.session_id is not None:
        row = await models.Session.filter(id=principal.session_id).select_related("user").first()
        if row is None or now >= row.expires_at:
            return False
        if now - row.last_seen_at >= SEEN_RESOLUTION:  # a live dashboard is a user at work: not idle
            await models.Session.filter(id=row.id).update(last_seen_at=now)
        return covers(ROLES.get(row.user.role, ()), [scope])
    key = await models.ApiKey.get_or_none(id=principal.key_id, account_id=principal.account_id)
    if key is None or key.revoked_at is not None:
        return False
    if key.expires_at is not None and now >= key.expires_at:
        return False
    return covers(key.scopes or (), [scope])


async def while_allowed(principal: ApiPrincipal | None, events: AsyncIterator[T]) -> AsyncIterator[T]:
    """`events`, for as long as the caller may read them; ends with UNAUTHENTICATED once it may not."""
    await require_allowed(principal)
    checked = time.monotonic()
    source = events.__aiter__()
    pending: asyncio.Future[T] = asyncio.ensure_future(source.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=RECHECK_SECONDS)
            if time.monotonic() - checked >= RECHECK_SECONDS:
                await require_allowed(principal)
                checked = time.monotonic()
            if not done:
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            yield item
            pending = asyncio.ensure_future(source.__anext__())
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await pending
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def require_allowed(principal: ApiPrincipal | None) -> None:
    if not await still_allowed(principal):
        raise GraphQLError(
            "This API key or session is no longer valid (revoked, expired, signed out or without read_orders)",
            extensions={"code": "UNAUTHENTICATED"},
        )
