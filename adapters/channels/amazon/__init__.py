"""Amazon SP-API Orders v0 adapter: `client` talks HTTP, `mapper` translates, `fake` imitates the API for tests."""

from __future__ import annotations

import httpx

from adapters.channels.amazon.client import DEFAULT_API_URL, DEFAULT_TOKEN_URL, AmazonClient
from adapters.channels.amazon.mapper import parse_document, to_channel_order
from adapters.channels.base import ChannelSpec, CredentialField, Credentials, CredentialStore
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> AmazonClient:
    return AmazonClient(credentials, http=http, store=store, page_size=page_size)


SPEC = ChannelSpec(
    kind=ChannelKind.AMAZON,
    title="Amazon",
    fields=(
        CredentialField(
            "refresh_token", "The LWA refresh token (Atzr|…) from authorizing Waybill in Seller Central", secret=True
        ),
        CredentialField("client_id", "The LWA client id of the app (amzn1.application-oa2-client.…)"),
        CredentialField("client_secret", "The LWA client secret of the app", secret=True),
        CredentialField("marketplace_id", "The marketplace to sync, e.g. ATVPDKIKX0DER for Amazon.com"),
        CredentialField(
            "api_url",
            "The SP-API host of the seller's region (NA, EU or FE), e.g. https://sellingpartnerapi-eu.amazon.com",
            required=False,
            url=True,
        ),
        CredentialField("token_url", "The Login with Amazon token endpoint", required=False, url=True),
    ),
    capabilities=frozenset({Can.WRITE_BACK, Can.PARTIAL_LINES, Can.MULTIPLE_SHIPMENTS, Can.TOKEN_REFRESH}),
    build_client=build_client,
    parse_document=parse_document,
    limitations=(
        "Amazon cannot take back a shipment confirmation: cancelling a label leaves the order shipped on Amazon "
        "(edit the shipment in Seller Central instead).",
        "Amazon records no delivery and no tracking URL for seller-fulfilled orders; it links tracking from the "
        "carrier code.",
        'Hand delivery is confirmed as carrier Other / "Hand delivery" with a placeholder tracking number '
        "(HAND-…), because Amazon requires one.",
        "Orders fulfilled by Amazon (FBA) are not imported.",
        "Amazon allows one order-list call a minute after a burst of 20 and one order-items call every 2 seconds: "
        "a large first sync (last 90 days) runs in pieces and resumes by itself.",
        "Buyer name, street and phone need Amazon's PII role (Restricted Data Token); without it orders arrive "
        "with a partial address and import as drafts.",
    ),
    defaults={"api_url": DEFAULT_API_URL, "token_url": DEFAULT_TOKEN_URL},
)

__all__ = ["SPEC", "AmazonClient", "build_client", "parse_document", "to_channel_order"]
