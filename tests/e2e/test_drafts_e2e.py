"""A store order with no address, end to end: imported as a DRAFT while the sync succeeds, completed with
updateDraft (subscribers see it), and shipped to the address the merchant typed."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.carriers.sandbox.mapper import address_from_wire
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id } userErrors { field message code } } }"""
SUBSCRIBE = "subscription { orderChanged { eventId type order { id number status missingFields } } }"
UPDATE_DRAFT = """
mutation($input: UpdateDraftInput!) { updateDraft(input: $input) {
  order { id status } userErrors { field message code }
} }"""
BUY = """
mutation($id: ID!) { buyLabel(input: {orderId: $id, idempotencyKey: "draft-e2e"}) {
  shipment { status trackingNumber } order { status } userErrors { code message }
} }"""
ADDRESS = {
    "name": "Grace Hopper",
    "line1": "1 Navy Yard",
    "city": "Arlington",
    "region": "VA",
    "postalCode": "22202",
    "countryCode": "US",
}


def events_of(messages: list[dict[str, Any]], order_number: str) -> list[tuple[str, str]]:
    found = []
    for message in messages:
        event = (message.get("data") or {}).get("orderChanged") or {}
        if (event.get("order") or {}).get("number") == order_number:
            found.append((event["type"], event["order"]["status"]))
    return found


async def test_a_draft_is_completed_live_and_ships_to_the_typed_address(waybill: Harness) -> None:
    placed = waybill.shop.add_order(
        line_items=[{"sku": "MUG-FOR", "title": "Enamel Mug", "quantity": 1, "price": "18.50", "grams": 280}],
        shipping_address=None,
    )
    async with waybill.subscribe(SUBSCRIBE) as subscriber:
        connected = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
        assert connected["connectChannel"]["userErrors"] == []

        async def imported() -> list[tuple[str, str]]:
            found = [m for m in events_of(subscriber.messages, placed["name"]) if m[0] == "ORDER_IMPORTED"]
            assert found, subscriber.messages
            return found

        assert await eventually(imported) == [("ORDER_IMPORTED", "DRAFT")]
        nodes = (await waybill.gql("query { orders(drafts: true) { nodes { id number } } }"))["orders"]["nodes"]
        [draft] = [node for node in nodes if node["number"] == placed["name"]]

        result = await waybill.gql(UPDATE_DRAFT, {"input": {"orderId": draft["id"], "shippingAddress": ADDRESS}})
        assert result["updateDraft"] == {"order": {"id": draft["id"], "status": "READY_TO_SHIP"}, "userErrors": []}

        async def edited() -> bool:
            assert ("ORDER_EDITED", "READY_TO_SHIP") in events_of(subscriber.messages, placed["name"])
            return True

        await eventually(edited)

    bought = (await waybill.gql(BUY, {"id": draft["id"]}))["buyLabel"]
    assert bought["userErrors"] == [] and bought["shipment"]["status"] == "PURCHASED"
    [label] = [
        label
        for label in waybill.carrier.labels.values()
        if label.tracking_code == bought["shipment"]["trackingNumber"]
    ]
    ship_to = address_from_wire(label.to_address)
    assert (ship_to.name, ship_to.postal_code, ship_to.city) == ("Grace Hopper", "22202", "Arlington")
