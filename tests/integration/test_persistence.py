"""The persistence adapter against a real database (SQLite by default, PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from adapters.persistence import models
from adapters.persistence.accounts import (
    authenticate_api_key,
    create_account,
    create_api_key,
    revoke_api_key,
)
from adapters.persistence.config import database_config
from adapters.persistence.db import close_db, init_db
from adapters.persistence.events import events_after, record_from_dict, record_to_dict
from adapters.persistence.outbox import OutboxStore
from adapters.persistence.repositories import ConcurrentUpdate, DuplicateIdempotencyKey
from adapters.persistence.secrets import SecretBox, SecretKeyError
from adapters.persistence.uow import TortoiseUnitOfWork
from domain import lifecycle, services
from domain.model import (
    Address,
    Channel,
    ChannelKind,
    ChannelOrder,
    ChannelOrderStatus,
    ConnectionState,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
    TrackingStatus,
    WriteKind,
    WriteStatus,
)
from tests.conftest import Database

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- helpers -----------------------------------------------------------------------------


async def make_channel(account_id: int, name: str = "Shop") -> Channel:
    async with TortoiseUnitOfWork() as uow:
        return await uow.channels.add(
            Channel(id=0, account_id=account_id, kind=ChannelKind.SHOPIFY, name=name), {"token": "shpat_secret"}
        )


def channel_order(
    external_id: str = "1001", *, status: ChannelOrderStatus = ChannelOrderStatus.AWAITING_FULFILLMENT
) -> ChannelOrder:
    return ChannelOrder(
        external_id=external_id,
        number=f"#{external_id}",
        channel_status=status,
        payment_status=PaymentStatus.PAID,
        lines=[
            OrderLine(channel_line_id="L1", title="Mug", quantity=2, sku="MUG", unit_price="12.00", grams=400),
            OrderLine(channel_line_id="L2", title="Tea", quantity=1, sku="TEA"),
        ],
        shipping_address=Address(
            name="Ada Lovelace", line1="1 Main St", city="London", postal_code="N1 1AA", country_code="GB"
        ),
        channel_updated_at=T0,
        channel_created_at=T0 - timedelta(days=1),
        raw_status="open",
        customer_email="ada@example.com",
        currency="GBP",
        total="36.00",
    )


async def import_order(account_id: int, channel_id: int, external_id: str = "1001", **kwargs: object) -> Order:
    source = channel_order(external_id, **kwargs)  # type: ignore[arg-type]
    async with TortoiseUnitOfWork() as uow:
        order = lifecycle.import_order(account_id, channel_id, source)
        await uow.orders.add(order, lifecycle.content_hash(source))
    return order


async def setup_account() -> tuple[int, Channel]:
    account_id = await create_account("Acme")
    return account_id, await make_channel(account_id)


# --- migrations and connection settings ---------------------------------------------------

#: Every migration, in order: a new one is added here on purpose, with a test of its upgrade.
MIGRATIONS = [
    "0001_initial",
    "0002_sync_engine",
    "0003_shipping",
    "0004_drafts",
    "0005_forwarding",
    "0006_security",
    "0007_order_listing_index",
]


@pytest.mark.db
async def test_migrations_apply_to_an_empty_database_then_do_nothing_and_keep_data(blank_database: Database) -> None:
    assert await init_db(blank_database.url, blank_database.data_dir) == MIGRATIONS
    account_id = await create_account("Kept")
    await close_db()

    assert await init_db(blank_database.url, blank_database.data_dir) == []
    assert (await models.Account.get(id=account_id)).name == "Kept"
    applied = await connections.get("default").execute_query_dict('SELECT name FROM "tortoise_migrations"')
    assert sorted(row["name"] for row in applied) == MIGRATIONS


@pytest.mark.db
async def test_migrations_match_the_models(db: Database) -> None:
    """A model edited without `tortoise makemigrations` fails here, not on a user's upgrade."""
    config = database_config(db.url, db.data_dir)
    assert Tortoise.apps is not None
    pending = await MigrationAutodetector(Tortoise.apps, config["apps"]).changes()
    assert [writer.name for writer in pending] == []


@pytest.mark.db
async def test_processes_starting_at_once_migrate_exactly_once(blank_database: Database) -> None:
    script = (
        "import asyncio, sys; from pathlib import Path; from adapters.persistence.db import migrate_db; "
        "print(asyncio.run(migrate_db(sys.argv[1] or None, Path(sys.argv[2]))))"
    )
    args = [sys.executable, "-c", script, blank_database.url or "", str(blank_database.data_dir)]
    pipe = asyncio.subprocess.PIPE
    processes = [await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=pipe, stderr=pipe) for _ in range(3)]
    results = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], [err.decode() for _, err in results]
    outputs = sorted(out.decode().strip() for out, _ in results)
    assert outputs == [str(MIGRATIONS), "[]", "[]"]


@pytest.mark.db
async def test_sqlite_uses_wal_busy_timeout_and_foreign_keys(db: Database) -> None:
    if db.is_postgres:
        pytest.skip("SQLite pragmas")
    client = connections.get("default")
    assert (await client.execute_query_dict("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    assert (await client.execute_query_dict("PRAGMA busy_timeout"))[0]["timeout"] == 5000
    assert (await client.execute_query_dict("PRAGMA foreign_keys"))[0]["foreign_keys"] == 1
    assert (db.data_dir / "waybill.sqlite3").exists()


@pytest.mark.db
async def test_every_index_is_on_real_columns(db: Database) -> None:
    """SQLite reads a quoted unknown column as a string literal, so a mistyped index is silently useless."""
    if db.is_postgres:
        pytest.skip("PostgreSQL refuses such an index when migrating")
    client = connections.get("default")
    indexes = await client.execute_query_dict(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'"
    )
    assert len(indexes) >= 4
    for index in indexes:
        columns = await client.execute_query_dict(f'PRAGMA index_info("{index["name"]}")')
        assert columns and all(column["name"] is not None for column in columns), index


async def test_the_orders_list_is_read_off_an_index_without_sorting(db: Database) -> None:
    """The dashboard's list (rank ascending, newest first) must not sort every order of the account."""
    if db.is_postgres:
        pytest.skip("the planner's choice on PostgreSQL depends on table statistics")
    rows = models.Order.filter(account_id=1).exclude(status="ARCHIVED")
    sql = rows.order_by("status_rank", "-channel_created_at", "-id").limit(101).sql(params_inline=True)
    plan = await connections.get("default").execute_query_dict(f"EXPLAIN QUERY PLAN {sql}")
    details = [step["detail"] for step in plan]
    assert any("idx_orders_listing_desc" in detail for detail in details), details
    assert not any("TEMP B-TREE" in detail for detail in details), details


# --- orders ------------------------------------------------------------------------------


@pytest.mark.db
async def test_order_round_trips_with_lines_address_and_status_rank(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None and all(line.id is not None for line in order.lines)

    async with TortoiseUnitOfWork() as uow:
        loaded = await uow.orders.get(account_id, order.id)
    assert loaded is not None
    assert loaded.status is OrderStatus.READY_TO_SHIP
    assert loaded.shipping_address == order.shipping_address
    assert [(line.channel_line_id, line.quantity, line.sku, line.grams) for line in loaded.lines] == [
        ("L1", 2, "MUG", 400),
        ("L2", 1, "TEA", None),
    ]
    assert loaded.channel_created_at == T0 - timedelta(days=1)
    assert loaded.version == 0

    kept, removed = loaded.lines
    kept.quantity_shipped = 1
    loaded.lines = [kept, OrderLine(channel_line_id="L3", title="Spoon", quantity=4)]
    loaded.status = OrderStatus.BACK_ORDERED
    async with TortoiseUnitOfWork() as uow:
        await uow.orders.save(loaded, content_hash="h2")
    assert loaded.version == 1 and loaded.lines[1].id is not None

    async with TortoiseUnitOfWork() as uow:
        again = await uow.orders.get(account_id, order.id, for_update=True)
        found = await uow.orders.by_external_ids(channel.id, ["1001", "missing"])
    assert again is not None
    assert [(line.id, line.channel_line_id, line.quantity_shipped) for line in again.lines] == [
        (kept.id, "L1", 1),
        (loaded.lines[1].id, "L3", 0),
    ]
    assert not await models.OrderLine.filter(id=removed.id).exists()
    assert (await models.Order.get(id=order.id)).status_rank == 1
    assert list(found) == ["1001"] and found["1001"][1] == "h2"
    assert found["1001"][0].lines == again.lines


@pytest.mark.db
async def test_saving_a_stale_version_raises_and_changes_nothing(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None
    async with TortoiseUnitOfWork() as uow:
        first = await uow.orders.get(account_id, order.id)
    async with TortoiseUnitOfWork() as uow:
        second = await uow.orders.get(account_id, order.id)
    assert first is not None and second is not None

    lifecycle.archive(first)
    async with TortoiseUnitOfWork() as uow:
        await uow.orders.save(first)
    lifecycle.skip_shipping(second)
    with pytest.raises(ConcurrentUpdate):
        async with TortoiseUnitOfWork() as uow:
            await uow.orders.save(second)

    stored = await models.Order.get(id=order.id)
    assert (stored.status, stored.version) == ("ARCHIVED", 1)
    assert await models.OutboxWrite.filter(order_id=order.id).count() == 0


@pytest.mark.db
async def test_reads_are_scoped_to_the_account(db: Database) -> None:
    account_id, channel = await setup_account()
    other_account = await create_account("Other")
    order = await import_order(account_id, channel.id)
    assert order.id is not None
    async with TortoiseUnitOfWork() as uow:
        shipment = await uow.shipments.add(_shipment(account_id, order.id, "key-1"))
        assert shipment.id is not None
        assert await uow.orders.get(other_account, order.id) is None
        assert await uow.shipments.get(other_account, shipment.id) is None
        assert await uow.channels.get(other_account, channel.id) is None
        assert await uow.shipments.by_idempotency_key(other_account, "key-1") is None
        assert await uow.orders.get(account_id, order.id) is not None
        assert await uow.channels.get(account_id, channel.id) is not None


def _shipment(account_id: int, order_id: int, key: str) -> Shipment:
    return Shipment(
        id=None,
        account_id=account_id,
        order_id=order_id,
        carrier="sandbox",
        service="ground",
        idempotency_key=key,
        lines=[ShipmentLine(order_line_id=1, channel_line_id="L1", quantity=2)],
    )


@pytest.mark.db
async def test_a_reused_idempotency_key_is_refused_and_the_transaction_stays_usable(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None
    async with TortoiseUnitOfWork() as uow:
        first = await uow.shipments.add(_shipment(account_id, order.id, "buy-1"))

    async with TortoiseUnitOfWork() as uow:
        with pytest.raises(DuplicateIdempotencyKey) as refused:
            await uow.shipments.add(_shipment(account_id, order.id, "buy-1"))
        assert refused.value.existing_id == first.id
        existing = await uow.shipments.by_idempotency_key(account_id, "buy-1")
        assert existing is not None and existing.id == first.id
        uow.add_event(account_id, "LABEL_REQUEST_REPEATED", {"shipment_id": first.id})

    assert await models.Shipment.filter(account_id=account_id).count() == 1
    assert [event.type for event in uow.committed_events] == ["LABEL_REQUEST_REPEATED"]


@pytest.mark.db
async def test_saving_a_shipment_read_earlier_keeps_the_fulfillment_id_the_outbox_stored(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None
    async with TortoiseUnitOfWork() as uow:
        stale = await uow.shipments.add(_shipment(account_id, order.id, "fid"))
    assert stale.id is not None
    # The outbox records the store's fulfillment id while a tracking update holds an older copy.
    await models.Shipment.filter(id=stale.id).update(channel_fulfillment_id="F-1")

    async with TortoiseUnitOfWork() as uow:
        stale.tracking_status = TrackingStatus.IN_TRANSIT
        await uow.shipments.save(stale)

    row = await models.Shipment.get(id=stale.id)
    assert (row.channel_fulfillment_id, row.tracking_status) == ("F-1", "IN_TRANSIT")


@pytest.mark.db
async def test_shipment_round_trips_tracking_events(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None
    async with TortoiseUnitOfWork() as uow:
        shipment = await uow.shipments.add(_shipment(account_id, order.id, "k"))
        shipment.status = ShipmentStatus.IN_TRANSIT
        shipment.tracking_status = TrackingStatus.IN_TRANSIT
        shipment.tracking_events = [TrackingEvent(TrackingStatus.IN_TRANSIT, T0, "Departed", "Leeds")]
        await uow.shipments.save(shipment)
        assert shipment.id is not None
        assert await uow.shipments.get(account_id, shipment.id) == shipment
        assert await uow.shipments.for_order(order.id) == [shipment]


@pytest.mark.db
async def test_labels_are_replaced_on_repeat_and_scoped_to_the_account(db: Database) -> None:
    account_id, channel = await setup_account()
    other_account = await create_account("Other")
    order = await import_order(account_id, channel.id)
    assert order.id is not None
    async with TortoiseUnitOfWork() as uow:
        shipment = await uow.shipments.add(_shipment(account_id, order.id, "k"))
        assert shipment.id is not None
        await uow.labels.add(account_id, shipment.id, "PDF", b"%PDF-1")
        await uow.labels.add(account_id, shipment.id, "PDF", b"%PDF-2")
    async with TortoiseUnitOfWork() as uow:
        assert await uow.labels.get(account_id, shipment.id, "PDF") == b"%PDF-2"
        assert await uow.labels.get(account_id, shipment.id, "ZPL") is None
        assert await uow.labels.get(other_account, shipment.id, "PDF") is None


# --- unit of work --------------------------------------------------------------------------


@pytest.mark.db
async def test_uow_commits_order_events_and_outbox_together(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None and order.events == []

    async with TortoiseUnitOfWork(actor="user:7") as uow:
        loaded = await uow.orders.get(account_id, order.id, for_update=True)
        assert loaded is not None
        lifecycle.skip_shipping(loaded)
        await uow.orders.save(loaded)
        assert uow.committed_events == []

    assert loaded.events == [] and loaded.writes == []
    assert [(e.type, e.order_id, e.data["status"]) for e in uow.committed_events] == [
        ("SHIPPING_SKIPPED", order.id, "DELIVERED")
    ]
    rows = await models.Event.filter(order_id=order.id).order_by("id")
    assert [(row.type, row.actor) for row in rows] == [("ORDER_IMPORTED", "system"), ("SHIPPING_SKIPPED", "user:7")]
    assert rows[0].data == {"status": "READY_TO_SHIP"}
    writes = await OutboxStore().pending_for_order(order.id)
    assert [w.id for w in writes] == uow.committed_writes
    assert [(w.kind, w.channel_id, w.status) for w in writes] == [
        (WriteKind.ORDER_FULFILLED, channel.id, WriteStatus.PENDING)
    ]
    async with TortoiseUnitOfWork() as uow:
        assert await uow.orders.has_pending_writes(order.id)


@pytest.mark.db
async def test_uow_rolls_everything_back_on_error(db: Database) -> None:
    account_id, channel = await setup_account()
    order = await import_order(account_id, channel.id)
    assert order.id is not None

    with pytest.raises(RuntimeError, match="boom"):
        async with TortoiseUnitOfWork() as uow:
            loaded = await uow.orders.get(account_id, order.id)
            assert loaded is not None
            lifecycle.skip_shipping(loaded)
            await uow.orders.save(loaded)
            await uow.orders.add(lifecycle.import_order(account_id, channel.id, channel_order("2002")), "h")
            uow.add_event(account_id, "SYNC_STARTED", {}, channel_id=channel.id)
            raise RuntimeError("boom")

    assert uow.committed_events == [] and uow.committed_writes == []
    stored = await models.Order.get(id=order.id)
    assert (stored.status, stored.version) == ("READY_TO_SHIP", 0)
    assert await models.Order.filter(external_id="2002").count() == 0
    assert [e.type for e in await models.Event.all()] == ["ORDER_IMPORTED"]
    assert await models.OutboxWrite.all().count() == 0


@pytest.mark.db
async def test_committed_events_come_in_ascending_id_order_and_resume_with_events_after(db: Database) -> None:
    account_id, channel = await setup_account()
    other_account, other_channel = await setup_account()
    async with TortoiseUnitOfWork() as uow:
        for number in ("1", "2", "3"):
            source = channel_order(number)
            await uow.orders.add(lifecycle.import_order(account_id, channel.id, source), lifecycle.content_hash(source))
        uow.add_event(account_id, "SYNC_FINISHED", {"created": 3}, channel_id=channel.id, sync_run_id=9)
    await import_order(other_account, other_channel.id, "elsewhere")

    ids = [event.id for event in uow.committed_events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert uow.committed_events[-1].sync_run_id == 9

    replay = await events_after(account_id, ids[0], limit=10)
    assert replay == uow.committed_events[1:]
    assert await events_after(account_id, ids[1], limit=1) == [uow.committed_events[2]]
    assert await events_after(account_id, ids[-1], limit=10) == []
    assert record_from_dict(record_to_dict(replay[0])) == replay[0]


# --- outbox ------------------------------------------------------------------------------


@pytest.mark.db
async def test_outbox_due_retry_fail_and_deliver(db: Database) -> None:
    account_id, channel = await setup_account()
    ids = []
    for number in ("1", "2", "3"):
        order = await import_order(account_id, channel.id, number)
        async with TortoiseUnitOfWork() as uow:
            assert order.id is not None
            loaded = await uow.orders.get(account_id, order.id)
            assert loaded is not None
            lifecycle.skip_shipping(loaded)
            await uow.orders.save(loaded)
        ids.extend(uow.committed_writes)
    store = OutboxStore()
    now = datetime.now(UTC) + timedelta(seconds=1)

    assert [row.id for row in await store.due(10, now)] == ids
    assert [row.id for row in await store.due(2, now)] == ids[:2]

    await store.mark_retry(ids[0], "503 from channel", delay_s=60, now=now)
    await store.mark_failed(ids[1], "401 revoked")
    await store.mark_delivered(ids[2], {"fulfillment_id": "F1"})

    assert await store.due(10, now) == []
    retried = await store.due(10, now + timedelta(seconds=61))
    assert [(r.id, r.attempts, r.last_error, r.status) for r in retried] == [
        (ids[0], 1, "503 from channel", WriteStatus.PENDING)
    ]
    failed, delivered = await store.get(ids[1]), await store.get(ids[2])
    assert failed is not None and (failed.status, failed.attempts, failed.last_error) == (
        WriteStatus.FAILED,
        1,
        "401 revoked",
    )
    assert delivered is not None and delivered.status is WriteStatus.DELIVERED
    assert delivered.payload["result"] == {"fulfillment_id": "F1"} and delivered.delivered_at is not None


# --- channels ----------------------------------------------------------------------------


@pytest.mark.db
async def test_channel_credentials_are_encrypted_at_rest_and_due_for_sync_follows_the_interval(db: Database) -> None:
    account_id, channel = await setup_account()
    disabled = await make_channel(account_id, "Closed shop")
    disabled.state = ConnectionState.DISABLED
    stored = await models.Channel.get(id=channel.id)
    assert "shpat_secret" not in stored.credentials
    async with TortoiseUnitOfWork() as uow:
        await uow.channels.save(disabled)
        assert await uow.channels.credentials(channel.id) == {"token": "shpat_secret"}
        assert [c.id for c in await uow.channels.due_for_sync(T0)] == [channel.id]
        channel.last_synced_at = T0
        await uow.channels.save(channel)
        assert await uow.channels.due_for_sync(T0 + timedelta(seconds=299)) == []
        assert [c.id for c in await uow.channels.due_for_sync(T0 + timedelta(seconds=300))] == [channel.id]


# --- API keys ----------------------------------------------------------------------------


@pytest.mark.db
async def test_api_keys_authenticate_until_revoked(db: Database) -> None:
    account_id = await create_account("Acme")
    key = await create_api_key(account_id, "partner", ["read_orders"])
    prefix, secret = key.removeprefix("wb_live_").split("_", 1)
    assert len(prefix) == 8 and len(secret) == 32 + 6  # secret + CRC32 checksum
    stored = await models.ApiKey.get(prefix=prefix)
    assert secret not in stored.secret_hash and key not in stored.secret_hash

    principal = await authenticate_api_key(key)
    assert principal is not None
    assert (principal.account_id, principal.key_id, principal.scopes) == (account_id, stored.id, ("read_orders",))
    first_use = (await models.ApiKey.get(id=stored.id)).last_used_at
    assert first_use is not None
    await authenticate_api_key(key, now=first_use + timedelta(seconds=30))
    assert (await models.ApiKey.get(id=stored.id)).last_used_at == first_use
    await authenticate_api_key(key, now=first_use + timedelta(minutes=2))
    assert (await models.ApiKey.get(id=stored.id)).last_used_at == first_use + timedelta(minutes=2)

    wrong_secret = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert await authenticate_api_key(wrong_secret) is None
    for malformed in ("", "wb_live_", key + "x", key.replace("wb_live_", "wb_test_"), "Bearer " + key):
        assert await authenticate_api_key(malformed) is None
    assert await authenticate_api_key("wb_live_ZZZZZZZZ_" + secret) is None

    assert await revoke_api_key(account_id, stored.id)
    assert await authenticate_api_key(key) is None


# --- secrets -----------------------------------------------------------------------------


def test_secret_box_round_trips_and_creates_a_private_key_file(tmp_path: Path) -> None:
    box = SecretBox.from_env(tmp_path / "data", environ={})
    token = box.encrypt({"token": "shpat_123", "shop": "acme"})
    assert "shpat_123" not in token
    assert box.decrypt(token) == {"token": "shpat_123", "shop": "acme"}
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # A restart reads the same key back.
    assert SecretBox.from_env(tmp_path / "data", environ={}).decrypt(token) == {"token": "shpat_123", "shop": "acme"}
    assert "shpat" not in repr(box) and key_file.read_text().strip() not in repr(box)


def test_secret_box_rotation_keeps_old_tokens_readable(tmp_path: Path) -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    old_token = SecretBox.from_env(tmp_path, environ={"WAYBILL_SECRET_KEY": old}).encrypt({"v": 1})
    rotated = SecretBox.from_env(tmp_path, environ={"WAYBILL_SECRET_KEY": f"{new}, {old}"})
    assert rotated.decrypt(old_token) == {"v": 1}
    new_token = rotated.encrypt({"v": 2})
    assert SecretBox.from_env(tmp_path, environ={"WAYBILL_SECRET_KEY": new}).decrypt(new_token) == {"v": 2}
    with pytest.raises(SecretKeyError):
        SecretBox.from_env(tmp_path, environ={"WAYBILL_SECRET_KEY": new}).decrypt(old_token)
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.db
async def test_an_older_copy_of_an_order_never_overwrites_a_newer_one(db: Database) -> None:
    account_id, channel = await setup_account()
    newest = await import_order(account_id, channel.id)
    assert newest.id is not None
    stored = await models.Order.get(id=newest.id)
    older = _channel_order_like(stored, updated=stored.channel_updated_at - timedelta(minutes=10))

    counts = await services.import_orders(TortoiseUnitOfWork(), account_id, channel.id, [older])

    assert (counts.updated, counts.unchanged) == (0, 1)
    after = await models.Order.get(id=newest.id)
    assert (after.version, after.customer_name) == (stored.version, stored.customer_name)


def _channel_order_like(row: models.Order, updated: datetime) -> ChannelOrder:
    return ChannelOrder(
        external_id=row.external_id,
        number=row.number,
        channel_status=ChannelOrderStatus.AWAITING_FULFILLMENT,
        payment_status=PaymentStatus.PAID,
        lines=[],
        shipping_address=None,
        channel_updated_at=updated,
        channel_created_at=row.channel_created_at,
        customer_name="Someone Else",
    )


@pytest.mark.db
async def test_upgrading_from_the_first_release_keeps_channels_and_adds_webhook_deliveries(
    blank_database: Database,
) -> None:
    """A database made by 0001 only (the first release) upgrades in place: its channels keep their data."""
    config = database_config(blank_database.url, blank_database.data_dir)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    executor = MigrationExecutor(connections.get("default"), config["apps"])
    await executor.migrate(targets=[MigrationTarget(app_label="models", name="0001_initial")])
    await connections.get("default").execute_query(
        "INSERT INTO accounts (name, created_at) VALUES ('Old', CURRENT_TIMESTAMP)"
    )
    await close_db()

    assert await init_db(blank_database.url, blank_database.data_dir) == MIGRATIONS[1:]
    account = await models.Account.get(name="Old")
    channel = await models.Channel.create(account_id=account.id, kind="SHOPIFY", name="Kept")
    assert (await models.Channel.get(id=channel.id)).consecutive_failures == 0
    await models.WebhookDelivery.create(account_id=account.id, channel_id=channel.id, event_id="e1", body="{}")
    assert await models.WebhookDelivery.filter(channel_id=channel.id).count() == 1
