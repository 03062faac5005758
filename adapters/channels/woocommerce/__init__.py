"""WooCommerce REST v3 adapter: `client` talks HTTP, `mapper` translates, `fake` imitates a store for tests."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from adapters.channels.base import (
    ChannelSpec,
    CredentialField,
    Credentials,
    CredentialStore,
    Headers,
    WebhookSpec,
    header,
)
from adapters.channels.woocommerce.client import WooCommerceClient
from adapters.channels.woocommerce.mapper import parse_document, to_channel_order, verify_webhook
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind, ChannelOrder


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> WooCommerceClient:
    """Keys never expire, so the store is not needed (nothing to refresh or rotate)."""
    options: dict[str, Any] = {"page_size": page_size} if page_size else {}
    return WooCommerceClient(
        credentials["site_url"], credentials["consumer_key"], credentials["consumer_secret"], http=http, **options
    )


_PING = re.compile(rb"webhook_id=\d+")


def _is_ping(headers: Headers, body: bytes) -> bool:
    """WooCommerce POSTs `webhook_id=N` (a form, unsigned) when a webhook is saved; it must get a 2xx."""
    return header(headers, "X-WC-Webhook-Signature") is None and _PING.fullmatch(body.strip()) is not None


def _webhook_orders(topic: str, body: bytes, credentials: Credentials) -> list[ChannelOrder] | None:
    """order.created/updated carry the REST order (the same JSON GET /orders returns); order.deleted only an id."""
    if topic not in ("order.created", "order.updated", "order.restored"):
        return None
    order: Any = json.loads(body)
    if not isinstance(order, Mapping) or "date_modified_gmt" not in order:
        return None
    return [to_channel_order(order)]


WEBHOOKS = WebhookSpec(
    verify=verify_webhook,
    event_id=lambda headers: header(headers, "X-WC-Webhook-Delivery-ID"),
    topic=lambda headers, body: header(headers, "X-WC-Webhook-Topic") or "",
    orders=_webhook_orders,
    is_ping=_is_ping,
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
        CredentialField(
            "webhook_secret",
            "The Secret of your order webhooks (WooCommerce > Settings > Advanced > Webhooks), which signs them "
            "(X-WC-Webhook-Signature); leave empty to rely on polling.",
            secret=True,
            required=False,
        ),
    ),
    capabilities=frozenset(
        {Can.WRITE_BACK, Can.MULTIPLE_SHIPMENTS, Can.TRACKING_URL, Can.UNDO_SHIPMENT, Can.FORWARD_TARGET}
    ),
    build_client=build_client,
    parse_document=parse_document,
    webhooks=WEBHOOKS,
    limitations=(
        "WooCommerce does not record which items a shipment holds: the order turns Completed when the last one ships.",
        "Tracking numbers go to the Shipment Tracking extension when installed, otherwise into customer order notes.",
        "WooCommerce has no Delivered status; Completed is the last step.",
        "Needs WooCommerce 5.8 or later (the modified_after filter) for incremental sync.",
        "Forwarded marketplace orders are created without products (name, SKU as line meta, total); their tracking "
        "goes back to the marketplace only from the Shipment Tracking extension.",
    ),
)

__all__ = ["SPEC", "WooCommerceClient", "build_client", "parse_document", "to_channel_order", "verify_webhook"]
