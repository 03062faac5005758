"""Drafts and order edits over real HTTP: a fake Shopify store, the API, the in-process worker.

An order Waybill cannot ship as it stands never fails a sync: it becomes a DRAFT naming what is
missing; updateDraft / updateOrder fill it in (field-level userErrors otherwise), later syncs keep the
merchant's edits, and a channel change to an edited field shows as a conflict.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.channels.shopify import fake_data
from adapters.persistence import models
from api import ids
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

DONE = ("SUCCEEDED", "FAILED")
TOTE = {"sku": "TOTE-NAT", "title": "Canvas Tote", "quantity": 1, "price": "24.00", "grams": 310}


def us_address() -> dict[str, Any]:
    """Louisville, KY 40202; a fresh dict each time (the fake store edits it in place)."""
    return fake_data.address(dict(fake_data.ADDRESSES[0]))


TYPED_ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "Springfield",
    "region": "IL",
    "postalCode": "62701",
    "countryCode": "US",
}

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id } userErrors { field message code } } }"""
SYNC = "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { syncRun { id } userErrors { code message } } }"
RUNS = "query($id: ID!) { syncRuns(channelId: $id) { id status failed error } }"
ORDER_FIELDS = """
  id number status missingFields editedFields invoiceNumber customsContents package { weightGrams heightCm }
  draftReasons { field message lineId }
  conflicts { field merchantValue channelValue lineId }
  shippingAddress { name line1 city region postalCode countryCode phone }
  lines { id sku weightGrams hsCode customsDescription customsValue }
"""
ORDERS = f"query($drafts: Boolean) {{ orders(first: 50, drafts: $drafts) {{ nodes {{ {ORDER_FIELDS} }} }} }}"
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
PAYLOAD = f"order {{ {ORDER_FIELDS} }} userErrors {{ field message code }}"
UPDATE_DRAFT = f"mutation($input: UpdateDraftInput!) {{ updateDraft(input: $input) {{ {PAYLOAD} }} }}"
UPDATE_ORDER = f"mutation($input: UpdateOrderInput!) {{ updateOrder(input: $input) {{ {PAYLOAD} }} }}"
ARCHIVE = "mutation($id: ID!) { archiveOrder(input: {orderId: $id}) { order { id status } userErrors { field code } } }"
UNARCHIVE = (
    "mutation($id: ID!) { unarchiveOrder(input: {orderId: $id}) { order { id status } userErrors { field code } } }"
)
RULES = """
mutation($input: UpdateDraftRulesInput!) { updateDraftRules(input: $input) {
  draftRules { originCountry customs invoiceNumber lineWeight defaultLineWeightGrams }
  userErrors { field message code }
} }"""
BUY = """
mutation($id: ID!) { buyLabel(input: {orderId: $id, idempotencyKey: "drafts-1"}) {
  shipment { status } order { status } userErrors { code message }
} }"""


async def connect(waybill: Harness) -> str:
    result = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []
    return str(result["connectChannel"]["channel"]["id"])


async def runs_done(waybill: Harness, channel_id: str) -> list[dict[str, Any]]:
    found = (await waybill.gql(RUNS, {"id": channel_id}))["syncRuns"]
    assert found and all(run["status"] in DONE for run in found), found
    return found  # type: ignore[no-any-return]


async def sync(waybill: Harness, channel_id: str) -> dict[str, Any]:
    result = (await waybill.gql(SYNC, {"id": channel_id}))["syncChannel"]
    assert result["userErrors"] == []
    run_id = result["syncRun"]["id"]

    async def finished() -> dict[str, Any]:
        (run,) = [run for run in await runs_done(waybill, channel_id) if run["id"] == run_id]
        return run  # type: ignore[no-any-return]

    return await eventually(finished)


async def orders(waybill: Harness, drafts: bool | None = None) -> dict[str, dict[str, Any]]:
    nodes = (await waybill.gql(ORDERS, {"drafts": drafts}))["orders"]["nodes"]
    return {node["number"]: node for node in nodes}


async def connected(waybill: Harness, count: int) -> tuple[str, dict[str, dict[str, Any]]]:
    channel_id = await connect(waybill)

    async def imported() -> dict[str, dict[str, Any]]:
        found = await orders(waybill)
        assert len(found) == count, found
        return found

    await eventually(imported)
    await eventually(lambda: runs_done(waybill, channel_id))
    return channel_id, await orders(waybill)


async def order(waybill: Harness, order_id: str) -> dict[str, Any]:
    return (await waybill.gql(ORDER, {"id": order_id}))["order"]  # type: ignore[no-any-return]


async def test_an_order_without_address_is_a_draft_in_a_sync_that_succeeds_and_update_draft_ships_it(
    waybill: Harness,
) -> None:
    shop = waybill.shop
    draft = shop.add_order(line_items=[TOTE], shipping_address=None)
    ready = shop.add_order(line_items=[TOTE], shipping_address=us_address())
    channel_id, found = await connected(waybill, 2)

    assert all(run["status"] == "SUCCEEDED" and run["failed"] == 0 for run in await runs_done(waybill, channel_id))
    assert found[ready["name"]]["status"] == "READY_TO_SHIP"
    imported = found[draft["name"]]
    assert imported["status"] == "DRAFT"
    assert imported["missingFields"] == ["shippingAddress"]
    assert imported["draftReasons"] == [
        {"field": "shippingAddress", "message": "The order has no shipping address.", "lineId": None}
    ]
    assert list(await orders(waybill, drafts=True)) == [draft["name"]]

    # Still wrong: every bad field is named under its input path and nothing is saved.
    bad = {**TYPED_ADDRESS, "postalCode": "6270", "city": " "}
    wrong = {"orderId": imported["id"], "shippingAddress": bad, "contact": {"email": "ada-at-example"}}
    answer = await waybill.gql(UPDATE_DRAFT, {"input": wrong})
    result = answer["updateDraft"]
    assert result["order"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["input", "shippingAddress", "city"], "INVALID"),
        (["input", "shippingAddress", "postalCode"], "INVALID"),
        (["input", "contact", "email"], "INVALID"),
    ]
    assert "6270" in result["userErrors"][1]["message"]
    unchanged = await order(waybill, imported["id"])
    assert unchanged["status"] == "DRAFT" and unchanged["shippingAddress"] is None

    edit = {"orderId": imported["id"], "shippingAddress": TYPED_ADDRESS, "contact": {"email": "ada@example.com"}}
    result = (await waybill.gql(UPDATE_DRAFT, {"input": edit}))["updateDraft"]
    assert result["userErrors"] == []
    assert result["order"]["status"] == "READY_TO_SHIP"
    assert result["order"]["missingFields"] == [] and result["order"]["draftReasons"] == []
    assert result["order"]["shippingAddress"]["postalCode"] == "62701"
    assert await orders(waybill, drafts=True) == {}

    # The audit trail names who changed which fields, never the address itself.
    pk = ids.decode("Order", imported["id"], "id")
    [event] = await models.Event.filter(order_id=pk, type="ORDER_EDITED")
    assert event.actor.startswith("api_key:")
    assert event.data["from"] == "DRAFT" and event.data["status"] == "READY_TO_SHIP"
    assert "shippingAddress.postalCode" in event.data["fields"] and "customerEmail" in event.data["fields"]
    assert "62701" not in str(event.data) and "Analytical" not in str(event.data)

    # It ships, and updateDraft on an order that is no longer a draft says so.
    bought = (await waybill.gql(BUY, {"id": imported["id"]}))["buyLabel"]
    assert bought["userErrors"] == [] and bought["order"]["status"] == "SHIPPING"
    again = await waybill.gql(UPDATE_DRAFT, {"input": {"orderId": imported["id"], "invoiceNumber": "X"}})
    assert [e["code"] for e in again["updateDraft"]["userErrors"]] == ["ORDER_NOT_DRAFT"]
    refused = await waybill.gql(UPDATE_ORDER, {"input": {"orderId": imported["id"], "invoiceNumber": "X"}})
    assert [(e["field"], e["code"]) for e in refused["updateOrder"]["userErrors"]] == [
        (["input", "orderId"], "ORDER_HAS_LABEL")
    ]


async def test_a_later_sync_bringing_the_address_completes_the_draft(waybill: Harness) -> None:
    shop = waybill.shop
    draft = shop.add_order(line_items=[TOTE], shipping_address=None)
    channel_id, found = await connected(waybill, 1)
    assert found[draft["name"]]["status"] == "DRAFT"

    shop.update_order(draft["id"], shipping_address=us_address())
    await sync(waybill, channel_id)
    completed = await order(waybill, found[draft["name"]]["id"])
    assert completed["status"] == "READY_TO_SHIP"
    assert completed["shippingAddress"]["city"] == "Louisville" and completed["missingFields"] == []


async def test_edits_survive_syncs_empty_values_never_overwrite_and_channel_changes_conflict(waybill: Harness) -> None:
    shop = waybill.shop
    placed = shop.add_order(line_items=[TOTE], shipping_address=us_address())
    channel_id, found = await connected(waybill, 1)
    order_id = found[placed["name"]]["id"]

    fix = {
        "orderId": order_id,
        "shippingAddress": {"postalCode": "40203", "line1": "Chestnut Street 94"},
        "package": {"weightGrams": 900, "lengthCm": 30, "widthCm": 20, "heightCm": 12},
    }
    result = (await waybill.gql(UPDATE_ORDER, {"input": fix}))["updateOrder"]
    assert result["userErrors"] == [] and result["order"]["status"] == "READY_TO_SHIP"
    assert result["order"]["editedFields"] == ["package", "shippingAddress.line1", "shippingAddress.postalCode"]
    assert result["order"]["package"] == {"weightGrams": 900, "heightCm": 12.0}

    # The channel changes something else: the merchant's fields stay.
    shop.set_address(placed["id"], phone="+1 502-555-0101")
    await sync(waybill, channel_id)
    kept = await order(waybill, order_id)
    assert (kept["shippingAddress"]["postalCode"], kept["shippingAddress"]["line1"]) == ("40203", "Chestnut Street 94")
    assert kept["conflicts"] == [] and kept["shippingAddress"]["phone"] == "+1 502-555-0101"

    # The channel empties an edited field: still the merchant's.
    shop.set_address(placed["id"], address1="")
    await sync(waybill, channel_id)
    assert (await order(waybill, order_id))["shippingAddress"]["line1"] == "Chestnut Street 94"

    # The channel changes the same field: the merchant's value stays, the order shows the conflict.
    shop.set_address(placed["id"], zip="40299")
    await sync(waybill, channel_id)
    conflicted = await order(waybill, order_id)
    assert conflicted["shippingAddress"]["postalCode"] == "40203"
    assert conflicted["conflicts"] == [
        {"field": "shippingAddress.postalCode", "merchantValue": "40203", "channelValue": "40299", "lineId": None}
    ]
    assert conflicted["status"] == "READY_TO_SHIP"

    resolve = {"orderId": order_id, "resolveConflicts": [{"field": "shippingAddress.postalCode", "keep": "CHANNEL"}]}
    result = (await waybill.gql(UPDATE_ORDER, {"input": resolve}))["updateOrder"]
    assert result["userErrors"] == []
    assert result["order"]["conflicts"] == [] and result["order"]["shippingAddress"]["postalCode"] == "40299"
    assert result["order"]["editedFields"] == ["package", "shippingAddress.line1"]

    unknown = {"orderId": order_id, "resolveConflicts": [{"field": "shippingAddress.city", "keep": "MERCHANT"}]}
    result = (await waybill.gql(UPDATE_ORDER, {"input": unknown}))["updateOrder"]
    assert [e["field"] for e in result["userErrors"]] == [["input", "resolveConflicts", "0", "field"]]


async def test_international_orders_follow_the_accounts_draft_rules(waybill: Harness) -> None:
    rejected = await waybill.gql(RULES, {"input": {"originCountry": "Britain", "defaultLineWeightGrams": -5}})
    assert [e["field"] for e in rejected["updateDraftRules"]["userErrors"]] == [
        ["input", "originCountry"],
        ["input", "defaultLineWeightGrams"],
    ]
    rules = (await waybill.gql(RULES, {"input": {"originCountry": "gb"}}))["updateDraftRules"]
    assert rules["userErrors"] == [] and rules["draftRules"]["originCountry"] == "GB"

    shop = waybill.shop
    placed = shop.add_order(line_items=[TOTE], shipping_address=us_address())
    _, found = await connected(waybill, 1)
    draft = found[placed["name"]]
    assert draft["status"] == "DRAFT"
    line_id = draft["lines"][0]["id"]
    channel_line = shop.line_ids(placed["id"])[0]
    assert draft["missingFields"] == ["invoiceNumber", "customs.contents", f"lines.{channel_line}.hsCode"]
    assert draft["draftReasons"][2]["lineId"] == line_id
    assert draft["draftReasons"][2]["message"].startswith("Line TOTE-NAT: ")

    partial = {"orderId": draft["id"], "invoiceNumber": "INV-1001", "lines": [{"lineId": line_id, "hsCode": "12"}]}
    result = (await waybill.gql(UPDATE_DRAFT, {"input": partial}))["updateDraft"]
    assert [e["field"] for e in result["userErrors"]] == [["input", "lines", "0", "hsCode"]]

    complete = {
        "orderId": draft["id"],
        "invoiceNumber": "INV-1001",
        "customsContents": "MERCHANDISE",
        "lines": [{"lineId": line_id, "hsCode": "4202.92", "customsValue": "20.00"}],
    }
    result = (await waybill.gql(UPDATE_DRAFT, {"input": complete}))["updateDraft"]
    assert result["userErrors"] == []
    assert result["order"]["status"] == "READY_TO_SHIP" and result["order"]["invoiceNumber"] == "INV-1001"
    assert result["order"]["lines"][0]["hsCode"] == "420292"


async def test_archive_hides_an_order_and_unarchive_returns_it_to_what_its_data_says(waybill: Harness) -> None:
    shop = waybill.shop
    draft = shop.add_order(line_items=[TOTE], shipping_address=None)
    _, found = await connected(waybill, 1)
    order_id = found[draft["name"]]["id"]

    archived = (await waybill.gql(ARCHIVE, {"id": order_id}))["archiveOrder"]
    assert archived["userErrors"] == [] and archived["order"]["status"] == "ARCHIVED"
    assert await orders(waybill) == {}
    twice = (await waybill.gql(ARCHIVE, {"id": order_id}))["archiveOrder"]
    assert [e["code"] for e in twice["userErrors"]] == ["ORDER_ARCHIVED"]
    edit = (await waybill.gql(UPDATE_ORDER, {"input": {"orderId": order_id, "invoiceNumber": "1"}}))["updateOrder"]
    assert [e["code"] for e in edit["userErrors"]] == ["ORDER_ARCHIVED"]

    back = (await waybill.gql(UNARCHIVE, {"id": order_id}))["unarchiveOrder"]
    assert back["userErrors"] == [] and back["order"]["status"] == "DRAFT"
    assert list(await orders(waybill, drafts=True)) == [draft["name"]]
    again = (await waybill.gql(UNARCHIVE, {"id": order_id}))["unarchiveOrder"]
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["input", "orderId"], "INVALID")]


async def test_another_accounts_order_is_not_found(waybill: Harness) -> None:
    draft = waybill.shop.add_order(line_items=[TOTE], shipping_address=None)
    _, found = await connected(waybill, 1)
    order_id = found[draft["name"]]["id"]
    other = await waybill.new_key("Other shop")
    for query, name, variables in (
        (UPDATE_DRAFT, "updateDraft", {"input": {"orderId": order_id, "shippingAddress": TYPED_ADDRESS}}),
        (UPDATE_ORDER, "updateOrder", {"input": {"orderId": order_id, "invoiceNumber": "1"}}),
        (ARCHIVE, "archiveOrder", {"id": order_id}),
        (UNARCHIVE, "unarchiveOrder", {"id": order_id}),
    ):
        result = (await waybill.gql(query, variables, key=other))[name]
        assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["input", "orderId"], "NOT_FOUND")]
    assert (await order(waybill, order_id))["status"] == "DRAFT"


async def test_lines_without_weight_are_drafts_when_the_account_asks_for_weights(waybill: Harness) -> None:
    rules = (await waybill.gql(RULES, {"input": {"lineWeight": True}}))["updateDraftRules"]
    assert rules["userErrors"] == [] and rules["draftRules"]["lineWeight"] is True
    weightless = waybill.shop.add_order(line_items=[{**TOTE, "grams": 0}], shipping_address=us_address())
    weighed = waybill.shop.add_order(line_items=[TOTE], shipping_address=us_address())
    _, found = await connected(waybill, 2)
    assert found[weighed["name"]]["status"] == "READY_TO_SHIP"
    draft = found[weightless["name"]]
    line = draft["lines"][0]
    assert draft["status"] == "DRAFT"
    assert [reason["lineId"] for reason in draft["draftReasons"]] == [line["id"]]
    assert draft["draftReasons"][0]["field"].endswith(".weightGrams")

    edit = {"orderId": draft["id"], "lines": [{"lineId": line["id"], "weightGrams": 450}]}
    result = (await waybill.gql(UPDATE_DRAFT, {"input": edit}))["updateDraft"]
    assert result["userErrors"] == []
    assert result["order"]["status"] == "READY_TO_SHIP" and result["order"]["lines"][0]["weightGrams"] == 450


async def test_changing_the_rules_rechecks_open_orders(waybill: Harness) -> None:
    placed = waybill.shop.add_order(line_items=[TOTE], shipping_address=us_address())
    _, found = await connected(waybill, 1)
    order_id = found[placed["name"]]["id"]
    assert found[placed["name"]]["status"] == "READY_TO_SHIP"

    await waybill.gql(RULES, {"input": {"originCountry": "DE"}})
    international = await order(waybill, order_id)
    assert international["status"] == "DRAFT"
    assert international["missingFields"][:2] == ["invoiceNumber", "customs.contents"]

    await waybill.gql(RULES, {"input": {"customs": False, "invoiceNumber": False}})
    assert (await order(waybill, order_id))["status"] == "READY_TO_SHIP"


async def test_the_label_is_bought_for_the_package_the_merchant_measured(waybill: Harness) -> None:
    """updateOrder's package reaches the carrier; lines without a weight weigh the account's default."""
    waybill.shop.create_order([("SKU-P", "Heavy thing", 2)])
    weightless = {"sku": "SKU-Q", "title": "Light thing", "quantity": 3, "price": "10.00", "grams": 0}
    waybill.shop.add_order(line_items=[weightless])  # Shopify sends 0 grams for a variant without a weight
    _, found = await connected(waybill, 2)
    measured, defaulted = sorted(found.values(), key=lambda node: node["number"])
    package = {"weightGrams": 4321, "lengthCm": 40, "widthCm": 30, "heightCm": 25}
    edit = (await waybill.gql(UPDATE_ORDER, {"input": {"orderId": measured["id"], "package": package}}))["updateOrder"]
    assert edit["userErrors"] == [], edit
    rules = (await waybill.gql(RULES, {"input": {"defaultLineWeightGrams": 250}}))["updateDraftRules"]
    assert rules["userErrors"] == [], rules
    for node, key in ((measured, "pkg-1"), (defaulted, "pkg-2")):
        bought = await waybill.gql(BUY.replace("drafts-1", key), {"id": node["id"]})
        assert bought["buyLabel"]["userErrors"] == [], bought

    async def parcels() -> list[dict[str, Any]]:
        found = sorted((label.parcel for label in waybill.carrier.labels.values()), key=lambda p: p["weight_g"])
        assert len(found) == 2, found
        return found

    light, heavy = await eventually(parcels)
    assert heavy["weight_g"] == 4321
    assert (float(heavy["length_cm"]), float(heavy["width_cm"]), float(heavy["height_cm"])) == (40, 30, 25)
    assert light["weight_g"] == 3 * 250  # 3 x the account's default line weight
