"""Shopify Admin REST adapter: `client` talks HTTP, `mapper` translates, `fake` imitates the API for tests."""

from __future__ import annotations

from adapters.channels.shopify.client import ShopifyClient
from adapters.channels.shopify.mapper import fo_line_items_for, order_from_document, to_channel_order

__all__ = ["ShopifyClient", "fo_line_items_for", "order_from_document", "to_channel_order"]
