"""buyLabels: 200 labels from the sandbox carrier, one merged PDF, progress live, failures per order."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pypdf import PdfReader

from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

HEADER = "order_number,order_date,status,customer_email,ship_name,ship_line1,ship_city,ship_region,ship_postal_code,ship_country,sku,title,quantity,weight_grams\n"
IMPORT = """
mutation($input: ImportOrdersCsvInput!) { importOrdersCsv(input: $input) { created rowErrors { line message } } }"""
ORDERS = "query($after: String) { orders(first: 250, after: $after) { edges { node { id number status } } pageInfo { hasNextPage endCursor } } }"
BUY_LABELS = """
mutation($input: BuyLabelsInput!) { buyLabels(input: $input) {
  batch { id status total succeeded failed mergedPdfUrl items { orderId status shipmentId error code } }
  userErrors { field message code }
} }"""
PROGRESS = "subscription($id: ID!) { labelBatchProgress(batchId: $id) { status succeeded failed total } }"
BATCH = "query($id: ID!) { labelBatch(id: $id) { status succeeded failed mergedPdfUrl items { orderId status code error } } }"


async def upload(waybill: Harness, csv_text: str) -> None:
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    response = await waybill.http.post(
        f"{waybill.base_url}/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": ("orders.csv", csv_text.encode(), "text/csv")},
        headers={"Authorization": f"Bearer {waybill.api_key}"},
    )
    assert response.status_code == 200 and response.json()["data"]["importOrdersCsv"]["rowErrors"] == [], response.text


def order_rows(count: int, status: str = "unfulfilled", start: int = 5000) -> str:
    return "".join(
        f"{n},2026-11-20,{status},b{n}@example.com,Buyer {n},{n} Main St,Portland,OR,97201,US,SKU-{n},Thing {n},1,400\n"
        for n in range(start, start + count)
    )


async def all_orders(waybill: Harness) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        page = (await waybill.gql(ORDERS, {"after": after}))["orders"]
        found.update({edge["node"]["number"]: edge["node"] for edge in page["edges"]})
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def test_two_hundred_labels_in_one_batch_with_one_merged_pdf(waybill: Harness) -> None:
    await upload(waybill, HEADER + order_rows(200) + order_rows(1, status="cancelled", start=9000))
    orders = await all_orders(waybill)
    ready = [o["id"] for o in orders.values() if o["status"] == "READY_TO_SHIP"]
    cancelled = orders["9000"]["id"]
    assert len(ready) == 200
    wanted = [{"orderId": order_id} for order_id in [*ready[:100], cancelled, *ready[100:]]]
    result = (await waybill.gql(BUY_LABELS, {"input": {"orders": wanted, "idempotencyKey": "batch-1"}}))["buyLabels"]
    assert result["userErrors"] == [], result["userErrors"]
    batch = result["batch"]
    assert batch["total"] == 201

    async with waybill.subscribe(PROGRESS, {"id": batch["id"]}) as subscriber:

        async def done() -> dict[str, Any]:
            finals = [m["data"]["labelBatchProgress"] for m in subscriber.messages if "data" in m]
            assert finals and finals[-1]["status"] == "DONE", finals[-1:] or "no progress yet"
            return finals[-1]  # type: ignore[no-any-return]

        final = await eventually(done, within=120)
    assert (final["succeeded"], final["failed"]) == (200, 1)
    assert len(subscriber.messages) >= 2, "progress was reported while the batch ran, not only at the end"

    shown = (await waybill.gql(BATCH, {"id": batch["id"]}))["labelBatch"]
    failed = [item for item in shown["items"] if item["status"] == "FAILED"]
    assert [(item["orderId"], item["code"]) for item in failed] == [(cancelled, "ORDER_CANCELLED")]
    assert [item["orderId"] for item in shown["items"]] == [w["orderId"] for w in wanted], "in the order asked"

    pdf = await waybill.http.get(
        f"{waybill.base_url}{shown['mergedPdfUrl']}", headers={"Authorization": f"Bearer {waybill.api_key}"}
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 200, "one page per label, one file to print"
    other = await waybill.new_key("Someone else")
    hidden = await waybill.http.get(
        f"{waybill.base_url}{shown['mergedPdfUrl']}", headers={"Authorization": f"Bearer {other}"}
    )
    assert hidden.status_code == 404

    again = (await waybill.gql(BUY_LABELS, {"input": {"orders": wanted, "idempotencyKey": "batch-1"}}))["buyLabels"]
    assert again["batch"]["id"] == batch["id"] and again["batch"]["succeeded"] == 200, "a repeat buys nothing"
    assert len(waybill.carrier.labels) == 200, "the carrier sold exactly one label per order"


async def test_a_batch_naming_an_order_of_another_account_is_refused_whole(waybill: Harness) -> None:
    await upload(waybill, HEADER + order_rows(2))
    ids_ = [o["id"] for o in (await all_orders(waybill)).values()]
    result = await waybill.gql(
        BUY_LABELS,
        {"input": {"orders": [{"orderId": ids_[0]}, {"orderId": "gid://waybill/Order/99999"}], "idempotencyKey": "b"}},
    )
    (error,) = result["buyLabels"]["userErrors"]
    assert error["code"] == "NOT_FOUND" and error["field"] == ["orders", "1"]
    assert len(waybill.carrier.labels) == 0
