"""Live changes for dashboards: from the event bus, scoped to the caller's account, resumable by event id."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from adapters.persistence import mapping, models
from api import ids
from api.auth.liveness import require_allowed, while_allowed
from api.channels.types import SyncRun
from api.context import Info
from api.orders.types import Order
from api.shipments.batch import LabelBatch

ORDER_EVENT_PREFIXES = ("ORDER_", "LABEL_", "SHIPPING_", "TRACKING_", "CHANNEL_WRITE_")


@strawberry.type(description="Something happened to an order.")
class OrderEvent:
    event_id: strawberry.ID = strawberry.field(description="Position in the event log; pass it as `after` to resume.")
    type: str = strawberry.field(description="e.g. ORDER_IMPORTED, LABEL_PURCHASED, LABEL_VOIDED, ORDER_DELIVERED.")
    order: Order | None = strawberry.field(description="The order as it is now.")


def _wants(event: dict[str, Any], channel_pk: int | None) -> bool:
    if channel_pk is not None and event.get("channel_id") not in (None, channel_pk):
        return False
    return event.get("order_id") is not None and str(event.get("type", "")).startswith(ORDER_EVENT_PREFIXES)


@strawberry.type(description="Live changes of your account, over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(description="Order changes of your account. `after`: resume after this event id.")
    async def order_changed(self, info: Info, after: strawberry.ID | None = None) -> AsyncGenerator[OrderEvent, None]:
        account_id = info.context.account_id
        after_id = int(after) if after is not None and str(after).isdigit() else None
        events = info.context.runtime.bus.subscribe(account_id, after_id)
        async for event in while_allowed(info.context.principal, events):
            if not _wants(event, None):
                continue
            row = await models.Order.get_or_none(id=event["order_id"], account_id=account_id)
            order = Order.from_domain(mapping.order(row, [])) if row else None
            yield OrderEvent(event_id=strawberry.ID(str(event["id"])), type=event["type"], order=order)

    @strawberry.subscription(description="Progress of sync runs, optionally of one channel.")
    async def sync_run_progress(
        self, info: Info, channel_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SyncRun, None]:
        account_id = info.context.account_id
        channel_pk = ids.decode("Channel", channel_id, "channelId") if channel_id else None
        async for event in while_allowed(info.context.principal, info.context.runtime.bus.subscribe(account_id, None)):
            if event.get("type") != "SYNC_RUN_UPDATED":
                continue
            if channel_pk is not None and event.get("channel_id") != channel_pk:
                continue
            row = await models.SyncRun.get_or_none(id=event["sync_run_id"], account_id=account_id)
            if row is not None:
                yield SyncRun.from_domain(mapping.sync_run(row))

    @strawberry.subscription(description="Progress of a buyLabels batch, until it is DONE.")
    async def label_batch_progress(self, info: Info, batch_id: strawberry.ID) -> AsyncGenerator[LabelBatch, None]:
        account_id = info.context.account_id
        pk = ids.decode("LabelBatch", batch_id, "batchId")
        await require_allowed(info.context.principal)  # the socket may have outlived its key
        row = await models.LabelBatch.get_or_none(id=pk, account_id=account_id)
        if row is None:
            return
        yield LabelBatch.from_row(row)  # where it stands now: a late subscriber misses nothing
        if row.status == "DONE":
            return
        async for event in while_allowed(info.context.principal, info.context.runtime.bus.subscribe(account_id, None)):
            if event.get("type") != "LABEL_BATCH_UPDATED" or (event.get("data") or {}).get("batch_id") != pk:
                continue
            row = await models.LabelBatch.get_or_none(id=pk, account_id=account_id)
            if row is None:
                return
            yield LabelBatch.from_row(row)
            if row.status == "DONE":
                return
