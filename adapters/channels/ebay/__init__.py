"""eBay Sell Fulfillment v1 adapter: `client` talks HTTP, `mapper` translates, `fake` imitates the API for tests."""

from __future__ import annotations

import httpx

from adapters.channels.base import ChannelSpec, CredentialField, Credentials, CredentialStore
from adapters.channels.ebay.client import API_URL, NO_UNDO, EbayClient
from adapters.channels.ebay.mapper import order_from_document, to_channel_order
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> EbayClient:
    return EbayClient(credentials, http=http, store=store, page_size=page_size)


SPEC = ChannelSpec(
    kind=ChannelKind.EBAY,
    title="eBay",
    pages_in_update_order=False,  # eBay lists orders by creation date
    fields=(
        CredentialField("client_id", "The App ID (Client ID) of your eBay developer keyset"),
        CredentialField("client_secret", "The Cert ID (Client Secret) of the same keyset", secret=True),
        CredentialField(
            "refresh_token",
            "A user refresh token for your seller account with the sell.fulfillment scope (valid about 18 months)",
            secret=True,
        ),
        CredentialField(
            "api_url", "The API host; https://api.sandbox.ebay.com for the sandbox", required=False, url=True
        ),
        CredentialField(
            "token_url",
            "The OAuth token endpoint, when it is not {api_url}/identity/v1/oauth2/token",
            required=False,
            url=True,
        ),
    ),
    capabilities=frozenset({Can.WRITE_BACK, Can.PARTIAL_LINES, Can.MULTIPLE_SHIPMENTS, Can.TOKEN_REFRESH}),
    build_client=build_client,
    parse_document=order_from_document,
    limitations=(
        NO_UNDO,
        "eBay stores a tracking number and a carrier code but no tracking URL; carriers other than UPS, USPS, "
        "FedEx and DHL are sent as carrier OTHER.",
        "eBay has no delivered status for seller-shipped orders: Waybill does not report deliveries to eBay.",
        "eBay only lists orders of the last two years, and notifications carry no order: Waybill polls.",
    ),
    # token_url defaults to {api_url}/identity/v1/oauth2/token, so a sandbox api_url brings its own token host.
    defaults={"api_url": API_URL},
)

__all__ = ["SPEC", "EbayClient", "order_from_document", "to_channel_order"]
