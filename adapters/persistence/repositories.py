"""Tortoise implementations of the domain's repository ports.

Each repository runs its queries on the connection it was given (the unit of work's
transaction) and reports every Order it hands out to `track`, so the unit of work can commit
the order's events and channel writes with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from adapters.persistence import bulk, mapping, models
from adapters.persistence.labels import LabelRepository as TortoiseLabelRepository
from adapters.persistence.secrets import SecretBox, installed_secret_box
from domain.drafts import DraftRules
from domain.model import Channel, ConnectionState, Order, Shipment, SyncRun, WriteStatus

__all__ = [
    "ConcurrentUpdate",
    "DuplicateIdempotencyKey",
    "TortoiseChannelRepository",
    "TortoiseLabelRepository",
    "TortoiseOrderRepository",
    "TortoiseShipmentRepository",
    "TortoiseSyncRunRepository",
]


class ConcurrentUpdate(Exception):
    """Someone saved the order since it was read (its version moved on), or inserted it first: reload and
    retry the command."""

    def __init__(self, order_id: int | None, version: int) -> None:
        super().__init__(f"Order {order_id} changed since version {version} was read")
        self.order_id = order_id
        self.version = version


class DuplicateIdempotencyKey(Exception):
    """A shipment with this idempotency key exists already: the caller returns that one instead."""

    def __init__(self, account_id: int, key: str, existing_id: int) -> None:
        super().__init__(f"Idempotency key already used by shipment {existing_id}")
        self.account_id = account_id
        self.key = key
        self.existing_id = existing_id


Track = Callable[[Order], None]


def _now() -> datetime:
    return datetime.now(UTC)


def _ignore(_order: Order) -> None:
    return None


class TortoiseOrderRepository:
    def __init__(self, db: BaseDBAsyncClient | None = None, track: Track | None = None) -> None:
        self._db = db
        self._track = track or _ignore

    async def get(self, account_id: int, order_id: int, *, for_update: bool = False) -> Order | None:
        """Scoped to the account: another account's order id is simply not found.

        `for_update` takes a row lock on PostgreSQL; SQLite runs one writer at a time anyway.
        """
        query = models.Order.filter(id=order_id, account_id=account_id).using_db(self._db)
        if for_update and self._supports_row_locks():
            query = query.select_for_update()
        row = await query.first()
        if row is None:
            return None
        lines = await models.OrderLine.filter(order_id=row.id).using_db(self._db).order_by("position", "id")
        return self._tracked(mapping.order(row, list(lines)))

    async def by_external_ids(self, channel_id: int, external_ids: Sequence[str]) -> dict[str, tuple[Order, str]]:
        """Two queries whatever the page size: the orders, then all of their lines."""
        if not external_ids:
            return {}
        rows = await models.Order.filter(channel_id=channel_id, external_id__in=list(external_ids)).using_db(self._db)
        if not rows:
            return {}
        lines_by_order: dict[int, list[models.OrderLine]] = {row.id: [] for row in rows}
        line_rows = await models.OrderLine.filter(order_id__in=list(lines_by_order)).using_db(self._db)
        for line in line_rows:
            lines_by_order[line.order_id].append(line)  # type: ignore[attr-defined]
        return {
            row.external_id: (self._tracked(mapping.order(row, lines_by_order[row.id])), row.content_hash)
            for row in rows
        }

    async def fingerprints(self, channel_id: int, external_ids: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        """{external id: (content hash, channel updated at)} of the stored ones: an unchanged page reads only this."""
        if not external_ids:
            return {}
        rows = (
            await models.Order.filter(channel_id=channel_id, external_id__in=list(external_ids))
            .using_db(self._db)
            .values_list("external_id", "content_hash", "channel_updated_at")
        )
        return {str(external_id): (str(digest), updated) for external_id, digest, updated in rows}

    async def add_many(self, orders: Sequence[tuple[Order, str]]) -> None:
        """New orders with their content hashes: one multi-row INSERT for the orders, one for their lines
        (per chunk of rows), instead of three statements an order. Same conflict rule as `add`."""
        if not orders:
            return
        db = self._connection()
        now = _now()
        order_rows = [
            {**mapping.order_values(order), "content_hash": digest, "version": order.version}
            for order, digest in orders
        ]
        try:
            returned = await bulk.insert_rows(db, models.Order, order_rows, ("id", "external_id"), now=now)
        except IntegrityError:
            raise ConcurrentUpdate(None, orders[0][0].version) from None
        id_by_external = {str(external_id): order_id for order_id, external_id in returned}
        line_rows: list[dict[str, Any]] = []
        for order, _ in orders:
            order.id = id_by_external[order.external_id]
            order.created_at = order.updated_at = now
            line_rows.extend(
                {"order_id": order.id, **mapping.line_values(line, position)}
                for position, line in enumerate(order.lines)
            )
        line_ids = await bulk.insert_rows(db, models.OrderLine, line_rows, ("id", "order_id", "position"), now=now)
        id_by_line = {(order_id, position): line_id for line_id, order_id, position in line_ids}
        for order, _ in orders:
            for position, line in enumerate(order.lines):
                line.id = id_by_line[(order.id, position)]
            self._tracked(order)

    def _connection(self) -> BaseDBAsyncClient:
        return self._db or models.Order._meta.db

    async def add(self, order: Order, content_hash: str) -> Order:
        """A concurrent import (webhook and poll) may insert the same (channel, external id) first: the
        unique index refuses ours, and ConcurrentUpdate makes the command re-read and update instead."""
        try:
            row = await models.Order.create(
                using_db=self._db, **mapping.order_values(order), content_hash=content_hash, version=order.version
            )
        except IntegrityError:
            raise ConcurrentUpdate(None, order.version) from None
        order.id = row.id
        order.created_at = row.created_at
        order.updated_at = row.updated_at
        await self._insert_lines(order, range(len(order.lines)))
        return self._tracked(order)

    async def save(self, order: Order, content_hash: str | None = None) -> Order:
        """Optimistic locking: the UPDATE only matches the version that was read, then bumps it."""
        if order.id is None:
            raise ValueError("save() needs a stored order; use add() for a new one")
        values = mapping.order_values(order)
        if content_hash is not None:
            values["content_hash"] = content_hash
        now = _now()
        updated = (
            await models.Order.filter(id=order.id, version=order.version)
            .using_db(self._db)
            .update(**values, version=order.version + 1, updated_at=now)
        )
        if updated == 0:
            raise ConcurrentUpdate(order.id, order.version)
        order.version += 1
        order.updated_at = now
        await self._save_lines(order)
        return self._tracked(order)

    async def has_pending_writes(self, order_id: int) -> bool:
        return (
            await models.OutboxWrite.filter(order_id=order_id, status=WriteStatus.PENDING.value)
            .using_db(self._db)
            .exists()
        )

    async def draft_rules(self, account_id: int) -> DraftRules:
        settings = (
            await models.Account.filter(id=account_id).using_db(self._db).first().values_list("settings", flat=True)
        )
        return DraftRules.from_settings(settings if isinstance(settings, dict) else None)

    async def _save_lines(self, order: Order) -> None:
        """Upsert by id: changed lines updated, new ones inserted, the ones gone deleted."""
        assert order.id is not None
        stored = {row.id: row for row in await models.OrderLine.filter(order_id=order.id).using_db(self._db)}
        keep = {line.id for line in order.lines if line.id is not None}
        gone = [line_id for line_id in stored if line_id not in keep]
        if gone:
            await models.OrderLine.filter(order_id=order.id, id__in=gone).using_db(self._db).delete()
        new_positions = []
        for position, line in enumerate(order.lines):
            if line.id is None or line.id not in stored:
                new_positions.append(position)
                continue
            values = mapping.line_values(line, position)
            if values != mapping.line_row_values(stored[line.id]):
                await models.OrderLine.filter(id=line.id).using_db(self._db).update(**values)
        await self._insert_lines(order, new_positions)

    async def _insert_lines(self, order: Order, positions: Sequence[int]) -> None:
        """One multi-row insert, then one read to learn the new ids (executemany returns none)."""
        if not positions:
            return
        new = [models.OrderLine(order_id=order.id, **mapping.line_values(order.lines[p], p)) for p in positions]
        await models.OrderLine.bulk_create(new, using_db=self._db)
        rows = await models.OrderLine.filter(order_id=order.id, position__in=list(positions)).using_db(self._db)
        id_by_position = {row.position: row.id for row in rows}
        for position in positions:
            order.lines[position].id = id_by_position[position]

    def _tracked(self, order: Order) -> Order:
        self._track(order)
        return order

    def _supports_row_locks(self) -> bool:
        client = self._db or models.Order._meta.db
        return bool(client.capabilities.support_for_update)


class TortoiseShipmentRepository:
    def __init__(self, db: BaseDBAsyncClient | None = None) -> None:
        self._db = db

    async def get(self, account_id: int, shipment_id: int) -> Shipment | None:
        row = await models.Shipment.filter(id=shipment_id, account_id=account_id).using_db(self._db).first()
        return mapping.shipment(row) if row else None

    async def by_idempotency_key(self, account_id: int, key: str) -> Shipment | None:
        row = await models.Shipment.filter(account_id=account_id, idempotency_key=key).using_db(self._db).first()
        return mapping.shipment(row) if row else None

    async def for_order(self, order_id: int) -> list[Shipment]:
        rows = await models.Shipment.filter(order_id=order_id).using_db(self._db).order_by("id")
        return [mapping.shipment(row) for row in rows]

    async def add(self, shipment: Shipment) -> Shipment:
        """The unique (account, key) index decides between two concurrent buys of one label.

        The insert runs in a savepoint so that, on PostgreSQL, the losing transaction is still
        usable afterwards (to read the winner's shipment).
        """
        try:
            async with self._savepoint() as db:
                row = await models.Shipment.create(using_db=db, **mapping.shipment_values(shipment))
        except IntegrityError:
            existing = await self.by_idempotency_key(shipment.account_id, shipment.idempotency_key)
            if existing is None or existing.id is None:
                raise
            raise DuplicateIdempotencyKey(shipment.account_id, shipment.idempotency_key, existing.id) from None
        shipment.id = row.id
        shipment.created_at = row.created_at
        return shipment

    async def save(self, shipment: Shipment) -> Shipment:
        if shipment.id is None:
            raise ValueError("save() needs a stored shipment; use add() for a new one")
        await (
            models.Shipment.filter(id=shipment.id, account_id=shipment.account_id)
            .using_db(self._db)
            .update(**_without_fulfillment_id(mapping.shipment_values(shipment)), updated_at=_now())
        )
        return shipment

    def _savepoint(self) -> Any:
        if self._db is None:
            return models.Shipment._meta.db._in_transaction()
        return self._db._in_transaction()


class TortoiseChannelRepository:
    def __init__(self, db: BaseDBAsyncClient | None = None, secret_box: SecretBox | None = None) -> None:
        self._db = db
        self._box = secret_box

    async def get(self, account_id: int, channel_id: int) -> Channel | None:
        row = await models.Channel.filter(id=channel_id, account_id=account_id).using_db(self._db).first()
        return mapping.channel(row) if row else None

    async def add(self, channel: Channel, credentials: dict[str, Any]) -> Channel:
        """`channel.id` is ignored and replaced by the new row's; credentials are stored encrypted."""
        row = await models.Channel.create(
            using_db=self._db,
            **mapping.channel_values(channel),
            credentials=self._secret_box().encrypt(credentials),
            next_sync_at=self._next_sync_at(channel),
        )
        channel.id = row.id
        return channel

    async def save(self, channel: Channel) -> Channel:
        await (
            models.Channel.filter(id=channel.id, account_id=channel.account_id)
            .using_db(self._db)
            .update(**mapping.channel_values(channel), next_sync_at=self._next_sync_at(channel), updated_at=_now())
        )
        return channel

    async def credentials(self, channel_id: int) -> dict[str, Any]:
        token = await models.Channel.filter(id=channel_id).using_db(self._db).values_list("credentials", flat=True)
        if not token or not token[0]:
            return {}
        return self._secret_box().decrypt(str(token[0]))

    async def set_credentials(self, channel_id: int, credentials: dict[str, Any]) -> None:
        """After a token refresh or a reconnect."""
        await (
            models.Channel.filter(id=channel_id)
            .using_db(self._db)
            .update(credentials=self._secret_box().encrypt(credentials), updated_at=_now())
        )

    async def due_for_sync(self, now: datetime | None = None) -> list[Channel]:
        """Connected channels whose next sync time has come (never synced counts as due)."""
        now = now or _now()
        rows = (
            await models.Channel.filter(state=ConnectionState.CONNECTED.value)
            .using_db(self._db)
            .filter(Q(next_sync_at=None) | Q(next_sync_at__lte=now))
            .order_by("id")
        )
        return [mapping.channel(row) for row in rows]

    async def defer_sync(self, channel_id: int, until: datetime) -> None:
        """Push the next sync back (after a failed run) so a failing channel is not retried every tick."""
        await models.Channel.filter(id=channel_id).using_db(self._db).update(next_sync_at=until)

    def _secret_box(self) -> SecretBox:
        return self._box or installed_secret_box()

    @staticmethod
    def _next_sync_at(channel: Channel) -> datetime | None:
        if channel.last_synced_at is None:
            return None
        return channel.last_synced_at + timedelta(seconds=channel.sync_interval_seconds)


class TortoiseSyncRunRepository:
    def __init__(self, db: BaseDBAsyncClient | None = None) -> None:
        self._db = db

    async def add(self, run: SyncRun) -> SyncRun:
        row = await models.SyncRun.create(using_db=self._db, **mapping.sync_run_values(run))
        run.id = row.id
        return run

    async def save(self, run: SyncRun) -> SyncRun:
        if run.id is None:
            raise ValueError("save() needs a stored sync run; use add() for a new one")
        await models.SyncRun.filter(id=run.id).using_db(self._db).update(**mapping.sync_run_values(run))
        return run

    async def get(self, account_id: int, run_id: int) -> SyncRun | None:
        row = await models.SyncRun.filter(id=run_id, account_id=account_id).using_db(self._db).first()
        return mapping.sync_run(row) if row else None


def _without_fulfillment_id(values: dict[str, Any]) -> dict[str, Any]:
    """The outbox alone writes the channel's fulfillment id, outside the order lock; a save
    from a command that read the shipment earlier must not put back the old (empty) value."""
    values.pop("channel_fulfillment_id", None)
    return values
