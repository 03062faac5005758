"""Shippo-compatible carrier: httpx client, pure mapper and an in-memory fake server."""

from __future__ import annotations

from adapters.carriers.shippo.client import PurchasePending, ShippoClient
from adapters.carriers.shippo.fake import FakeShippo
from adapters.carriers.shippo.mapper import parse_track_webhook, sign_webhook, verify_webhook

__all__ = ["FakeShippo", "PurchasePending", "ShippoClient", "parse_track_webhook", "sign_webhook", "verify_webhook"]
