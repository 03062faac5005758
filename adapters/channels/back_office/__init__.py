"""Direct-sales back office (the ZenSales/ControlPad model) over Waybill's own small REST contract.

ControlPad publishes no API, so docs/back-office-api.md defines one that a back office (or an integrator in
front of it) implements: `client` talks HTTP, `mapper` translates, `fake` implements the contract for tests.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from adapters.channels.back_office.client import BackOfficeClient
from adapters.channels.back_office.mapper import (
    EVENT_ID_HEADER,
    StatusWords,
    parse_document,
    to_channel_order,
    verify_webhook,
)
from adapters.channels.base import (
    ChannelSpec,
    CredentialField,
    Credentials,
    CredentialStore,
    Headers,
    WebhookSpec,
    header,
)
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind, ChannelOrder


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> BackOfficeClient:
    """API keys never expire, so `store` is not needed. A malformed `statuses` raises ValueError naming it."""
    options: dict[str, Any] = {"page_size": page_size} if page_size else {}
    return BackOfficeClient(
        credentials["api_url"],
        credentials["api_key"],
        http=http,
        statuses=StatusWords.from_setting(credentials.get("statuses")),
        **options,
    )


def _webhook_topic(headers: Headers, body: bytes) -> str:
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("type") or "") if isinstance(doc, dict) else ""


def _webhook_orders(topic: str, body: bytes, credentials: Credentials) -> list[ChannelOrder] | None:
    """Every event carries the whole order, read with the channel's own status words."""
    return parse_document(json.loads(body), StatusWords.from_setting(credentials.get("statuses")))


WEBHOOKS = WebhookSpec(
    verify=verify_webhook,
    event_id=lambda headers: header(headers, EVENT_ID_HEADER),
    topic=_webhook_topic,
    orders=_webhook_orders,
)

SPEC = ChannelSpec(
    kind=ChannelKind.BACK_OFFICE,
    title="Direct-sales back office",
    fields=(
        CredentialField(
            "api_url", "The back office's API base URL (without /api/v1), e.g. https://office.example.com", url=True
        ),
        CredentialField(
            "api_key", "An API key from the back office, sent as 'Authorization: Bearer <key>'", secret=True
        ),
        CredentialField(
            "webhook_secret",
            "The secret the back office signs webhooks with (X-Waybill-Signature); leave empty to rely on polling",
            secret=True,
            required=False,
        ),
        CredentialField(
            "statuses",
            "Only when your back office uses other status words: a JSON object of meaning -> word, e.g. "
            '{"held": "On Hold", "shipping": "Shipped"} (meanings: unfulfilled, pending, held, shipping, '
            "fulfilled, cancelled, refunded)",
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
        }
    ),
    build_client=build_client,
    parse_document=parse_document,
    webhooks=WEBHOOKS,
    limitations=(
        "The back office keeps one status per order: a partly shipped order stays Unfulfilled (its shipped "
        "lines and tracking are recorded) and turns Shipping once every line has shipped.",
    ),
)

__all__ = ["SPEC", "BackOfficeClient", "StatusWords", "parse_document", "to_channel_order", "verify_webhook"]
