"""Check a channel's credentials against the platform, in a worker (the API does no channel I/O itself).

Credentials reach the job sealed with the secret box: a job's arguments sit in Redis, and secrets
never rest anywhere unencrypted.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters.channels.base import MemoryCredentialStore
from adapters.channels.catalog import spec_for
from adapters.runtime import Runtime
from domain.ports import ChannelAuthFailed, ChannelClient, ChannelFailure, ChannelUnavailable

log = logging.getLogger(__name__)


async def check_connection(ctx: dict[str, Any], kind: str, sealed: str) -> dict[str, Any]:
    """{"ok": True, "store": name, "sealed": credentials after any refresh} or {"ok": False, "reason", "message"}."""
    runtime: Runtime = ctx["runtime"]
    spec = spec_for(kind)
    if spec is None:
        return {"ok": False, "reason": "unsupported", "message": f"Channel kind {kind} is not supported"}
    store = MemoryCredentialStore(runtime.secrets.decrypt(sealed))
    result = await _check(spec.build_client(store.credentials, http=runtime.http, store=store))
    if result["ok"]:
        # A check may have refreshed a rotating token: the caller must store these, not the ones it sent.
        result["sealed"] = runtime.secrets.encrypt(store.credentials)
    return result


async def check_stored_connection(ctx: dict[str, Any], channel_id: int) -> dict[str, Any]:
    """The same check for a connected channel, with its stored credentials (refreshes are saved)."""
    runtime: Runtime = ctx["runtime"]
    client, _ = await runtime.channel_client(channel_id)
    return await _check(client)


async def _check(client: ChannelClient) -> dict[str, Any]:
    try:
        name = await client.check_connection()
    except ChannelAuthFailed as exc:
        return {"ok": False, "reason": "auth", "message": exc.message}
    except ChannelUnavailable as exc:
        return {"ok": False, "reason": "unreachable", "message": exc.message}
    except ChannelFailure as exc:
        return {"ok": False, "reason": "rejected", "message": exc.message}
    finally:
        await client.aclose()
    return {"ok": True, "store": name}
