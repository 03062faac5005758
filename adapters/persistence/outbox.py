"""The outbox table: writes owed to channels, committed with the change that caused them.

The delivery job (jobs/outbox.py) reads due rows and records each attempt's outcome here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F

from adapters.persistence import models
from domain.model import WriteKind, WriteStatus


@dataclass(frozen=True)
class OutboxRow:
    id: int
    account_id: int
    order_id: int
    channel_id: int
    kind: WriteKind
    payload: dict[str, Any]
    attempts: int
    status: WriteStatus
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None = None


def _row(model: models.OutboxWrite) -> OutboxRow:
    return OutboxRow(
        id=model.id,
        account_id=model.account_id,  # type: ignore[attr-defined]
        order_id=model.order_id,  # type: ignore[attr-defined]
        channel_id=model.channel_id,  # type: ignore[attr-defined]
        kind=WriteKind(model.kind),
        payload=dict(model.payload or {}),
        attempts=model.attempts,
        status=WriteStatus(model.status),
        last_error=model.last_error,
        created_at=model.created_at,
        next_attempt_at=model.next_attempt_at,
        delivered_at=model.delivered_at,
    )


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxStore:
    """Stateless; methods are async so they run on whatever connection the caller's context holds."""

    async def get(self, write_id: int) -> OutboxRow | None:
        model = await models.OutboxWrite.get_or_none(id=write_id)
        return _row(model) if model else None

    async def due(self, limit: int = 100, now: datetime | None = None) -> list[OutboxRow]:
        """Pending rows whose next attempt has come, oldest first so an order's writes keep their order."""
        rows = (
            await models.OutboxWrite.filter(status=WriteStatus.PENDING.value, next_attempt_at__lte=now or _now())
            .order_by("id")
            .limit(limit)
        )
        return [_row(row) for row in rows]

    async def pending_for_order(self, order_id: int) -> list[OutboxRow]:
        """An order's undelivered writes in the order they were made; a write waits for those before it."""
        rows = await models.OutboxWrite.filter(order_id=order_id, status=WriteStatus.PENDING.value).order_by("id")
        return [_row(row) for row in rows]

    async def mark_delivered(self, write_id: int, result: dict[str, Any] | None = None) -> None:
        """Delivered; `result` (e.g. the channel's fulfillment id) is merged into the payload for the record."""
        model = await models.OutboxWrite.get(id=write_id)
        payload = dict(model.payload or {})
        if result:
            payload["result"] = result
        await models.OutboxWrite.filter(id=write_id).update(
            status=WriteStatus.DELIVERED.value,
            payload=payload,
            attempts=F("attempts") + 1,
            delivered_at=_now(),
            last_error=None,
        )

    async def mark_retry(self, write_id: int, error: str, delay_s: float, now: datetime | None = None) -> None:
        """A transient failure: count the attempt and come back after `delay_s` seconds."""
        await models.OutboxWrite.filter(id=write_id).update(
            attempts=F("attempts") + 1,
            last_error=error,
            next_attempt_at=(now or _now()) + timedelta(seconds=delay_s),
        )

    async def mark_failed(self, write_id: int, error: str) -> None:
        """A failure retrying will not fix (auth revoked, order deleted): stop and show it to the merchant."""
        await models.OutboxWrite.filter(id=write_id).update(
            status=WriteStatus.FAILED.value, attempts=F("attempts") + 1, last_error=error
        )


#: Module-level shortcuts (`outbox.due(...)`, `outbox.mark_retry(...)`) for callers that need no instance.
_store = OutboxStore()
get = _store.get
due = _store.due
pending_for_order = _store.pending_for_order
mark_delivered = _store.mark_delivered
mark_retry = _store.mark_retry
mark_failed = _store.mark_failed
