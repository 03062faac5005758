"""Carrier accounts through the API: rates across carriers, buying by rate id, signed tracking webhooks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.carriers.easypost import FakeEasyPost
from adapters.carriers.shippo import FakeShippo
from adapters.persistence import models
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

CONNECT_SHOP = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Shop", credentials: {shopify: {shopUrl: $url, accessToken: $token}}
}) { channel { id } userErrors { message } } }"""
CONNECT_CARRIER = """
mutation($input: ConnectCarrierInput!) { connectCarrier(input: $input) {
  carrierAccount { id kind name enabled webhookUrl } userErrors { field message code }
} }"""
ORDERS = "query { orders(first: 10) { edges { node { id status } } } }"
RATES = """
query($id: ID!) { rates(orderId: $id) {
  rates { id carrier service serviceName amount currency deliveryDays cheapest fastest }
  errors { carrier message } userErrors { field message code }
} }"""
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status carrier trackingNumber trackingStatus } order { status } userErrors { field message code }
} }"""
SHIPMENT = "query($id: ID!) { order(id: $id) { status shipments { id status trackingStatus trackingNumber } } }"


@dataclass
class Carriers:
    easypost: FakeEasyPost
    shippo: FakeShippo
    easypost_url: str
    shippo_url: str


@contextlib.asynccontextmanager
async def carriers_served() -> AsyncIterator[Carriers]:
    easypost, shippo = FakeEasyPost(), FakeShippo()
    async with serve_app(easypost.app) as easypost_url, serve_app(shippo.app) as shippo_url:
        yield Carriers(easypost, shippo, easypost_url, shippo_url)


async def connect_carriers(waybill: Harness, fakes: Carriers) -> dict[str, dict[str, Any]]:
    inputs = [
        {
            "kind": "EASYPOST",
            "name": "easypost-main",
            "credentials": {
                "easypost": {
                    "apiKey": "EZTK_fake_test_key_1234",
                    "webhookSecret": fakes.easypost.webhook_secret,
                    "baseUrl": f"{fakes.easypost_url}/v2",
                }
            },
        },
        {
            "kind": "SHIPPO",
            "name": "shippo",
            "credentials": {
                "shippo": {
                    "apiToken": "shippo_test_5f3c0a9d8e7b6a5f4e3d2c1b0a9f8e7d",
                    "webhookSecret": fakes.shippo.webhook_secret,
                    "baseUrl": fakes.shippo_url,
                }
            },
        },
    ]
    accounts = {}
    for given in inputs:
        result = (await waybill.gql(CONNECT_CARRIER, {"input": given}))["connectCarrier"]
        assert result["userErrors"] == [], result
        accounts[given["name"]] = result["carrierAccount"]
    return accounts


async def ready_order(waybill: Harness) -> str:
    waybill.shop.add_order()
    result = await waybill.gql(CONNECT_SHOP, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []

    async def imported() -> str:
        edges = (await waybill.gql(ORDERS))["orders"]["edges"]
        assert len(edges) == 1 and edges[0]["node"]["status"] == "READY_TO_SHIP", edges
        edge = edges[0]
        return str(edge["node"]["id"])

    return await eventually(imported, within=30)


async def test_rates_from_every_carrier_sorted_with_cheapest_and_fastest_marked(waybill: Harness) -> None:
    async with carriers_served() as fakes:
        accounts = await connect_carriers(waybill, fakes)
        assert {a["kind"] for a in accounts.values()} == {"EASYPOST", "SHIPPO"}
        assert all(
            a["webhookUrl"].endswith(f"/webhooks/carriers/{a['id'].rsplit('/', 1)[1]}") for a in accounts.values()
        )
        order_id = await ready_order(waybill)
        result = (await waybill.gql(RATES, {"id": order_id}))["rates"]
    assert result["userErrors"] == [] and result["errors"] == [], result
    rates = result["rates"]
    assert {r["carrier"] for r in rates} == {"sandbox", "easypost-main", "shippo"}
    amounts = [float(r["amount"]) for r in rates]
    assert amounts == sorted(amounts), "cheapest first"
    (cheapest,) = [r for r in rates if r["cheapest"]]
    (fastest,) = [r for r in rates if r["fastest"]]
    assert cheapest == rates[0], "the first is the cheapest"
    assert fastest["deliveryDays"] == min(r["deliveryDays"] for r in rates if r["deliveryDays"] is not None)


async def test_a_carrier_that_is_down_does_not_hide_the_others(waybill: Harness) -> None:
    async with carriers_served() as fakes:
        await connect_carriers(waybill, fakes)
        order_id = await ready_order(waybill)
        fakes.shippo.fail_next(50, 503)
        result = (await waybill.gql(RATES, {"id": order_id}))["rates"]
    assert [e["carrier"] for e in result["errors"]] == ["shippo"], result["errors"]
    assert {r["carrier"] for r in result["rates"]} == {"sandbox", "easypost-main"}


async def test_buy_by_rate_id_then_signed_tracking_webhooks_move_the_parcel(waybill: Harness) -> None:
    async with carriers_served() as fakes:
        accounts = await connect_carriers(waybill, fakes)
        order_id = await ready_order(waybill)
        rates = (await waybill.gql(RATES, {"id": order_id}))["rates"]["rates"]
        chosen = next(r for r in rates if r["carrier"] == "easypost-main")
        bought = await waybill.gql(
            BUY, {"input": {"orderId": order_id, "idempotencyKey": "k1", "rateId": chosen["id"]}}
        )
        result = bought["buyLabel"]
        assert result["userErrors"] == [], result
        assert result["shipment"]["carrier"] == "easypost-main" and result["shipment"]["status"] == "PURCHASED"
        number = result["shipment"]["trackingNumber"]
        again = await waybill.gql(BUY, {"input": {"orderId": order_id, "idempotencyKey": "k1", "rateId": chosen["id"]}})
        assert again["buyLabel"]["shipment"]["id"] == result["shipment"]["id"], "one label per key"
        assert "EZTK" not in (await models.CarrierAccount.get(name="easypost-main")).credentials, "encrypted at rest"

        hook_url = accounts["easypost-main"]["webhookUrl"]
        fakes.easypost.advance(number, "in_transit")
        headers, body = fakes.easypost.webhook(number)
        bad = await waybill.http.post(
            hook_url, content=body, headers={**headers, "X-Hmac-Signature": "hmac-sha256-hex=00"}
        )
        assert bad.status_code == 401
        ok = await waybill.http.post(hook_url, content=body, headers=headers)
        assert ok.status_code == 200 and ok.json()["status"] == "recorded", ok.text

        async def in_transit() -> bool:
            shipments = (await waybill.gql(SHIPMENT, {"id": order_id}))["order"]["shipments"]
            assert [s["trackingStatus"] for s in shipments] == ["IN_TRANSIT"], shipments
            return True

        await eventually(in_transit, within=10)
        fakes.easypost.advance(number, "delivered")
        headers, body = fakes.easypost.webhook(number)
        assert (await waybill.http.post(hook_url, content=body, headers=headers)).status_code == 200

        async def delivered() -> bool:
            order = (await waybill.gql(SHIPMENT, {"id": order_id}))["order"]
            assert order["status"] == "DELIVERED", order
            return True

        await eventually(delivered, within=10)
        # The channel hears Fulfilled/delivered through the outbox, as for any carrier.
        shopify_order = waybill.shop.order(waybill.shop.order_ids()[0])
        assert shopify_order["fulfillments"][0]["tracking_number"] == number


async def test_a_carrier_name_that_is_not_configured_is_refused_before_anything_is_bought(waybill: Harness) -> None:
    order_id = await ready_order(waybill)
    result = await waybill.gql(BUY, {"input": {"orderId": order_id, "idempotencyKey": "x", "carrier": "fedex-direct"}})
    (error,) = result["buyLabel"]["userErrors"]
    assert error["code"] == "CARRIER_NOT_CONFIGURED" and error["field"] == ["carrier"]
    assert await models.Shipment.all().count() == 0


REPRINT = """
mutation($input: ReprintLabelInput!) { reprintLabel(input: $input) {
  url contentBase64 shipment { id } userErrors { field message code }
} }"""


async def test_reprint_returns_the_stored_label_and_buys_nothing(waybill: Harness) -> None:
    import base64

    order_id = await ready_order(waybill)
    bought = (await waybill.gql(BUY, {"input": {"orderId": order_id, "idempotencyKey": "r1"}}))["buyLabel"]
    shipment_id = bought["shipment"]["id"]
    sold = len(waybill.carrier.labels)
    pdf = (await waybill.gql(REPRINT, {"input": {"shipmentId": shipment_id}}))["reprintLabel"]
    zpl = (await waybill.gql(REPRINT, {"input": {"shipmentId": shipment_id, "format": "ZPL"}}))["reprintLabel"]
    assert base64.b64decode(pdf["contentBase64"]).startswith(b"%PDF")
    assert base64.b64decode(zpl["contentBase64"]).startswith(b"^XA")
    downloaded = await waybill.http.get(
        f"{waybill.base_url}{pdf['url']}", headers={"Authorization": f"Bearer {waybill.api_key}"}
    )
    assert downloaded.content == base64.b64decode(pdf["contentBase64"]), "the same stored file"
    assert len(waybill.carrier.labels) == sold, "a reprint never buys"
    other = await waybill.new_key("Another shop")
    hidden = await waybill.gql(REPRINT, {"input": {"shipmentId": shipment_id}}, key=other)
    assert [e["code"] for e in hidden["reprintLabel"]["userErrors"]] == ["NOT_FOUND"]


async def test_a_shippo_purchase_that_completes_later_is_collected_once(waybill: Harness) -> None:
    """Shippo answers QUEUED and settles later: buyLabel never buys twice while it waits."""
    async with carriers_served() as fakes:
        await connect_carriers(waybill, fakes)
        order_id = await ready_order(waybill)
        rates = (await waybill.gql(RATES, {"id": order_id}))["rates"]["rates"]
        chosen = next(r for r in rates if r["carrier"] == "shippo")
        fakes.shippo.queue_next(1, polls=12)  # still QUEUED after the client's first round of polls
        given = {"orderId": order_id, "idempotencyKey": "async-1", "rateId": chosen["id"]}
        first = (await waybill.gql(BUY, {"input": given}))["buyLabel"]
        # Within the mutation's wait the label may be collected already, or still be on its way.
        assert all(error["code"] == "CARRIER_UNAVAILABLE" for error in first["userErrors"]), first

        async def purchased() -> bool:
            shipments = (await waybill.gql(SHIPMENT, {"id": order_id}))["order"]["shipments"]
            assert [s["status"] for s in shipments] == ["PURCHASED"], shipments
            return True

        await eventually(purchased, within=60)
        again = (await waybill.gql(BUY, {"input": given}))["buyLabel"]
        assert again["shipment"]["status"] == "PURCHASED"
    assert len(fakes.shippo.transactions) == 1, "one transaction, however many times Waybill asked"
