"""Order queries: keyset-paged lists (no OFFSET) and single lookups, always within the caller's account."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated

import strawberry
from tortoise.expressions import Q

from adapters.persistence import mapping, models
from api import ids
from api.context import Info
from api.limits.pages import DEFAULT_PAGE, MAX_PAGE, page_size  # noqa: F401 (re-exported)
from api.orders.draft_types import DraftRules
from api.orders.mutations import draft_rules
from api.orders.types import Order, OrderConnection, OrderEdge, OrderStatus, PageInfo
from domain.errors import DomainError, ErrorCode


def encode_cursor(row: models.Order) -> str:
    raw = json.dumps([row.status_rank, row.channel_created_at.isoformat(), row.id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    try:
        rank, created, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(rank), datetime.fromisoformat(created), int(pk)
    except (ValueError, TypeError) as exc:
        raise DomainError(ErrorCode.INVALID, "after is not a cursor returned by this API", ["after"]) from exc


def _after(cursor: str) -> Q:
    """Rows after the cursor in (status_rank ASC, channel_created_at DESC, id DESC) order."""
    rank, created, pk = decode_cursor(cursor)
    return (
        Q(status_rank__gt=rank)
        | Q(status_rank=rank, channel_created_at__lt=created)
        | Q(status_rank=rank, channel_created_at=created, id__lt=pk)
    )


async def list_orders(
    account_id: int,
    first: int | None,
    after: str | None,
    status: list[str] | None,
    channel_id: int | None,
    query: str | None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> OrderConnection:
    size = page_size(first)
    rows = models.Order.filter(account_id=account_id)
    if status:
        rows = rows.filter(status__in=status)
    else:
        rows = rows.exclude(status=OrderStatus.ARCHIVED.value)  # archived orders leave every work list
    if channel_id is not None:
        rows = rows.filter(channel_id=channel_id)
    if query:
        text = query.strip()
        rows = rows.filter(
            Q(number__icontains=text)
            | Q(external_id=text)
            | Q(customer_name__icontains=text)
            | Q(customer_email__icontains=text)
        )
    if created_after is not None:
        rows = rows.filter(channel_created_at__gte=created_after)
    if created_before is not None:
        rows = rows.filter(channel_created_at__lt=created_before)
    if after:
        rows = rows.filter(_after(after))
    found = await rows.order_by("status_rank", "-channel_created_at", "-id").limit(size + 1)
    edges = [
        OrderEdge(cursor=encode_cursor(row), node=Order.from_domain(mapping.order(row, []))) for row in found[:size]
    ]
    return OrderConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(found) > size, end_cursor=edges[-1].cursor if edges else None),
    )


async def get_order(account_id: int, order_id: int) -> Order | None:
    row = await models.Order.get_or_none(id=order_id, account_id=account_id)
    return Order.from_domain(mapping.order(row, [])) if row else None


@strawberry.type
class OrderQueries:
    @strawberry.field(description="Orders of your account: newest first, BACK_ORDERED after ready ones.")
    async def orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[OrderStatus] | None = None,  # type: ignore[valid-type]
        channel_id: strawberry.ID | None = None,
        query: Annotated[str | None, strawberry.argument(description="Matches number, customer, e-mail.")] = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        drafts: Annotated[
            bool | None, strawberry.argument(description="Only DRAFT orders (see draftReasons on each).")
        ] = None,
    ) -> OrderConnection:
        channel_pk = ids.decode("Channel", channel_id, "channelId") if channel_id else None
        statuses = [s.value for s in status] if status else None
        if drafts:
            statuses = [OrderStatus.DRAFT.value]
        return await list_orders(
            info.context.account_id,
            first,
            after,
            statuses,
            channel_pk,
            query,
            created_after,
            created_before,
        )

    @strawberry.field(description="When imported orders become drafts, for your account (see updateDraftRules).")
    async def draft_rules(self, info: Info) -> DraftRules:
        return await draft_rules(info)

    @strawberry.field(description="One order by id; null if it does not exist in your account.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        try:
            pk = ids.decode("Order", id, "id")
        except DomainError:
            return None
        return await get_order(info.context.account_id, pk)
