"""Builds the channel or carrier client for a stored channel / carrier name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.carriers.catalog import SANDBOX, CarrierKind
from adapters.carriers.catalog import SPECS as CARRIER_SPECS
from adapters.carriers.sandbox.client import SandboxCarrierClient
from adapters.channels.catalog import spec_for
from adapters.credentials import StoredCredentials
from adapters.persistence import models
from domain.errors import DomainError, ErrorCode
from domain.ports import CarrierClient, ChannelClient

if TYPE_CHECKING:
    from adapters.runtime import Runtime

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
    """The built-in sandbox carrier (no account needed)."""
    if carrier == SANDBOX:
        if runtime.sandbox_carrier_url is None:
            raise DomainError(ErrorCode.CARRIER_NOT_CONFIGURED, "The sandbox carrier is not running", ["carrier"])
        return SandboxCarrierClient(runtime.sandbox_carrier_url, SANDBOX_API_KEY, http=runtime.http)
    raise DomainError(ErrorCode.CARRIER_NOT_CONFIGURED, f"No carrier named '{carrier}' is configured", ["carrier"])


async def account_carrier(runtime: Runtime, account_id: int, carrier: str) -> tuple[CarrierClient, int | None]:
    """The client for a carrier by the merchant's name ("sandbox" or a configured account) and its account id."""
    if carrier == SANDBOX:
        return carrier_client(runtime, carrier), None
    row = await models.CarrierAccount.get_or_none(account_id=account_id, name=carrier, enabled=True)
    spec = CARRIER_SPECS.get(CarrierKind(row.carrier)) if row is not None else None
    if row is None or spec is None:
        raise DomainError(ErrorCode.CARRIER_NOT_CONFIGURED, f"No carrier named '{carrier}' is configured", ["carrier"])
    credentials: dict[str, Any] = runtime.secrets.decrypt(row.credentials) if row.credentials else {}
    return spec.build_client(credentials, runtime.http), int(row.id)


async def carrier_names(account_id: int) -> list[str]:
    """Every carrier the account can buy from: the sandbox, then its enabled accounts by name."""
    names = (
        await models.CarrierAccount.filter(account_id=account_id, enabled=True)
        .order_by("name")
        .values_list("name", flat=True)
    )
    return [SANDBOX, *(str(name) for name in names)]
