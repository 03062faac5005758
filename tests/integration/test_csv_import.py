"""CSV upload end to end: a GraphQL multipart request to the running server, and `waybill import-csv`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import waybill as run_cli
from tests.support.harness import Harness

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "csv"
IMPORT = """
mutation($input: ImportOrdersCsvInput!) { importOrdersCsv(input: $input) {
  created updated unchanged rejectedOrders warnings
  rowErrors { line column message }
  syncRun { id trigger status fetched created failed error }
  userErrors { field message code }
} }"""
ORDERS = """
query { orders(first: 50) { edges { node {
  number status warning missingFields channel { kind platform capabilities }
  lines { sku title quantity } shippingAddress { city countryCode }
} } } }"""


async def upload(waybill: Harness, data: bytes, filename: str = "orders.csv") -> dict[str, Any]:
    """The GraphQL multipart request spec: operations, a map, then the file part."""
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    response = await waybill.http.post(
        f"{waybill.base_url}/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": (filename, data, "text/csv")},
        headers={"Authorization": f"Bearer {waybill.api_key}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["importOrdersCsv"]  # type: ignore[no-any-return]


async def orders(waybill: Harness) -> dict[str, dict[str, Any]]:
    edges = (await waybill.gql(ORDERS))["orders"]["edges"]
    return {edge["node"]["number"]: edge["node"] for edge in edges}


async def test_a_csv_upload_imports_its_orders_once(waybill: Harness) -> None:
    data = (FIXTURES / "orders.csv").read_bytes()
    first = await upload(waybill, data)
    assert first["userErrors"] == [] and first["rowErrors"] == []
    assert (first["created"], first["updated"], first["unchanged"]) == (3, 0, 0)
    assert first["syncRun"]["trigger"] == "UPLOAD" and first["syncRun"]["status"] == "SUCCEEDED"
    found = await orders(waybill)
    assert set(found) == {"1001", "1002", "1003"}
    assert found["1001"]["status"] == "READY_TO_SHIP"
    assert [(line["sku"], line["quantity"]) for line in found["1001"]["lines"]] == [("MUG-BLUE", 2), ("TEA-EARL", 1)]
    assert found["1001"]["shippingAddress"] == {"city": "London", "countryCode": "GB"}
    assert found["1002"]["status"] == "SHIPPED_ELSEWHERE" and found["1002"]["warning"]
    assert found["1003"]["status"] == "DRAFT" and found["1003"]["missingFields"]
    assert found["1001"]["channel"]["kind"] == "CSV" and found["1001"]["channel"]["capabilities"] == []

    again = await upload(waybill, data)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3), "the same file changes nothing"
    assert await orders(waybill) == found


async def test_bad_rows_are_reported_by_line_and_column_and_good_orders_are_imported(waybill: Harness) -> None:
    result = await upload(waybill, (FIXTURES / "orders_bad_rows.csv").read_bytes())
    errors = {(error["line"], error["column"]) for error in result["rowErrors"]}
    assert {(3, "title"), (4, "quantity"), (5, "order_date"), (6, "ship_country"), (7, "customer_email")} <= errors
    assert {"3002", "3003", "3004", "3005", "3006", "3008"} <= set(result["rejectedOrders"])
    found = await orders(waybill)
    assert {"3001", "3007"} <= set(found)
    assert not set(result["rejectedOrders"]) & set(found), "an order with a bad row is not half-imported"
    assert any("gift_note" in warning for warning in result["warnings"])
    assert result["syncRun"]["failed"] == len(result["rejectedOrders"])


async def test_a_file_that_is_not_a_csv_of_orders_imports_nothing(waybill: Harness) -> None:
    result = await upload(waybill, "Bestellnummer;Datum\n".encode("utf-16"))
    assert result["created"] == 0 and result["rowErrors"]
    assert result["rowErrors"][0]["line"] in (0, 1)
    assert await orders(waybill) == {}


async def test_a_channel_not_in_the_account_is_refused_as_not_found(waybill: Harness) -> None:
    operations = {"query": IMPORT, "variables": {"input": {"file": None, "channelId": "gid://waybill/Channel/999"}}}
    response = await waybill.http.post(
        f"{waybill.base_url}/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": ("orders.csv", b"order_number\n", "text/csv")},
        headers={"Authorization": f"Bearer {waybill.api_key}"},
    )
    (error,) = response.json()["data"]["importOrdersCsv"]["userErrors"]
    assert error["code"] == "NOT_FOUND" and error["field"] == ["channelId"]


async def test_waybill_import_csv_reports_bad_rows_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = await run_cli("create-api-key", "--account", "CLI shop", data_dir=data_dir)
    assert created.returncode == 0, created.stderr
    good = await run_cli("import-csv", str(FIXTURES / "orders.csv"), data_dir=data_dir)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("3 created, 0 updated, 0 unchanged, 0 rejected"), good.stdout
    again = await run_cli("import-csv", str(FIXTURES / "orders.csv"), data_dir=data_dir)
    assert again.stdout.startswith("0 created, 0 updated, 3 unchanged"), again.stdout
    bad = await run_cli("import-csv", str(FIXTURES / "orders_bad_rows.csv"), data_dir=data_dir)
    assert bad.returncode == 1
    assert "line 4, quantity" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert bad.stdout.startswith("2 created"), bad.stdout
