"""buyLabels: buy a label for each order of a batch, then merge their PDFs into one file to print.

Each order is bought exactly like buyLabel (same recorded-first purchase, its own idempotency key
derived from the batch's), a few at a time; one order's refusal is recorded on its item and the
batch goes on. The job can run twice: items already done are kept, keys make repeats free.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from datetime import UTC, datetime
from typing import Any

from arq import Retry
from pypdf import PdfReader, PdfWriter

from adapters.persistence import models
from adapters.persistence.labels import LabelRepository
from adapters.persistence.repositories import DuplicateIdempotencyKey
from adapters.runtime import Runtime
from domain import services
from domain.errors import DomainError
from domain.model import ShipmentStatus
from jobs.shipping import purchase_label

log = logging.getLogger(__name__)

PARALLEL = 8
PROGRESS_EVERY_S = 0.25


def item_key(batch_key: str, order_id: int) -> str:
    return f"{batch_key}:{order_id}"[:200]


async def buy_label_batch(ctx: dict[str, Any], account_id: int, batch_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    batch = await models.LabelBatch.get_or_none(id=batch_id, account_id=account_id)
    if batch is None or batch.status == "DONE":
        return "done"
    items: list[dict[str, Any]] = list(batch.items)
    options = {"carrier": batch.carrier, "service": batch.service}
    gate = asyncio.Semaphore(PARALLEL)
    lock = asyncio.Lock()
    reported = [0.0]  # monotonic time of the last progress write

    async def one(item: dict[str, Any]) -> None:
        if item.get("status") in ("PURCHASED", "FAILED"):
            return
        async with gate:
            outcome = await _buy_one(ctx, runtime, account_id, batch.idempotency_key, item, options)
        async with lock:
            item.update(outcome)
            # Each progress write rewrites the items and publishes an event: a few a second is live enough,
            # and one per label would make the batch crawl at the pace of its own bookkeeping (bench/labels.py).
            if time.monotonic() - reported[0] >= PROGRESS_EVERY_S:
                await _progress(runtime, batch, items)
                reported[0] = time.monotonic()

    await asyncio.gather(*(one(item) for item in items))
    batch.merged_pdf = await _merged(account_id, items)
    batch.status, batch.finished_at = "DONE", datetime.now(UTC)
    await _progress(runtime, batch, items, final=True)
    return "done"


async def _buy_one(
    ctx: dict[str, Any], runtime: Runtime, account_id: int, key: str, item: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any]:
    wanted = {int(k): int(v) for k, v in item["lines"].items()} if item.get("lines") else None
    begin = (account_id, int(item["order_id"]), wanted, options["carrier"], options["service"])
    try:
        try:
            shipment, _ = await services.begin_label_purchase(
                runtime.uow("batch"), *begin, item_key(key, item["order_id"])
            )
        except DuplicateIdempotencyKey:  # a concurrent run of this batch won the insert
            shipment, _ = await services.begin_label_purchase(
                runtime.uow("batch"), *begin, item_key(key, item["order_id"])
            )
    except DomainError as exc:
        return {"status": "FAILED", "error": exc.message, "code": exc.code.value}
    assert shipment.id is not None
    if shipment.status is ShipmentStatus.PURCHASING:
        try:
            await purchase_label({**ctx, "job_try": 99}, account_id, shipment.id)  # no arq retries inside a batch
        except Retry:
            pass
    row = await models.Shipment.get(id=shipment.id)
    if row.status == ShipmentStatus.FAILED.value:
        return {"status": "FAILED", "shipment_id": row.id, "error": row.error or "The carrier refused the label"}
    if row.status == ShipmentStatus.PURCHASING.value:
        # The carrier may have sold it: the purchase is reconciled by the tick, never abandoned.
        return {"status": "PENDING", "shipment_id": row.id, "error": row.error or "The carrier has not answered yet"}
    return {"status": "PURCHASED", "shipment_id": row.id, "error": None}


async def _merged(account_id: int, items: list[dict[str, Any]]) -> bytes | None:
    """The labels' PDFs in the batch's order, one after the other: one file to print."""
    labels = LabelRepository()
    writer = PdfWriter()
    pages = 0
    for item in items:
        if item.get("status") != "PURCHASED" or not item.get("shipment_id"):
            continue
        content = await labels.get(account_id, int(item["shipment_id"]), "PDF")
        if not content:
            continue  # a carrier that sold only ZPL for this one
        for page in PdfReader(io.BytesIO(content)).pages:
            writer.add_page(page)
            pages += 1
    if not pages:
        return None
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def _progress(
    runtime: Runtime, batch: models.LabelBatch, items: list[dict[str, Any]], final: bool = False
) -> None:
    batch.items = items
    batch.succeeded = sum(1 for i in items if i.get("status") == "PURCHASED")
    batch.failed = sum(1 for i in items if i.get("status") == "FAILED")
    fields = ["items", "succeeded", "failed"] + (["status", "finished_at", "merged_pdf"] if final else [])
    async with runtime.uow("batch") as uow:
        await batch.save(update_fields=fields, using_db=uow.connection)  # type: ignore[attr-defined]
        uow.add_event(
            batch.account_id,  # type: ignore[attr-defined]
            "LABEL_BATCH_UPDATED",
            {
                "batch_id": batch.id,
                "status": "DONE" if final else "RUNNING",
                "total": batch.total,
                "succeeded": batch.succeeded,
                "failed": batch.failed,
            },
        )
