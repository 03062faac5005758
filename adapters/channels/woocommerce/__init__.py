"""WooCommerce REST v3 adapter: `client` talks HTTP, `mapper` translates, `fake` imitates a store for tests."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.channels.base import ChannelSpec, CredentialField, Credentials, CredentialStore
from adapters.channels.woocommerce.client import WooCommerceClient
from adapters.channels.woocommerce.mapper import parse_document, to_channel_order, verify_webhook
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> WooCommerceClient:
    """Keys never expire, so the store is not needed (nothing to refresh or rotate)."""
    options: dict[str, Any] = {"page_size": page_size} if page_size else {}
    return WooCommerceClient(
        credentials["site_url"], credentials["consumer_key"], credentials["consumer_secret"], http=http, **options
    )


SPEC = ChannelSpec(
    kind=ChannelKind.WOOCOMMERCE,
    title="WooCommerce",
    fields=(
        CredentialField(
            "site_url", "The store's address, e.g. https://shop.example.com (the REST API lives under it)", url=True
        ),
        CredentialField("consumer_key", "A REST API consumer key (ck_…) with Read/Write permission"),
        CredentialField("consumer_secret", "The consumer secret (cs_…) shown with that key", secret=True),
    ),
    capabilities=frozenset({Can.WRITE_BACK, Can.MULTIPLE_SHIPMENTS, Can.TRACKING_URL, Can.UNDO_SHIPMENT}),
    build_client=build_client,
    parse_document=parse_document,
    limitations=(
        "WooCommerce does not record which items a shipment holds: the order turns Completed when the last one ships.",
        "Tracking numbers go to the Shipment Tracking extension when installed, otherwise into customer order notes.",
        "WooCommerce has no Delivered status; Completed is the last step.",
        "Needs WooCommerce 5.8 or later (the modified_after filter) for incremental sync.",
    ),
)

__all__ = ["SPEC", "WooCommerceClient", "build_client", "parse_document", "to_channel_order", "verify_webhook"]
