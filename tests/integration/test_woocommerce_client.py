"""WooCommerceClient against FakeWooCommerce over real HTTP on loopback, with and without Shipment Tracking."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.channels.base import FakeShipment, MemoryCredentialStore
from adapters.channels.woocommerce import SPEC, WooCommerceClient
from adapters.channels.woocommerce.fake import FakeWooCommerce
from domain.model import ChannelOrderStatus
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    OrderPage,
    Tracking,
)
from tests.support.servers import serve_app

UPS = Tracking(
    company="UPS",
    number="1Z999AA10123456784",
    url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
    carrier="ups",
)
USPS = Tracking(company="USPS", number="9400100000000000000000", url=None, carrier="usps")
SANDBOX = Tracking(
    company="Waybill Sandbox", number="SBX000123", url="https://sandbox.example/t/SBX000123", carrier="sandbox"
)
LINES = [("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1)]


@pytest.fixture(params=[True, False], ids=["tracking-ext", "notes"])
def fake(request: pytest.FixtureRequest) -> FakeWooCommerce:
    return FakeWooCommerce(tracking_extension=request.param)


@pytest.fixture
async def base_url(fake: FakeWooCommerce) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def client(fake: FakeWooCommerce, base_url: str, http: httpx.AsyncClient) -> WooCommerceClient:
    return _client(fake, base_url, http, page_size=2)


def _client(fake: FakeWooCommerce, base_url: str, http: httpx.AsyncClient, **options: object) -> WooCommerceClient:
    credentials = fake.credentials(base_url)
    woo = SPEC.build_client(credentials, http=http, store=MemoryCredentialStore(credentials), **options)  # type: ignore[arg-type]
    assert isinstance(woo, WooCommerceClient)
    woo._transport.retry_backoff = (0.01, 0.02)
    return woo


async def all_pages(client: WooCommerceClient, since: datetime | None) -> list[OrderPage]:
    pages, token = [], None
    for _ in range(20):
        page = await client.list_orders(since, token)
        pages.append(page)
        if page.next_page is None:
            return pages
        token = page.next_page
    raise AssertionError("still paging after 20 pages: the cursor does not move")


def ids(pages: list[OrderPage]) -> list[str]:
    return [order.external_id for page in pages for order in page.orders]


# --- connection and auth ---------------------------------------------------------------


async def test_check_connection_names_the_store(client: WooCommerceClient, base_url: str) -> None:
    assert await client.check_connection() == base_url.removeprefix("http://")


async def test_revoked_keys_raise_auth_failed_without_leaking_them(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    fake.revoke()

    with pytest.raises(
        ChannelAuthFailed, match=r"refused Waybill's API keys.*Sorry, you cannot list resources"
    ) as caught:
        await client.check_connection()

    assert "reconnect the channel" in caught.value.message
    assert "woocommerce_rest_cannot_view" in caught.value.message
    assert fake.consumer_secret not in caught.value.message + repr(client)
    assert len(fake.requests) == 1  # not retried
    fake.expire_access_token()  # keys never expire: nothing to refresh
    assert fake.refreshes == 0


async def test_wrong_secret_gets_woos_401(fake: FakeWooCommerce, base_url: str, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{base_url}/wp-json/wc/v3/orders", auth=(fake.consumer_key, "cs_wrong"))

    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": "Consumer secret is invalid.",
        "data": {"status": 401},
    }


# --- reading orders --------------------------------------------------------------------


async def test_pages_to_the_end_oldest_first(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    created = [fake.add_order(LINES) for _ in range(5)]

    pages = await all_pages(client, datetime(2020, 1, 1, tzinfo=UTC))

    assert ids(pages) == created
    assert [len(page.orders) for page in pages] == [2, 2, 1]
    first = fake.calls("GET", "/wc/v3/orders")[0]
    assert first == {
        "per_page": "2",
        "page": "1",
        "order": "asc",
        "orderby": "modified",
        "dates_are_gmt": "true",
        "modified_after": "2019-12-31T23:59:59",
    }


async def test_updated_since_is_inclusive_although_modified_after_is_exclusive(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    old, newer = fake.add_order(LINES), fake.add_order(LINES)
    cursor = (await client.list_orders(None)).orders[1].channel_updated_at

    assert ids(await all_pages(client, cursor)) == [newer]

    fake.touch_order(old)
    assert ids(await all_pages(client, cursor)) == [newer, old]


async def test_an_order_changed_while_paging_is_not_skipped(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    created = [fake.add_order(LINES) for _ in range(5)]

    first = await client.list_orders(None)
    fake.touch_order(created[0])  # jumps to the end of `orderby=modified`: page numbers would now skip one
    rest = await all_pages_from(client, first.next_page)

    assert ids([first]) == created[:2]
    assert ids(rest) == [*created[2:], created[0]]


async def test_an_order_changed_again_right_after_its_page_comes_back(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    created = [fake.add_order(LINES) for _ in range(4)]

    first = await client.list_orders(None)
    fake.touch_order(created[1])  # the last order of the page changes before the next page is read
    rest = await all_pages_from(client, first.next_page)

    assert ids([first]) == created[:2]
    assert ids(rest) == [*created[2:], created[1]]


async def all_pages_from(client: WooCommerceClient, token: str | None) -> list[OrderPage]:
    pages = []
    while token is not None:
        page = await client.list_orders(None, token)
        pages.append(page)
        token = page.next_page
    return pages


async def test_orders_saved_in_the_same_second_page_correctly(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    created = [fake.add_order(LINES) for _ in range(5)]
    fake.bulk_touch(created[1:])  # a bulk action: four orders with one date_modified
    client.max_page_size = 3  # a whole page in one second: the keyset cannot move, page numbers must

    listed = ids(await all_pages(client, None))

    assert sorted(listed) == sorted(created)
    assert len(listed) == len(set(listed))


async def test_statuses_addresses_and_unreadable_orders(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    held, cancelled, unpaid, virtual, broken = (
        fake.add_order(LINES, ready=ready) for ready in (True, True, False, True, True)
    )
    fake.hold(held)
    fake.cancel(cancelled)
    fake.remove_address(virtual)
    fake.corrupt(broken)

    pages = await all_pages(client, None)
    orders = {order.external_id: order for page in pages for order in page.orders}

    assert orders[held].channel_status is ChannelOrderStatus.ON_HOLD
    assert orders[cancelled].channel_status is ChannelOrderStatus.CANCELLED
    assert orders[unpaid].channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert orders[virtual].shipping_address is None
    assert broken not in orders
    [(unreadable_id, why)] = [entry for page in pages for entry in page.unreadable]
    assert unreadable_id == broken and why.startswith("unreadable order:")


async def test_fake_validates_list_parameters(fake: FakeWooCommerce, base_url: str, http: httpx.AsyncClient) -> None:
    auth = (fake.consumer_key, fake.consumer_secret)
    too_big = await http.get(f"{base_url}/wp-json/wc/v3/orders", params={"per_page": 101}, auth=auth)
    bad_date = await http.get(f"{base_url}/wp-json/wc/v3/orders", params={"modified_after": "yesterday"}, auth=auth)

    assert too_big.status_code == bad_date.status_code == 400
    assert too_big.json()["code"] == "rest_invalid_param"
    assert too_big.json()["data"]["params"] == {
        "per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"
    }
    assert bad_date.json()["message"] == "Invalid parameter(s): modified_after"


# --- writing shipments -------------------------------------------------------------------


async def test_split_shipment_then_the_rest(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    order = fake.add_order(LINES)
    tote, mug = fake.line_ids(order)

    first = await client.create_fulfillment(order, [(tote, 2)], UPS, order_complete=False)

    assert not fake.is_shipped(order)
    if fake.tracking_extension:  # the tracking item shows on the order: partially fulfilled
        [listed] = (await client.list_orders(None)).orders
        assert listed.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED

    second = await client.create_fulfillment(order, [(mug, 1)], SANDBOX, order_complete=True)

    assert first != second
    assert fake.is_shipped(order)
    shipments = fake.shipments(order)
    assert [(s.tracking_number, s.carrier, s.lines, s.cancelled) for s in shipments] == [
        (UPS.number, "UPS", None, False),
        (SANDBOX.number, "Waybill Sandbox", None, False),
    ]
    if fake.tracking_extension:
        assert {first, second} == {t["tracking_id"] for t in fake.list_trackings(int(order))}
        assert len(fake.calls("POST", "/shipment-trackings")) == 2
        assert fake.calls("POST", "/notes") == []
    else:
        assert first.startswith("note:") and second.startswith("note:")
        assert [n["note"] for n in fake.notes(order) if n["customer_note"]] == [
            f"Your order has been shipped with UPS.\nTracking number: {UPS.number}\nTrack it at: {UPS.url}",
            f"Your order has been shipped with Waybill Sandbox.\nTracking number: {SANDBOX.number}\nTrack it at: {SANDBOX.url}",
        ]


async def test_carriers_map_to_shipment_tracking_providers(http: httpx.AsyncClient) -> None:
    fake = FakeWooCommerce(tracking_extension=True)
    order = fake.add_order(LINES)
    async with serve_app(fake.app) as base_url:
        client = _client(fake, base_url, http)
        await client.create_fulfillment(order, None, USPS, order_complete=False)
        await client.create_fulfillment(order, None, SANDBOX)
        auth = (fake.consumer_key, fake.consumer_secret)
        listed = await http.get(
            f"{base_url}/wp-json/wc-shipment-tracking/v3/orders/{order}/shipment-trackings", auth=auth
        )

    assert [(t["tracking_provider"], t["tracking_link"]) for t in listed.json()] == [
        ("USPS", f"https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1={USPS.number}"),
        ("Waybill Sandbox", SANDBOX.url),  # not a predefined provider: custom provider + link
    ]


async def test_repeating_a_shipment_returns_the_same_id_and_creates_nothing(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    order = fake.add_order(LINES)
    tote, _ = fake.line_ids(order)

    first = await client.create_fulfillment(order, [(tote, 1)], UPS, order_complete=False)
    again = await client.create_fulfillment(order, [(tote, 1)], UPS, order_complete=False)
    by_hand = await client.create_fulfillment(order, None, None)
    by_hand_again = await client.create_fulfillment(order, None, None)

    assert first == again
    assert by_hand == by_hand_again != first
    assert by_hand.startswith("note:")
    assert len(fake.shipments(order)) == 2
    assert len(fake.calls("PUT", f"/orders/{order}")) == 1  # completed once, not on the repeat
    assert fake.is_shipped(order)


async def test_a_failed_post_is_rechecked_not_blindly_repeated(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    order = fake.add_order(LINES)
    fake.fail_next(1, status=503, method="POST")

    fulfillment_id = await client.create_fulfillment(order, None, UPS)

    assert len(fake.shipments(order)) == 1
    assert fake.is_shipped(order)
    if fake.tracking_extension:
        assert [t["tracking_id"] for t in fake.list_trackings(int(order))] == [fulfillment_id]
    else:
        assert [f"note:{n['id']}" for n in fake.notes(order)] == [fulfillment_id]


async def test_a_timed_out_post_that_landed_is_not_repeated(fake: FakeWooCommerce, base_url: str) -> None:
    order = fake.add_order(LINES)
    fake.delay_next(1, 0.3, method="POST")
    async with httpx.AsyncClient(timeout=0.1) as http:
        client = _client(fake, base_url, http)
        client._transport.retry_backoff = (0.6,)  # long enough for the slow POST to finish on the server
        fulfillment_id = await client.create_fulfillment(order, None, UPS)

    assert len(fake.shipments(order)) == 1
    assert len(fake.calls("POST", "/")) == 1
    assert fulfillment_id


async def test_cancel_shipment_reopens_the_order_and_is_idempotent(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    order = fake.add_order(LINES)
    fulfillment_id = await client.create_fulfillment(order, None, UPS)
    assert fake.is_shipped(order)

    await client.cancel_fulfillment(order, fulfillment_id)
    requests_after_first = len(fake.requests)
    await client.cancel_fulfillment(order, fulfillment_id)

    assert fake.order(order)["status"] == "processing"
    assert [(s.tracking_number, s.cancelled) for s in fake.shipments(order)] == [(UPS.number, True)]
    writes = [m for m, _, _ in fake.requests[requests_after_first:] if m != "GET"]
    assert writes == []  # the repeat only looked
    [listed] = (await client.list_orders(None)).orders
    assert listed.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    if not fake.tracking_extension:
        assert any("was cancelled" in n["note"] and n["customer_note"] for n in fake.notes(order))
    # Shipping again with the same number after an undo is a new shipment, not the cancelled one.
    again = await client.create_fulfillment(order, None, UPS)
    assert again != fulfillment_id


async def test_mark_delivered_makes_no_call(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    order = fake.add_order(LINES)
    fulfillment_id = await client.create_fulfillment(order, None, UPS)
    before = len(fake.requests)

    await client.mark_delivered(order, fulfillment_id)

    assert len(fake.requests) == before


async def test_rejections_carry_woos_text(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    order = fake.add_order(LINES)

    with pytest.raises(ChannelRejected, match=r"404.*Invalid ID\. \(woocommerce_rest_shop_order_invalid_id\)"):
        await client.create_fulfillment("999999", None, UPS)
    with pytest.raises(ChannelRejected, match="has no line 1"):
        await client.create_fulfillment(order, [("1", 1)], UPS)
    with pytest.raises(ChannelRejected, match="quantity 3 is not between 1 and 2"):
        await client.create_fulfillment(order, [(fake.line_ids(order)[0], 3)], UPS)
    fake.cancel(order)
    with pytest.raises(ChannelRejected, match="is cancelled: it cannot be marked shipped") as caught:
        await client.create_fulfillment(order, None, UPS)
    assert not caught.value.retryable
    assert fake.shipments(order) == []


async def test_missing_extension_is_detected_once(http: httpx.AsyncClient) -> None:
    fake = FakeWooCommerce(tracking_extension=False)
    first, second = fake.add_order(LINES), fake.add_order(LINES)
    async with serve_app(fake.app) as base_url:
        client = _client(fake, base_url, http)
        await client.create_fulfillment(first, None, UPS)
        await client.create_fulfillment(second, None, USPS)
        probe = await http.get(
            f"{base_url}/wp-json/wc-shipment-tracking/v3/orders/{first}/shipment-trackings",
            auth=(fake.consumer_key, fake.consumer_secret),
        )

    assert len(fake.calls("GET", "/shipment-trackings")) == 2  # the client's one probe, and ours
    assert probe.status_code == 404
    assert probe.json() == {
        "code": "rest_no_route",
        "message": "No route was found matching the URL and request method.",
        "data": {"status": 404},
    }


async def test_undo_of_a_hand_delivery(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    order = fake.add_order(LINES)
    fulfillment_id = await client.create_fulfillment(order, None, None)

    assert fake.is_shipped(order)
    await client.cancel_fulfillment(order, fulfillment_id)
    await client.cancel_fulfillment(order, fulfillment_id)

    assert not fake.is_shipped(order)
    assert fake.shipments(order) == [FakeShipment(tracking_number=None, carrier=None, lines=None, cancelled=True)]
    assert all(not n["customer_note"] for n in fake.notes(order))  # nothing to tell the buyer
    with pytest.raises(ChannelRejected, match="has no shipment note 1"):
        await client.cancel_fulfillment(order, "note:1")


# --- throttling and failures ---------------------------------------------------------------


async def test_429_waits_retry_after_then_succeeds(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    fake.add_order(LINES)
    fake.throttle_next(2, retry_after=0.2)
    started = time.monotonic()

    page = await client.list_orders(None)

    assert len(page.orders) == 1
    assert fake.throttled == 2 and client.throttled == 2
    assert time.monotonic() - started >= 0.4


async def test_429_without_retry_after_waits_the_default(
    fake: FakeWooCommerce, base_url: str, http: httpx.AsyncClient
) -> None:
    client = _client(fake, base_url, http)
    client.default_retry_after = 0.3
    fake.throttle_next(1, retry_after=None)
    started = time.monotonic()

    await client.list_orders(None)

    assert time.monotonic() - started >= 0.3


async def test_long_retry_after_is_handed_back_and_holds_later_calls(
    fake: FakeWooCommerce, client: WooCommerceClient
) -> None:
    fake.throttle_next(1, retry_after=30)

    with pytest.raises(ChannelThrottled, match="Too many requests") as caught:
        await client.list_orders(None)
    with pytest.raises(ChannelThrottled, match="wait") as again:
        await client.check_connection()

    assert caught.value.retry_after == 30
    assert again.value.retry_after is not None and 25 < again.value.retry_after <= 30
    assert len(fake.requests) == 1  # no 429 storm: the second call never left


async def test_server_errors_are_retried_then_succeed(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    fake.add_order(LINES)
    fake.fail_next(2, status=502, path_contains="/orders")

    assert len((await client.list_orders(None)).orders) == 1
    assert len(fake.calls("GET", "/wc/v3/orders")) == 3


async def test_persistent_server_errors_raise_unavailable(fake: FakeWooCommerce, client: WooCommerceClient) -> None:
    fake.fail_next(10, status=500)

    with pytest.raises(ChannelUnavailable, match=r"500.*critical error"):
        await client.list_orders(None)

    assert len(fake.requests) == 3
