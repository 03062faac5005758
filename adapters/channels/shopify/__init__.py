"""Shopify Admin REST adapter: `client` talks HTTP, `mapper` translates, `fake` imitates the API for tests."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.channels.base import ChannelSpec, CredentialField, Credentials, CredentialStore
from adapters.channels.shopify.client import ShopifyClient
from adapters.channels.shopify.mapper import fo_line_items_for, order_from_document, to_channel_order
from adapters.channels.shopify.webhooks import WEBHOOKS
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> ShopifyClient:
    options: dict[str, Any] = {"page_size": page_size} if page_size else {}
    return ShopifyClient(credentials["shop_url"], credentials["access_token"], http=http, **options)


SPEC = ChannelSpec(
    kind=ChannelKind.SHOPIFY,
    title="Shopify",
    fields=(
        CredentialField("shop_url", "The shop's URL, e.g. https://your-shop.myshopify.com", url=True),
        CredentialField(
            "access_token",
            "An Admin API access token (shpat_…) with read_orders, read_all_orders and write_fulfillments",
            secret=True,
        ),
        CredentialField(
            "webhook_secret",
            "The app's client secret (API secret key), which signs its webhooks (X-Shopify-Hmac-Sha256); "
            "for webhooks made in Settings > Notifications, the key shown there. Leave empty to rely on polling.",
            secret=True,
            required=False,
        ),
    ),
    capabilities=frozenset(
        {
            Can.WRITE_BACK,
            Can.PARTIAL_LINES,
            Can.MULTIPLE_SHIPMENTS,
            Can.TRACKING_URL,
            Can.UNDO_SHIPMENT,
            Can.DELIVERED_STATUS,
            Can.LOCATIONS,
            Can.FORWARD_TARGET,
        }
    ),
    build_client=build_client,
    parse_document=order_from_document,
    webhooks=WEBHOOKS,
    limitations=("One tracking number per fulfillment; held fulfillment orders make the whole order back-ordered.",),
)

__all__ = ["SPEC", "ShopifyClient", "fo_line_items_for", "order_from_document", "to_channel_order"]
