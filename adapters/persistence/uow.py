"""One transaction per command; an order's events and channel writes commit with the order or not at all.

async with TortoiseUnitOfWork(actor="api:key:12") as uow:
    order = await uow.orders.get(account_id, order_id, for_update=True)
    lifecycle.skip_shipping(order)
    await uow.orders.save(order)
publish(uow.committed_events); enqueue(uow.committed_writes)   # only after the commit
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionContext
from tortoise.transactions import in_transaction

from adapters.persistence import bulk, models
from adapters.persistence.events import EventRecord
from adapters.persistence.repositories import (
    TortoiseChannelRepository,
    TortoiseLabelRepository,
    TortoiseOrderRepository,
    TortoiseShipmentRepository,
    TortoiseSyncRunRepository,
)
from adapters.persistence.secrets import SecretBox
from domain.model import Order, WriteStatus


@dataclass
class _PendingEvent:
    account_id: int
    type: str
    data: dict[str, Any]
    order_id: int | None = None
    channel_id: int | None = None
    sync_run_id: int | None = None
    shipment_id: int | None = None


@dataclass
class _Collected:
    orders: dict[int, Order] = field(default_factory=dict)  # by id(): the same object seen twice counts once
    events: list[_PendingEvent] = field(default_factory=list)


class TortoiseUnitOfWork:
    orders: TortoiseOrderRepository
    shipments: TortoiseShipmentRepository
    channels: TortoiseChannelRepository
    sync_runs: TortoiseSyncRunRepository
    labels: TortoiseLabelRepository

    def __init__(self, actor: str = "system", *, secret_box: SecretBox | None = None) -> None:
        self.actor = actor
        self._secret_box = secret_box
        self._transaction: TransactionContext | None = None
        self._collected = _Collected()
        #: Filled only after a successful commit, for the caller to publish and enqueue.
        self.committed_events: list[EventRecord] = []
        self.committed_writes: list[int] = []
        #: Orders that have new outbox rows, in the same commit: who needs a delivery job.
        self.committed_write_orders: list[int] = []
        self._write_orders: list[int] = []

    async def __aenter__(self) -> TortoiseUnitOfWork:
        if self._transaction is not None:
            raise RuntimeError("this unit of work is already open")
        self._collected = _Collected()
        self.committed_events = []
        self.committed_writes = []
        self.committed_write_orders = []
        self._transaction = in_transaction("default")
        db = await self._transaction.__aenter__()
        self.orders = TortoiseOrderRepository(db, track=self._track)
        self.shipments = TortoiseShipmentRepository(db)
        self.channels = TortoiseChannelRepository(db, self._secret_box)
        self.sync_runs = TortoiseSyncRunRepository(db)
        self.labels = TortoiseLabelRepository(db)
        self._db = db
        return self

    async def __aexit__(self, *exc: object) -> None:
        transaction, self._transaction = self._transaction, None
        assert transaction is not None, "__aexit__ without __aenter__"
        exc_type, exc_value, traceback = (*exc, None, None, None)[:3]
        if exc_type is not None:
            await transaction.__aexit__(exc_type, exc_value, traceback)  # rolls back
            return
        try:
            events, writes = await self._flush()
        except BaseException as error:
            await transaction.__aexit__(type(error), error, error.__traceback__)
            raise
        await transaction.__aexit__(None, None, None)  # commits; raises if the commit fails
        for order in self._collected.orders.values():
            order.events.clear()
            order.writes.clear()
        self.committed_events = events
        self.committed_writes = writes
        self.committed_write_orders = self._write_orders

    @property
    def connection(self) -> BaseDBAsyncClient:
        """The open transaction, for rows written outside the repositories (sync runs)."""
        assert self._transaction is not None, "the unit of work is not open"
        return self._db

    def add_event(
        self,
        account_id: int,
        type: str,
        data: dict[str, Any],
        *,
        order_id: int | None = None,
        channel_id: int | None = None,
        sync_run_id: int | None = None,
        shipment_id: int | None = None,
    ) -> None:
        """An event no order raised (sync runs, channels); committed with the transaction."""
        self._collected.events.append(
            _PendingEvent(account_id, type, dict(data), order_id, channel_id, sync_run_id, shipment_id)
        )

    def _track(self, order: Order) -> None:
        self._collected.orders.setdefault(id(order), order)

    async def _flush(self) -> tuple[list[EventRecord], list[int]]:
        """Inside the transaction: event rows first (ids ascending in commit order), then outbox rows."""
        now = datetime.now(UTC)
        pending: list[_PendingEvent] = []
        outbox: list[models.OutboxWrite] = []
        for order in self._collected.orders.values():
            if not order.events and not order.writes:
                continue
            if order.id is None:
                raise RuntimeError("an order with events must be added or saved before the commit")
            for event in order.events:
                data = {"status": order.status.value, **event.data}
                shipment_id = data.get("shipment_id")
                pending.append(
                    _PendingEvent(
                        order.account_id,
                        event.type,
                        data,
                        order_id=order.id,
                        channel_id=order.channel_id,
                        shipment_id=shipment_id if isinstance(shipment_id, int) else None,
                    )
                )
            outbox.extend(
                models.OutboxWrite(
                    account_id=order.account_id,
                    order_id=order.id,
                    channel_id=order.channel_id,
                    kind=write.kind.value,
                    payload=dict(write.payload),
                    status=WriteStatus.PENDING.value,
                    next_attempt_at=now,
                )
                for write in order.writes
            )
        pending.extend(self._collected.events)
        events = await self._insert_events(pending, self._db, now)
        write_ids = []
        for write in outbox:
            await write.save(using_db=self._db)
            write_ids.append(write.id)
        self._write_orders = sorted({write.order_id for write in outbox})  # type: ignore[attr-defined]
        return events, write_ids

    async def _insert_events(
        self, pending: list[_PendingEvent], db: BaseDBAsyncClient, now: datetime
    ) -> list[EventRecord]:
        """One multi-row INSERT per chunk: ids are handed out in row order, so sorted ids match `pending`."""
        rows = [
            {
                "account_id": event.account_id,
                "type": event.type,
                "order_id": event.order_id,
                "shipment_id": event.shipment_id,
                "channel_id": event.channel_id,
                "sync_run_id": event.sync_run_id,
                "actor": self.actor,
                "data": event.data,
                "created_at": now,
            }
            for event in pending
        ]
        ids = sorted(event_id for (event_id,) in await bulk.insert_rows(db, models.Event, rows, ("id",), now=now))
        return [
            EventRecord(
                id=event_id,
                account_id=event.account_id,
                type=event.type,
                order_id=event.order_id,
                shipment_id=event.shipment_id,
                channel_id=event.channel_id,
                sync_run_id=event.sync_run_id,
                data=dict(event.data),
                created_at=now,
            )
            for event_id, event in zip(ids, pending, strict=True)
        ]
