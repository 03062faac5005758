"""Builds the channel or carrier client for a stored channel / carrier name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.carriers.sandbox.client import SandboxCarrierClient
from adapters.channels.catalog import spec_for
from adapters.credentials import StoredCredentials
from adapters.persistence import models
from domain.errors import DomainError, ErrorCode
from domain.ports import CarrierClient, ChannelClient

if TYPE_CHECKING:
    from adapters.runtime import Runtime

CARRIERS = ("sandbox",)
SANDBOX_API_KEY = "sk_sandbox_waybill"


async def channel_client(runtime: Runtime, channel_id: int) -> tuple[ChannelClient, models.Channel]:
    row = await models.Channel.get(id=channel_id)
    spec = spec_for(row.kind)
    if spec is None:
        raise DomainError(ErrorCode.CHANNEL_KIND_UNSUPPORTED, f"Channel kind {row.kind} is not supported yet")
    credentials: dict[str, Any] = runtime.secrets.decrypt(row.credentials) if row.credentials else {}
    store = StoredCredentials(runtime, channel_id)
    # Defaults were merged in at connect time: the client's copy must equal what is stored, or the
    # store's "someone else refreshed" check (StoredCredentials.refreshed) would misfire.
    client = spec.build_client(credentials, http=runtime.http, store=store)
    return client, row


def carrier_client(runtime: Runtime, carrier: str) -> CarrierClient:
    if carrier == "sandbox":
        if runtime.sandbox_carrier_url is None:
            raise DomainError(ErrorCode.CARRIER_NOT_CONFIGURED, "The sandbox carrier is not running", ["carrier"])
        return SandboxCarrierClient(runtime.sandbox_carrier_url, SANDBOX_API_KEY, http=runtime.http)
    raise DomainError(ErrorCode.CARRIER_NOT_CONFIGURED, f"No carrier named '{carrier}' is configured", ["carrier"])
