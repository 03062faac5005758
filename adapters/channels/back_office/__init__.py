"""Direct-sales back office (the ZenSales/ControlPad model) over Waybill's own small REST contract.

ControlPad publishes no API, so docs/back-office-api.md defines one that a back office (or an integrator in
front of it) implements: `client` talks HTTP, `mapper` translates, `fake` implements the contract for tests.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.channels.back_office.client import BackOfficeClient
from adapters.channels.back_office.mapper import StatusWords, parse_document, to_channel_order, verify_webhook
from adapters.channels.base import ChannelSpec, CredentialField, Credentials, CredentialStore
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind


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
    limitations=(
        "The back office keeps one status per order: a partly shipped order stays Unfulfilled (its shipped "
        "lines and tracking are recorded) and turns Shipping once every line has shipped.",
    ),
)

__all__ = ["SPEC", "BackOfficeClient", "StatusWords", "parse_document", "to_channel_order", "verify_webhook"]
