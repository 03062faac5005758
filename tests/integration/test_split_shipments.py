"""A split shipment: three lines, two labels, two warehouses, each channel told in its own format."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.channels.amazon.fake import FakeAmazon
from adapters.channels.shopify.fake_data import LOCATION_IDS
from domain.model import ChannelKind
from tests.contract.kinds import FAST_AMAZON
from tests.support.channels import CONNECT, connect_input
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

WEST, EAST = (str(location) for location in LOCATION_IDS)
ORDERS = "query { orders(first: 10) { edges { node { id externalId status channel { id kind } lines { id sku quantity } } } } }"
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber location } order { status } userErrors { field message code }
} }"""
UPDATE = """
mutation($input: UpdateChannelInput!) { updateChannel(input: $input) {
  channel { locationMapping { location platformLocationId } } userErrors { field message code }
} }"""
WRITES = "query($id: ID!) { order(id: $id) { channelWrites { kind status lastError } } }"
LINES = [("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1), ("BEANIE", "Wool Beanie", 1)]


async def order_of(waybill: Harness, kind: str) -> dict[str, Any]:
    async def found() -> dict[str, Any]:
        nodes = [
            e["node"] for e in (await waybill.gql(ORDERS))["orders"]["edges"] if e["node"]["channel"]["kind"] == kind
        ]
        assert nodes and nodes[0]["status"] == "READY_TO_SHIP", nodes
        return nodes[0]

    return await eventually(found, within=30)


def line(order: dict[str, Any], sku: str) -> dict[str, Any]:
    return next(item for item in order["lines"] if item["sku"] == sku)


async def buy(
    waybill: Harness, order: dict[str, Any], key: str, skus: list[str], location: str | None = None
) -> dict[str, Any]:
    lines = [{"lineId": line(order, sku)["id"], "quantity": line(order, sku)["quantity"]} for sku in skus]
    given: dict[str, Any] = {"orderId": order["id"], "idempotencyKey": key, "lines": lines}
    if location:
        given["location"] = location
    return (await waybill.gql(BUY, {"input": given}))["buyLabel"]  # type: ignore[no-any-return]


async def test_shopify_two_labels_from_two_locations(waybill: Harness) -> None:
    shop = waybill.shop
    placed = shop.add_order(
        line_items=[{"sku": s, "title": t, "quantity": q, "price": "10.00"} for s, t, q in LINES], split_locations=True
    )  # TOTE and BEANIE at the first location, MUG at the second
    result = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.SHOPIFY, shop, waybill.shop_url)})
    channel_id = result["connectChannel"]["channel"]["id"]
    order = await order_of(waybill, "SHOPIFY")

    refused = await buy(waybill, order, "west-1", ["TOTE", "BEANIE"], location="West")
    (error,) = refused["userErrors"]
    assert error["code"] == "LOCATION_MAPPING_MISSING" and "'West'" in error["message"], error
    assert waybill.carrier.labels == {}, "nothing was bought"

    mapping = [{"location": "West", "platformLocationId": WEST}, {"location": "East", "platformLocationId": EAST}]
    updated = (await waybill.gql(UPDATE, {"input": {"channelId": channel_id, "locationMapping": mapping}}))[
        "updateChannel"
    ]
    assert updated["userErrors"] == [] and len(updated["channel"]["locationMapping"]) == 2

    first = await buy(waybill, order, "west-1", ["TOTE", "BEANIE"], location="West")
    assert first["userErrors"] == [] and first["order"]["status"] == "PARTIALLY_SHIPPED", first
    second = await buy(waybill, order, "east-1", ["MUG"], location="East")
    assert second["userErrors"] == [] and second["order"]["status"] == "SHIPPING", second
    assert (first["shipment"]["location"], second["shipment"]["location"]) == ("West", "East")

    async def both_on_shopify() -> list[dict[str, Any]]:
        done = [f for f in shop.fulfillments(placed["id"]) if f["status"] == "success"]
        assert len(done) == 2, done
        return done

    fulfillments = await eventually(both_on_shopify, within=30)
    by_number = {f["tracking_number"]: f for f in fulfillments}
    west, east = by_number[first["shipment"]["trackingNumber"]], by_number[second["shipment"]["trackingNumber"]]
    assert (str(west["location_id"]), str(east["location_id"])) == (WEST, EAST), "each parcel from its own location"
    assert sorted(item["sku"] for item in west["line_items"]) == ["BEANIE", "TOTE"]
    assert [(item["sku"], item["quantity"]) for item in east["line_items"]] == [("MUG", 1)]
    assert shop.order(placed["id"])["fulfillment_status"] == "fulfilled"


async def test_amazon_two_packages_with_their_items(waybill: Harness) -> None:
    amazon = FakeAmazon(usage_plans=FAST_AMAZON)
    external_id = amazon.create_order(LINES)
    async with serve_app(amazon.app) as url:
        result = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.AMAZON, amazon, url)})
        assert result["connectChannel"]["userErrors"] == []
        order = await order_of(waybill, "AMAZON")
        first = await buy(waybill, order, "pkg-1", ["TOTE", "MUG"], location="West")  # Amazon has no locations
        assert first["userErrors"] == [] and first["order"]["status"] == "PARTIALLY_SHIPPED", first
        second = await buy(waybill, order, "pkg-2", ["BEANIE"])
        assert second["userErrors"] == [] and second["order"]["status"] == "SHIPPING", second

        async def two_packages() -> list[Any]:
            packages = amazon.shipments(external_id)
            assert len(packages) == 2, packages
            return packages

        packages = await eventually(two_packages, within=30)
        writes = (await waybill.gql(WRITES, {"id": order["id"]}))["order"]["channelWrites"]
    item_ids = dict(zip([sku for sku, _, _ in LINES], amazon.line_ids(external_id), strict=True))
    by_number = {p.tracking_number: p for p in packages}
    assert by_number[first["shipment"]["trackingNumber"]].lines == {item_ids["TOTE"]: 2, item_ids["MUG"]: 1}
    assert by_number[second["shipment"]["trackingNumber"]].lines == {item_ids["BEANIE"]: 1}
    assert all(p.carrier == "Waybill Sandbox" for p in packages), "carrier 'Other' with the carrier's name"
    assert amazon.is_shipped(external_id)
    assert writes == [], f"every write accepted: {writes}"
