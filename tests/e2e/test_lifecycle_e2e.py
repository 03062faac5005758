"""The order lifecycle end to end over real HTTP and WebSocket: import, label, deliver, skip, void, hold."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from adapters.persistence.accounts import create_api_key
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

ORDER_FIELDS = """
  id number status attentionReason
  lines { id sku quantity quantityShipped }
  shipments { id status trackingNumber trackingUrl trackingStatus refundStatus labelPdfUrl labelZplUrl }
  channelWrites { kind status lastError }
"""
ORDERS = "query { orders(first: 50) { edges { cursor node { id number status } } } }"
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber trackingUrl labelPdfUrl }
  order { id status }
  userErrors { field message code }
} }"""
SKIP = "mutation($id: ID!) { skipShipping(input: {orderId: $id}) { order { id status } userErrors { field message code } } }"
CANCEL = """
mutation($id: ID!) { cancelLabel(input: {shipmentId: $id}) {
  shipment { id status refundStatus } order { id status } userErrors { field message code }
} }"""
CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id state } userErrors { field message code } } }"""
SUBSCRIBE = "subscription { orderChanged { eventId type order { id number status } } }"


async def connect_store(waybill: Harness) -> str:
    result = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []
    return str(result["connectChannel"]["channel"]["id"])


async def orders_by_number(waybill: Harness) -> dict[str, dict[str, Any]]:
    edges = (await waybill.gql(ORDERS))["orders"]["edges"]
    return {edge["node"]["number"]: edge["node"] for edge in edges}


async def order(waybill: Harness, order_id: str) -> dict[str, Any]:
    return (await waybill.gql(ORDER, {"id": order_id}))["order"]  # type: ignore[no-any-return]


async def test_order_lifecycle_end_to_end(waybill: Harness) -> None:
    shop = waybill.shop
    shipped, skipped, voided, held = (shop.add_order() for _ in range(4))
    shop.hold(held["id"])

    async with waybill.subscribe(SUBSCRIBE) as subscriber:
        channel_id = await connect_store(waybill)

        async def imported() -> dict[str, dict[str, Any]]:
            found = await orders_by_number(waybill)
            assert len(found) == 4, found
            return found

        found = await eventually(imported)
        assert found[held["name"]]["status"] == "BACK_ORDERED"
        numbers = [edge["node"]["number"] for edge in (await waybill.gql(ORDERS))["orders"]["edges"]]
        assert numbers[-1] == held["name"], "BACK_ORDERED sorts after the ready orders"
        assert {found[o["name"]]["status"] for o in (shipped, skipped, voided)} == {"READY_TO_SHIP"}

        # 1. buyLabel -> Shipping + tracking on the store, then the carrier delivers.
        first_id = found[shipped["name"]]["id"]
        bought = (await waybill.gql(BUY, {"input": {"orderId": first_id, "idempotencyKey": "label-1"}}))["buyLabel"]
        assert bought["userErrors"] == []
        assert bought["shipment"]["status"] == "PURCHASED"
        assert bought["order"]["status"] == "SHIPPING"
        tracking_number = bought["shipment"]["trackingNumber"]

        async def store_has_tracking() -> dict[str, Any]:
            fulfillments = [f for f in shop.fulfillments(shipped["id"]) if f["status"] == "success"]
            assert len(fulfillments) == 1, fulfillments
            return fulfillments[0]

        fulfillment = await eventually(store_has_tracking)
        assert fulfillment["tracking_number"] == tracking_number
        assert fulfillment["tracking_company"] == "Waybill Sandbox"
        assert fulfillment["tracking_url"] == bought["shipment"]["trackingUrl"]
        assert sorted(line["id"] for line in fulfillment["line_items"]) == sorted(
            line["id"] for line in shipped["line_items"]
        )
        label = await waybill.http.get(
            waybill.base_url + bought["shipment"]["labelPdfUrl"], headers={"Authorization": f"Bearer {waybill.api_key}"}
        )
        assert label.status_code == 200 and label.content.startswith(b"%PDF")

        waybill.carrier.force_status(tracking_number, "delivered")

        async def delivered() -> dict[str, Any]:
            current = await order(waybill, first_id)
            assert current["status"] == "DELIVERED", current
            return current

        current = await eventually(delivered)
        assert current["shipments"][0]["trackingStatus"] == "DELIVERED"
        assert shop.order(shipped["id"])["fulfillment_status"] == "fulfilled"
        await eventually(lambda: _has_delivered_event(waybill, fulfillment["id"]))

        # 2. skipShipping -> Fulfilled on the store, no label.
        second_id = found[skipped["name"]]["id"]
        result = (await waybill.gql(SKIP, {"id": second_id}))["skipShipping"]
        assert result == {"order": {"id": second_id, "status": "DELIVERED"}, "userErrors": []}

        async def store_fulfilled() -> bool:
            assert shop.order(skipped["id"])["fulfillment_status"] == "fulfilled"
            return True

        await eventually(store_fulfilled)

        # 3. buyLabel then cancelLabel -> voided, fulfillment cancelled, back to READY_TO_SHIP.
        third_id = found[voided["name"]]["id"]
        bought = (await waybill.gql(BUY, {"input": {"orderId": third_id, "idempotencyKey": "label-3"}}))["buyLabel"]
        assert bought["order"]["status"] == "SHIPPING"
        await eventually(lambda: _fulfillment_statuses(waybill, voided["id"], ["success"]))
        cancelled = (await waybill.gql(CANCEL, {"id": bought["shipment"]["id"]}))["cancelLabel"]
        assert cancelled["userErrors"] == []
        assert cancelled["shipment"]["status"] == "VOIDED"
        assert cancelled["shipment"]["refundStatus"] == "REFUNDED"
        assert cancelled["order"]["status"] == "READY_TO_SHIP"
        await eventually(lambda: _fulfillment_statuses(waybill, voided["id"], ["cancelled"]))
        assert shop.order(voided["id"])["fulfillment_status"] is None
        lines = (await order(waybill, third_id))["lines"]
        assert all(line["quantityShipped"] == 0 for line in lines)

        # 4. The store releases the hold; the next sync makes the order ready.
        shop.release_hold(held["id"])
        sync = await waybill.gql(
            "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { syncRun { id status } userErrors { code } } }",
            {"id": channel_id},
        )
        assert sync["syncChannel"]["userErrors"] == []

        async def released() -> bool:
            assert (await orders_by_number(waybill))[held["name"]]["status"] == "READY_TO_SHIP"
            return True

        await eventually(released)

        # The subscriber saw every change, in order, for the right orders.
        expected = [
            ("LABEL_PURCHASED", shipped["name"]),
            ("ORDER_DELIVERED", shipped["name"]),
            ("SHIPPING_SKIPPED", skipped["name"]),
            ("LABEL_PURCHASED", voided["name"]),
            ("LABEL_VOIDED", voided["name"]),
            ("ORDER_UPDATED", held["name"]),
        ]

        async def seen_all() -> bool:
            seen = [
                (m["data"]["orderChanged"]["type"], m["data"]["orderChanged"]["order"]["number"])
                for m in subscriber.messages
            ]
            positions = [seen.index(item) if item in seen else -1 for item in expected]
            assert -1 not in positions, seen
            assert positions == sorted(positions), seen
            return True

        await eventually(seen_all)
        ids = [int(m["data"]["orderChanged"]["eventId"]) for m in subscriber.messages]
        # Once each; order is commit order, which PostgreSQL may hand out of id order.
        assert len(ids) == len(set(ids)), "every event arrives exactly once"


async def _has_delivered_event(waybill: Harness, fulfillment_id: int) -> bool:
    assert any(event["status"] == "delivered" for event in waybill.shop.events(fulfillment_id))
    return True


async def _fulfillment_statuses(waybill: Harness, order_id: int, expected: list[str]) -> bool:
    statuses = [f["status"] for f in waybill.shop.fulfillments(order_id)]
    assert statuses == expected, statuses
    return True


async def test_buy_label_twice_with_the_same_key_buys_one_label(waybill: Harness) -> None:
    placed = waybill.shop.add_order()
    await connect_store(waybill)
    found = await eventually(lambda: _one_order(waybill))
    payload = {"input": {"orderId": found["id"], "idempotencyKey": "same-key"}}
    first = (await waybill.gql(BUY, payload))["buyLabel"]
    second = (await waybill.gql(BUY, payload))["buyLabel"]
    assert first["userErrors"] == [] and second["userErrors"] == []
    assert first["shipment"]["id"] == second["shipment"]["id"]
    assert first["shipment"]["trackingNumber"] == second["shipment"]["trackingNumber"]
    assert len(waybill.carrier.labels) == 1
    current = await order(waybill, found["id"])
    assert len(current["shipments"]) == 1
    await eventually(lambda: _fulfillment_statuses(waybill, placed["id"], ["success"]))


async def test_concurrent_buy_label_requests_with_one_key_buy_one_label(waybill: Harness) -> None:
    waybill.shop.add_order()
    await connect_store(waybill)
    found = await eventually(lambda: _one_order(waybill))
    payload = {"input": {"orderId": found["id"], "idempotencyKey": "raced"}}

    results = await asyncio.gather(*(waybill.gql(BUY, payload) for _ in range(5)))

    assert [r["buyLabel"]["userErrors"] for r in results] == [[]] * 5
    shipments = {r["buyLabel"]["shipment"]["id"] for r in results}
    assert len(shipments) == 1
    assert len(waybill.carrier.labels) == 1
    assert len((await order(waybill, found["id"]))["shipments"]) == 1


async def _one_order(waybill: Harness) -> dict[str, Any]:
    edges = (await waybill.gql(ORDERS))["orders"]["edges"]
    assert len(edges) == 1
    return edges[0]["node"]  # type: ignore[no-any-return]


async def test_bad_input_gets_user_errors_not_500s(waybill: Harness) -> None:
    waybill.shop.add_order()
    cancelled = waybill.shop.add_order()
    waybill.shop.cancel(cancelled["id"])
    await connect_store(waybill)
    found = await eventually(lambda: _two_orders(waybill))
    assert found[cancelled["name"]]["status"] == "CANCELLED"

    async def buy(order_id: str, key: str | None = None) -> list[dict[str, Any]]:
        result = await waybill.gql(
            BUY, {"input": {"orderId": order_id, "idempotencyKey": "k-" + order_id[-6:]}}, key=key
        )
        return result["buyLabel"]["userErrors"]  # type: ignore[no-any-return]

    assert [e["code"] for e in await buy("gid://waybill/Order/999999")] == ["NOT_FOUND"]
    errors = await buy(found[cancelled["name"]]["id"])
    assert [e["code"] for e in errors] == ["ORDER_CANCELLED"]
    malformed = await buy("not-an-id")
    assert malformed[0]["code"] == "INVALID" and malformed[0]["field"] == ["orderId"]

    # Another account sees nothing of ours: same answer as an order that does not exist.
    other = await waybill.new_key("Another shop")
    ready_id = next(o["id"] for o in found.values() if o["status"] == "READY_TO_SHIP")
    assert [e["code"] for e in await buy(ready_id, other)] == ["NOT_FOUND"]
    assert (await waybill.gql(ORDER, {"id": ready_id}, key=other))["order"] is None
    assert (await waybill.gql(ORDERS, key=other))["orders"]["edges"] == []

    unknown_carrier = await waybill.gql(
        BUY, {"input": {"orderId": ready_id, "idempotencyKey": "c1", "carrier": "pigeon"}}
    )
    assert [e["code"] for e in unknown_carrier["buyLabel"]["userErrors"]] == ["CARRIER_NOT_CONFIGURED"]
    response = await waybill.http.post(f"{waybill.base_url}/graphql", json={"query": ORDERS})
    assert response.status_code == 401
    assert (await order(waybill, ready_id))["shipments"] == [], "refusals wrote nothing"


async def _two_orders(waybill: Harness) -> dict[str, dict[str, Any]]:
    found = await orders_by_number(waybill)
    assert len(found) == 2
    return found


async def test_labels_download_only_for_their_account(waybill: Harness) -> None:
    waybill.shop.add_order()
    await connect_store(waybill)
    found = await eventually(lambda: _one_order(waybill))
    bought = (await waybill.gql(BUY, {"input": {"orderId": found["id"], "idempotencyKey": "dl-1"}}))["buyLabel"]
    pdf_url = waybill.base_url + bought["shipment"]["labelPdfUrl"]
    zpl_url = pdf_url.replace(".pdf", ".zpl")

    mine = await waybill.http.get(zpl_url, headers={"Authorization": f"Bearer {waybill.api_key}"})
    assert mine.status_code == 200 and mine.text.startswith("^XA") and bought["shipment"]["trackingNumber"] in mine.text
    other = await waybill.new_key("Another shop")
    theirs = await waybill.http.get(pdf_url, headers={"Authorization": f"Bearer {other}"})
    assert theirs.status_code == 404, "another account's label looks exactly like a missing one"
    assert (await waybill.http.get(pdf_url)).status_code == 401


async def test_sync_progress_is_pushed_live(waybill: Harness) -> None:
    for _ in range(3):
        waybill.shop.add_order()
    async with waybill.subscribe("subscription { syncRunProgress { id status pages fetched created } }") as subscriber:
        await connect_store(waybill)

        async def finished() -> list[dict[str, Any]]:
            runs = [m["data"]["syncRunProgress"] for m in subscriber.messages]
            assert runs and runs[-1]["status"] == "SUCCEEDED", runs
            return runs

        runs = await eventually(finished)
    assert [run["status"] for run in runs][:2] == ["QUEUED", "RUNNING"]
    assert runs[-1]["fetched"] == 3 and runs[-1]["created"] == 3 and runs[-1]["pages"] == 1


async def test_a_websocket_without_a_valid_key_is_refused(waybill: Harness) -> None:
    url = waybill.base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer wb_live_nope"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_read_only_key_reads_but_cannot_buy_or_connect(waybill: Harness) -> None:
    waybill.shop.add_order()
    await connect_store(waybill)
    found = await eventually(lambda: _one_order(waybill))
    reader = await create_api_key(waybill.account_id, "dashboard", ["read_orders"])

    assert (await waybill.gql(ORDER, {"id": found["id"]}, key=reader))["order"]["id"] == found["id"]
    refused = await waybill.gql(BUY, {"input": {"orderId": found["id"], "idempotencyKey": "ro"}}, key=reader)
    assert [e["code"] for e in refused["buyLabel"]["userErrors"]] == ["FORBIDDEN"]
    connect = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token}, key=reader)
    assert [e["code"] for e in connect["connectChannel"]["userErrors"]] == ["FORBIDDEN"]
    assert (await order(waybill, found["id"]))["shipments"] == []
