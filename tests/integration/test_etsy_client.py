"""EtsyClient against FakeEtsy over real HTTP on loopback: paging, shipments, rotating tokens, throttling."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.channels.base import FakeShipment, MemoryCredentialStore
from adapters.channels.etsy import SPEC, build_client
from adapters.channels.etsy.client import EtsyClient
from adapters.channels.etsy.fake import FakeEtsy
from domain.model import ChannelCapability, ChannelOrderStatus
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ChannelUnsupported,
    Tracking,
)
from tests.support.servers import serve_app

UPS = Tracking(company="UPS", number="1Z999AA10123456784", url="https://www.ups.com/track", carrier="ups")
USPS = Tracking(company="USPS", number="9400100000000000000000", url=None, carrier="usps")
RECEIPTS = "/receipts"


@pytest.fixture
def fake() -> FakeEtsy:
    return FakeEtsy()


@pytest.fixture
async def base_url(fake: FakeEtsy) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def store(fake: FakeEtsy, base_url: str) -> MemoryCredentialStore:
    return MemoryCredentialStore(fake.credentials(base_url))


def make_client(store: MemoryCredentialStore, http: httpx.AsyncClient, page_size: int = 3) -> EtsyClient:
    client = build_client(store.credentials, http=http, store=store, page_size=page_size)
    assert isinstance(client, EtsyClient)
    client.retry_backoff = (0.01, 0.02)
    return client


@pytest.fixture
def client(store: MemoryCredentialStore, http: httpx.AsyncClient) -> EtsyClient:
    return make_client(store, http)


def calls(fake: FakeEtsy, method: str, suffix: str) -> list[dict[str, str]]:
    return [query for m, path, query in fake.requests if m == method and path.endswith(suffix)]


async def all_pages(client: EtsyClient, since: datetime | None = None) -> tuple[list[str], int]:
    ids, page, pages = [], None, 0
    while True:
        result = await client.list_orders(since, page)
        ids += [order.external_id for order in result.orders]
        pages += 1
        if result.next_page is None:
            return ids, pages
        page = result.next_page


# --- connection and reading -----------------------------------------------------------------------


async def test_check_connection_names_the_shop(fake: FakeEtsy, client: EtsyClient) -> None:
    assert await client.check_connection() == "WaybillTestShop"
    assert fake.shared_secret not in repr(client) and "Bearer" not in repr(client)


async def test_keystring_without_the_shared_secret_is_refused(
    fake: FakeEtsy, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    store.credentials["shared_secret"] = ""
    with pytest.raises(ChannelAuthFailed, match=r"Shared secret is required in x-api-key header.*reconnect"):
        await make_client(store, http).check_connection()
    assert fake.refreshes == 0  # a 403 is not cured by a new token


async def test_pages_through_all_orders_oldest_first(fake: FakeEtsy, client: EtsyClient) -> None:
    created = [fake.add_order() for _ in range(7)]

    ids, pages = await all_pages(client, datetime(2020, 1, 1, tzinfo=UTC))

    assert ids == created
    assert pages == 3
    first, second, _ = calls(fake, "GET", RECEIPTS)
    assert first == {
        "sort_on": "updated",
        "sort_order": "asc",
        "limit": "3",
        "offset": "0",
        "min_last_modified": str(int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())),
    }
    # The next page starts at the last modified second seen (inclusive), not at an offset.
    assert second["min_last_modified"] == str(fake.receipt(created[2])["updated_timestamp"])
    assert second["offset"] == "0"


async def test_an_order_changed_mid_sync_is_not_skipped(fake: FakeEtsy, client: EtsyClient) -> None:
    created = [fake.add_order() for _ in range(6)]
    first = await client.list_orders(None)
    fake.touch_order(created[1])  # moves to the end of Etsy's list: offset 3 would now skip created[3]

    ids = [o.external_id for o in first.orders]
    page = first.next_page
    while page is not None:
        result = await client.list_orders(None, page)
        ids += [o.external_id for o in result.orders]
        page = result.next_page

    assert ids == [*created[:3], *created[3:], created[1]]


async def test_orders_changed_in_the_same_second_page_to_the_end(http: httpx.AsyncClient) -> None:
    fake = FakeEtsy(clock_step=0)  # a bulk import: every receipt modified in one second
    async with serve_app(fake.app) as url:
        created = [fake.add_order() for _ in range(7)]
        store = MemoryCredentialStore(fake.credentials(url))
        ids, pages = await all_pages(make_client(store, http))
    assert ids == created
    assert pages == 3


async def test_updated_since_skips_older_orders_and_a_change_brings_one_back(
    fake: FakeEtsy, client: EtsyClient
) -> None:
    old, newer = fake.add_order(), fake.add_order()
    cursor = datetime.fromtimestamp(fake.receipt(newer)["updated_timestamp"], tz=UTC)

    assert [o.external_id for o in (await client.list_orders(cursor)).orders] == [newer]

    fake.touch_order(old)
    assert [o.external_id for o in (await client.list_orders(cursor)).orders] == [newer, old]


async def test_statuses_and_withheld_addresses(fake: FakeEtsy, client: EtsyClient) -> None:
    ready, unpaid, cancelled, hidden = fake.add_order(), fake.add_order(ready=False), fake.add_order(), fake.add_order()
    fake.cancel(cancelled)
    fake.remove_address(hidden)

    orders = {}
    page = None
    while True:
        result = await client.list_orders(None, page)
        orders |= {o.external_id: o for o in result.orders}
        if (page := result.next_page) is None:
            break

    assert orders[ready].channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert orders[unpaid].channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert orders[cancelled].channel_status is ChannelOrderStatus.CANCELLED
    assert orders[hidden].shipping_address is None
    assert orders[ready].shipping_address is not None and orders[ready].shipping_address.city == "Portland"


async def test_a_malformed_receipt_is_reported_without_failing_the_page(fake: FakeEtsy, client: EtsyClient) -> None:
    good, bad = fake.add_order(), fake.add_order()
    fake.break_order(bad)

    result = await client.list_orders(None)

    assert [o.external_id for o in result.orders] == [good]
    [(receipt_id, why)] = result.unreadable
    assert receipt_id == bad and "unreadable receipt" in why


async def test_the_fake_validates_list_parameters_and_sorts_newest_first_by_default(
    fake: FakeEtsy, store: MemoryCredentialStore, base_url: str
) -> None:
    first, second = fake.add_order(), fake.add_order()
    creds = store.credentials
    headers = {"x-api-key": f"{creds['keystring']}:{creds['shared_secret']}"}
    headers["Authorization"] = f"Bearer {creds['access_token']}"
    url = f"{base_url}/v3/application/shops/{creds['shop_id']}/receipts"
    async with httpx.AsyncClient(headers=headers) as raw:
        default = await raw.get(url)
        too_many = await raw.get(url, params={"limit": 101})

    assert [r["receipt_id"] for r in default.json()["results"]] == [int(second), int(first)]
    assert default.json()["count"] == 2
    assert {"x-limit-per-second", "x-remaining-this-second", "x-limit-per-day", "x-remaining-today"} <= set(
        default.headers
    )
    assert too_many.status_code == 400 and "limit" in too_many.json()["error"]


# --- shipping ----------------------------------------------------------------------------------


async def test_shipping_with_tracking(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order([("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1)])

    shipment_id = await client.create_fulfillment(
        receipt, [(i, q) for i, q in zip(fake.line_ids(receipt), [2, 1], strict=True)], UPS
    )

    assert fake.shipments(receipt) == [FakeShipment(UPS.number, "ups", None)]
    assert str(fake.receipt(receipt)["shipments"][0]["receipt_shipping_id"]) == shipment_id
    assert fake.is_shipped(receipt)
    assert fake.bodies[-1] == {"tracking_code": UPS.number, "carrier_name": "ups", "send_bcc": "false"}
    [order] = (await client.list_orders(None)).orders
    assert order.channel_status is ChannelOrderStatus.FULFILLED
    assert [line.quantity_shipped for line in order.lines] == [2, 1]


async def test_two_parcels_become_two_shipments(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order([("TOTE", "Canvas Tote", 1), ("MUG", "Enamel Mug", 1)])
    tote, mug = fake.line_ids(receipt)

    first = await client.create_fulfillment(receipt, [(tote, 1)], UPS, order_complete=False)
    second = await client.create_fulfillment(receipt, [(mug, 1)], USPS, order_complete=True)

    assert first != second
    assert fake.shipments(receipt) == [FakeShipment(UPS.number, "ups", None), FakeShipment(USPS.number, "usps", None)]


async def test_repeating_a_shipment_returns_the_same_id_and_posts_once(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order()

    first = await client.create_fulfillment(receipt, None, UPS)
    again = await client.create_fulfillment(receipt, None, UPS)

    assert first == again
    assert len(fake.shipments(receipt)) == 1
    assert len(calls(fake, "POST", "/tracking")) == 1


async def test_a_timed_out_tracking_post_that_landed_is_not_repeated(
    fake: FakeEtsy, store: MemoryCredentialStore
) -> None:
    receipt = fake.add_order()
    fake.delay_next(1, 0.3, path_contains="/tracking", method="POST")
    async with httpx.AsyncClient(timeout=0.1) as slow:
        client = make_client(store, slow)
        client.retry_backoff = (0.6,)  # long enough for the slow POST to finish on the server
        shipment_id = await client.create_fulfillment(receipt, None, UPS)

    assert len(calls(fake, "POST", "/tracking")) == 1
    assert str(fake.receipt(receipt)["shipments"][0]["receipt_shipping_id"]) == shipment_id


async def test_a_failed_tracking_post_is_rechecked_then_sent(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order()
    fake.fail_next(1, 503, path_contains="/tracking", method="POST")

    await client.create_fulfillment(receipt, None, UPS)

    assert len(fake.shipments(receipt)) == 1
    methods = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in fake.requests]
    assert methods[-4:] == [("GET", receipt), ("POST", "tracking"), ("GET", receipt), ("POST", "tracking")]


async def test_hand_delivery_marks_the_receipt_shipped_once(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order([("A", "A", 1), ("B", "B", 1)])
    a, _ = fake.line_ids(receipt)

    partial = await client.create_fulfillment(receipt, [(a, 1)], None, order_complete=False)
    assert not fake.is_shipped(receipt) and calls(fake, "POST", "/tracking") == []

    done = await client.create_fulfillment(receipt, None, None)
    again = await client.create_fulfillment(receipt, None, None)

    assert partial == done == again == f"receipt-{receipt}"
    assert fake.is_shipped(receipt)
    assert fake.shipments(receipt) == [FakeShipment(None, None, None)]
    assert fake.bodies == [{}]  # no tracking_code / carrier_name: Etsy marks it shipped only


async def test_carriers_etsy_does_not_list_go_as_other_with_a_note(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order()
    sandbox = Tracking(
        company="Waybill Sandbox", number="SBX123", url="https://track.example/SBX123", carrier="sandbox"
    )

    await client.create_fulfillment(receipt, None, sandbox)

    assert fake.bodies[-1]["carrier_name"] == "other"
    assert (
        fake.bodies[-1]["note_to_buyer"]
        == "Shipped with Waybill Sandbox, tracking number SBX123: https://track.example/SBX123"
    )


async def test_unknown_line_is_rejected_before_anything_is_sent(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order()

    with pytest.raises(ChannelRejected, match="has no transaction 42"):
        await client.create_fulfillment(receipt, [("42", 1)], UPS)
    assert calls(fake, "POST", "/tracking") == []


async def test_etsy_4xx_is_rejected_with_etsys_text(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order()
    fake.cancel(receipt)

    with pytest.raises(
        ChannelRejected, match=r"400.*Cannot submit tracking for a receipt with status Canceled"
    ) as caught:
        await client.create_fulfillment(receipt, None, UPS)
    assert not caught.value.retryable
    with pytest.raises(ChannelRejected, match=r"404.*receipt_id 999 not found"):
        await client.create_fulfillment("999", None, UPS)


async def test_no_undo_and_no_delivered_status(fake: FakeEtsy, client: EtsyClient) -> None:
    receipt = fake.add_order()
    shipment_id = await client.create_fulfillment(receipt, None, UPS)
    before = len(fake.requests)

    await client.mark_delivered(receipt, shipment_id)
    with pytest.raises(ChannelUnsupported, match="Etsy does not let apps take back a shipment") as caught:
        await client.cancel_fulfillment(receipt, shipment_id)

    assert not caught.value.retryable
    assert len(fake.requests) == before
    assert not SPEC.can(ChannelCapability.UNDO_SHIPMENT) and not SPEC.can(ChannelCapability.DELIVERED_STATUS)
    assert not SPEC.can(ChannelCapability.PARTIAL_LINES)


# --- tokens ----------------------------------------------------------------------------------------


async def test_an_expired_token_is_refreshed_once_and_the_rotated_pair_saved(
    fake: FakeEtsy, store: MemoryCredentialStore, client: EtsyClient, base_url: str
) -> None:
    old = dict(store.credentials)
    fake.expire_access_token()

    assert await client.check_connection() == "WaybillTestShop"

    assert (fake.refreshes, store.saves) == (1, 1)
    assert store.credentials["refresh_token"] != old["refresh_token"]
    assert store.credentials["access_token"] != old["access_token"]
    assert store.credentials["expires_at"] > time.time() + 3000
    async with httpx.AsyncClient() as raw:  # the old refresh token died with the rotation
        reused = await raw.post(
            f"{base_url}/v3/public/oauth/token",
            data={"grant_type": "refresh_token", "client_id": old["keystring"], "refresh_token": old["refresh_token"]},
        )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


async def test_clients_sharing_the_store_never_spend_a_dead_refresh_token(
    fake: FakeEtsy, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    first, holding_old = make_client(store, http), make_client(store, http)
    fake.expire_access_token()

    await first.check_connection()
    await holding_old.check_connection()  # 401, re-reads the store, uses the pair `first` saved

    assert fake.refreshes == 1
    later = make_client(store, http)  # built from what the store saved
    fake.expire_access_token()
    await later.check_connection()
    assert fake.refreshes == 2 and store.saves == 2


async def test_a_copy_of_the_old_pair_outside_the_store_cannot_refresh(
    fake: FakeEtsy, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    stale = MemoryCredentialStore(store.credentials)
    fake.expire_access_token()
    await make_client(store, http).check_connection()

    with pytest.raises(ChannelAuthFailed, match=r"Etsy refused Waybill's access: invalid_grant.*reconnect the channel"):
        await make_client(stale, http).check_connection()


async def test_a_token_about_to_expire_is_refreshed_before_the_call(
    fake: FakeEtsy, store: MemoryCredentialStore, http: httpx.AsyncClient
) -> None:
    store.credentials["expires_at"] = int(time.time()) + 30

    await make_client(store, http).check_connection()

    assert [path.rsplit("/", 1)[-1] for _, path, _ in fake.requests] == ["token", str(fake.shop_id)]
    assert fake.refreshes == 1


async def test_revoked_access_raises_auth_failed_without_leaking_secrets(
    fake: FakeEtsy, store: MemoryCredentialStore, client: EtsyClient
) -> None:
    creds = dict(store.credentials)
    fake.revoke()

    with pytest.raises(ChannelAuthFailed, match=r"Etsy refused Waybill's access.*reconnect the channel") as caught:
        await client.list_orders(None)

    text = str(caught.value) + repr(client)
    assert not any(creds[k] in text for k in ("access_token", "refresh_token", "shared_secret"))
    assert not caught.value.retryable


# --- throttling and failures ---------------------------------------------------------------------


async def test_429_waits_retry_after_and_retries(fake: FakeEtsy, client: EtsyClient) -> None:
    fake.throttle_next(2, retry_after=0.2, path_contains=RECEIPTS)
    started = time.monotonic()

    assert (await client.list_orders(None)).orders == []

    assert len(calls(fake, "GET", RECEIPTS)) == 3
    assert time.monotonic() - started >= 0.4


async def test_a_long_retry_after_is_handed_back_and_honoured_by_the_next_call(
    fake: FakeEtsy, client: EtsyClient
) -> None:
    fake.throttle_next(1, retry_after=30)

    with pytest.raises(ChannelThrottled) as caught:
        await client.list_orders(None)
    assert caught.value.retry_after == 30
    with pytest.raises(ChannelThrottled, match="wait"):
        await client.check_connection()

    assert len(fake.requests) == 1  # no second call into a 429


async def test_server_errors_are_retried_then_succeed_or_raise_unavailable(fake: FakeEtsy, client: EtsyClient) -> None:
    fake.add_order()
    fake.fail_next(2, 502, path_contains=RECEIPTS)
    assert len((await client.list_orders(None)).orders) == 1
    assert len(calls(fake, "GET", RECEIPTS)) == 3

    fake.fail_next(10, 500)
    with pytest.raises(ChannelUnavailable, match=r"500.*Internal Server Error"):
        await client.list_orders(None)


async def test_the_fakes_budget_answers_429_to_a_client_that_does_not_pace() -> None:
    fake = FakeEtsy(per_second=4)
    async with serve_app(fake.app) as url:
        async with httpx.AsyncClient(headers={"x-api-key": f"{fake.keystring}:{fake.shared_secret}"}) as raw:
            responses = [await raw.get(f"{url}/v3/application/shops/{fake.shop_id}") for _ in range(6)]

    assert [r.status_code for r in responses] == [401, 401, 401, 401, 429, 429]  # unauthorised calls count too
    assert [r.headers["x-remaining-this-second"] for r in responses[:4]] == ["3", "2", "1", "0"]
    assert float(responses[4].headers["retry-after"]) >= 1
    assert responses[4].json()["error"].startswith("Too many requests")
    assert fake.throttled == 2


async def test_the_client_paces_itself_under_etsys_per_second_budget(http: httpx.AsyncClient) -> None:
    fake = FakeEtsy(per_second=4)
    async with serve_app(fake.app) as url:
        client = make_client(MemoryCredentialStore(fake.credentials(url)), http)
        started = time.monotonic()
        for _ in range(8):
            await client.check_connection()
        elapsed = time.monotonic() - started

    assert fake.throttled == 0  # slowed down instead of collecting 429s
    assert elapsed >= 0.9  # 8 calls through a budget of 4 refilling 4/s


async def test_the_fake_takes_tracking_as_json_too_and_refuses_unknown_fields(
    fake: FakeEtsy, store: MemoryCredentialStore, base_url: str
) -> None:
    receipt = fake.add_order()
    creds = store.credentials
    headers = {
        "x-api-key": f"{creds['keystring']}:{creds['shared_secret']}",
        "Authorization": f"Bearer {creds['access_token']}",
    }
    url = f"{base_url}/v3/application/shops/{creds['shop_id']}/receipts/{receipt}/tracking"
    async with httpx.AsyncClient(headers=headers) as raw:
        unknown = await raw.post(url, json={"tracking_code": "X1", "carrier_name": "ups", "tracking_url": "u"})
        half = await raw.post(url, data={"tracking_code": "X1"})
        shipped = await raw.post(url, json={"tracking_code": "X1", "carrier_name": "ups", "send_bcc": True})

    assert (unknown.status_code, unknown.json()) == (400, {"error": "Unexpected parameter(s): tracking_url"})
    assert half.status_code == 400 and "together" in half.json()["error"]
    assert shipped.status_code == 200
    assert shipped.json()["is_shipped"] is True and shipped.json()["status"] == "Completed"
    assert [s["tracking_code"] for s in shipped.json()["shipments"]] == ["X1"]
