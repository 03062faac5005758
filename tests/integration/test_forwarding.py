"""Forwarding Amazon orders into the Shopify fake over real HTTP: modes, conditions, errors, retries, tracking back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.channels.amazon.fake import FakeAmazon
from adapters.channels.ebay.fake import FakeEbay
from adapters.channels.woocommerce.fake import FakeWooCommerce
from adapters.persistence import models
from domain.forwarding import CANCELLED_AFTER_PUSH
from domain.model import ChannelKind
from jobs.forwarding import push_order
from tests.contract.kinds import FAST_AMAZON
from tests.support.channels import CONNECT, connect_input
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

SYNC = "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { userErrors { code message } } }"
FORWARDING = """
mutation($input: UpdateForwardingInput!) { updateForwarding(input: $input) {
  channel { forwarding { mode when toChannelId } } userErrors { field message code }
} }"""
PUSH = """
mutation($ids: [ID!]!) { pushOrder(input: {orderIds: $ids}) {
  pushes { orderId status } userErrors { field message code }
} }"""
ORDERS = """query { orders(first: 50) { edges { node {
  id externalId status pushStatus pushError pushedOrderRef pushFlag channel { kind }
  shipments { trackingNumber status } channelWrites { kind status lastError }
} } } }"""
PRODUCTS = """
mutation($input: UpsertProductsInput!) { upsertProducts(input: $input) {
  products { sku title } userErrors { field message code }
} }"""
LINES = [("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1)]


@dataclass
class Setup:
    waybill: Harness
    amazon: Any  # the marketplace's fake: FakeAmazon, or FakeEbay in the eBay tests
    amazon_id: str
    shopify_id: str
    kind: str = "AMAZON"  # the marketplace's channel kind

    async def sync_amazon(self) -> None:
        result = await self.waybill.gql(SYNC, {"id": self.amazon_id})
        assert result["syncChannel"]["userErrors"] == []

    async def sync_shopify(self) -> None:
        result = await self.waybill.gql(SYNC, {"id": self.shopify_id})
        assert result["syncChannel"]["userErrors"] == []

    async def forwarding(self, **given: Any) -> dict[str, Any]:
        variables = {"input": {"channelId": self.amazon_id, "toChannelId": self.shopify_id, **given}}
        return (await self.waybill.gql(FORWARDING, variables))["updateForwarding"]  # type: ignore[no-any-return]

    async def orders(self, kind: str | None = None) -> list[dict[str, Any]]:
        edges = (await self.waybill.gql(ORDERS))["orders"]["edges"]
        return [e["node"] for e in edges if e["node"]["channel"]["kind"] == (kind or self.kind)]

    async def order(self, external_id: str, **expected: Any) -> dict[str, Any]:
        """The Waybill order of an Amazon order once it shows `expected` (e.g. pushStatus="SENT")."""

        async def found() -> dict[str, Any]:
            nodes = [o for o in await self.orders() if o["externalId"] == external_id]
            assert nodes, f"{external_id} not imported yet"
            for key, value in expected.items():
                assert nodes[0][key] == value, nodes[0]
            return nodes[0]

        return await eventually(found, within=30)


@pytest.fixture
async def setup(waybill: Harness) -> AsyncIterator[Setup]:
    amazon = FakeAmazon(usage_plans=FAST_AMAZON)
    async with serve_app(amazon.app) as url:
        shop = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.SHOPIFY, waybill.shop, waybill.shop_url)})
        market = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.AMAZON, amazon, url)})
        assert shop["connectChannel"]["userErrors"] == [] and market["connectChannel"]["userErrors"] == []
        yield Setup(waybill, amazon, market["connectChannel"]["channel"]["id"], shop["connectChannel"]["channel"]["id"])


async def test_forwarded_to_shopify_shipped_there_and_confirmed_on_amazon(setup: Setup) -> None:
    waybill, shop = setup.waybill, setup.waybill.shop
    updated = await setup.forwarding(mode="ALWAYS", when="PAID")
    assert updated["userErrors"] == [], updated
    assert updated["channel"]["forwarding"] == {"mode": "ALWAYS", "when": "PAID", "toChannelId": setup.shopify_id}
    external_id = setup.amazon.create_order(LINES)
    await setup.sync_amazon()
    order = await setup.order(external_id, pushStatus="SENT")
    order_pk = order["id"].rsplit("/", 1)[-1]
    (copy,) = shop.tagged(f"waybill-{order_pk}")
    assert order["pushedOrderRef"] == str(copy["id"]) and order["pushError"] is None
    assert [(item["sku"], item["quantity"]) for item in copy["line_items"]] == [("TOTE", 2), ("MUG", 1)]
    assert copy["source_name"] == "waybill" and copy["financial_status"] == "paid"

    # Asking again (a duplicated push) never creates a second copy.
    again = (await waybill.gql(PUSH, {"ids": [order["id"]]}))["pushOrder"]
    assert again["userErrors"] == [] and again["pushes"][0]["status"] == "SENT"

    shop.ship(copy["id"], "1Z999AA10123456784", company="UPS")
    await setup.sync_shopify()

    async def confirmed() -> list[Any]:
        packages = setup.amazon.shipments(external_id)
        assert packages and packages[0].tracking_number == "1Z999AA10123456784", packages
        return packages

    (package,) = await eventually(confirmed, within=30)
    item_ids = dict(zip([sku for sku, _, _ in LINES], setup.amazon.line_ids(external_id), strict=True))
    assert package.lines == {item_ids["TOTE"]: 2, item_ids["MUG"]: 1}
    assert setup.amazon.is_shipped(external_id)
    shipped = await setup.order(external_id, status="SHIPPING")
    assert [s["trackingNumber"] for s in shipped["shipments"]] == ["1Z999AA10123456784"]
    assert await setup.orders("SHOPIFY") == [], "the forwarded copy is not a second order in Waybill"
    assert len(shop.tagged(f"waybill-{order_pk}")) == 1


async def test_platform_error_shows_as_error_and_push_order_retries(setup: Setup) -> None:
    waybill, shop = setup.waybill, setup.waybill.shop
    external_id = setup.amazon.create_order(LINES)
    await setup.sync_amazon()
    order = await setup.order(external_id, status="READY_TO_SHIP")
    assert order["pushStatus"] == "NOT_SENT", "forwarding is OFF by default"
    refused = (await waybill.gql(PUSH, {"ids": [order["id"]]}))["pushOrder"]
    assert refused["userErrors"][0]["code"] == "INVALID" and "toChannelId" in refused["userErrors"][0]["message"]

    assert (await setup.forwarding(mode="OFF"))["userErrors"] == []
    shop.fail_next(1, 422, errors={"line_items": ["MUG is not available"]}, path_contains="/orders.json", method="POST")
    pushed = (await waybill.gql(PUSH, {"ids": [order["id"]]}))["pushOrder"]
    assert pushed["userErrors"] == [] and pushed["pushes"][0]["status"] == "NOT_SENT"
    failed = await setup.order(external_id, pushStatus="ERROR")
    assert "MUG is not available" in failed["pushError"], failed
    assert shop.tagged(f"waybill-{order['id'].rsplit('/', 1)[-1]}") == []

    retried = (await waybill.gql(PUSH, {"ids": [order["id"]]}))["pushOrder"]
    assert retried["userErrors"] == []
    sent = await setup.order(external_id, pushStatus="SENT")
    assert sent["pushError"] is None and len(shop.tagged(f"waybill-{order['id'].rsplit('/', 1)[-1]}")) == 1


async def test_managed_mode_forwards_only_orders_of_managed_products(setup: Setup) -> None:
    waybill = setup.waybill
    saved = await waybill.gql(PRODUCTS, {"input": {"products": [{"sku": "TOTE", "title": "Tote"}]}})
    assert saved["upsertProducts"]["userErrors"] == []
    bad = (await waybill.gql(PRODUCTS, {"input": {"products": [{"sku": "  "}]}}))["upsertProducts"]
    assert bad["userErrors"][0]["field"] == ["products", "0", "sku"]
    assert (await setup.forwarding(mode="MANAGED", when="COMMITTED"))["userErrors"] == []
    managed = setup.amazon.create_order([("TOTE", "Canvas Tote", 1)])
    mixed = setup.amazon.create_order(LINES)
    await setup.sync_amazon()
    await setup.order(managed, pushStatus="SENT")
    other = await setup.order(mixed, status="READY_TO_SHIP")
    assert other["pushStatus"] == "NOT_SENT"
    assert len(waybill.shop.tagged(f"waybill-{other['id'].rsplit('/', 1)[-1]}")) == 0
    listed = (await waybill.gql("{ products(first: 10) { edges { node { sku title } } hasNextPage } }"))["products"]
    assert listed == {"edges": [{"node": {"sku": "TOTE", "title": "Tote"}}], "hasNextPage": False}
    deleted = await waybill.gql('mutation { deleteProducts(input: {skus: ["TOTE", "NOPE"]}) { deletedCount } }')
    assert deleted["deleteProducts"]["deletedCount"] == 1
    assert (await waybill.gql("{ products { edges { node { sku } } } }"))["products"]["edges"] == []


@pytest.fixture
async def ebay(waybill: Harness) -> AsyncIterator[Setup]:
    """Setup with eBay as the marketplace (its `amazon` field holds the eBay fake)."""
    market = FakeEbay()
    async with serve_app(market.app) as url:
        shop = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.SHOPIFY, waybill.shop, waybill.shop_url)})
        connected = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.EBAY, market, url)})
        assert connected["connectChannel"]["userErrors"] == []
        yield Setup(
            waybill,
            market,
            connected["connectChannel"]["channel"]["id"],
            shop["connectChannel"]["channel"]["id"],
            "EBAY",
        )


async def test_ebay_combined_purchase_when_paid_forwards_only_the_combined_order(ebay: Setup) -> None:
    """Two unpaid orders, then eBay cancels both and makes one combined, paid order of them."""
    market: Any = ebay.amazon
    assert (await ebay.forwarding(mode="ALWAYS", when="PAID"))["userErrors"] == []
    first = market.create_order([("TOTE", "Canvas Tote", 1)], ready=False)
    second = market.create_order([("MUG", "Enamel Mug", 1)], ready=False)
    await ebay.sync_amazon()
    waiting = await ebay.order(first, status="READY_TO_SHIP")
    assert waiting["pushStatus"] == "NOT_SENT", "unpaid: not forwarded in PAID mode"
    market.cancel(first)
    market.cancel(second)
    combined = market.create_order([("TOTE", "Canvas Tote", 1), ("MUG", "Enamel Mug", 1)])
    await ebay.sync_amazon()
    await ebay.order(combined, pushStatus="SENT")
    for original in (first, second):
        cancelled = await ebay.order(original, status="CANCELLED")
        assert cancelled["pushStatus"] == "NOT_SENT" and cancelled["pushFlag"] is None
        refused = (await ebay.waybill.gql(PUSH, {"ids": [cancelled["id"]]}))["pushOrder"]
        assert refused["userErrors"][0]["code"] == "ORDER_CANCELLED"
    copies = [o for o in ebay.waybill.shop.order_ids() if "waybill-" in str(ebay.waybill.shop.order(o)["tags"])]
    assert len(copies) == 1, "only the combined order reached the store"


async def test_ebay_order_cancelled_after_a_committed_push_is_flagged(ebay: Setup) -> None:
    market: Any = ebay.amazon
    assert (await ebay.forwarding(mode="ALWAYS", when="COMMITTED"))["userErrors"] == []
    original = market.create_order(LINES, ready=False)
    await ebay.sync_amazon()
    await ebay.order(original, pushStatus="SENT")  # committed, not paid yet
    market.cancel(original)  # replaced by a combined purchase
    await ebay.sync_amazon()
    flagged = await ebay.order(original, status="CANCELLED", pushFlag=CANCELLED_AFTER_PUSH)
    assert flagged["pushStatus"] == "SENT" and flagged["pushedOrderRef"]
    assert "cancelled on the marketplace after it was forwarded" in CANCELLED_AFTER_PUSH.lower()


async def test_store_orders_are_never_forwarded_and_the_target_must_be_a_store(setup: Setup) -> None:
    waybill = setup.waybill
    waybill.shop.create_order([("MUG", "Enamel Mug", 1)])
    await setup.sync_shopify()

    async def store_order() -> dict[str, Any]:
        found = await setup.orders("SHOPIFY")
        assert len(found) == 1, found
        return found[0]

    own = await eventually(store_order, within=30)
    refused = (await waybill.gql(PUSH, {"ids": [own["id"], "gid://waybill/Order/999999"]}))["pushOrder"]
    assert [e["code"] for e in refused["userErrors"]] == ["UNSUPPORTED", "NOT_FOUND"], refused
    assert refused["userErrors"][1]["field"] == ["orderIds", "1"]
    to_itself = await setup.forwarding(mode="ALWAYS", toChannelId=setup.amazon_id)
    assert to_itself["userErrors"][0]["field"] == ["toChannelId"], to_itself
    from_store = (
        await waybill.gql(
            FORWARDING, {"input": {"channelId": setup.shopify_id, "mode": "ALWAYS", "toChannelId": setup.shopify_id}}
        )
    )["updateForwarding"]
    assert from_store["userErrors"][0]["code"] == "UNSUPPORTED", from_store


async def test_forwarded_to_woocommerce_and_its_tracking_confirmed_on_amazon(waybill: Harness) -> None:
    amazon, woo = FakeAmazon(usage_plans=FAST_AMAZON), FakeWooCommerce()
    async with serve_app(amazon.app) as amazon_url, serve_app(woo.app) as woo_url:
        store = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.WOOCOMMERCE, woo, woo_url)})
        market = await waybill.gql(CONNECT, {"input": connect_input(ChannelKind.AMAZON, amazon, amazon_url)})
        setup = Setup(
            waybill, amazon, market["connectChannel"]["channel"]["id"], store["connectChannel"]["channel"]["id"]
        )
        assert (await setup.forwarding(mode="ALWAYS", when="PAID"))["userErrors"] == []
        external_id = amazon.create_order(LINES)
        await setup.sync_amazon()
        order = await setup.order(external_id, pushStatus="SENT")
        copy_id = order["pushedOrderRef"]
        copy = woo.order(copy_id)
        assert {m["key"]: m["value"] for m in copy["meta_data"]}["waybill_order_id"] == order["id"].rsplit("/", 1)[-1]
        assert [(item["name"], item["quantity"]) for item in copy["line_items"]] == [
            ("Canvas Tote", 2),
            ("Enamel Mug", 1),
        ]
        again = (await waybill.gql(PUSH, {"ids": [order["id"]]}))["pushOrder"]
        assert again["pushes"][0]["status"] == "SENT"

        woo.add_tracking(int(copy_id), {"custom_tracking_provider": "Royal Mail", "tracking_number": "RM123456785GB"})
        woo.set_status(copy_id, "completed")
        await setup.sync_shopify()  # the store channel: WooCommerce here

        async def confirmed() -> list[Any]:
            packages = amazon.shipments(external_id)
            assert packages and packages[0].tracking_number == "RM123456785GB", packages
            return packages

        await eventually(confirmed, within=30)
        assert await setup.orders("WOOCOMMERCE") == [], "the forwarded copy is not a second order in Waybill"
        assert len(woo.search(woo.query(frozenset({"processing", "completed", "pending"}), {}), "waybill-")) == 1


async def test_store_webhook_of_the_shipped_copy_confirms_once_on_amazon(setup: Setup) -> None:
    waybill, shop = setup.waybill, setup.waybill.shop
    assert (await setup.forwarding(mode="ALWAYS", when="PAID"))["userErrors"] == []
    external_id = setup.amazon.create_order([("TOTE", "Canvas Tote", 2)])
    await setup.sync_amazon()
    order = await setup.order(external_id, pushStatus="SENT")
    shop.ship(order["pushedOrderRef"], "1ZWEBHOOK0000001", company="UPS")
    shown = await waybill.gql("query($id: ID!) { channel(id: $id) { webhookUrl } }", {"id": setup.shopify_id})
    headers, body = shop.webhook(order["pushedOrderRef"], "orders/fulfilled")
    for _ in range(2):  # a redelivery (same event id) and a second delivery of the same news change nothing
        response = await waybill.http.post(shown["channel"]["webhookUrl"], headers=headers, content=body)
        assert response.status_code == 200, response.text
        headers, body = shop.webhook(order["pushedOrderRef"], "orders/updated")

    async def confirmed() -> list[Any]:
        packages = setup.amazon.shipments(external_id)
        assert packages, packages
        return packages

    (package,) = await eventually(confirmed, within=30)
    assert package.tracking_number == "1ZWEBHOOK0000001"
    shipped = await setup.order(external_id, status="SHIPPING")
    assert len(shipped["shipments"]) == 1 and await setup.orders("SHOPIFY") == []


async def test_a_push_that_died_after_creating_finds_its_copy_instead_of_creating_another(setup: Setup) -> None:
    """The job created the copy, then died before recording it; Shopify's search index has not caught up."""
    shop = setup.waybill.shop
    shop.lagging_search = True
    assert (await setup.forwarding(mode="ALWAYS", when="PAID"))["userErrors"] == []
    external_id = setup.amazon.create_order(LINES)
    await setup.sync_amazon()
    order = await setup.order(external_id, pushStatus="SENT")
    order_pk = int(order["id"].rsplit("/", 1)[-1])
    await models.OrderPush.filter(order_id=order_pk).update(status="NOT_SENT", platform_order_id=None)
    outcome = await push_order({"runtime": setup.waybill.runtime}, order_pk)
    # The worker's tick re-queues waiting pushes too (every second here): whichever job gets the order's
    # lock first starts from the same state, and must find the copy rather than create one.
    assert outcome in (f"sent: {order['pushedOrderRef']}", "busy", "nothing to do"), outcome
    again = await setup.order(external_id, pushStatus="SENT")
    assert again["pushedOrderRef"] == order["pushedOrderRef"], again
    assert len(shop.tagged(f"waybill-{order_pk}")) == 1
