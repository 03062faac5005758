"""Real Shopify payloads (tests/fixtures/shopify) against the mapper, the client's idempotency matcher and FakeShopify.

fulfillment_order (a single `fulfillment_order`, despite its upstream name fulfillment_orders.json), fulfillment,
fulfillment_event, refund and locations_legacy: Shopify/shopify_python_api test fixtures. locations_list and
fulfillment_update_tracking_*: Shopify/shopify-app-js REST 2026-07 mocks. The fake is driven in-process (ASGI), so
these stay unit tests: what they pin is that the fake answers with every key the real API sends.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.shopify.client import ShopifyClient, _matching_fulfillment
from adapters.channels.shopify.fake import FakeShopify
from adapters.channels.shopify.mapper import (
    channel_status,
    fo_line_items_for,
    is_on_hold,
    needs_fulfillment_orders,
    order_from_document,
)
from domain.model import ChannelOrderStatus
from domain.ports import Tracking

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
TOKEN = "shpat_fixture_token"
API = "/admin/api/2026-07"
# Gateway-specific and opaque (2026-07 sends {}); a client cannot rely on anything inside it.
OPAQUE_KEYS = frozenset({"receipt"})

REAL_FO_ID = 2558888935587
REAL_FO_LINE_ID = 7118028439715
REAL_ORDER_LINE_ID = "6037638185123"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def real_fo(**overrides: Any) -> dict[str, Any]:
    return {**copy.deepcopy(load("fulfillment_order.json")["fulfillment_order"]), **overrides}


def missing_keys(real: Any, fake: Any, path: str = "") -> list[str]:
    """Dotted paths of keys the real payload has and the fake's lacks (lists compared by their first element)."""
    missing: list[str] = []
    if isinstance(real, dict) and isinstance(fake, dict):
        for key, value in real.items():
            where = f"{path}.{key}" if path else key
            if key not in fake:
                missing.append(where)
            elif key not in OPAQUE_KEYS:
                missing += missing_keys(value, fake[key], where)
    elif isinstance(real, list) and isinstance(fake, list) and real and fake:
        missing += missing_keys(real[0], fake[0], f"{path}[]")
    return missing


def test_missing_keys_reports_nested_paths() -> None:
    """The parity helper itself must be able to fail, or the shape tests below prove nothing."""
    real = {"a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 4, "g": 5}], "receipt": {"x": 1}}
    fake = {"a": 1, "b": {"c": 2}, "e": [{"f": 4}], "receipt": {}}

    assert missing_keys(real, fake) == ["b.d", "e[].g"]


# --- fulfillment_order.json: holds, status and FO-line mapping -----------------------------------


def test_the_real_open_fulfillment_order_is_not_a_hold_but_a_held_copy_is() -> None:
    assert is_on_hold([real_fo()]) is False
    assert is_on_hold([real_fo(status="on_hold")]) is True
    assert is_on_hold([real_fo(status="closed"), real_fo(id=1, status="open")]) is False


def test_channel_status_of_an_order_with_the_real_fulfillment_order() -> None:
    order = load("order_authorized.json")["order"]

    assert needs_fulfillment_orders(order) is True
    assert channel_status(order, [real_fo()]) == (ChannelOrderStatus.AWAITING_FULFILLMENT, "authorized/unfulfilled")
    assert channel_status(order, [real_fo(status="on_hold")]) == (ChannelOrderStatus.ON_HOLD, "on_hold")
    # Once Shopify reports a fulfillment the FOs cannot change the answer, so they are not fetched.
    shipped = {**order, "fulfillment_status": "partial"}
    assert needs_fulfillment_orders(shipped) is False
    assert channel_status(shipped, [real_fo(status="on_hold")]) == (
        ChannelOrderStatus.PARTIALLY_FULFILLED,
        "authorized/partial",
    )


def test_fo_line_items_for_the_real_fulfillment_order() -> None:
    expected = [
        {
            "fulfillment_order_id": REAL_FO_ID,
            "fulfillment_order_line_items": [{"id": REAL_FO_LINE_ID, "quantity": 1}],
        }
    ]

    assert fo_line_items_for([real_fo()], [(REAL_ORDER_LINE_ID, 1)]) == expected
    assert fo_line_items_for([real_fo()], None) == expected


def test_fo_line_items_for_refuses_more_than_the_real_fulfillment_order_holds() -> None:
    with pytest.raises(ValueError) as too_many:
        fo_line_items_for([real_fo()], [(REAL_ORDER_LINE_ID, 2)])
    with pytest.raises(ValueError) as held:
        fo_line_items_for([real_fo(status="on_hold")], [(REAL_ORDER_LINE_ID, 1)])

    assert str(too_many.value) == ("line 6037638185123: 2 requested but only 1 fulfillable in open fulfillment orders")
    assert str(held.value) == "line 6037638185123: 1 requested but only 0 fulfillable in open fulfillment orders"


# --- fulfillment.json / update_tracking response: the idempotency matcher --------------------------


def test_matcher_finds_the_real_fulfillment_by_its_tracking_number() -> None:
    fulfillment = load("fulfillment.json")["fulfillment"]

    assert _matching_fulfillment([fulfillment], None, Tracking("null-company", "1Z2345", None)) == "255858046"
    assert _matching_fulfillment([fulfillment], None, Tracking("null-company", "1Z2346", None)) is None
    # A retry without tracking must not claim a fulfillment that carries a tracking number.
    assert _matching_fulfillment([fulfillment], [("466157049", 1)], None) is None


def test_matcher_finds_the_real_update_tracking_response_by_its_new_number() -> None:
    updated = load("fulfillment_update_tracking_response.json")["fulfillment"]
    other = {**copy.deepcopy(updated), "id": 1, "tracking_number": "X", "tracking_numbers": ["X"]}

    assert _matching_fulfillment([other, updated], None, Tracking("UPS", "1Z001985YW99744790", None)) == "1069019869"


# --- refund.json: not an order ------------------------------------------------------------------


def test_a_refund_is_not_imported_as_an_order() -> None:
    document = load("refund.json")

    with pytest.raises(ValueError) as wrapped:
        order_from_document(document)
    with pytest.raises(ValueError) as bare:
        order_from_document(document["refund"])

    expected = 'not a Shopify order document: expected {"order": {...}}, {"orders": [...]} or an order object with'
    assert str(wrapped.value) == f"{expected} id and name (top-level keys: refund)"
    assert str(bare.value) == (
        f"{expected} id and name (top-level keys: created_at, id, note, order_adjustments, order_id, "
        "refund_line_items, restock, transactions)"
    )


# --- FakeShopify over its routes: shape parity with the real payloads ------------------------------


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify(access_token=TOKEN)


@pytest.fixture
async def http(fake: FakeShopify) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://fake.myshopify.test", headers={"X-Shopify-Access-Token": TOKEN}
    ) as client:
        yield client


async def shipped_order(fake: FakeShopify, http: httpx.AsyncClient) -> tuple[int, int]:
    """A two-line order fulfilled in full through the fake's POST fulfillments.json: (order id, fulfillment id)."""
    order = fake.add_order(line_items=[{"title": "Canvas Tote", "sku": "TOTE", "quantity": 2, "price": "24.00"}])
    fo_id = fake.fulfillment_orders(order["id"])[0]["id"]
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo_id}]}}
    created = await http.post(f"{API}/fulfillments.json", json=body)
    assert created.status_code == 201, created.text
    return order["id"], created.json()["fulfillment"]["id"]


async def test_fake_fulfillment_orders_carry_every_real_key(fake: FakeShopify, http: httpx.AsyncClient) -> None:
    order = fake.add_order()
    response = await http.get(f"{API}/orders/{order['id']}/fulfillment_orders.json")
    fake_fo = response.json()["fulfillment_orders"][0]

    assert response.status_code == 200
    assert missing_keys(load("fulfillment_order.json")["fulfillment_order"], fake_fo) == []
    assert missing_keys(load("fulfillment_orders_open.json")["fulfillment_orders"][0], fake_fo) == []


async def test_fake_fulfillment_carries_every_real_key(fake: FakeShopify, http: httpx.AsyncClient) -> None:
    order_id, fulfillment_id = await shipped_order(fake, http)
    response = await http.get(f"{API}/orders/{order_id}/fulfillments/{fulfillment_id}.json")

    assert response.status_code == 200
    assert missing_keys(load("fulfillment.json")["fulfillment"], response.json()["fulfillment"]) == []


async def test_fake_update_tracking_takes_the_real_request_and_answers_the_real_shape(
    fake: FakeShopify, http: httpx.AsyncClient
) -> None:
    order_id, fulfillment_id = await shipped_order(fake, http)
    response = await http.post(
        f"{API}/fulfillments/{fulfillment_id}/update_tracking.json",
        json=load("fulfillment_update_tracking_request.json"),
    )
    updated = response.json()["fulfillment"]

    assert response.status_code == 200
    assert missing_keys(load("fulfillment_update_tracking_response.json")["fulfillment"], updated) == []
    assert (updated["id"], updated["order_id"], updated["status"]) == (fulfillment_id, order_id, "success")
    assert updated["tracking_company"] == "UPS"
    assert (updated["tracking_number"], updated["tracking_numbers"]) == ("1Z001985YW99744790", ["1Z001985YW99744790"])
    listed = (await http.get(f"{API}/orders/{order_id}/fulfillments.json")).json()["fulfillments"]
    ups = Tracking("UPS", "1Z001985YW99744790", None)
    assert _matching_fulfillment(listed, None, ups) == str(fulfillment_id)


async def test_fake_event_takes_the_real_status_and_answers_the_real_shape(
    fake: FakeShopify, http: httpx.AsyncClient
) -> None:
    real = load("fulfillment_event.json")["fulfillment_event"]
    order_id, fulfillment_id = await shipped_order(fake, http)
    response = await http.post(
        f"{API}/orders/{order_id}/fulfillments/{fulfillment_id}/events.json",
        json={"event": {"status": real["status"], "message": real["message"]}},
    )
    event = response.json()["fulfillment_event"]

    assert response.status_code == 201
    assert missing_keys(real, event) == []
    assert (event["fulfillment_id"], event["order_id"], event["status"], event["message"]) == (
        fulfillment_id,
        order_id,
        "label_printed",
        None,
    )
    assert event["admin_graphql_api_id"] == f"gid://shopify/FulfillmentEvent/{event['id']}"


async def test_client_retry_after_a_real_update_tracking_returns_the_same_fulfillment(
    fake: FakeShopify, http: httpx.AsyncClient
) -> None:
    """Label bought, tracking written with update_tracking, then the job re-runs: nothing new is fulfilled."""
    order = fake.add_order(line_items=[{"title": "Enamel Mug", "sku": "MUG", "quantity": 1}])
    client = ShopifyClient(str(http.base_url), TOKEN, api_version="2026-07", http=http)
    first = await client.create_fulfillment(str(order["id"]), None, None)
    await http.post(
        f"{API}/fulfillments/{first}/update_tracking.json", json=load("fulfillment_update_tracking_request.json")
    )

    again = await client.create_fulfillment(str(order["id"]), None, Tracking("UPS", "1Z001985YW99744790", None))

    assert again == first
    posts = [path for method, path, _ in fake.requests if method == "POST" and path == f"{API}/fulfillments.json"]
    assert len(posts) == 1


# --- locations ----------------------------------------------------------------------------------


async def test_fake_lists_locations_in_the_real_2026_07_shape(fake: FakeShopify, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/locations.json")
    locations = response.json()["locations"]
    real_keys = set(load("locations_list.json")["locations"][0])

    assert response.status_code == 200
    assert [set(location) for location in locations] == [real_keys, real_keys]
    assert [(loc["id"], loc["name"], loc["city"], loc["province_code"]) for loc in locations] == [
        (24826418, "Main Warehouse", "Louisville", "KY"),
        (24826419, "Overflow Warehouse", "Columbus", "OH"),
    ]
    assert locations[0]["admin_graphql_api_id"] == "gid://shopify/Location/24826418"
    # The 2015 shape had `deleted_at`; 2026-07 dropped it and so does the fake. Everything else is there.
    assert set(load("locations_legacy.json")["locations"][0]) - set(locations[0]) == {"deleted_at"}


async def test_fulfillment_orders_point_at_listed_locations(fake: FakeShopify, http: httpx.AsyncClient) -> None:
    order = fake.add_order(line_items=[{"sku": "A"}, {"sku": "B"}], split_locations=True)
    locations = {loc["id"]: loc for loc in (await http.get(f"{API}/locations.json")).json()["locations"]}

    for fo in fake.fulfillment_orders(order["id"]):
        location = locations[fo["assigned_location_id"]]
        assigned = fo["assigned_location"]
        assert {key: assigned[key] for key in ("name", "address1", "city", "zip")} == {
            key: location[key] for key in ("name", "address1", "city", "zip")
        }
    assert sorted(fo["assigned_location_id"] for fo in fake.fulfillment_orders(order["id"])) == [24826418, 24826419]


async def test_locations_need_the_access_token(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/locations.json", headers={"X-Shopify-Access-Token": "wrong"})

    assert response.status_code == 401
