"""Every carrier kind a merchant can configure, by kind: how to build its client and read its webhooks.

The built-in sandbox needs no account; EasyPost- and Shippo-compatible accounts are stored per
Waybill account (`CarrierAccount`, credentials encrypted) and referred to by the merchant's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from adapters.carriers import easypost, shippo
from adapters.channels.base import CredentialField
from domain.ports import CarrierClient, TrackingInfo

SANDBOX = "sandbox"
SANDBOX_TITLE = "Waybill Sandbox"


def carrier_title(carrier: str) -> str:
    """How a carrier is named to buyers and channels: the sandbox by its title, an account by the merchant's name."""
    return SANDBOX_TITLE if carrier == SANDBOX else carrier


class CarrierKind(StrEnum):
    EASYPOST = "EASYPOST"
    SHIPPO = "SHIPPO"


@dataclass(frozen=True)
class CarrierSpec:
    kind: CarrierKind
    title: str
    fields: tuple[CredentialField, ...]
    build_client: Callable[[Mapping[str, Any], httpx.AsyncClient], CarrierClient]
    verify_webhook: Callable[[Mapping[str, str], bytes, str], bool]
    parse_webhook: Callable[[bytes], tuple[str, TrackingInfo] | None]


def _easypost(credentials: Mapping[str, Any], http: httpx.AsyncClient) -> CarrierClient:
    accounts = [a.strip() for a in str(credentials.get("carrier_accounts") or "").split(",") if a.strip()]
    return easypost.EasyPostClient(
        credentials["api_key"],
        base_url=credentials.get("base_url") or easypost.DEFAULT_BASE_URL,
        http=http,
        carrier_accounts=accounts,
    )


def _shippo(credentials: Mapping[str, Any], http: httpx.AsyncClient) -> CarrierClient:
    options: dict[str, Any] = {k: credentials[k] for k in ("base_url", "label_file_type") if credentials.get(k)}
    return shippo.ShippoClient(credentials["api_token"], http=http, **options)


SPECS: dict[CarrierKind, CarrierSpec] = {
    CarrierKind.EASYPOST: CarrierSpec(
        kind=CarrierKind.EASYPOST,
        title="EasyPost",
        fields=(
            CredentialField("api_key", "EasyPost API key (EZTK… test, EZAK… production)", secret=True),
            CredentialField(
                "webhook_secret", "The webhook's HMAC secret (tracker webhooks)", secret=True, required=False
            ),
            CredentialField("carrier_accounts", "Comma-separated ca_… ids to rate with (default: all)", required=False),
            CredentialField("base_url", "API base (default https://api.easypost.com/v2)", required=False, url=True),
        ),
        build_client=_easypost,
        verify_webhook=easypost.verify_webhook,
        parse_webhook=easypost.parse_webhook,
    ),
    CarrierKind.SHIPPO: CarrierSpec(
        kind=CarrierKind.SHIPPO,
        title="Shippo",
        fields=(
            CredentialField("api_token", "Shippo API token (shippo_test_… or shippo_live_…)", secret=True),
            CredentialField(
                "webhook_secret", "Webhook HMAC secret, if Shippo enabled signing", secret=True, required=False
            ),
            CredentialField("label_file_type", "PDF_4x6 (default) or ZPLII", required=False),
            CredentialField("base_url", "API base (default https://api.goshippo.com)", required=False, url=True),
        ),
        build_client=_shippo,
        verify_webhook=shippo.verify_webhook,
        parse_webhook=shippo.parse_track_webhook,
    ),
}
