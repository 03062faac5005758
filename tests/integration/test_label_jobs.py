"""Label purchase and void jobs against a carrier that fails, charges then fails, or refuses a void.

A label is never bought twice for one request (DESIGN.md): the idempotency key reaches the carrier on
every retry, and the purchase job is safe to run more than once for the same shipment.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from typing import Any

import asyncpg
import pytest

import jobs.shipping
from adapters.carriers.sandbox.client import SandboxCarrierClient
from adapters.persistence import models
from adapters.runtime import Runtime
from api import ids
from domain import services
from jobs.shipping import purchase_label
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

IS_POSTGRES = bool(os.environ.get("DATABASE_URL"))
#: How many times the sandbox client sends one request before giving the failure to the job.
CARRIER_ATTEMPTS = int(inspect.signature(SandboxCarrierClient).parameters["max_attempts"].default)
PRODUCTS_TWO = (
    {"title": "Canvas Tote", "variant_title": "Natural", "sku": "TOTE-NAT", "price": "24.00", "grams": 310},
    {"title": "Enamel Mug", "variant_title": "Forest", "sku": "MUG-FOR", "price": "18.50", "grams": 280},
)

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id state } userErrors { field message code } } }"""
ORDERS = "query { orders(first: 50) { edges { node { id number status } } } }"
ORDER = """
query($id: ID!) { order(id: $id) {
  id number status
  lines { id sku quantity quantityShipped }
  shipments { id status error trackingNumber trackingStatus refundStatus }
  channelWrites { kind status lastError }
} }"""
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status error trackingNumber }
  order { id status }
  userErrors { field message code }
} }"""
CANCEL = """
mutation($id: ID!) { cancelLabel(input: {shipmentId: $id}) {
  shipment { id status refundStatus error } order { id status } userErrors { field message code }
} }"""


async def imported_order(waybill: Harness, **spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the store's order, Waybill's order) for one new order."""
    placed = waybill.shop.add_order(**spec)
    result = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []

    async def imported() -> str:
        edges = (await waybill.gql(ORDERS))["orders"]["edges"]
        assert len(edges) == 1, edges
        return str(edges[0]["node"]["id"])

    return placed, await order(waybill, await eventually(imported))


async def order(waybill: Harness, order_id: str) -> dict[str, Any]:
    return (await waybill.gql(ORDER, {"id": order_id}))["order"]  # type: ignore[no-any-return]


async def buy(
    waybill: Harness, order_id: str, key: str, lines: list[dict[str, Any]] | None = None, service: str = "GROUND"
) -> dict[str, Any]:
    payload: dict[str, Any] = {"orderId": order_id, "idempotencyKey": key, "service": service}
    if lines is not None:
        payload["lines"] = lines
    return (await waybill.gql(BUY, {"input": payload}))["buyLabel"]  # type: ignore[no-any-return]


async def bought(waybill: Harness, order_id: str, key: str) -> dict[str, Any]:
    result = await buy(waybill, order_id, key)
    assert result["userErrors"] == [], result
    assert result["shipment"]["status"] == "PURCHASED", result
    return result


async def cancel(waybill: Harness, shipment_id: str) -> dict[str, Any]:
    return (await waybill.gql(CANCEL, {"id": shipment_id}))["cancelLabel"]  # type: ignore[no-any-return]


def label_posts(waybill: Harness) -> int:
    return waybill.carrier.requests.count(("POST", "/v1/labels"))


async def shipment_created_writes(order_id: str) -> int:
    return await models.OutboxWrite.filter(
        order_id=ids.decode("Order", order_id, "id"), kind="SHIPMENT_CREATED"
    ).count()


async def writes_settled(waybill: Harness, order_id: str) -> bool:
    assert (await order(waybill, order_id))["channelWrites"] == []
    return True


@pytest.mark.parametrize("failures", [1, CARRIER_ATTEMPTS], ids=["client-retry", "job-retry"])
async def test_carrier_failing_after_the_charge_sells_one_label(waybill: Harness, failures: int) -> None:
    _, found = await imported_order(waybill)
    waybill.carrier.charge_then_fail_next(failures)

    result = await bought(waybill, found["id"], "charged-then-failed")

    (label,) = waybill.carrier.labels.values()
    assert result["shipment"]["trackingNumber"] == label.tracking_code
    assert label_posts(waybill) == failures + 1, "every retry asked again with the same key"
    assert result["order"]["status"] == "SHIPPING"
    current = await order(waybill, found["id"])
    assert [s["status"] for s in current["shipments"]] == ["PURCHASED"]
    assert await shipment_created_writes(found["id"]) == 1


async def test_purchase_job_run_again_for_a_bought_label_does_nothing(waybill: Harness, runtime: Runtime) -> None:
    _, found = await imported_order(waybill)
    result = await bought(waybill, found["id"], "run-twice")
    shipment_id = ids.decode("Shipment", result["shipment"]["id"], "id")

    again = await purchase_label({"runtime": runtime}, waybill.account_id, shipment_id)

    assert again == "PURCHASED"
    assert len(waybill.carrier.labels) == 1
    assert label_posts(waybill) == 1
    assert await shipment_created_writes(found["id"]) == 1
    lines = (await order(waybill, found["id"]))["lines"]
    assert all(line["quantityShipped"] == line["quantity"] for line in lines), lines


async def test_two_purchase_jobs_racing_for_one_shipment_complete_it_once(
    waybill: Harness, runtime: Runtime, migrated_database: Any
) -> None:
    _, found = await imported_order(waybill)
    order_pk = ids.decode("Order", found["id"], "id")
    shipment, created = await services.begin_label_purchase(
        runtime.uow("test"), waybill.account_id, order_pk, None, "sandbox", "GROUND", "racing-jobs"
    )
    assert created and shipment.id is not None
    ctx = {"runtime": runtime}

    def both_runs() -> asyncio.Future[list[str]]:
        return asyncio.gather(
            purchase_label(ctx, waybill.account_id, shipment.id),  # type: ignore[arg-type]
            purchase_label(ctx, waybill.account_id, shipment.id),  # type: ignore[arg-type]
        )

    if IS_POSTGRES:
        # Hold the order's row lock until both jobs have bought and wait on it: the interleaving that
        # arq's at-least-once delivery (or reconcile_purchases) allows. SQLite runs one writer at a time.
        gate = await asyncpg.connect(migrated_database.url)
        try:
            transaction = gate.transaction()
            await transaction.start()
            await gate.execute("SELECT id FROM orders WHERE id = $1 FOR UPDATE", order_pk)
            runs = both_runs()

            async def both_waiting() -> bool:
                waiting = await gate.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
                assert waiting >= 2, waiting
                return True

            await eventually(both_waiting)
            await transaction.rollback()
            outcomes = await runs
        finally:
            await gate.close()
    else:
        outcomes = await both_runs()

    assert sorted(outcomes) == ["PURCHASED", "PURCHASED"]
    assert len(waybill.carrier.labels) == 1
    assert await shipment_created_writes(found["id"]) == 1
    current = await order(waybill, found["id"])
    assert all(line["quantityShipped"] == line["quantity"] for line in current["lines"]), current["lines"]
    assert current["status"] == "SHIPPING", current
    assert await models.Event.filter(order_id=order_pk, type="LABEL_PURCHASED").count() == 1


async def test_a_carrier_that_charged_then_went_silent_is_asked_again_never_charged_twice(
    waybill: Harness, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two job tries instead of five keep the test short; the path is the same.
    monkeypatch.setattr(jobs.shipping, "MAX_TRIES", 2)
    _, found = await imported_order(waybill)
    silent_for = jobs.shipping.MAX_TRIES * CARRIER_ATTEMPTS
    waybill.carrier.charge_then_fail_next(silent_for)  # sold on the first ask, then only 500s

    result = await buy(waybill, found["id"], "while-silent")

    assert [e["code"] for e in result["userErrors"]] == ["CARRIER_UNAVAILABLE"], result
    assert "no second label" in result["userErrors"][0]["message"]
    assert result["shipment"]["status"] == "PURCHASING", "not FAILED: the carrier may have charged"
    assert result["order"]["status"] == "READY_TO_SHIP"
    assert len(waybill.carrier.labels) == 1, "the carrier did sell one"
    # The lines stay reserved: a new key cannot buy a second label meanwhile.
    again = await buy(waybill, found["id"], "impatient")
    assert [e["code"] for e in again["userErrors"]] == ["LABEL_PURCHASE_IN_PROGRESS"], again
    assert len(waybill.carrier.labels) == 1

    # The carrier answers again; the reconciliation (what the tick enqueues) asks with the same key.
    shipment_pk = ids.decode("Shipment", result["shipment"]["id"], "id")
    assert await jobs.shipping.purchase_label({"runtime": runtime}, waybill.account_id, shipment_pk) == "PURCHASED"
    current = await order(waybill, found["id"])
    assert current["status"] == "SHIPPING"
    assert [s["status"] for s in current["shipments"]] == ["PURCHASED"]
    assert len(waybill.carrier.labels) == 1, "the label sold during the outage, not a second one"
    assert await shipment_created_writes(found["id"]) == 1


async def test_a_carrier_refusal_fails_the_label_and_frees_the_lines(waybill: Harness) -> None:
    _, found = await imported_order(waybill)

    result = await buy(waybill, found["id"], "refused", service="TELEPORT")

    assert [e["code"] for e in result["userErrors"]] == ["LABEL_PURCHASE_FAILED"], result
    assert "TELEPORT" in result["userErrors"][0]["message"]
    assert result["shipment"]["status"] == "FAILED"
    assert waybill.carrier.labels == {}
    again = await bought(waybill, found["id"], "after-refusal")
    assert again["order"]["status"] == "SHIPPING"
    assert len(waybill.carrier.labels) == 1


async def test_void_refused_after_the_parcel_was_scanned(waybill: Harness) -> None:
    placed, found = await imported_order(waybill)
    result = await bought(waybill, found["id"], "scanned")
    await eventually(lambda: writes_settled(waybill, found["id"]))
    waybill.carrier.force_status(result["shipment"]["trackingNumber"], "in_transit")

    async def tracked() -> bool:
        (shipment,) = (await order(waybill, found["id"]))["shipments"]
        assert shipment["trackingStatus"] == "IN_TRANSIT", shipment
        return True

    await eventually(tracked)
    refused = await cancel(waybill, result["shipment"]["id"])

    assert [e["code"] for e in refused["userErrors"]] == ["LABEL_VOID_REJECTED"], refused
    assert "already scanned" in refused["userErrors"][0]["message"]
    assert refused["shipment"]["status"] == "IN_TRANSIT"
    assert refused["shipment"]["refundStatus"] == "REJECTED"
    assert refused["order"]["status"] == "SHIPPING"
    current = await order(waybill, found["id"])
    assert current["status"] == "SHIPPING"
    assert [s["status"] for s in current["shipments"]] == ["IN_TRANSIT"]
    assert await models.OutboxWrite.filter(kind="SHIPMENT_CANCELLED").count() == 0
    (label,) = waybill.carrier.labels.values()
    assert label.refund_status != "refunded"
    assert [f["status"] for f in waybill.shop.fulfillments(placed["id"])] == ["success"]


async def test_cancel_label_twice_says_already_voided(waybill: Harness) -> None:
    _, found = await imported_order(waybill)
    result = await bought(waybill, found["id"], "void-twice")

    first = await cancel(waybill, result["shipment"]["id"])
    second = await cancel(waybill, result["shipment"]["id"])

    assert first["userErrors"] == [] and first["shipment"]["status"] == "VOIDED", first
    assert [e["code"] for e in second["userErrors"]] == ["LABEL_ALREADY_VOIDED"], second
    refunds = [r for r in waybill.carrier.requests if r[0] == "POST" and r[1].endswith("/refund")]
    assert len(refunds) == 1, "the second cancel never reached the carrier"
    assert await models.OutboxWrite.filter(kind="SHIPMENT_CANCELLED").count() == 1


async def test_partial_shipment_then_the_rest(waybill: Harness) -> None:
    tote, mug = ({**spec, "quantity": quantity} for spec, quantity in zip(PRODUCTS_TWO, (1, 2), strict=True))
    placed, found = await imported_order(waybill, line_items=[tote, mug])
    store_line = {item["sku"]: item["id"] for item in placed["line_items"]}
    line = {item["sku"]: item for item in found["lines"]}
    assert set(line) == {"TOTE-NAT", "MUG-FOR"}

    first = await buy(waybill, found["id"], "part-1", lines=[{"lineId": line["MUG-FOR"]["id"], "quantity": 2}])
    assert first["userErrors"] == [], first
    assert first["order"]["status"] == "PARTIALLY_SHIPPED"
    await eventually(lambda: writes_settled(waybill, found["id"]))
    (fulfillment,) = waybill.shop.fulfillments(placed["id"])
    assert [(i["id"], i["quantity"]) for i in fulfillment["line_items"]] == [(store_line["MUG-FOR"], 2)]
    assert fulfillment["tracking_number"] == first["shipment"]["trackingNumber"]
    assert waybill.shop.order(placed["id"])["fulfillment_status"] == "partial"

    rest = await buy(waybill, found["id"], "part-2")
    assert rest["userErrors"] == [], rest
    assert rest["order"]["status"] == "SHIPPING"
    await eventually(lambda: writes_settled(waybill, found["id"]))
    _, second = waybill.shop.fulfillments(placed["id"])
    assert [(i["id"], i["quantity"]) for i in second["line_items"]] == [(store_line["TOTE-NAT"], 1)]
    assert second["tracking_number"] == rest["shipment"]["trackingNumber"]
    assert waybill.shop.order(placed["id"])["fulfillment_status"] == "fulfilled"
    lines = (await order(waybill, found["id"]))["lines"]
    assert all(item["quantityShipped"] == item["quantity"] for item in lines), lines
    assert len(waybill.carrier.labels) == 2
