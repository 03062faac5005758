"""Etsy Open API v3 adapter: `client` talks HTTP, `mapper` translates receipts, `fake` imitates the API for tests."""

from __future__ import annotations

import json
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
from adapters.channels.etsy.client import DEFAULT_API_URL, DEFAULT_TOKEN_URL, EtsyClient
from adapters.channels.etsy.mapper import parse_document, to_channel_order, verify_webhook
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind

DEFAULTS = {"api_url": DEFAULT_API_URL, "token_url": DEFAULT_TOKEN_URL}


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> EtsyClient:
    """The credentials are passed on untouched (the store compares them); missing hosts fall back to Etsy's."""
    return EtsyClient(credentials, http=http, store=store, page_size=page_size)


def _webhook_topic(headers: Headers, body: bytes) -> str:
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("event_type") or "") if isinstance(doc, dict) else ""


#: Etsy's order events are thin ({event_type, resource_url, shop_id}): every one asks for a sync.
WEBHOOKS = WebhookSpec(
    verify=verify_webhook,
    event_id=lambda headers: header(headers, "webhook-id"),
    topic=_webhook_topic,
    orders=lambda topic, body, credentials: None,
)

SPEC = ChannelSpec(
    kind=ChannelKind.ETSY,
    title="Etsy",
    fields=(
        CredentialField("keystring", "Your Etsy app's API keystring (Your Apps > See API key details)"),
        CredentialField("shared_secret", "Your Etsy app's shared secret, sent with the keystring", secret=True),
        CredentialField("shop_id", "The numeric id of the Etsy shop"),
        CredentialField(
            "access_token",
            "OAuth access token in Etsy's '{user_id}.{token}' form, with transactions_r and transactions_w",
            secret=True,
        ),
        CredentialField("refresh_token", "OAuth refresh token (Etsy replaces it on every refresh)", secret=True),
        CredentialField("api_url", "Etsy API host (default https://api.etsy.com)", required=False, url=True),
        CredentialField(
            "token_url",
            "Etsy OAuth token endpoint (default https://api.etsy.com/v3/public/oauth/token)",
            required=False,
            url=True,
        ),
        CredentialField(
            "webhook_secret",
            "The signing secret (whsec_…) of your Etsy webhook subscription (webhook-signature); "
            "leave empty to rely on polling.",
            secret=True,
            required=False,
        ),
    ),
    capabilities=frozenset({Can.WRITE_BACK, Can.MULTIPLE_SHIPMENTS, Can.TOKEN_REFRESH}),
    build_client=build_client,
    parse_document=parse_document,
    webhooks=WEBHOOKS,
    limitations=(
        "Etsy ships whole orders: the first tracking number marks the order shipped; later parcels add tracking numbers.",
        "Etsy stores no tracking URL; for carriers Etsy does not list, the carrier name and URL go in the note to the buyer.",
        "A shipment sent to Etsy cannot be taken back through the API.",
        "Etsy records delivery itself; Waybill does not send delivered updates.",
        "Etsy withholds buyer addresses in some regions without a partnership: those orders arrive as drafts.",
    ),
    defaults=DEFAULTS,
)

__all__ = ["SPEC", "EtsyClient", "parse_document", "to_channel_order", "verify_webhook"]
