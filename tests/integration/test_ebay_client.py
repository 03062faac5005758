"""EbayClient against FakeEbay over real HTTP on loopback: paging, fulfillments, tokens, throttling, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.channels.base import FakeShipment, MemoryCredentialStore
from adapters.channels.ebay import SPEC
from adapters.channels.ebay.client import EbayClient
from adapters.channels.ebay.fake import FakeEbay
from adapters.channels.ebay.mapper import parse_time
from domain.model import ChannelOrderStatus
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ChannelUnsupported,
    Tracking,
)
from tests.support.servers import free_port, serve_app

UPS = Tracking(company="UPS", number="1Z999AA10123456784", url="https://ups.example/1Z999AA10123456784", carrier="ups")
USPS = Tracking(company="USPS", number="9400 1000 0000 0000 0000 00", url=None, carrier="usps")
LINES = [("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1)]


@pytest.fixture
def fake() -> FakeEbay:
    return FakeEbay()


@pytest.fixture
async def base_url(fake: FakeEbay) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def store(fake: FakeEbay, base_url: str) -> MemoryCredentialStore:
    return MemoryCredentialStore(fake.credentials(base_url))


@pytest.fixture
def client(store: MemoryCredentialStore, http: httpx.AsyncClient) -> EbayClient:
    return EbayClient(store.credentials, http=http, store=store, page_size=3, retry_backoff=(0.01, 0.02))


def calls(fake: FakeEbay, method: str, suffix: str) -> list[str]:
    return [query for m, path, query in fake.requests if m == method and path.endswith(suffix)]


# --- reading orders --------------------------------------------------------------------


async def test_pages_to_the_end_with_a_small_page_size(fake: FakeEbay, client: EbayClient) -> None:
    created = [fake.create_order(LINES) for _ in range(7)]

    seen, page, pages = [], None, 0
    while True:
        result = await client.list_orders(datetime(2026, 1, 1, tzinfo=UTC), page)
        seen += [order.external_id for order in result.orders]
        pages += 1
        if result.next_page is None:
            break
        page = result.next_page

    assert seen == created
    assert pages == 3
    queries = calls(fake, "GET", "/sell/fulfillment/v1/order")
    assert queries[0].startswith("filter=lastmodifieddate:%5B")
    assert all("[" not in query and "]" not in query for query in queries)
    assert [query.rsplit("offset=", 1)[1] for query in queries] == ["0", "3", "6"]


async def test_updated_since_is_incremental_and_a_change_brings_an_order_back(
    fake: FakeEbay, client: EbayClient
) -> None:
    old, newer = fake.create_order(LINES), fake.create_order(LINES)
    cursor = parse_time(fake.order(newer)["lastModifiedDate"])

    assert [o.external_id for o in (await client.list_orders(cursor)).orders] == [newer]

    fake.touch_order(old)
    orders = (await client.list_orders(cursor)).orders
    assert [o.external_id for o in orders] == [newer, old]  # oldest change first within the page
    assert orders[1].channel_updated_at > orders[0].channel_updated_at


async def test_the_fake_enforces_ebays_query_rules(fake: FakeEbay, base_url: str, store: MemoryCredentialStore) -> None:
    headers = {"Authorization": f"Bearer {store.credentials['access_token']}"}
    async with httpx.AsyncClient(base_url=f"{base_url}/sell/fulfillment/v1", headers=headers) as http:
        raw = await http.get("/order?filter=lastmodifieddate:[2026-01-01T00:00:00.000Z..]")
        too_big = await http.get("/order", params={"limit": 201})
        bad_date = await http.get("/order?filter=lastmodifieddate:%5B2026-01-01T00:00:00Z..%5D")
        unknown = await http.get("/order?filter=buyer:%5Bx..%5D")

    assert raw.status_code == 400
    assert raw.json()["errors"][0]["errorId"] == 30800
    assert "must be URL-encoded" in raw.json()["errors"][0]["longMessage"]
    assert (too_big.status_code, too_big.json()["errors"][0]["message"]) == (400, "Invalid limit: 201")
    assert bad_date.json()["errors"][0]["errorId"] == 30810
    assert unknown.json()["errors"][0]["message"] == "Invalid filter name: buyer"


async def test_statuses_and_a_missing_address_come_through(fake: FakeEbay, client: EbayClient) -> None:
    cancelled, pending, no_address = (fake.create_order(LINES) for _ in range(3))
    fake.cancel(cancelled)
    fake.set_payment_status(pending, "PENDING")
    fake.remove_address(no_address)

    orders = {o.external_id: o for o in (await client.list_orders(None)).orders}

    assert orders[cancelled].channel_status is ChannelOrderStatus.CANCELLED
    assert orders[pending].channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert orders[no_address].shipping_address is None
    assert orders[no_address].channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT


async def test_a_malformed_order_is_reported_without_failing_the_page(fake: FakeEbay, client: EbayClient) -> None:
    good, bad = fake.create_order(LINES), fake.create_order(LINES)
    fake.update_order(bad, lineItems=[{"title": "lost its id", "quantity": 1}])

    page = await client.list_orders(None)

    assert [o.external_id for o in page.orders] == [good]
    assert [order_id for order_id, _ in page.unreadable] == [bad]
    assert "lineItemId" in page.unreadable[0][1]


async def test_check_connection_names_the_seller(fake: FakeEbay, client: EbayClient) -> None:
    assert await client.check_connection() == "eBay seller account (no orders yet)"
    fake.create_order(LINES)
    assert await client.check_connection() == "waybill-test-seller"


# --- shipping --------------------------------------------------------------------------


async def test_split_shipment_writes_two_fulfillments(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)
    tote, mug = fake.line_ids(order_id)

    first = await client.create_fulfillment(order_id, [(tote, 2)], UPS, order_complete=False)
    assert not fake.is_shipped(order_id)
    assert fake.order(order_id)["orderFulfillmentStatus"] == "IN_PROGRESS"
    second = await client.create_fulfillment(order_id, [(mug, 1)], USPS)

    assert first != second
    assert fake.shipments(order_id) == [
        FakeShipment(tracking_number="1Z999AA10123456784", carrier="UPS", lines={tote: 2}),
        FakeShipment(tracking_number="9400100000000000000000", carrier="USPS", lines={mug: 1}),
    ]
    assert fake.is_shipped(order_id)
    assert [f["fulfillmentId"] for f in fake.fulfillments(order_id)] == [first, second]


async def test_lines_none_ships_what_remains(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)
    tote, mug = fake.line_ids(order_id)
    await client.create_fulfillment(order_id, [(tote, 1)], UPS, order_complete=False)

    await client.create_fulfillment(order_id, None, USPS)

    assert fake.shipments(order_id)[1].lines == {tote: 1, mug: 1}
    assert fake.is_shipped(order_id)
    with pytest.raises(ChannelRejected, match="nothing left to ship"):
        await client.create_fulfillment(
            order_id, None, Tracking(company="DHL", number="JD0001", url=None, carrier="dhl")
        )


async def test_repeating_a_fulfillment_returns_the_same_id(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)

    first = await client.create_fulfillment(order_id, None, UPS)
    again = await client.create_fulfillment(order_id, None, UPS)

    assert first == again
    assert len(fake.shipments(order_id)) == 1
    assert len(calls(fake, "POST", "/shipping_fulfillment")) == 1


async def test_a_post_that_landed_but_lost_its_answer_is_not_repeated(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)
    fake.lose_next_response(1, path_contains="/shipping_fulfillment", method="POST")

    fulfillment_id = await client.create_fulfillment(order_id, None, UPS)

    assert [f["fulfillmentId"] for f in fake.fulfillments(order_id)] == [fulfillment_id]
    assert len(calls(fake, "POST", "/shipping_fulfillment")) == 1  # the retry re-read and found it


async def test_hand_delivery_ships_without_tracking_once(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)
    fake.lose_next_response(1, path_contains="/shipping_fulfillment", method="POST")

    first = await client.create_fulfillment(order_id, None, None)
    again = await client.create_fulfillment(order_id, None, None)

    assert first == again
    assert [s.tracking_number for s in fake.shipments(order_id)] == [None]
    assert fake.is_shipped(order_id)


async def test_unknown_carriers_ship_as_other(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)
    sandbox = Tracking(company="Waybill Sandbox", number="SBX0000000000000042", url=None, carrier="sandbox")

    await client.create_fulfillment(order_id, None, sandbox)

    assert fake.shipments(order_id)[0].carrier == "OTHER"


async def test_an_unknown_line_is_rejected_with_ebays_text(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)

    with pytest.raises(ChannelRejected, match=r"Invalid line item id: 999 \(errorId 32200\)"):
        await client.create_fulfillment(order_id, [("999", 1)], UPS)
    with pytest.raises(ChannelRejected, match=r"Invalid order ID: 00-00000-00000"):
        await client.create_fulfillment("00-00000-00000", None, UPS)
    assert fake.shipments(order_id) == []


async def test_the_fake_checks_tracking_carrier_and_limits(
    fake: FakeEbay, base_url: str, store: MemoryCredentialStore
) -> None:
    order_id = fake.create_order([("A", "A", 5)])
    (line,) = fake.line_ids(order_id)
    fake.max_tracked = 1
    headers = {"Authorization": f"Bearer {store.credentials['access_token']}"}
    url = f"{base_url}/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment"
    item = [{"lineItemId": line, "quantity": 1}]
    async with httpx.AsyncClient(headers=headers) as http:
        no_carrier = await http.post(url, json={"lineItems": item, "trackingNumber": "1Z999"})
        bad_carrier = await http.post(
            url, json={"lineItems": item, "trackingNumber": "1Z999", "shippingCarrierCode": "ACME"}
        )
        created = await http.post(
            url, json={"lineItems": item, "trackingNumber": "1Z999", "shippingCarrierCode": "ups"}
        )
        too_many = await http.post(
            url, json={"lineItems": item, "trackingNumber": "1Z998", "shippingCarrierCode": "UPS"}
        )
        too_much = await http.post(url, json={"lineItems": [{"lineItemId": line, "quantity": 5}]})

    assert [r.json()["errors"][0]["errorId"] for r in (no_carrier, bad_carrier, too_many, too_much)] == [
        32300,
        32300,
        34100,
        32600,
    ]
    assert created.status_code == 201 and created.content == b""
    assert created.headers["Location"].startswith(f"{url}/")


async def test_there_is_no_undo_and_no_delivered_status(fake: FakeEbay, client: EbayClient) -> None:
    order_id = fake.create_order(LINES)
    fulfillment_id = await client.create_fulfillment(order_id, None, UPS)
    before = len(fake.requests)

    await client.mark_delivered(order_id, fulfillment_id)
    with pytest.raises(ChannelUnsupported, match="eBay does not let a shipment be taken back"):
        await client.cancel_fulfillment(order_id, fulfillment_id)

    assert len(fake.requests) == before
    assert not ({"UNDO_SHIPMENT", "DELIVERED_STATUS", "TRACKING_URL"} & set(SPEC.capabilities))


# --- tokens ----------------------------------------------------------------------------


async def test_a_token_about_to_expire_is_refreshed_first_and_saved(
    fake: FakeEbay, base_url: str, http: httpx.AsyncClient
) -> None:
    credentials = {**fake.credentials(base_url), "expires_at": int(time.time()) + 30}
    store = MemoryCredentialStore(credentials)
    client = EbayClient(store.credentials, http=http, store=store)

    await client.list_orders(None)

    assert fake.refreshes == 1 and store.saves == 1
    assert store.credentials["access_token"] != credentials["access_token"]
    assert store.credentials["refresh_token"] == credentials["refresh_token"]  # eBay does not rotate it
    assert store.credentials["expires_at"] >= int(time.time()) + 7000
    await client.list_orders(None)
    assert fake.refreshes == 1


async def test_a_401_refreshes_once_and_retries(
    fake: FakeEbay, client: EbayClient, store: MemoryCredentialStore
) -> None:
    fake.create_order(LINES)
    fake.expire_access_token()

    page = await client.list_orders(None)

    assert len(page.orders) == 1
    assert fake.refreshes == 1 and store.saves == 1


async def test_two_clients_share_one_refresh(fake: FakeEbay, base_url: str, http: httpx.AsyncClient) -> None:
    store = MemoryCredentialStore({**fake.credentials(base_url), "expires_at": 0})
    clients = [EbayClient(store.credentials, http=http, store=store) for _ in range(2)]

    await asyncio.gather(*(c.list_orders(None) for c in clients))

    assert fake.refreshes == 1


async def test_revoked_access_raises_auth_failed_without_leaking_secrets(
    fake: FakeEbay, client: EbayClient, store: MemoryCredentialStore
) -> None:
    fake.revoke()

    with pytest.raises(ChannelAuthFailed, match=r"eBay refused Waybill's access.*invalid_grant.*reconnect") as caught:
        await client.check_connection()

    text = f"{caught.value.message} {client!r}"
    for secret in (
        store.credentials["refresh_token"],
        store.credentials["client_secret"],
        store.credentials["access_token"],
    ):
        assert secret not in text
    assert not caught.value.retryable


async def test_wrong_client_secret_is_an_auth_failure(fake: FakeEbay, base_url: str, http: httpx.AsyncClient) -> None:
    store = MemoryCredentialStore({**fake.credentials(base_url), "client_secret": "wrong", "expires_at": 0})
    client = EbayClient(store.credentials, http=http, store=store)

    with pytest.raises(ChannelAuthFailed, match="invalid_client"):
        await client.list_orders(None)


# --- throttling and failures -----------------------------------------------------------


async def test_429_waits_retry_after_then_succeeds(fake: FakeEbay, client: EbayClient) -> None:
    fake.create_order(LINES)
    fake.throttle_next(1, retry_after=0.2)
    started = time.monotonic()

    page = await client.list_orders(None)

    assert len(page.orders) == 1
    assert time.monotonic() - started >= 0.2
    assert fake.throttled == 1


async def test_a_spent_daily_quota_is_handed_back_and_not_hammered(
    base_url: str, fake: FakeEbay, client: EbayClient
) -> None:
    fake.daily_quota = 0

    with pytest.raises(ChannelThrottled) as caught:
        await client.list_orders(None)
    asked = len(fake.requests)
    with pytest.raises(ChannelThrottled):
        await client.create_fulfillment("13-14786-65872", None, UPS)

    assert caught.value.retry_after == 60.0  # no Retry-After on eBay's quota 429: back off a minute
    assert len(fake.requests) == asked == 1  # the second call waited instead of calling


async def test_server_errors_are_retried_then_succeed(fake: FakeEbay, client: EbayClient) -> None:
    fake.fail_next(2, 503)

    assert (await client.list_orders(None)).orders == []
    assert len(fake.requests) == 3


async def test_persistent_server_errors_raise_unavailable(fake: FakeEbay, client: EbayClient) -> None:
    fake.fail_next(5, 500)

    with pytest.raises(ChannelUnavailable, match=r"500.*System error \(errorId 30500\)"):
        await client.list_orders(None)


async def test_unreachable_api_raises_unavailable(http: httpx.AsyncClient, fake: FakeEbay) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = MemoryCredentialStore(fake.credentials(url))
    client = EbayClient(store.credentials, http=http, store=store, retry_backoff=(0.01,))

    with pytest.raises(ChannelUnavailable, match="ConnectError"):
        await client.check_connection()
