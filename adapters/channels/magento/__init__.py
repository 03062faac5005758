"""Magento 2 / Adobe Commerce REST adapter: `client` talks HTTP, `mapper` translates, `fake` imitates the API."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.channels.base import ChannelSpec, CredentialField, Credentials, CredentialStore
from adapters.channels.magento.client import MagentoClient
from adapters.channels.magento.mapper import parse_document, to_channel_order
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> MagentoClient:
    """Integration tokens never expire, so `store` is not needed: nothing is ever refreshed."""
    options: dict[str, Any] = {"page_size": page_size} if page_size else {}
    return MagentoClient(
        credentials.get("api_url") or credentials["base_url"],
        credentials["access_token"],
        http=http,
        store_code=credentials.get("store_code") or "default",
        weight_unit=credentials.get("weight_unit") or None,
        **options,
    )


SPEC = ChannelSpec(
    kind=ChannelKind.MAGENTO,
    title="Magento",
    fields=(
        CredentialField("base_url", "The store's URL, e.g. https://shop.example.com", url=True),
        CredentialField(
            "access_token",
            "The integration's access token (System > Extensions > Integrations) with Sales > Operations access; "
            "enable Stores > Configuration > Services > OAuth > 'Allow OAuth Access Tokens to be used as standalone "
            "Bearer tokens'",
            secret=True,
        ),
        CredentialField(
            "store_code",
            "The store view code in the REST path (/rest/<code>/V1): 'default' unless you run several; 'all' for all",
            required=False,
        ),
        CredentialField(
            "weight_unit",
            "The store's weight unit, 'lbs' or 'kgs' (Stores > Configuration > General > Locale Options), "
            "so item weights can be read; left empty, weights are not imported",
            required=False,
        ),
    ),
    capabilities=frozenset({Can.WRITE_BACK, Can.PARTIAL_LINES, Can.MULTIPLE_SHIPMENTS}),
    build_client=build_client,
    parse_document=parse_document,
    limitations=(
        "Magento cannot delete a shipment: cancelling a label leaves the Magento shipment in place "
        "(remove its tracking number in the Magento admin, or issue a credit memo).",
        "Magento has no delivered status; tracking links are built by Magento for UPS, USPS, FedEx and DHL only "
        "(other carriers get the link as a shipment comment).",
        "Marketplace orders cannot be forwarded into Magento: its REST API creates orders only through a cart and "
        "checkout (quote), not as an integration; forward to Shopify or WooCommerce instead.",
        "Child items of configurable and bundle products are imported as their parent line, which is what Magento ships; "
        "virtual and downloadable items are not imported.",
    ),
    defaults={"store_code": "default"},
)

__all__ = ["SPEC", "MagentoClient", "build_client", "parse_document", "to_channel_order"]
