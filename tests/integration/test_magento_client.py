"""MagentoClient against FakeMagento over real HTTP on loopback: paging, shipments, throttling, failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.base import FakeShipment, MemoryCredentialStore
from adapters.channels.magento import build_client
from adapters.channels.magento.client import MagentoClient
from adapters.channels.magento.fake import FakeMagento
from domain.model import ChannelOrderStatus
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ChannelUnsupported,
    OrderPage,
    Tracking,
)
from tests.support.servers import serve_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magento"
TOKEN = "magento-test-integration-secret"
UPS = Tracking(company="United Parcel Service", number="1Z999AA10123456784", url=None, carrier="ups")
SANDBOX = Tracking(
    company="Waybill Sandbox", number="SBX-0001", url="https://track.example/SBX-0001", carrier="sandbox"
)
LINES = [("WS12-M-Orange", "Radiant Tee", 2), ("MUG", "Enamel Mug", 1), ("HAT", "Wool Beanie", 1)]
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def fake() -> FakeMagento:
    return FakeMagento(access_token=TOKEN)


@pytest.fixture
async def base_url(fake: FakeMagento) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def store(fake: FakeMagento, base_url: str) -> MemoryCredentialStore:
    return MemoryCredentialStore(fake.credentials(base_url))


@pytest.fixture
def client(store: MemoryCredentialStore, http: httpx.AsyncClient) -> MagentoClient:
    magento = build_client(store.credentials, http=http, store=store, page_size=3)
    magento.retry_backoff = (0.01, 0.02)
    return magento


async def all_pages(client: MagentoClient, since: datetime | None = SINCE) -> list[OrderPage]:
    pages, token = [], None
    while True:
        page = await client.list_orders(since, token)
        pages.append(page)
        if page.next_page is None:
            return pages
        token = page.next_page
        assert len(pages) < 20, "paging never ended"


def ids(pages: list[OrderPage]) -> list[str]:
    return [order.external_id for page in pages for order in page.orders]


# --- reading orders --------------------------------------------------------------------


async def test_pages_to_the_end_and_stops_on_total_count(fake: FakeMagento, client: MagentoClient) -> None:
    created = [fake.add_order(LINES[:1]) for _ in range(7)]

    pages = await all_pages(client)

    assert ids(pages) == created
    assert [len(page.orders) for page in pages] == [3, 3, 1]
    searches = fake.calls("GET", "/V1/orders")
    assert len(searches) == 3  # never asks past the end, where Magento would repeat the last page
    first = searches[0]
    assert first["searchCriteria[filter_groups][0][filters][0][field]"] == "updated_at"
    assert first["searchCriteria[filter_groups][0][filters][0][value]"] == "2020-01-01 00:00:00"
    assert first["searchCriteria[filter_groups][0][filters][0][condition_type]"] == "gteq"
    assert first["searchCriteria[sortOrders][0][field]"] == "updated_at"
    assert first["searchCriteria[sortOrders][0][direction]"] == "ASC"
    assert first["searchCriteria[pageSize]"] == "3"
    assert {query["searchCriteria[currentPage]"] for query in searches} == {"1"}
    third_order = fake.order(created[2])
    keyset = searches[1]  # after order 3: updated_at >= t AND (updated_at > t OR entity_id > 3)
    assert keyset["searchCriteria[filter_groups][0][filters][0][value]"] == third_order["updated_at"]
    assert keyset["searchCriteria[filter_groups][1][filters][0][field]"] == "updated_at"
    assert keyset["searchCriteria[filter_groups][1][filters][0][condition_type]"] == "gt"
    assert keyset["searchCriteria[filter_groups][1][filters][1][field]"] == "entity_id"
    assert keyset["searchCriteria[filter_groups][1][filters][1][value]"] == created[2]


async def test_the_fake_repeats_the_last_page_past_the_end(fake: FakeMagento, base_url: str) -> None:
    created = [fake.add_order(LINES[:1]) for _ in range(4)]
    query = {"searchCriteria[pageSize]": "3", "searchCriteria[currentPage]": "9"}
    async with httpx.AsyncClient() as raw:
        response = await raw.get(
            f"{base_url}/rest/default/V1/orders", params=query, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    body = response.json()
    assert [str(order["entity_id"]) for order in body["items"]] == created[3:]
    assert body["total_count"] == 4
    assert body["search_criteria"]["current_page"] == 9


async def test_incremental_sync_sees_only_what_changed(fake: FakeMagento, client: MagentoClient) -> None:
    _, second, _ = (fake.add_order(LINES[:1]) for _ in range(3))
    watermark = max(order.channel_updated_at for order in (await client.list_orders(SINCE)).orders)

    fake.touch_order(second)
    page = await client.list_orders(watermark + timedelta(seconds=1))

    assert [order.external_id for order in page.orders] == [second]
    assert page.orders[0].channel_updated_at > watermark
    assert page.next_page is None
    value = fake.calls("GET", "/V1/orders")[-1]["searchCriteria[filter_groups][0][filters][0][value]"]
    assert value == (watermark + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")


async def test_an_order_changing_mid_sync_shifts_nothing_out_of_reach(fake: FakeMagento, client: MagentoClient) -> None:
    created = [fake.add_order(LINES[:1]) for _ in range(7)]
    page = await client.list_orders(SINCE)
    assert [order.external_id for order in page.orders] == created[:3]

    fake.touch_order(created[0])  # moves to the end of the updated_at order: page-number paging would skip one
    rest, token = [], page.next_page
    while token is not None:
        later = await client.list_orders(SINCE, token)
        rest.append(later)
        token = later.next_page

    assert ids(rest) == [*created[3:], created[0]]  # every order once more only if it changed


async def test_many_orders_in_one_second_are_each_read_once(fake: FakeMagento, client: MagentoClient) -> None:
    created = [fake.add_order(LINES[:1]) for _ in range(7)]
    for order_id in created:
        fake.set_updated_at(order_id, "2024-06-01 12:00:00")

    pages = await all_pages(client)

    assert ids(pages) == created
    assert len(pages) == 3


@pytest.mark.parametrize("same_second", [False, True])
async def test_a_store_ignoring_the_keyset_filter_still_pages_to_the_end_once(
    store: MemoryCredentialStore, http: httpx.AsyncClient, same_second: bool
) -> None:
    fake = FakeMagento(access_token=TOKEN, or_filters=False)
    created = [fake.add_order(LINES[:1]) for _ in range(7)]
    if same_second:
        for order_id in created:
            fake.set_updated_at(order_id, "2024-06-01 12:00:00")
    async with serve_app(fake.app) as url:
        client = build_client(fake.credentials(url), http=http, store=store, page_size=3)
        pages = await all_pages(client)

    assert ids(pages) == created  # the repeated orders were dropped, and the clamp never looped


async def test_a_malformed_order_is_reported_not_fatal(fake: FakeMagento, client: MagentoClient) -> None:
    first, broken, third = (fake.add_order(LINES[:1]) for _ in range(3))
    fake.corrupt(broken)
    fake.touch_order(third)  # keep the broken one in the middle of the page

    page = await client.list_orders(SINCE)

    assert [order.external_id for order in page.orders] == [first, third]
    assert [entity for entity, _ in page.unreadable] == [broken]
    assert "increment_id" in page.unreadable[0][1]


async def test_statuses_and_addresses_come_through(fake: FakeMagento, client: MagentoClient) -> None:
    held, cancelled, refunded, unpaid, no_address = (fake.add_order(LINES[:1]) for _ in range(5))
    fake.hold(held)
    fake.cancel(cancelled)
    fake.refund(refunded)
    fake.set_state(unpaid, "pending_payment")
    fake.remove_address(no_address)

    by_id = {order.external_id: order for page in await all_pages(client) for order in page.orders}

    assert by_id[held].channel_status is ChannelOrderStatus.ON_HOLD
    assert by_id[cancelled].channel_status is ChannelOrderStatus.CANCELLED
    assert by_id[refunded].channel_status is ChannelOrderStatus.REFUNDED
    assert by_id[unpaid].channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert by_id[no_address].shipping_address is None
    assert by_id[held].shipping_address is not None and by_id[held].shipping_address.postal_code == "10577"


async def test_check_connection(client: MagentoClient, base_url: str) -> None:
    assert await client.check_connection() == f"{base_url.removeprefix('http://')} (store view default)"


async def test_store_code_all_and_an_unknown_store(
    fake: FakeMagento, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    order_id = fake.add_order(LINES[:1])
    everywhere = build_client({**store.credentials, "store_code": "all"}, http=http, store=store)
    assert [o.external_id for o in (await everywhere.list_orders(None)).orders] == [order_id]
    nowhere = build_client({**store.credentials, "store_code": "fr"}, http=http, store=store)
    with pytest.raises(ChannelRejected, match="The store that was requested wasn't found"):
        await nowhere.check_connection()


# --- shipping --------------------------------------------------------------------------


async def test_split_shipment_then_complete(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES)
    tote, mug, hat = fake.line_ids(order_id)

    first = await client.create_fulfillment(order_id, [(tote, 2)], UPS, order_complete=False)
    [order] = (await client.list_orders(SINCE)).orders
    assert order.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED
    assert not fake.is_shipped(order_id)

    second = await client.create_fulfillment(order_id, [(mug, 1), (hat, 1)], SANDBOX)

    assert first != second
    assert fake.shipments(order_id) == [
        FakeShipment(tracking_number=UPS.number, carrier="ups", lines={tote: 2}),
        FakeShipment(tracking_number=SANDBOX.number, carrier="custom", lines={mug: 1, hat: 1}),
    ]
    assert fake.is_shipped(order_id)
    custom = fake.shipments_of(order_id)[1]
    assert custom["tracks"][0]["title"] == "Waybill Sandbox"
    assert custom["comments"][0]["comment"] == "Track your parcel: https://track.example/SBX-0001"


async def test_the_ship_body_has_the_documented_shape(fake: FakeMagento, client: MagentoClient) -> None:
    documented = json.loads((FIXTURES / "order_ship_request_V1_order_3_ship.json").read_text())
    order_id = fake.add_order(LINES[:1])
    [line] = fake.line_ids(order_id)

    await client.create_fulfillment(order_id, [(line, 2)], UPS)

    [sent] = fake.ship_bodies
    assert set(sent) == set(documented)
    assert set(sent["items"][0]) == set(documented["items"][0])
    assert sent["tracks"] == [{"track_number": UPS.number, "title": UPS.company, "carrier_code": "ups"}]
    assert sent["items"] == [{"order_item_id": int(line), "qty": 2}]
    assert sent["notify"] is False


async def test_repeating_a_shipment_returns_the_first(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES)
    tote = fake.line_ids(order_id)[0]

    first = await client.create_fulfillment(order_id, [(tote, 1)], UPS, order_complete=False)
    again = await client.create_fulfillment(order_id, [(tote, 1)], UPS, order_complete=False)

    assert again == first
    assert len(fake.shipments(order_id)) == 1


async def test_a_lost_response_is_not_shipped_twice(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES)
    fake.lose_next_response(1, path_endswith="/ship")

    shipment_id = await client.create_fulfillment(order_id, None, UPS)

    assert [s["entity_id"] for s in fake.shipments_of(order_id)] == [int(shipment_id)]
    assert len(fake.calls("POST", "/ship")) == 1  # the 504 came after Magento shipped: the check found it
    assert len(fake.calls("GET", "/shipments")) == 2
    assert fake.is_shipped(order_id)


async def test_a_timed_out_shipment_is_found_by_the_next_attempt(
    fake: FakeMagento, store: MemoryCredentialStore
) -> None:
    order_id = fake.add_order(LINES)
    fake.delay_next(1, 1.0, path_contains="/ship", method="POST")  # Magento still working when the client gives up
    async with httpx.AsyncClient(timeout=0.3) as impatient:
        client = build_client(store.credentials, http=impatient, store=store)
        client.retry_backoff = (0.01, 0.02)
        with pytest.raises(ChannelUnavailable, match="ReadTimeout"):
            await client.create_fulfillment(order_id, None, UPS)
        deadline = time.monotonic() + 5
        while not fake.shipments(order_id):
            assert time.monotonic() < deadline, "the delayed shipment never landed"
            await asyncio.sleep(0.05)

        again = await client.create_fulfillment(order_id, None, UPS)  # the outbox's retry

    assert [str(s["entity_id"]) for s in fake.shipments_of(order_id)] == [again]
    assert len(fake.calls("POST", "/ship")) == 1


async def test_hand_delivery_ships_everything_without_tracking_once(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES)
    tote, mug, hat = fake.line_ids(order_id)

    first = await client.create_fulfillment(order_id, None, None)
    again = await client.create_fulfillment(order_id, None, None)

    assert again == first
    assert fake.shipments(order_id) == [
        FakeShipment(tracking_number=None, carrier=None, lines={tote: 2, mug: 1, hat: 1})
    ]
    assert "tracks" not in fake.ship_bodies[0]
    assert fake.is_shipped(order_id)


async def test_hand_delivery_of_some_lines_is_idempotent(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES)
    mug = fake.line_ids(order_id)[1]

    first = await client.create_fulfillment(order_id, [(mug, 1)], None, order_complete=False)
    again = await client.create_fulfillment(order_id, [(mug, 1)], None, order_complete=False)

    assert again == first
    assert len(fake.ship_bodies) == 1


async def test_configurable_products_ship_by_their_parent_line(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_configurable_order(qty=2)
    [order] = (await client.list_orders(SINCE)).orders
    assert [(line.sku, line.quantity) for line in order.lines] == [("MH01-M-Black", 2)]

    await client.create_fulfillment(order_id, None, UPS)

    assert fake.is_shipped(order_id)
    assert [item["qty_shipped"] for item in fake.order(order_id)["items"]] == [2, 2]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            lambda ids: [(ids[0], 3)],
            'The quantity to ship must not be greater than the unshipped quantity for product SKU "WS12-M-Orange"',
        ),
        (lambda ids: [("999", 1)], "that is not part of the original order"),
    ],
)
async def test_magento_refusals_become_rejections(
    fake: FakeMagento, client: MagentoClient, lines: Any, message: str
) -> None:
    order_id = fake.add_order(LINES)
    with pytest.raises(ChannelRejected, match=message) as caught:
        await client.create_fulfillment(order_id, lines(fake.line_ids(order_id)), UPS)
    assert "Shipment Document Validation Error(s)" in caught.value.message
    assert fake.shipments(order_id) == []


async def test_a_held_order_cannot_ship_and_an_unknown_order_is_rejected(
    fake: FakeMagento, client: MagentoClient
) -> None:
    order_id = fake.add_order(LINES)
    fake.hold(order_id)
    with pytest.raises(ChannelRejected, match="A shipment cannot be created when an order has a status of holded"):
        await client.create_fulfillment(order_id, None, UPS)
    with pytest.raises(ChannelRejected, match="The entity that was requested doesn't exist"):
        await client.create_fulfillment("4040", None, None)


async def test_undo_is_unsupported_and_delivered_is_a_no_op(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES)
    shipment_id = await client.create_fulfillment(order_id, None, UPS)
    calls_before = len(fake.requests)

    await client.mark_delivered(order_id, shipment_id)
    with pytest.raises(ChannelUnsupported, match="Magento cannot delete a shipment") as caught:
        await client.cancel_fulfillment(order_id, shipment_id)

    assert "credit memo" in caught.value.message
    assert not caught.value.retryable
    assert len(fake.requests) == calls_before
    assert fake.shipments(order_id)[0].tracking_number == UPS.number


# --- auth and failures -----------------------------------------------------------------


async def test_tokens_never_expire_so_nothing_is_refreshed(
    fake: FakeMagento, client: MagentoClient, store: MemoryCredentialStore
) -> None:
    fake.expire_access_token()
    assert await client.check_connection()
    assert (fake.refreshes, store.saves) == (0, 0)


@pytest.mark.parametrize("how", ["revoked", "wrong token"])
async def test_a_refused_token_asks_to_reconnect(
    fake: FakeMagento, store: MemoryCredentialStore, http: httpx.AsyncClient, how: str
) -> None:
    credentials = dict(store.credentials)
    if how == "revoked":
        fake.revoke()
    else:
        credentials["access_token"] = "someone-elses"
    client = build_client(credentials, http=http, store=store)

    with pytest.raises(ChannelAuthFailed) as caught:
        await client.list_orders(SINCE)

    message = caught.value.message
    assert "The consumer isn't authorized to access Magento_Sales::actions_view." in message
    assert "reconnect the channel" in message
    assert TOKEN not in message and TOKEN not in repr(client)


async def test_429_is_honoured_then_succeeds(fake: FakeMagento, client: MagentoClient) -> None:
    fake.add_order(LINES[:1])
    fake.throttle_next(2, retry_after=0.2)

    started = time.monotonic()
    page = await client.list_orders(SINCE)

    assert len(page.orders) == 1
    assert fake.throttled == 2
    assert time.monotonic() - started >= 0.4


async def test_a_long_retry_after_is_handed_back_and_respected(fake: FakeMagento, client: MagentoClient) -> None:
    fake.throttle_next(1, retry_after=30)
    with pytest.raises(ChannelThrottled) as caught:
        await client.list_orders(SINCE)
    assert caught.value.retry_after == pytest.approx(30)
    calls = len(fake.requests)

    with pytest.raises(ChannelThrottled):
        await client.check_connection()
    assert len(fake.requests) == calls  # no 429 storm: the store is left alone until Retry-After passes


async def test_a_waf_503_with_retry_after_is_waited_out(fake: FakeMagento, client: MagentoClient) -> None:
    order_id = fake.add_order(LINES[:1])
    fake.shed_next(2, retry_after=0.2)

    started = time.monotonic()
    shipment_id = await client.create_fulfillment(order_id, None, UPS)  # the first GET meets the 503s

    assert time.monotonic() - started >= 0.4
    assert [str(s["entity_id"]) for s in fake.shipments_of(order_id)] == [shipment_id]

    fake.shed_next(1, retry_after=60)
    with pytest.raises(ChannelThrottled) as caught:
        await client.check_connection()
    assert caught.value.retry_after == pytest.approx(60)


async def test_5xx_is_retried_then_reported_with_magentos_text(fake: FakeMagento, client: MagentoClient) -> None:
    fake.add_order(LINES[:1])
    fake.fail_next(2, 500, path_contains="/orders")
    assert len((await client.list_orders(SINCE)).orders) == 1

    fake.fail_next(5, 500, path_contains="/orders")
    with pytest.raises(ChannelUnavailable, match=r"Internal Error\. Details are available in Magento log file"):
        await client.list_orders(SINCE)


async def test_a_bad_page_token_is_rejected(client: MagentoClient) -> None:
    with pytest.raises(ChannelRejected, match="not a Magento page token"):
        await client.list_orders(SINCE, "garbage!")
