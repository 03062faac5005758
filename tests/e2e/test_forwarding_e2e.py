"""Forwarding end to end over HTTP and WebSocket: a dashboard sees the push retried through a Shopify outage and sent."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.channels.amazon.fake import FakeAmazon
from domain.model import ChannelKind
from tests.contract.kinds import FAST_AMAZON
from tests.support.channels import CONNECT, connect_input
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

SUBSCRIPTION = "subscription { orderChanged { type order { id externalId pushStatus pushError pushedOrderRef } } }"
FORWARDING = """
mutation($input: UpdateForwardingInput!) { updateForwarding(input: $input) { userErrors { field message code } } }"""
PUSH = "mutation($ids: [ID!]!) { pushOrder(input: {orderIds: $ids}) { pushes { status } userErrors { message } } }"
ORDERS = "query { orders(first: 10) { edges { node { id externalId status channel { kind } } } } }"
SYNC = "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { userErrors { message } } }"


async def test_push_survives_a_store_outage_and_the_dashboard_sees_it(waybill: Harness) -> None:
    amazon = FakeAmazon(usage_plans=FAST_AMAZON)
    async with serve_app(amazon.app) as url:
        shop = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.SHOPIFY, waybill.shop, waybill.shop_url)})
        market = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.AMAZON, amazon, url)})
        shop_id, market_id = shop["connectChannel"]["channel"]["id"], market["connectChannel"]["channel"]["id"]
        given = {"channelId": market_id, "mode": "OFF", "toChannelId": shop_id}
        assert (await waybill.gql(FORWARDING, {"input": given}))["updateForwarding"]["userErrors"] == []
        external_id = amazon.create_order([("TOTE", "Canvas Tote", 1)])
        await waybill.gql(SYNC, {"id": market_id})

        async def imported() -> dict[str, Any]:
            nodes = [e["node"] for e in (await waybill.gql(ORDERS))["orders"]["edges"]]
            found = [n for n in nodes if n["externalId"] == external_id and n["status"] == "READY_TO_SHIP"]
            assert found, nodes
            return found[0]

        order = await eventually(imported, within=30)
        waybill.shop.fail_next(2, 503, path_contains="/orders.json", method="POST")
        async with waybill.subscribe(SUBSCRIPTION) as subscriber:
            pushed = (await waybill.gql(PUSH, {"ids": [order["id"]]}))["pushOrder"]
            assert pushed["userErrors"] == [] and pushed["pushes"] == [{"status": "NOT_SENT"}]

            async def sent() -> list[dict[str, Any]]:
                events = [m["data"]["orderChanged"] for m in subscriber.messages if "data" in m]
                assert any(e["type"] == "ORDER_PUSHED" for e in events), events
                return events

            events = await eventually(sent, within=30)
    types = [e["type"] for e in events if e["order"]["id"] == order["id"]]
    assert types.count("ORDER_PUSH_RETRYING") == 2 and types[-1] == "ORDER_PUSHED", types
    creates = [r for r in waybill.shop.requests if r[0] == "POST" and r[1].endswith("/orders.json")]
    assert len(creates) == 3, "two refused by the outage, one created; never a blind re-POST in between"
    final = events[-1]["order"]
    assert final["pushStatus"] == "SENT" and final["pushError"] is None
    assert [str(o["id"]) for o in waybill.shop.tagged(f"waybill-{order['id'].rsplit('/', 1)[-1]}")] == [
        final["pushedOrderRef"]
    ]
