"""AmazonClient against FakeAmazon over real HTTP on loopback: paging, items, packages, LWA, rate limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.channels.amazon import SPEC, build_client
from adapters.channels.amazon.client import AmazonClient
from adapters.channels.amazon.fake import FakeAmazon
from adapters.channels.amazon.mapper import parse_time
from adapters.channels.base import Credentials, FakeShipment, MemoryCredentialStore
from domain.model import ChannelOrderStatus
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnsupported,
    Tracking,
)
from tests.support.servers import serve_app

UPS = Tracking(company="UPS", number="1Z999AA10123456784", url=None, carrier="ups", service="Ground")
USPS = Tracking(company="USPS", number="9400111899223856912345", url=None, carrier="usps")
THREE_LINES = [("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1), ("BEANIE", "Wool Beanie", 1)]
#: Amazon's plans, sped up so paced tests take milliseconds (getOrders' real one call a minute would not).
FAST = {"getOrders": (50.0, 20), "getOrderItems": (50.0, 30), "confirmShipment": (50.0, 10)}


@pytest.fixture
def fake() -> FakeAmazon:
    return FakeAmazon(usage_plans=FAST)


@pytest.fixture
async def base_url(fake: FakeAmazon) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def store(fake: FakeAmazon, base_url: str) -> MemoryCredentialStore:
    return MemoryCredentialStore(fake.credentials(base_url))


def make_client(store: MemoryCredentialStore, http: httpx.AsyncClient, **options: Any) -> AmazonClient:
    options.setdefault("retry_backoff", (0.01, 0.02))
    return AmazonClient(store.credentials, http=http, store=store, **options)


@pytest.fixture
def client(store: MemoryCredentialStore, http: httpx.AsyncClient) -> AmazonClient:
    return make_client(store, http, page_size=2)


def calls(fake: FakeAmazon, method: str, suffix: str) -> list[dict[str, str]]:
    return [query for m, path, query in fake.requests if m == method and path.endswith(suffix)]


async def all_pages(client: AmazonClient, since: datetime | None) -> tuple[list[str], int]:
    ids, page, pages = [], None, 0
    while True:
        result = await client.list_orders(since, page)
        ids += [order.external_id for order in result.orders]
        pages += 1
        if result.next_page is None:
            return ids, pages
        page = result.next_page


# --- connecting and reading ------------------------------------------------------------


async def test_check_connection_names_the_store_and_rejects_a_foreign_marketplace(
    fake: FakeAmazon, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    assert await make_client(store, http).check_connection() == "Okafor Outfitters"

    elsewhere = MemoryCredentialStore(store.credentials | {"marketplace_id": "A1F83G8C2ARO7P"})
    with pytest.raises(ChannelRejected, match="does not sell on marketplace A1F83G8C2ARO7P"):
        await make_client(elsewhere, http).check_connection()


async def test_pages_to_the_end_oldest_first_with_items(fake: FakeAmazon, client: AmazonClient) -> None:
    created = [fake.add_order([(f"SKU-{i}", f"Item {i}", i)]) for i in range(1, 6)]

    ids, pages = await all_pages(client, datetime.now(UTC) - timedelta(days=1))

    assert ids == created and pages == 3
    first, second, third = calls(fake, "GET", "/orders/v0/orders")
    assert set(first) == {"MarketplaceIds", "LastUpdatedAfter", "MaxResultsPerPage", "FulfillmentChannels"}
    assert (first["MaxResultsPerPage"], first["FulfillmentChannels"]) == ("2", "MFN")
    assert set(second) == set(third) == {"MarketplaceIds", "NextToken"}
    assert len(calls(fake, "GET", "/orderItems")) == 5


async def test_a_mapped_order_has_its_lines_address_and_items_paged(http: httpx.AsyncClient) -> None:
    fake = FakeAmazon(usage_plans=FAST, items_page_size=2)
    async with serve_app(fake.app) as url:
        store = MemoryCredentialStore(fake.credentials(url))
        order_id = fake.add_order(THREE_LINES)
        page = await make_client(store, http).list_orders(None)

    (order,) = page.orders
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        ("TOTE", 2, "12.25"),
        ("MUG", 1, "12.50"),
        ("BEANIE", 1, "12.50"),
    ]
    assert order.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert order.shipping_address is not None and order.shipping_address.city == "Mountain View"
    assert order.external_id == order_id and order.total == "49.50"
    assert len(calls(fake, "GET", "/orderItems")) == 2  # three items, two per page
    since = parse_time(calls(fake, "GET", "/orders/v0/orders")[0]["LastUpdatedAfter"])
    assert abs(since - (datetime.now(UTC) - timedelta(days=90))) < timedelta(minutes=1)


async def test_updated_since_skips_older_orders_and_a_change_brings_one_back(
    fake: FakeAmazon, client: AmazonClient
) -> None:
    old, newer = fake.add_order([("A", "A", 1)]), fake.add_order([("B", "B", 1)])
    cursor = parse_time(fake.order(newer)["LastUpdateDate"])

    assert [o.external_id for o in (await client.list_orders(cursor)).orders] == [newer]

    fake.touch_order(old)
    assert [o.external_id for o in (await client.list_orders(cursor)).orders] == [newer, old]


async def test_pending_and_cancelled_orders_have_no_address(fake: FakeAmazon, client: AmazonClient) -> None:
    pending = fake.add_order([("A", "A", 1)], ready=False)
    cancelled = fake.add_order([("B", "B", 1)])
    fake.cancel(cancelled)

    orders = {o.external_id: o for o in (await client.list_orders(None)).orders}

    assert orders[pending].channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert orders[cancelled].channel_status is ChannelOrderStatus.CANCELLED
    assert orders[pending].shipping_address is None and orders[cancelled].shipping_address is None


async def test_a_malformed_order_is_reported_without_failing_the_page(fake: FakeAmazon, client: AmazonClient) -> None:
    good, bad = fake.add_order([("A", "A", 1)]), fake.add_order([("B", "B", 1)])
    fake.corrupt(bad)

    page = await client.list_orders(None)

    assert [o.external_id for o in page.orders] == [good]
    assert len(page.unreadable) == 1 and page.unreadable[0][0] == bad
    assert "unreadable order" in page.unreadable[0][1]


async def test_a_4xx_is_rejected_with_amazons_text(client: AmazonClient) -> None:
    with pytest.raises(ChannelRejected, match=r"answered 400 .*InvalidInput: Invalid NextToken"):
        await client.list_orders(None, page="not-a-token")


# --- shipping ---------------------------------------------------------------------------


async def test_split_shipment_two_packages_then_the_order_is_shipped(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order(THREE_LINES)
    tote, mug, beanie = fake.line_ids(order_id)

    first = await client.create_fulfillment(order_id, [(tote, 2)], UPS, order_complete=False)
    assert fake.order(order_id)["OrderStatus"] == "PartiallyShipped" and not fake.is_shipped(order_id)
    second = await client.create_fulfillment(order_id, [(mug, 1), (beanie, 1)], USPS)

    assert first != second and first.isdigit()
    assert fake.shipments(order_id) == [
        FakeShipment(tracking_number=UPS.number, carrier="UPS", lines={tote: 2}),
        FakeShipment(tracking_number=USPS.number, carrier="USPS", lines={mug: 1, beanie: 1}),
    ]
    assert fake.is_shipped(order_id)
    (order,) = (await client.list_orders(None)).orders
    assert [line.quantity_shipped for line in order.lines] == [2, 1, 1]
    assert order.channel_status is ChannelOrderStatus.FULFILLED


async def test_a_repeat_lands_on_the_same_package(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order(THREE_LINES)
    tote = fake.line_ids(order_id)[0]

    first = await client.create_fulfillment(order_id, [(tote, 2)], UPS)
    again = await client.create_fulfillment(order_id, [(tote, 2)], UPS)

    assert first == again
    assert len(fake.shipments(order_id)) == 1 and fake.shipments(order_id)[0].lines == {tote: 2}


async def test_everything_remaining_then_a_repeat_posts_nothing(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order(THREE_LINES)
    tote, mug, beanie = fake.line_ids(order_id)
    await client.create_fulfillment(order_id, [(tote, 1)], USPS)

    first = await client.create_fulfillment(order_id, None, UPS)
    posts = len(calls(fake, "POST", "/shipmentConfirmation"))
    again = await client.create_fulfillment(order_id, None, UPS)

    assert first == again and len(calls(fake, "POST", "/shipmentConfirmation")) == posts
    assert fake.shipments(order_id)[1].lines == {tote: 1, mug: 1, beanie: 1}
    assert fake.is_shipped(order_id)


async def test_a_lost_response_is_retried_onto_the_same_package(fake: FakeAmazon, store: MemoryCredentialStore) -> None:
    order_id = fake.add_order(THREE_LINES)
    fake.delay_next(1, 0.6, path_contains="/shipmentConfirmation")

    async with httpx.AsyncClient(timeout=0.3) as impatient:
        package = await make_client(store, impatient).create_fulfillment(order_id, None, UPS)

    assert len(calls(fake, "POST", "/shipmentConfirmation")) == 2
    assert [s.tracking_number for s in fake.shipments(order_id)] == [UPS.number]
    assert package.isdigit()


async def test_hand_delivery_uses_other_and_a_placeholder(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order([("A", "A", 1)])

    package = await client.create_fulfillment(order_id, None, None)

    (shipment,) = fake.shipments(order_id)
    assert shipment.carrier == "Hand delivery" and shipment.tracking_number == f"HAND-{package}"
    assert fake.is_shipped(order_id)


async def test_unknown_carrier_is_other_with_its_name(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order([("A", "A", 1)])

    await client.create_fulfillment(order_id, None, Tracking("Sandbox Post", "SB123", None, carrier="sandbox"))

    assert fake.shipments(order_id)[0].carrier == "Sandbox Post"


async def test_unknown_line_and_too_many_are_rejected_with_amazons_text(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order(THREE_LINES)
    tote = fake.line_ids(order_id)[0]

    with pytest.raises(ChannelRejected, match="Invalid orderItemId: '999'"):
        await client.create_fulfillment(order_id, [("999", 1)], UPS)
    with pytest.raises(ChannelRejected, match="exceeds the unshipped quantity 2"):
        await client.create_fulfillment(order_id, [(tote, 3)], UPS)
    with pytest.raises(ChannelRejected, match="cannot be shipped in status Canceled"):
        fake.cancel(order_id)
        await client.create_fulfillment(order_id, [(tote, 1)], UPS)
    assert fake.shipments(order_id) == []


async def test_no_undo_and_no_delivered_status(fake: FakeAmazon, client: AmazonClient) -> None:
    order_id = fake.add_order([("A", "A", 1)])
    package = await client.create_fulfillment(order_id, None, UPS)
    before = len(fake.requests)

    await client.mark_delivered(order_id, package)
    with pytest.raises(ChannelUnsupported, match="Amazon does not let a seller take back a shipment"):
        await client.cancel_fulfillment(order_id, package)

    assert len(fake.requests) == before and fake.is_shipped(order_id)


# --- tokens -----------------------------------------------------------------------------


async def test_an_expiring_token_is_refreshed_first_and_saved(
    fake: FakeAmazon, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    old_token = store.credentials["access_token"]
    store.credentials["expires_at"] = int(time.time()) + 30

    await make_client(store, http).check_connection()

    assert fake.refreshes == 1 and store.saves == 1
    assert store.credentials["access_token"] != old_token
    assert store.credentials["expires_at"] >= int(time.time()) + 3500
    assert store.credentials["refresh_token"] == fake.refresh_token


async def test_an_expired_token_403_is_refreshed_once(
    fake: FakeAmazon, client: AmazonClient, store: MemoryCredentialStore
) -> None:
    fake.add_order([("A", "A", 1)])
    fake.expire_access_token()

    page = await client.list_orders(None)

    assert len(page.orders) == 1 and fake.refreshes == 1 and store.saves == 1


async def test_revoked_access_fails_with_a_reconnect_message(fake: FakeAmazon, client: AmazonClient) -> None:
    fake.revoke()

    with pytest.raises(ChannelAuthFailed, match=r"Amazon refused Waybill's access: .*invalid_grant.*Reconnect"):
        await client.check_connection()
    assert fake.refreshes == 0


async def test_a_wrong_client_secret_fails_auth(
    fake: FakeAmazon, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    wrong = MemoryCredentialStore(store.credentials | {"client_secret": "nope", "access_token": None})

    with pytest.raises(ChannelAuthFailed, match="invalid_client"):
        await make_client(wrong, http).check_connection()


async def test_a_403_that_refreshing_does_not_cure_fails(fake: FakeAmazon, client: AmazonClient) -> None:
    fake.fail_next(2, 403, path_contains="/marketplaceParticipations")

    with pytest.raises(ChannelAuthFailed, match=r"refused Waybill's access: .*Unauthorized.*Reconnect"):
        await client.check_connection()
    assert fake.refreshes == 1


def test_repr_and_spec_build_show_no_secret(fake: FakeAmazon) -> None:
    credentials: Credentials = fake.credentials("http://127.0.0.1:1")
    client = build_client(credentials, http=httpx.AsyncClient(), store=MemoryCredentialStore(credentials))

    text = repr(client)

    for secret in (credentials["access_token"], credentials["refresh_token"], credentials["client_secret"]):
        assert secret not in text
    assert SPEC.defaults["api_url"] == "https://sellingpartnerapi-na.amazon.com"


# --- rate limits and failures -----------------------------------------------------------


async def test_a_429_drains_the_bucket_waits_one_token_then_succeeds(fake: FakeAmazon, client: AmazonClient) -> None:
    fake.add_order([("A", "A", 1)])
    await client.check_connection()  # any call: the client learns nothing about getOrders yet
    fake.throttle_next(1, path_contains="/orders/v0/orders")

    started = time.monotonic()
    page = await client.list_orders(None)

    assert len(page.orders) == 1 and fake.throttled == 1
    assert time.monotonic() - started >= 1 / 50  # one token at the advertised 50/s
    assert client.buckets["getOrders"].rate == 50.0  # adopted from x-amzn-RateLimit-Limit


async def test_the_fakes_own_bucket_is_met_without_a_429_storm(http: httpx.AsyncClient) -> None:
    fake = FakeAmazon(usage_plans=FAST | {"getOrderItems": (10.0, 2)})
    async with serve_app(fake.app) as url:
        store = MemoryCredentialStore(fake.credentials(url))
        for index in range(4):
            fake.add_order([(f"S{index}", "Item", 1)])
        page = await make_client(store, http).list_orders(None)

    assert len(page.orders) == 4
    assert fake.throttled == 1  # the third call met the empty bucket; after it the client paced itself


async def test_amazons_real_get_orders_rate_hands_the_wait_back(http: httpx.AsyncClient) -> None:
    fake = FakeAmazon()  # Amazon's own plans: one getOrders a minute after the burst
    async with serve_app(fake.app) as url:
        store = MemoryCredentialStore(fake.credentials(url))
        fake.throttle_next(1)
        with pytest.raises(ChannelThrottled) as caught:
            await make_client(store, http).list_orders(None)

    assert caught.value.retry_after is not None and 55 < caught.value.retry_after <= 60
    assert len(calls(fake, "GET", "/orders/v0/orders")) == 1  # no second call into a throttled bucket


async def test_5xx_is_retried(fake: FakeAmazon, client: AmazonClient) -> None:
    fake.add_order([("A", "A", 1)])
    fake.fail_next(2, 503, path_contains="/orders/v0/orders")

    page = await client.list_orders(None)

    assert len(page.orders) == 1 and len(calls(fake, "GET", "/orders/v0/orders")) == 3
