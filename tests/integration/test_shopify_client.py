"""ShopifyClient against FakeShopify over real HTTP on loopback: paging, fulfillments, throttling, failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.shopify.client import ShopifyClient
from adapters.channels.shopify.fake import FakeShopify
from domain.model import ChannelOrderStatus
from domain.ports import ChannelAuthFailed, ChannelRejected, ChannelThrottled, ChannelUnavailable, Tracking
from tests.support.servers import free_port, serve_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
TOKEN = "shpat_test_secret_token"
UPS = Tracking(company="UPS", number="1Z999AA10123456784", url="https://www.ups.com/track?tracknum=1Z999AA10123456784")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify(access_token=TOKEN)


@pytest.fixture
async def base_url(fake: FakeShopify) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[ShopifyClient]:
    shop = ShopifyClient(base_url, TOKEN, page_size=3)
    shop.retry_backoff = (0.01, 0.02)
    yield shop
    await shop.aclose()


def calls(fake: FakeShopify, method: str, suffix: str) -> list[dict[str, str]]:
    return [query for m, path, query in fake.requests if m == method and path.endswith(suffix)]


def three_line_order(fake: FakeShopify, **overrides: Any) -> dict[str, Any]:
    lines = [
        {"title": "Canvas Tote", "sku": "TOTE", "quantity": 2, "price": "24.00"},
        {"title": "Enamel Mug", "sku": "MUG", "quantity": 1, "price": "18.50"},
        {"title": "Wool Beanie", "sku": "", "quantity": 1, "price": "29.00"},
    ]
    return fake.add_order(line_items=lines, **overrides)


# --- reading orders --------------------------------------------------------------------


async def test_pages_through_all_orders_oldest_first(fake: FakeShopify, client: ShopifyClient) -> None:
    created = [fake.add_order() for _ in range(7)]

    numbers, page, pages = [], None, 0
    while True:
        result = await client.list_orders(datetime(2020, 1, 1, tzinfo=UTC), page)
        numbers += [order.number for order in result.orders]
        pages += 1
        if result.next_page is None:
            break
        page = result.next_page

    assert numbers == [order["name"] for order in created]
    assert pages == 3
    first, second, third = calls(fake, "GET", "/orders.json")
    assert first == {
        "status": "any",
        "limit": "3",
        "order": "updated_at asc",
        "updated_at_min": "2020-01-01T00:00:00+00:00",
    }
    assert set(second) == set(third) == {"page_info", "limit"}  # Shopify rejects filters next to page_info


async def test_updated_since_skips_older_orders_and_a_change_brings_one_back(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    old, newer = fake.add_order(), fake.add_order()
    cursor = datetime.fromisoformat(newer["updated_at"])

    assert [o.number for o in (await client.list_orders(cursor)).orders] == [newer["name"]]

    fake.set_address(old["id"], city="Lexington", zip="40507")
    orders = (await client.list_orders(cursor)).orders
    assert [o.number for o in orders] == [newer["name"], old["name"]]
    assert orders[1].shipping_address is not None and orders[1].shipping_address.city == "Lexington"


async def test_page_info_with_other_filters_is_rejected_by_the_fake(fake: FakeShopify, base_url: str) -> None:
    for _ in range(3):
        fake.add_order()
    headers = {"X-Shopify-Access-Token": TOKEN}
    async with httpx.AsyncClient(base_url=f"{base_url}/admin/api/2025-01", headers=headers) as http:
        first = await http.get("/orders.json", params={"status": "any", "limit": 2})
        next_url = first.links["next"]["url"]
        page_info = httpx.URL(next_url).params["page_info"]

        mixed = await http.get("/orders.json", params={"page_info": page_info, "status": "any"})
        too_big = await http.get("/orders.json", params={"limit": 251})
        second = await http.get(next_url)

    assert mixed.status_code == 400
    assert mixed.json() == {"errors": {"page_info": ["status cannot be passed when page_info is present"]}}
    assert too_big.status_code == 400
    assert len(first.json()["orders"]) == 2 and len(second.json()["orders"]) == 1
    assert 'rel="previous"' in second.headers["Link"] and 'rel="next"' not in second.headers["Link"]


async def test_holds_cancellations_and_payment_show_in_the_status(fake: FakeShopify, client: ShopifyClient) -> None:
    held, cancelled, pending = fake.add_order(), fake.add_order(), fake.add_order(financial_status="pending")
    fake.hold(held["id"])
    fake.cancel(cancelled["id"])

    statuses = {o.number: o.channel_status for o in (await client.list_orders(None)).orders}

    assert statuses == {
        held["name"]: ChannelOrderStatus.ON_HOLD,
        cancelled["name"]: ChannelOrderStatus.CANCELLED,
        pending["name"]: ChannelOrderStatus.PENDING_PAYMENT,
    }
    fetched = [path for _, path, _ in fake.requests if path.endswith("/fulfillment_orders.json")]
    assert not any(str(cancelled["id"]) in path for path in fetched)  # no FO call where it cannot matter

    fake.release_hold(held["id"])
    [released] = [o for o in (await client.list_orders(None)).orders if o.number == held["name"]]
    assert released.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT


async def test_holds_cost_one_graphql_call_a_page_and_rest_reads_them_when_graphql_refuses(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    held, free = fake.add_order(), fake.add_order()
    fake.hold(held["id"])
    expected = {held["name"]: ChannelOrderStatus.ON_HOLD, free["name"]: ChannelOrderStatus.AWAITING_FULFILLMENT}

    statuses = {o.number: o.channel_status for o in (await client.list_orders(None)).orders}

    assert statuses == expected
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in fake.requests] == [
        ("GET", "orders.json"),
        ("POST", "graphql.json"),
    ]

    fake.requests.clear()
    fake.fail_next(1, status=404, path_contains="/graphql.json", method="POST")
    statuses = {o.number: o.channel_status for o in (await client.list_orders(None)).orders}

    assert statuses == expected
    assert sorted(p.rsplit("/", 1)[-1] for _, p, _ in fake.requests) == [
        "fulfillment_orders.json",
        "fulfillment_orders.json",
        "graphql.json",
        "orders.json",
    ]


# --- writing fulfillments ----------------------------------------------------------------


async def test_create_fulfillment_with_tracking(fake: FakeShopify, client: ShopifyClient) -> None:
    order = three_line_order(fake)
    lines = [(str(item["id"]), item["quantity"]) for item in order["line_items"]]

    fulfillment_id = await client.create_fulfillment(str(order["id"]), lines, UPS)

    [fulfillment] = fake.fulfillments(order["id"])
    assert str(fulfillment["id"]) == fulfillment_id
    assert (fulfillment["tracking_company"], fulfillment["tracking_number"], fulfillment["tracking_url"]) == (
        UPS.company,
        UPS.number,
        UPS.url,
    )
    assert [(item["sku"], item["quantity"]) for item in fulfillment["line_items"]] == [("TOTE", 2), ("MUG", 1), ("", 1)]
    assert fake.order(order["id"])["fulfillment_status"] == "fulfilled"
    assert {fo["status"] for fo in fake.fulfillment_orders(order["id"])} == {"closed"}


async def test_repeating_a_fulfillment_returns_the_same_id_and_creates_nothing(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    order = three_line_order(fake)
    line = str(order["line_items"][0]["id"])

    first = await client.create_fulfillment(str(order["id"]), [(line, 1)], UPS)
    again = await client.create_fulfillment(str(order["id"]), [(line, 1)], UPS)
    hand_delivered = await client.create_fulfillment(str(order["id"]), None, None)
    hand_again = await client.create_fulfillment(str(order["id"]), None, None)

    assert first == again
    assert hand_delivered == hand_again != first
    assert len(fake.fulfillments(order["id"])) == 2
    assert len(calls(fake, "POST", "/fulfillments.json")) == 2


async def test_partial_fulfillment_then_the_rest(fake: FakeShopify, client: ShopifyClient) -> None:
    order = three_line_order(fake, split_locations=True)  # lines 1 and 3 at one location, line 2 at another
    tote, mug, _ = (str(item["id"]) for item in order["line_items"])

    await client.create_fulfillment(str(order["id"]), [(tote, 1), (mug, 1)], UPS)

    assert fake.order(order["id"])["fulfillment_status"] == "partial"
    [listed] = (await client.list_orders(None)).orders
    assert listed.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED
    with pytest.raises(ChannelRejected, match=f"line {mug}: 1 requested but only 0"):
        await client.create_fulfillment(str(order["id"]), [(mug, 1)], Tracking("UPS", "1ZOTHER", None))

    await client.create_fulfillment(str(order["id"]), None, Tracking("USPS", "9400100000000000000000", None))

    assert fake.order(order["id"])["fulfillment_status"] == "fulfilled"
    assert [sum(i["quantity"] for i in f["line_items"]) for f in fake.fulfillments(order["id"])] == [2, 2]


async def test_cancel_fulfillment_restores_the_order_and_is_idempotent(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    order = three_line_order(fake)
    fulfillment_id = await client.create_fulfillment(str(order["id"]), None, UPS)

    await client.cancel_fulfillment(str(order["id"]), fulfillment_id)
    await client.cancel_fulfillment(str(order["id"]), fulfillment_id)

    [fulfillment] = fake.fulfillments(order["id"])
    assert fulfillment["status"] == "cancelled"
    assert fake.order(order["id"])["fulfillment_status"] is None
    assert all(line["fulfillable_quantity"] == line["quantity"] for line in fake.order(order["id"])["line_items"])
    with pytest.raises(ChannelRejected, match=r"404.*Not Found"):
        await client.cancel_fulfillment(str(order["id"]), "123")


async def test_mark_delivered_posts_a_delivered_event(fake: FakeShopify, client: ShopifyClient) -> None:
    order = three_line_order(fake)
    fulfillment_id = await client.create_fulfillment(str(order["id"]), None, UPS)

    await client.mark_delivered(str(order["id"]), fulfillment_id)

    assert [event["status"] for event in fake.events(fulfillment_id)] == ["delivered"]
    assert fake.fulfillments(order["id"])[0]["shipment_status"] == "delivered"


async def test_held_order_cannot_be_fulfilled(fake: FakeShopify, client: ShopifyClient, base_url: str) -> None:
    order = three_line_order(fake)
    fake.hold(order["id"])

    with pytest.raises(ChannelRejected, match="nothing left to fulfill"):
        await client.create_fulfillment(str(order["id"]), None, UPS)

    # And the fake refuses it the way Shopify does, using the real request fixture's shape.
    body = fixture("fulfillment_create_request.json")
    body["fulfillment"]["line_items_by_fulfillment_order"][0]["fulfillment_order_id"] = fake.fulfillment_orders(
        order["id"]
    )[0]["id"]
    async with httpx.AsyncClient(headers={"X-Shopify-Access-Token": TOKEN}) as http:
        response = await http.post(f"{base_url}/admin/api/2025-01/fulfillments.json", json=body)
    assert response.status_code == 422
    assert "unfulfillable status= on_hold" in response.json()["errors"][0]


async def test_fake_payloads_have_the_real_shapes(fake: FakeShopify, base_url: str) -> None:
    order = three_line_order(fake)
    body = fixture("fulfillment_create_request.json")
    body["fulfillment"]["line_items_by_fulfillment_order"][0]["fulfillment_order_id"] = fake.fulfillment_orders(
        order["id"]
    )[0]["id"]
    async with httpx.AsyncClient(headers={"X-Shopify-Access-Token": TOKEN}) as http:
        created = await http.post(f"{base_url}/admin/api/2025-01/fulfillments.json", json=body)

    assert created.status_code == 201
    assert set(fixture("fulfillment_create_response.json")["fulfillment"]) <= set(created.json()["fulfillment"])
    assert set(fixture("fulfillment_orders_open.json")["fulfillment_orders"][0]) <= set(
        fake.fulfillment_orders(order["id"])[0]
    )
    real_order = fixture("order_partially_refunded.json")["order"]
    used = {"id", "name", "email", "financial_status", "fulfillment_status", "cancelled_at", "created_at"}
    used |= {"updated_at", "currency", "total_price", "line_items", "shipping_address", "customer", "fulfillments"}
    assert used <= set(real_order) and used <= set(fake.order(order["id"]))
    assert set(real_order["line_items"][0]) & {"current_quantity", "fulfillable_quantity", "grams", "sku"} <= set(
        fake.order(order["id"])["line_items"][0]
    )


# --- throttling and failures ---------------------------------------------------------------


async def test_429_waits_retry_after_and_retries(fake: FakeShopify, client: ShopifyClient) -> None:
    fake.throttle_next(2, retry_after=0.2, path_contains="/orders.json")
    started = time.monotonic()

    result = await client.list_orders(None)

    assert result.orders == []
    assert len(calls(fake, "GET", "/orders.json")) == 3
    assert time.monotonic() - started >= 0.4


async def test_persistent_429_raises_throttled_with_retry_after(fake: FakeShopify, client: ShopifyClient) -> None:
    fake.throttle_next(10, retry_after=0.1)

    with pytest.raises(ChannelThrottled) as caught:
        await client.list_orders(None)

    assert caught.value.retry_after == pytest.approx(0.1)
    assert len(fake.requests) == 4  # first try + 3 retries


async def test_long_retry_after_is_handed_back_at_once(fake: FakeShopify, client: ShopifyClient) -> None:
    fake.throttle_next(1, retry_after=30)

    with pytest.raises(ChannelThrottled, match="Exceeded 2 calls per second") as caught:
        await client.list_orders(None)

    assert caught.value.retry_after == 30
    assert len(fake.requests) == 1


async def test_server_errors_are_retried_then_succeed(fake: FakeShopify, client: ShopifyClient) -> None:
    fake.add_order()
    fake.fail_next(2, status=502, path_contains="/orders.json")

    result = await client.list_orders(None)

    assert len(result.orders) == 1
    assert len(calls(fake, "GET", "/orders.json")) == 3


async def test_persistent_server_errors_raise_unavailable(fake: FakeShopify, client: ShopifyClient) -> None:
    fake.fail_next(10, status=500)

    with pytest.raises(ChannelUnavailable, match=r"500.*Internal Server Error"):
        await client.list_orders(None)

    assert len(fake.requests) == 3


async def test_a_failed_fulfillment_post_is_not_blindly_repeated(fake: FakeShopify, client: ShopifyClient) -> None:
    order = three_line_order(fake)
    fake.fail_next(1, status=503, path_contains="/fulfillments.json", method="POST")

    fulfillment_id = await client.create_fulfillment(str(order["id"]), None, UPS)

    assert [str(f["id"]) for f in fake.fulfillments(order["id"])] == [fulfillment_id]
    # The retry re-read the order's fulfillments before posting again.
    methods = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in fake.requests]
    assert methods[-3:] == [
        ("GET", "fulfillments.json"),
        ("GET", "fulfillment_orders.json"),
        ("POST", "fulfillments.json"),
    ]


async def test_a_timed_out_fulfillment_post_that_landed_is_not_repeated(fake: FakeShopify, base_url: str) -> None:
    order = three_line_order(fake)
    fake.delay_next(1, 0.3, path_contains="/fulfillments.json", method="POST")
    async with httpx.AsyncClient(timeout=0.1) as http:
        client = ShopifyClient(base_url, TOKEN, http=http)
        client.retry_backoff = (0.6,)  # long enough for the slow POST to finish on the server
        fulfillment_id = await client.create_fulfillment(str(order["id"]), None, UPS)

    assert [str(f["id"]) for f in fake.fulfillments(order["id"])] == [fulfillment_id]
    assert len(calls(fake, "POST", "/fulfillments.json")) == 1


async def test_timeouts_are_retried(fake: FakeShopify, base_url: str) -> None:
    fake.delay_next(1, 0.5)
    async with httpx.AsyncClient(timeout=0.1) as http:
        client = ShopifyClient(base_url, TOKEN, http=http)
        client.retry_backoff = (0.01,)
        result = await client.list_orders(None)
    assert result.orders == []
    assert len(fake.requests) == 2


async def test_unreachable_shop_raises_unavailable() -> None:
    client = ShopifyClient(f"http://127.0.0.1:{free_port()}", TOKEN)
    client.retry_backoff = (0.01,)
    try:
        with pytest.raises(ChannelUnavailable, match="ConnectError"):
            await client.list_orders(None)
    finally:
        await client.aclose()


async def test_bad_token_raises_auth_failed_without_leaking_it(fake: FakeShopify, base_url: str) -> None:
    client = ShopifyClient(base_url, "shpat_wrong_token")
    try:
        with pytest.raises(ChannelAuthFailed, match="Invalid API key or access token") as caught:
            await client.list_orders(None)
    finally:
        await client.aclose()
    assert "shpat_wrong_token" not in str(caught.value) + repr(client)
    assert len(fake.requests) == 1  # not retried


async def test_422_raises_rejected_with_shopifys_message(fake: FakeShopify, client: ShopifyClient) -> None:
    order = three_line_order(fake)
    errors = {"fulfillment_order_line_items": ["Invalid fulfillment order line item quantity requested."]}
    fake.fail_next(1, status=422, errors=errors, path_contains="/fulfillments.json", method="POST")

    with pytest.raises(ChannelRejected, match=r"422.*quantity requested") as caught:
        await client.create_fulfillment(str(order["id"]), None, UPS)

    assert not caught.value.retryable
    assert caught.value.message.endswith(
        "fulfillment_order_line_items: Invalid fulfillment order line item quantity requested."
    )
    with pytest.raises(ChannelRejected, match=r"404.*Not Found"):
        await client.create_fulfillment("999", None, UPS)


async def test_client_paces_itself_by_the_call_limit_header(base_url: str, fake: FakeShopify) -> None:
    fake.bucket_size, fake.leak_rate = 4, 10.0
    for _ in range(4):
        fake.add_order()
    client = ShopifyClient(base_url, TOKEN, leak_rate=10.0)
    try:
        started = time.monotonic()
        await client.list_orders(None)  # 1 list + 1 GraphQL call for the 4 orders' fulfillment orders
        await asyncio.gather(*(client.list_orders(None) for _ in range(6)))
        elapsed = time.monotonic() - started
    finally:
        await client.aclose()

    assert len(fake.requests) == 14
    assert fake.rejected_by_bucket == 0  # slowed down instead of collecting 429s
    assert elapsed >= 0.9  # 14 calls through a bucket of 4 leaking 10/s


async def test_the_fakes_bucket_answers_429_to_a_client_that_does_not_pace(fake: FakeShopify, base_url: str) -> None:
    fake.bucket_size = 3
    async with httpx.AsyncClient(headers={"X-Shopify-Access-Token": TOKEN}) as http:
        responses = [await http.get(f"{base_url}/admin/api/2025-01/orders.json") for _ in range(5)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert [r.headers["X-Shopify-Shop-Api-Call-Limit"] for r in responses[:3]] == ["1/3", "2/3", "3/3"]
    assert float(responses[3].headers["Retry-After"]) > 0
    assert "Exceeded 2 calls per second" in responses[3].json()["errors"]


async def test_a_fulfillment_still_pending_at_the_shop_is_not_posted_twice(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    order = three_line_order(fake)
    first = await client.create_fulfillment(str(order["id"]), None, UPS)
    fake._fulfillment_by_id[int(first)]["status"] = "pending"  # a fulfillment service has not confirmed it yet
    again = await client.create_fulfillment(str(order["id"]), None, UPS)
    assert again == first
    assert len(calls(fake, "POST", "/fulfillments.json")) == 1


async def test_a_parcel_from_a_location_ships_only_that_locations_lines(
    fake: FakeShopify, client: ShopifyClient
) -> None:
    from adapters.channels.shopify.fake_data import LOCATION_IDS

    west, east = (str(location) for location in LOCATION_IDS)
    order = fake.add_order(
        line_items=[
            {"title": "Canvas Tote", "sku": "TOTE", "quantity": 1, "price": "24.00"},
            {"title": "Enamel Mug", "sku": "MUG", "quantity": 1, "price": "18.50"},
        ],
        split_locations=True,
    )  # the tote is stocked at the first location, the mug at the second
    mug = str(order["line_items"][1]["id"])
    with pytest.raises(ChannelRejected, match="fulfillable"):
        await client.create_fulfillment(str(order["id"]), [(mug, 1)], UPS, location_id=west)
    fulfillment_id = await client.create_fulfillment(str(order["id"]), [(mug, 1)], UPS, location_id=east)
    (shipped,) = [f for f in fake.fulfillments(order["id"]) if str(f["id"]) == fulfillment_id]
    assert str(shipped["location_id"]) == east
