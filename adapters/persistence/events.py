"""The event log as plain records: what subscriptions publish and what a reconnecting client replays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.persistence import models


@dataclass(frozen=True)
class EventRecord:
    id: int
    account_id: int
    type: str
    order_id: int | None
    shipment_id: int | None
    channel_id: int | None
    sync_run_id: int | None
    data: dict[str, Any]
    created_at: datetime


def event_record(row: models.Event) -> EventRecord:
    return EventRecord(
        id=row.id,
        account_id=row.account_id,  # type: ignore[attr-defined]
        type=row.type,
        order_id=row.order_id,
        shipment_id=row.shipment_id,
        channel_id=row.channel_id,
        sync_run_id=row.sync_run_id,
        data=dict(row.data or {}),
        created_at=row.created_at,
    )


async def events_after(account_id: int, after_id: int, limit: int = 100) -> list[EventRecord]:
    """An account's events with id > `after_id`, oldest first: a subscription resumes from its last id."""
    rows = await models.Event.filter(account_id=account_id, id__gt=after_id).order_by("id").limit(limit)
    return [event_record(row) for row in rows]


def record_to_dict(record: EventRecord) -> dict[str, Any]:
    """JSON-ready form for the wire (pub/sub messages, WebSocket payloads)."""
    return {
        "id": record.id,
        "account_id": record.account_id,
        "type": record.type,
        "order_id": record.order_id,
        "shipment_id": record.shipment_id,
        "channel_id": record.channel_id,
        "sync_run_id": record.sync_run_id,
        "data": record.data,
        "created_at": record.created_at.isoformat(),
    }


def record_from_dict(data: dict[str, Any]) -> EventRecord:
    """The inverse of `record_to_dict`, for the subscriber side of pub/sub."""
    return EventRecord(
        id=int(data["id"]),
        account_id=int(data["account_id"]),
        type=str(data["type"]),
        order_id=data.get("order_id"),
        shipment_id=data.get("shipment_id"),
        channel_id=data.get("channel_id"),
        sync_run_id=data.get("sync_run_id"),
        data=dict(data.get("data") or {}),
        created_at=datetime.fromisoformat(data["created_at"]),
    )
