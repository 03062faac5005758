"""Shopify webhooks: the HMAC check, the event id, and the order a webhook body carries.

Shopify signs the raw body with the app's client secret: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256).
An `orders/*` body is the REST order itself, but holds live on fulfillment orders that the webhook lacks,
so an order whose status could depend on them is left to a sync (which reads them) rather than guessed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from adapters.channels.base import Credentials, Headers, WebhookSpec, header
from adapters.channels.shopify.mapper import needs_fulfillment_orders, to_channel_order
from domain.model import ChannelOrder

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"


def sign_webhook(body: bytes, secret: str) -> str:
    """The X-Shopify-Hmac-Sha256 value Shopify sends with `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(headers: Headers, body: bytes, secret: str) -> bool:
    """True when the body was signed with the app's client secret (constant-time compare)."""
    given = header(headers, HMAC_HEADER)
    if not given or not secret:
        return False
    return hmac.compare_digest(given.strip().encode(), sign_webhook(body, secret).encode())


def event_id(headers: Headers) -> str | None:
    """X-Shopify-Event-Id is the same for every subscription and redelivery of one event (dedupe key)."""
    return header(headers, EVENT_ID_HEADER) or header(headers, WEBHOOK_ID_HEADER)


def topic(headers: Headers, body: bytes) -> str:
    return header(headers, TOPIC_HEADER) or ""


def orders(topic: str, body: bytes, credentials: Credentials) -> list[ChannelOrder] | None:
    """`orders/*` carries the order; anything else (fulfillments/*, or a status that may hide a hold) syncs."""
    if not topic.startswith("orders/") or topic == "orders/delete":
        return None
    order: Any = json.loads(body)
    if not isinstance(order, Mapping) or "id" not in order or needs_fulfillment_orders(order):
        return None
    return [to_channel_order(order)]


WEBHOOKS = WebhookSpec(verify=verify_webhook, event_id=event_id, topic=topic, orders=orders)
