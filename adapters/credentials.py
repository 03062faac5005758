"""Channel credentials in the database (encrypted), refreshed under a Redis lock across all processes.

Etsy (and Shopify's expiring offline tokens) rotate the refresh token on every use: two workers that
refresh at once would leave one holding a dead token and put a healthy channel in NEEDS_REAUTH. So a
refresh takes the channel's lock, re-reads what is stored, and only refreshes when nobody else has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.channels.base import Credentials, Refresh
from adapters.locks import wait_lock
from adapters.persistence import models

if TYPE_CHECKING:
    from adapters.runtime import Runtime


class StoredCredentials:
    """The CredentialStore (adapters/channels/base.py) of one stored channel."""

    def __init__(self, runtime: Runtime, channel_id: int) -> None:
        self._runtime = runtime
        self._channel_id = channel_id

    def __repr__(self) -> str:
        return f"StoredCredentials(channel={self._channel_id})"

    async def load(self) -> Credentials:
        token = await models.Channel.filter(id=self._channel_id).values_list("credentials", flat=True)
        return self._runtime.secrets.decrypt(str(token[0])) if token and token[0] else {}

    async def save(self, credentials: Credentials) -> None:
        await models.Channel.filter(id=self._channel_id).update(credentials=self._runtime.secrets.encrypt(credentials))

    async def refreshed(self, stale: Credentials, refresh: Refresh) -> Credentials:
        async with wait_lock(self._runtime.redis, self._runtime.key(f"lock:credentials:{self._channel_id}")):
            current = await self.load()
            if current != stale:
                return current  # another process refreshed meanwhile: use its tokens
            fresh = await refresh(current)
            await self.save(fresh)  # saved before anyone uses it: a crash now loses nothing
            return fresh
