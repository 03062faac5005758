"""products: the managed-products list."""

from __future__ import annotations

import base64
from typing import Annotated

import strawberry

from adapters.persistence import forwarding as store
from api.context import Info
from api.forwarding.types import Product, ProductConnection, ProductEdge

DEFAULT_PAGE, MAX_PAGE = 50, 250


def _cursor(sku: str) -> str:
    return base64.urlsafe_b64encode(sku.encode()).decode()


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("after: not a cursor from this connection") from None


@strawberry.type
class ForwardingQueries:
    @strawberry.field(description="The products you manage in Waybill, by SKU (MANAGED forwarding).")
    async def products(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, at most 250.")] = DEFAULT_PAGE,
        after: Annotated[str | None, strawberry.argument(description="Cursor of the last product seen.")] = None,
    ) -> ProductConnection:
        size = max(1, min(first, MAX_PAGE))
        rows = await store.products(info.context.account_id, _after(after), size + 1)
        edges = [ProductEdge(cursor=_cursor(p.sku), node=Product(sku=p.sku, title=p.title)) for p in rows[:size]]
        return ProductConnection(edges=edges, has_next_page=len(rows) > size)
