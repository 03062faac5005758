"""A page of orders with everything nested costs a fixed number of SQL queries, and only shows your own orders."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.persistence import models
from adapters.persistence.accounts import ApiPrincipal, create_account
from adapters.persistence.uow import TortoiseUnitOfWork
from api.context import Context
from api.loaders import Loaders
from api.schema import schema
from domain.model import (
    Address,
    ChannelKind,
    ChannelOrderStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    WriteKind,
    WriteStatus,
)
from tests.conftest import Database

pytestmark = pytest.mark.db

# first: 60 returns the largest seeded account whole and stays under the 1000-point query cost
# (100 with these nested lists would cost 1101, refused as MAX_COST_EXCEEDED before any SQL).
ORDERS = """{ orders(first: 60) { edges { node {
  id number status
  lines { sku quantity }
  shipments { id trackingNumber }
  channel { id name }
  channelWrites { kind }
} } } }"""
ORDER = "query($id: ID!) { order(id: $id) { id number lines { sku } shipments { trackingNumber } } }"
MAX_QUERIES = 6
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
#: Tortoise logs every statement it sends (and nothing else but connection set-up) here, at DEBUG.
QUERY_LOGGER = "tortoise.db_client"


class _QueryLog(logging.Handler):
    """Keeps the SQL of each execution; tortoise logs a query as ("%s: %s", sql, values) or a bare script."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and record.args:
            self.queries.append(str(record.args[0]))
        elif not record.args:  # execute_script logs the bare SQL
            self.queries.append(str(record.msg))
        # Anything else ("Created connection pool ...", "Closed connection ...") is not a query.


@contextlib.contextmanager
def counting_queries() -> Iterator[list[str]]:
    logger = logging.getLogger(QUERY_LOGGER)
    handler = _QueryLog()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.queries
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@dataclass
class Seeded:
    """What was stored for one account, to compare the API's answer with."""

    account_id: int
    channel_id: int
    channel_name: str
    skus_by_number: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    tracking_by_number: dict[str, list[str]] = field(default_factory=dict)
    writes_by_number: dict[str, list[str]] = field(default_factory=dict)
    id_by_number: dict[str, str] = field(default_factory=dict)


async def seed_account(name: str, orders: int) -> Seeded:
    """`orders` orders of 2 or 3 lines; every third has a label, every fourth an open (and a delivered) channel write."""
    account_id = await create_account(name)
    channel = await models.Channel.create(account_id=account_id, kind=ChannelKind.SHOPIFY.value, name=f"{name} store")
    seeded = Seeded(account_id, channel.id, channel.name)
    for n in range(orders):
        number = f"{name}-{n:03d}"
        lines = [
            OrderLine(channel_line_id=f"{number}-L{i}", title=f"Item {i}", quantity=i + 1, sku=f"{number}-SKU{i}")
            for i in range(2 + n % 2)
        ]
        order = Order(
            id=None,
            account_id=account_id,
            channel_id=channel.id,
            external_id=f"{name}-ext-{n}",
            number=number,
            status=OrderStatus.READY_TO_SHIP,
            channel_status=ChannelOrderStatus.AWAITING_FULFILLMENT,
            payment_status=PaymentStatus.PAID,
            lines=lines,
            shipping_address=Address(
                name="Ada", line1="1 Main St", city="Berlin", postal_code="10115", country_code="DE"
            ),
            channel_updated_at=T0 + timedelta(minutes=n),
            channel_created_at=T0 + timedelta(minutes=n),
        )
        async with TortoiseUnitOfWork() as uow:
            await uow.orders.add(order, content_hash=number)
            assert order.id is not None
            if n % 3 == 0:
                shipment = Shipment(
                    id=None,
                    account_id=account_id,
                    order_id=order.id,
                    carrier="sandbox",
                    service="ground",
                    idempotency_key=f"buy-{number}",
                    lines=[
                        ShipmentLine(
                            order_line_id=lines[0].id or 0, channel_line_id=lines[0].channel_line_id, quantity=1
                        )
                    ],
                    status=ShipmentStatus.PURCHASED,
                    tracking_number=f"TRK-{number}",
                )
                await uow.shipments.add(shipment)
        seeded.id_by_number[number] = f"gid://waybill/Order/{order.id}"
        seeded.skus_by_number[number] = [(line.sku or "", line.quantity) for line in lines]
        seeded.tracking_by_number[number] = [f"TRK-{number}"] if n % 3 == 0 else []
        seeded.writes_by_number[number] = []
        if n % 4 == 0:
            for kind, status in (
                (WriteKind.ORDER_FULFILLED, WriteStatus.DELIVERED),
                (WriteKind.SHIPMENT_CREATED, WriteStatus.PENDING),
            ):
                await models.OutboxWrite.create(
                    account_id=account_id,
                    order_id=order.id,
                    channel_id=channel.id,
                    kind=kind.value,
                    status=status.value,
                    next_attempt_at=T0,
                )
            seeded.writes_by_number[number] = [WriteKind.SHIPMENT_CREATED.value]  # delivered writes are not "open"
    return seeded


def context_for(account_id: int) -> Context:
    """What get_context builds for an API key of this account: a principal and fresh DataLoaders."""
    principal = ApiPrincipal(account_id=account_id, key_id=0, scopes=("admin",))
    return Context(runtime=None, principal=principal, loaders=Loaders(account_id))  # type: ignore[arg-type]


async def execute(query: str, account_id: int, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await schema.execute(query, variable_values=variables, context_value=context_for(account_id))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def orders_page(account_id: int) -> tuple[list[dict[str, Any]], list[str]]:
    with counting_queries() as queries:
        data = await execute(ORDERS, account_id)
    return [edge["node"] for edge in data["orders"]["edges"]], list(queries)


def assert_page_matches(nodes: list[dict[str, Any]], seeded: Seeded) -> None:
    by_number = {node["number"]: node for node in nodes}
    assert len(nodes) == len(seeded.skus_by_number), "each order once"
    assert set(by_number) == set(seeded.skus_by_number)
    for number, node in by_number.items():
        assert node["id"] == seeded.id_by_number[number]
        assert node["status"] == "READY_TO_SHIP"
        assert [(line["sku"], line["quantity"]) for line in node["lines"]] == seeded.skus_by_number[number], number
        assert [s["trackingNumber"] for s in node["shipments"]] == seeded.tracking_by_number[number], number
        assert node["channel"] == {"id": f"gid://waybill/Channel/{seeded.channel_id}", "name": seeded.channel_name}
        assert [w["kind"] for w in node["channelWrites"]] == seeded.writes_by_number[number], number


async def test_a_page_of_orders_costs_the_same_few_queries_for_5_or_60_orders(db: Database) -> None:
    small = await seed_account("small", 5)
    large = await seed_account("large", 60)

    small_nodes, small_queries = await orders_page(small.account_id)
    large_nodes, large_queries = await orders_page(large.account_id)

    assert_page_matches(small_nodes, small)
    assert_page_matches(large_nodes, large)
    assert sum(len(node["lines"]) for node in large_nodes) == 150  # 30 orders of 2 lines, 30 of 3
    assert sum(len(node["shipments"]) for node in large_nodes) == 20
    report = "\n".join(large_queries)
    assert len(small_queries) == len(large_queries), (
        f"N+1: 5 orders -> {len(small_queries)} queries, 60 -> {len(large_queries)}\n{report}"
    )
    assert len(large_queries) <= MAX_QUERIES, f"{len(large_queries)} queries for one page:\n{report}"


async def test_the_query_counter_sees_every_query(db: Database) -> None:
    """The constant-count test is only as good as its counter: one nested field per order must show up as N."""
    seeded = await seed_account("counted", 4)
    with counting_queries() as queries:
        for number in seeded.id_by_number:
            await execute(ORDER, seeded.account_id, {"id": seeded.id_by_number[number]})
    # Each lookup is its own request: the order, its lines, its shipments.
    assert len(queries) == 3 * 4, queries
    assert all(query.lstrip().upper().startswith("SELECT") for query in queries), queries


async def test_orders_of_another_account_never_show(db: Database) -> None:
    mine = await seed_account("mine", 3)
    theirs = await seed_account("theirs", 4)

    my_nodes, _ = await orders_page(mine.account_id)
    assert_page_matches(my_nodes, mine)
    assert not {node["id"] for node in my_nodes} & set(theirs.id_by_number.values())

    for their_id in theirs.id_by_number.values():
        assert (await execute(ORDER, mine.account_id, {"id": their_id}))["order"] is None
    # The same ids do resolve for their owner, so the nulls above are the account scope at work.
    for number, their_id in theirs.id_by_number.items():
        order = (await execute(ORDER, theirs.account_id, {"id": their_id}))["order"]
        assert order is not None and order["number"] == number
        assert [s["trackingNumber"] for s in order["shipments"]] == theirs.tracking_by_number[number]
