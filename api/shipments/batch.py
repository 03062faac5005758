"""buyLabels: labels for many orders in one go, one merged PDF, progress over a subscription."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from tortoise.exceptions import IntegrityError

from adapters.persistence import models
from api import ids
from api.carriers.rate_ids import decode_rate_id
from api.context import Info
from api.errors import UserError, refusals
from api.shipments.mutations import LineQuantityInput, line_quantities
from domain.errors import DomainError, ErrorCode

MAX_BATCH = 500


@strawberry.input(description="One order of a batch, optionally only some of its lines.")
class BatchOrderInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    lines: list[LineQuantityInput] | None = strawberry.field(default=None, description="Lines for a partial shipment.")


@strawberry.input(description="Buy a label for each of these orders with one carrier service.")
class BuyLabelsInput:
    orders: list[BatchOrderInput] = strawberry.field(description=f"1 to {MAX_BATCH} orders.")
    idempotency_key: str = strawberry.field(
        description="Your key for the batch: a repeat returns the same batch and buys nothing twice."
    )
    carrier: str = strawberry.field(default="sandbox", description="The carrier account's name, or 'sandbox'.")
    service: str = strawberry.field(default="GROUND", description="The carrier's service code.")
    rate_id: str | None = strawberry.field(default=None, description="A rate from `rates` (its carrier and service).")


@strawberry.type(description="One order of a batch and how it went.")
class LabelBatchItem:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    status: str = strawberry.field(description="QUEUED, PURCHASED, PENDING (carrier still answering) or FAILED.")
    shipment_id: strawberry.ID | None = strawberry.field(description="Its label, once there is one.")
    error: str | None = strawberry.field(description="Why it failed (the batch went on).")
    code: str | None = strawberry.field(description="The refusal's error code, when Waybill refused it.")


@strawberry.type(description="A buyLabels batch.")
class LabelBatch:
    id: strawberry.ID = strawberry.field(description="Global id.")
    status: str = strawberry.field(description="RUNNING or DONE.")
    total: int = strawberry.field(description="Orders in the batch.")
    succeeded: int = strawberry.field(description="Labels bought.")
    failed: int = strawberry.field(description="Orders that got no label.")
    items: list[LabelBatchItem] = strawberry.field(description="Per order, in the order asked.")
    merged_pdf_url: str | None = strawberry.field(
        description="All PDF labels in one file, once DONE; needs your API key."
    )
    created_at: datetime = strawberry.field(description="When it was asked for.")
    finished_at: datetime | None = strawberry.field(description="When the last order was done.")

    @classmethod
    def from_row(cls, row: models.LabelBatch) -> LabelBatch:
        return cls(
            id=strawberry.ID(ids.encode("LabelBatch", row.id)),
            status=row.status,
            total=row.total,
            succeeded=row.succeeded,
            failed=row.failed,
            items=[
                LabelBatchItem(
                    order_id=strawberry.ID(ids.encode("Order", int(item["order_id"]))),
                    status=str(item.get("status") or "QUEUED"),
                    shipment_id=strawberry.ID(ids.encode("Shipment", int(item["shipment_id"])))
                    if item.get("shipment_id")
                    else None,
                    error=item.get("error"),
                    code=item.get("code"),
                )
                for item in row.items
            ],
            merged_pdf_url=f"/labels/batches/{row.id}.pdf" if row.status == "DONE" and row.succeeded else None,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


@strawberry.type(description="Result of buyLabels.")
class BuyLabelsPayload:
    batch: LabelBatch | None = strawberry.field(description="The batch; follow it with labelBatchProgress.")
    user_errors: list[UserError] = strawberry.field(description="Why the batch was refused as a whole.")


async def buy_labels(info: Info, input: BuyLabelsInput) -> BuyLabelsPayload:
    context = info.context

    async def run() -> LabelBatch:
        context.require("write_shipments")
        key = input.idempotency_key.strip()
        if not key or len(key) > 150:
            raise DomainError(ErrorCode.INVALID, "idempotencyKey must be 1 to 150 characters", ["idempotencyKey"])
        if not 1 <= len(input.orders) <= MAX_BATCH:
            raise DomainError(ErrorCode.INVALID, f"orders must hold 1 to {MAX_BATCH} orders", ["orders"])
        existing = await models.LabelBatch.get_or_none(account_id=context.account_id, idempotency_key=key)
        if existing is not None:
            return LabelBatch.from_row(existing)
        carrier, service = decode_rate_id(input.rate_id) if input.rate_id else (input.carrier, input.service)
        await context.runtime.carrier_client(context.account_id, carrier)  # unknown carrier: refused up front
        items: list[dict[str, Any]] = []
        seen: set[int] = set()
        for index, entry in enumerate(input.orders):
            order_id = ids.decode("Order", entry.order_id, "orders")
            if order_id in seen:
                raise DomainError(ErrorCode.INVALID, "an order appears twice in the batch", ["orders", str(index)])
            seen.add(order_id)
            wanted = line_quantities(entry.lines)
            items.append({"order_id": order_id, "lines": {str(k): v for k, v in wanted.items()} if wanted else None})
        found = set(
            await models.Order.filter(account_id=context.account_id, id__in=list(seen)).values_list("id", flat=True)
        )
        missing = [i for i, item in enumerate(items) if item["order_id"] not in found]
        if missing:
            raise DomainError(ErrorCode.NOT_FOUND, "Order not found", ["orders", str(missing[0])])
        try:
            row = await models.LabelBatch.create(
                account_id=context.account_id,
                idempotency_key=key,
                carrier=carrier,
                service=service,
                total=len(items),
                items=items,
            )
        except IntegrityError:  # a concurrent request with this key won
            row = await models.LabelBatch.get(account_id=context.account_id, idempotency_key=key)
            return LabelBatch.from_row(row)
        await context.runtime.enqueue("buy_label_batch", context.account_id, row.id, job_id=f"label-batch:{row.id}")
        return LabelBatch.from_row(row)

    batch, errors = await refusals(run)
    return BuyLabelsPayload(batch=batch, user_errors=errors)


@strawberry.type
class BatchQueries:
    @strawberry.field(description="A buyLabels batch; null if not in your account.")
    async def label_batch(self, info: Info, id: strawberry.ID) -> LabelBatch | None:
        try:
            pk = ids.decode("LabelBatch", id, "id")
        except DomainError:
            return None
        row = await models.LabelBatch.get_or_none(id=pk, account_id=info.context.account_id)
        return LabelBatch.from_row(row) if row else None
