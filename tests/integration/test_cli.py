"""The installed `waybill` console script, run as an operator would: a real process, its own database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.persistence import models
from adapters.persistence.accounts import authenticate_api_key
from adapters.persistence.db import close_db, init_db
from tests.conftest import Database

WAYBILL = Path(sys.executable).parent / "waybill"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
#: The copy of /work/shared/fixtures/shopify/order.json: order #1001, authorized and unfulfilled.
ORDER_1001 = FIXTURES / "order_authorized.json"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


async def waybill(*args: str, data_dir: Path, database_url: str | None = None) -> Result:
    """Runs the console script from an unrelated directory, with nothing but the data dir (and URL) set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAYBILL_")}
    env.pop("DATABASE_URL", None)
    env["WAYBILL_DATA_DIR"] = str(data_dir)
    env["WAYBILL_LOG_LEVEL"] = "INFO"
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        str(WAYBILL),
        *args,
        cwd=data_dir.parent,  # anywhere but the repository: the installed script must stand alone
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


def shopify_order(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    return document["order"]  # type: ignore[no-any-return]


# --- migrate and create-api-key ------------------------------------------------------------


@pytest.mark.db
async def test_migrate_creates_the_schema_and_a_second_run_changes_nothing(blank_database: Database) -> None:
    first = await waybill("migrate", data_dir=blank_database.data_dir, database_url=blank_database.url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database is up to date"
    assert "Applying migrations" in first.stderr, "the first run on an empty database applies the migrations"

    second = await waybill("migrate", data_dir=blank_database.data_dir, database_url=blank_database.url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is up to date"
    assert "Applying migrations" not in second.stderr
    assert "Traceback" not in second.stderr

    # The same database, seen from this process: nothing left to apply, and the tables answer.
    assert await init_db(blank_database.url, blank_database.data_dir) == []
    assert await models.Account.all().count() == 0
    await close_db()


@pytest.mark.db
async def test_create_api_key_prints_a_working_key_with_exactly_the_scopes_asked(blank_database: Database) -> None:
    result = await waybill(
        "create-api-key", "--scopes", "read_orders", data_dir=blank_database.data_dir, database_url=blank_database.url
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("wb_live_"), result.stdout

    await init_db(blank_database.url, blank_database.data_dir)
    try:
        principal = await authenticate_api_key(key)
        assert principal is not None, "the printed key does not authenticate"
        assert principal.scopes == ("read_orders",)
        account = await models.Account.get(id=principal.account_id)
        assert f"account {account.id}" in result.stdout
        assert await authenticate_api_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    finally:
        await close_db()


@pytest.mark.db
async def test_create_api_key_twice_keys_the_same_account_with_independent_scopes(blank_database: Database) -> None:
    """No --account: the first account is reused, so an operator's second key does not split the data."""
    data_dir, url = blank_database.data_dir, blank_database.url
    reader = await waybill("create-api-key", "--scopes", "read_orders", data_dir=data_dir, database_url=url)
    shipper = await waybill(
        "create-api-key", "--scopes", "read_orders", "write_shipments", data_dir=data_dir, database_url=url
    )
    assert reader.returncode == 0 and shipper.returncode == 0, reader.stderr + shipper.stderr
    reader_key, shipper_key = (r.stdout.strip().splitlines()[-1] for r in (reader, shipper))
    assert reader_key != shipper_key

    await init_db(blank_database.url, blank_database.data_dir)
    try:
        first = await authenticate_api_key(reader_key)
        second = await authenticate_api_key(shipper_key)
        assert first is not None and second is not None
        assert first.account_id == second.account_id
        assert first.scopes == ("read_orders",)
        assert second.scopes == ("read_orders", "write_shipments")
        assert await models.Account.all().count() == 1
    finally:
        await close_db()


async def test_create_api_key_refuses_an_unknown_scope(tmp_path: Path) -> None:
    result = await waybill("create-api-key", "--scopes", "everything", data_dir=tmp_path)
    assert result.returncode != 0
    assert "invalid choice" in result.stderr
    assert "wb_live_" not in result.stdout
    assert "Traceback" not in result.stderr


# --- inspect-order -------------------------------------------------------------------------


async def test_inspect_order_shows_the_shopify_order_as_waybill_maps_it(tmp_path: Path) -> None:
    raw = shopify_order(ORDER_1001)
    result = await waybill("inspect-order", "--channel", "shopify", str(ORDER_1001), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)

    assert shown["number"] == raw["name"] == "#1001"
    assert shown["external_id"] == str(raw["id"])
    # Authorized, unfulfilled, complete address and lines: nothing stops a label being bought.
    assert raw["financial_status"] == "authorized" and raw["fulfillment_status"] is None
    assert shown["payment_status"] == "AUTHORIZED"
    assert shown["waybill_status"] == "READY_TO_SHIP"
    assert shown["missing_fields"] == []
    assert shown["customer"]["email"] == raw["email"]
    assert shown["total"] == raw["total_price"]
    assert shown["currency"] == raw["currency"]

    assert [(line["sku"], line["title"], line["quantity"]) for line in shown["lines"]] == [
        (item["sku"], item["title"], item["quantity"]) for item in raw["line_items"]
    ]
    assert [line["channel_line_id"] for line in shown["lines"]] == [str(item["id"]) for item in raw["line_items"]]

    address = raw["shipping_address"]
    assert shown["shipping_address"] == {
        "name": address["name"],
        "company": address["company"] or None,
        "line1": address["address1"],
        "line2": address["address2"] or None,
        "city": address["city"],
        "region": address["province_code"],
        "postal_code": address["zip"],
        "country_code": address["country_code"],
        "phone": address["phone"],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("this is { not json", "cannot read", id="not-json"),
        pytest.param("", "cannot read", id="empty-file"),
        pytest.param("[1, 2, 3]", "expected a JSON object with an order, got list", id="json-list"),
        pytest.param('{"product": {"id": 1, "title": "Mug"}}', "not a Shopify order document", id="not-an-order"),
        pytest.param('{"order": {"id": 7, "line_items": []}}', "has no 'name'", id="order-without-number"),
    ],
)
async def test_inspect_order_rejects_what_is_not_an_order_without_a_traceback(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "pasted.json"
    path.write_text(content)
    result = await waybill("inspect-order", "--channel", "shopify", str(path), data_dir=tmp_path / "data")
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert str(path) in result.stderr, "the message names the file"
    assert "Traceback" not in result.stderr


async def test_inspect_order_on_a_missing_file_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = await waybill("inspect-order", "--channel", "shopify", str(missing), data_dir=tmp_path / "data")
    assert result.returncode != 0
    assert f"cannot read {missing}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "order",
    [
        pytest.param({"id": 7, "name": "#7", "created_at": 1700000000, "updated_at": 1700000000}, id="numeric-dates"),
        pytest.param(
            {
                "id": 7,
                "name": "#7",
                "created_at": "2025-03-01T12:00:00Z",
                "updated_at": "2025-03-01T12:00:00Z",
                "line_items": [{"title": "Mug", "quantity": 1}],
            },
            id="line-without-id",
        ),
    ],
)
async def test_inspect_order_rejects_a_malformed_order_without_a_traceback(
    tmp_path: Path, order: dict[str, Any]
) -> None:
    path = tmp_path / "pasted.json"
    path.write_text(json.dumps({"order": order}))
    result = await waybill("inspect-order", "--channel", "shopify", str(path), data_dir=tmp_path / "data")
    assert "Traceback" not in result.stderr
    assert result.returncode != 0
    assert str(path) in result.stderr


ROOT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    ("kind", "fixture", "expected"),
    [
        ("shopify", "shopify/order_authorized.json", [("#1001", "READY_TO_SHIP")]),
        ("woocommerce", "woocommerce/order.json", [("727", "READY_TO_SHIP")]),
        ("amazon", "amazon/getOrders_200_example.json", [("902-3159896-1390916", "DRAFT")]),
        (
            "ebay",
            "ebay/getOrders_200_lastmodifieddate.json",
            [("13-14786-65872", "READY_TO_SHIP"), ("25-14809-32185", "SHIPPED_ELSEWHERE")],
        ),
        (
            "etsy",
            "etsy/receipts_list_live_2023.json",
            [("3021745515", "CANCELLED"), ("3028255336", "SHIPPED_ELSEWHERE")],
        ),
        ("magento", "magento/order_get_V1_orders_3.json", [("000000003", "READY_TO_SHIP")]),
        ("back_office", "back_office/order_get_shipping.json", [("10003", "SHIPPED_ELSEWHERE")]),
        ("csv", "csv/orders.csv", [("1001", "READY_TO_SHIP"), ("1002", "SHIPPED_ELSEWHERE"), ("1003", "DRAFT")]),
    ],
)
async def test_inspect_order_reads_every_channel_kind(
    tmp_path: Path, kind: str, fixture: str, expected: list[tuple[str, str]]
) -> None:
    result = await waybill("inspect-order", "--channel", kind, str(ROOT_FIXTURES / fixture), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    orders = shown if isinstance(shown, list) else [shown]
    assert [(order["number"], order["waybill_status"]) for order in orders] == expected
