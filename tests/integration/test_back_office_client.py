"""BackOfficeClient against FakeBackOffice over real HTTP on loopback: paging, shipments, undo, throttling, failures."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.back_office import SPEC, BackOfficeClient
from adapters.channels.back_office.fake import FakeBackOffice
from adapters.channels.back_office.mapper import Meaning, StatusWords, parse_document, parse_time, verify_webhook
from adapters.channels.base import FakeShipment, MemoryCredentialStore
from domain.model import ChannelOrderStatus
from domain.ports import ChannelAuthFailed, ChannelRejected, ChannelThrottled, ChannelUnavailable, Tracking
from tests.support.servers import serve_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "back_office"
KEY = "bo_test_secret_key"
UPS = Tracking("UPS", "1Z999AA10123456784", "https://www.ups.com/track?tracknum=1Z999AA10123456784", carrier="ups")
USPS = Tracking("USPS", "9400111899223100001234", None, carrier="usps")
LINES = [("LIP-ROSE-01", "Velvet Lip Color - Rose", 2), ("SERUM-30", "Daily Glow Serum", 1)]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def fake() -> FakeBackOffice:
    return FakeBackOffice(api_key=KEY)


@pytest.fixture
async def base_url(fake: FakeBackOffice) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as shared:
        yield shared


def make_client(
    fake: FakeBackOffice, base_url: str, http: httpx.AsyncClient, page_size: int | None = None, **extra: Any
) -> BackOfficeClient:
    credentials = {**fake.credentials(base_url), **extra}
    client = SPEC.build_client(credentials, http=http, store=MemoryCredentialStore(credentials), page_size=page_size)
    assert isinstance(client, BackOfficeClient)
    client._http.retry_backoff = (0.01, 0.02)
    return client


@pytest.fixture
def client(fake: FakeBackOffice, base_url: str, http: httpx.AsyncClient) -> BackOfficeClient:
    return make_client(fake, base_url, http, page_size=2)


def calls(fake: FakeBackOffice, method: str, suffix: str) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["method"] == method and r["path"].endswith(suffix)]


async def all_pages(client: BackOfficeClient, since: Any = None) -> tuple[list[str], int]:
    ids, page, pages = [], None, 0
    while True:
        result = await client.list_orders(since, page)
        ids += [order.external_id for order in result.orders]
        pages += 1
        if result.next_page is None:
            return ids, pages
        page = result.next_page


# --- connection and reading ----------------------------------------------------------------


async def test_check_connection_names_the_account(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    assert await client.check_connection() == "Lumen Direct Sales"
    assert set(fixture("account.json")) <= set((await client._request("GET", "account")).json())


async def test_pages_to_the_end_oldest_first_with_the_cursor_alone(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    created = [fake.add_order(LINES) for _ in range(7)]

    ids, pages = await all_pages(client)

    assert ids == created
    assert pages == 4
    first, *rest = calls(fake, "GET", "/api/v1/orders")
    assert first["query"] == {"limit": "2"}
    assert all(set(r["query"]) == {"cursor", "limit"} for r in rest)


async def test_updated_since_is_inclusive_and_incremental(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    ids = [fake.add_order(LINES) for _ in range(4)]
    since = parse_document(fake.get_order(ids[2]))[0].channel_updated_at

    assert (await all_pages(client, since))[0] == ids[2:]

    fake.touch_order(ids[0])
    assert (await all_pages(client, since))[0] == [ids[2], ids[3], ids[0]]
    assert calls(fake, "GET", "/api/v1/orders")[-2]["query"]["updated_since"].endswith("Z")


async def test_paging_skips_nothing_while_orders_change(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    ids = [fake.add_order(LINES) for _ in range(5)]

    first = await client.list_orders(None)
    fake.touch_order(ids[0])  # already seen: moves to the end
    fake.touch_order(ids[3])  # not seen yet: moves to the end too, still ahead of the cursor
    rest, page = [], first.next_page
    while page:
        result = await client.list_orders(None, page)
        rest += [o.external_id for o in result.orders]
        page = result.next_page

    assert [o.external_id for o in first.orders] == ids[:2]
    assert rest == [ids[2], ids[4], ids[0], ids[3]]


async def test_statuses_and_drafts_come_through(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    held, cancelled, pending, no_address = (fake.add_order(LINES) for _ in range(4))
    fake.hold(held)
    fake.cancel(cancelled)
    fake.update(pending, status="Pending", payment_status="pending")
    fake.update(no_address, shipping_address=None)

    orders = {o.external_id: o for o in (await client.list_orders(None)).orders}
    orders |= {
        o.external_id: o for o in (await client.list_orders(None, (await client.list_orders(None)).next_page)).orders
    }

    assert orders[held].channel_status is ChannelOrderStatus.ON_HOLD
    assert orders[cancelled].channel_status is ChannelOrderStatus.CANCELLED
    assert orders[pending].channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert orders[no_address].shipping_address is None


async def test_a_malformed_order_is_unreadable_without_failing_the_page(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    good = fake.add_order(LINES)
    broken = {**fake.get_order(good), "id": "4999", "created_at": "last tuesday"}
    fake.add_raw_order(broken)

    result = await client.list_orders(None)

    assert [o.external_id for o in result.orders] == [good]
    [(order_id, why)] = result.unreadable
    assert order_id == "4999" and "unreadable order" in why and "last tuesday" in why


# --- writing shipments ---------------------------------------------------------------------


async def test_a_complete_shipment_sets_shipping_with_tracking(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    order = fake.add_order(LINES)

    shipment_id = await client.create_fulfillment(order, None, UPS)

    assert fake.shipments(order) == [
        FakeShipment(UPS.number, "UPS", {lid: q for lid, q in zip(fake.line_ids(order), [2, 1], strict=True)})
    ]
    stored = fake.get_order(order)
    assert stored["status"] == "Shipping" and fake.is_shipped(order)
    [shipment] = stored["shipments"]
    assert shipment["id"] == shipment_id
    assert (shipment["carrier"], shipment["carrier_name"], shipment["tracking_url"]) == ("ups", "UPS", UPS.url)
    assert set(fixture("shipment_create_response.json")) <= set(shipment)
    [post] = calls(fake, "POST", "/shipments")
    assert post["idempotency_key"].startswith("waybill-")


async def test_a_split_shipment_stays_unfulfilled_until_the_last_line(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    order = fake.add_order(LINES)
    lip, serum = fake.line_ids(order)

    first = await client.create_fulfillment(order, [(lip, 2)], UPS, order_complete=False)

    assert fake.get_order(order)["status"] == "Unfulfilled"
    [listed] = (await client.list_orders(None)).orders
    assert listed.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED
    assert [(line.channel_line_id, line.quantity_shipped) for line in listed.lines] == [(lip, 2), (serum, 0)]

    second = await client.create_fulfillment(order, [(serum, 1)], USPS, order_complete=True)

    assert first != second
    assert fake.get_order(order)["status"] == "Shipping"
    assert [(s.tracking_number, s.lines) for s in fake.shipments(order)] == [
        (UPS.number, {lip: 2}),
        (USPS.number, {serum: 1}),
    ]


async def test_repeating_a_shipment_returns_the_same_id_and_creates_nothing(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    order = fake.add_order(LINES)
    lip, _ = fake.line_ids(order)

    first = await client.create_fulfillment(order, [(lip, 1)], UPS, order_complete=False)
    again = await client.create_fulfillment(order, [(lip, 1)], UPS, order_complete=False)

    assert first == again
    assert len(fake.shipments(order)) == 1
    assert len(calls(fake, "POST", "/shipments")) == 1


async def test_a_shipment_whose_response_was_lost_is_found_not_repeated(fake: FakeBackOffice, base_url: str) -> None:
    order = fake.add_order(LINES)
    fake.delay_next(1, 0.3, path_contains="/shipments", method="POST")
    async with httpx.AsyncClient(timeout=0.1) as slow_http:
        client = make_client(fake, base_url, slow_http)
        client._http.retry_backoff = (0.6,)  # long enough for the slow POST to land on the server
        shipment_id = await client.create_fulfillment(order, None, UPS)

    assert [s["id"] for s in fake.get_order(order)["shipments"]] == [shipment_id]
    assert len(calls(fake, "POST", "/shipments")) == 1
    assert fake.get_order(order)["status"] == "Shipping"


async def test_a_failed_post_is_retried_with_the_same_idempotency_key(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    order = fake.add_order(LINES)
    fake.fail_next(1, 503, path_contains="/shipments", method="POST")

    shipment_id = await client.create_fulfillment(order, None, UPS)

    posts = calls(fake, "POST", "/shipments")
    assert len(posts) == 2 and posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
    assert [s["id"] for s in fake.get_order(order)["shipments"]] == [shipment_id]
    # Between the two POSTs the client looked at the order again.
    methods = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in fake.requests]
    assert methods == [
        ("GET", order),
        ("POST", "shipments"),
        ("GET", order),
        ("POST", "shipments"),
        ("PUT", "status"),
    ]


async def test_the_api_replays_an_idempotency_key(fake: FakeBackOffice, base_url: str) -> None:
    order = fake.add_order(LINES)
    body = fixture("shipment_create_request.json")
    body["lines"] = [{"line_id": fake.line_ids(order)[0], "quantity": 1}]
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "k-1"}
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", headers=headers) as raw:
        created = await raw.post(f"/orders/{order}/shipments", json=body)
        replayed = await raw.post(f"/orders/{order}/shipments", json=body)
        misused = await raw.post(f"/orders/{order}/shipments", json={**body, "tracking_number": "OTHER"})

    assert (created.status_code, replayed.status_code) == (201, 200)
    assert created.json() == replayed.json()
    assert misused.status_code == 422 and misused.json()["error"]["code"] == "idempotency_key_reused"
    assert len(fake.shipments(order)) == 1


async def test_hand_delivery_marks_fulfilled_without_tracking(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    order = fake.add_order(LINES)

    first = await client.create_fulfillment(order, None, None)
    again = await client.create_fulfillment(order, None, None)

    assert first == again
    assert fake.get_order(order)["status"] == "Fulfilled"
    [shipment] = fake.shipments(order)
    assert shipment.tracking_number is None and sum((shipment.lines or {}).values()) == 3


async def test_unknown_carriers_are_other_with_their_name(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    order = fake.add_order(LINES)

    await client.create_fulfillment(order, None, Tracking("Waybill Sandbox", "SBX123", None, carrier="sandbox"))

    [shipment] = fake.get_order(order)["shipments"]
    assert (shipment["carrier"], shipment["carrier_name"], shipment["tracking_number"]) == (
        "other",
        "Waybill Sandbox",
        "SBX123",
    )


async def test_undo_removes_the_tracking_and_goes_back_to_unfulfilled(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    order = fake.add_order(LINES)
    shipment_id = await client.create_fulfillment(order, None, UPS)

    await client.cancel_fulfillment(order, shipment_id)
    await client.cancel_fulfillment(order, shipment_id)  # a repeat is a no-op

    stored = fake.get_order(order)
    assert stored["status"] == "Unfulfilled" and not fake.is_shipped(order)
    assert [s.cancelled for s in fake.shipments(order)] == [True]
    assert all(line["quantity_shipped"] == 0 for line in stored["lines"])
    assert len(calls(fake, "PUT", "/status")) == 2  # Shipping, then Unfulfilled once
    with pytest.raises(ChannelRejected, match="has no shipment '123'"):
        await client.cancel_fulfillment(order, "123")

    # Shipping again with the same tracking number is a new shipment, not a replay of the removed one.
    again = await client.create_fulfillment(order, None, UPS)
    assert again != shipment_id and fake.get_order(order)["status"] == "Shipping"


async def test_undo_leaves_a_cancelled_order_cancelled(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    order = fake.add_order(LINES)
    shipment_id = await client.create_fulfillment(order, None, UPS)
    fake.cancel(order)

    await client.cancel_fulfillment(order, shipment_id)

    assert fake.get_order(order)["status"] == "Cancelled"


async def test_delivered_turns_fulfilled_once_every_parcel_arrived(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    order = fake.add_order(LINES)
    lip, serum = fake.line_ids(order)
    first = await client.create_fulfillment(order, [(lip, 2)], UPS, order_complete=False)
    second = await client.create_fulfillment(order, [(serum, 1)], USPS)

    await client.mark_delivered(order, first)
    assert fake.get_order(order)["status"] == "Shipping"

    await client.mark_delivered(order, second)
    await client.mark_delivered(order, second)

    stored = fake.get_order(order)
    assert stored["status"] == "Fulfilled"
    assert [s["status"] for s in stored["shipments"]] == ["delivered", "delivered"]


async def test_held_and_cancelled_orders_are_refused_with_the_api_message(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    held, cancelled = fake.add_order(LINES), fake.add_order(LINES)
    fake.hold(held)
    fake.cancel(cancelled)

    with pytest.raises(ChannelRejected, match=r"is Held; release it first\. \(code order_on_hold\)"):
        await client.create_fulfillment(held, None, UPS)
    with pytest.raises(ChannelRejected, match="is Cancelled; it cannot ship"):
        await client.create_fulfillment(cancelled, None, UPS)
    assert fake.shipments(held) == fake.shipments(cancelled) == []


async def test_an_unknown_line_is_rejected_with_the_api_text(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    order = fake.add_order(LINES)

    with pytest.raises(ChannelRejected) as caught:
        await client.create_fulfillment(order, [("99999", 1)], UPS)

    number = fake.get_order(order)["number"]
    assert caught.value.message.endswith(
        f"422 to POST /api/v1/orders/{order}/shipments: Order {number} has no line '99999'. "
        "(field lines[0].line_id, code unknown_line)"
    )
    assert not caught.value.retryable
    assert len(calls(fake, "POST", "/shipments")) == 1
    with pytest.raises(ChannelRejected, match="No order with id '777'"):
        await client.create_fulfillment("777", None, UPS)


async def test_a_back_office_with_its_own_words(fake: FakeBackOffice, base_url: str, http: httpx.AsyncClient) -> None:
    setting = '{"held": "On Hold", "shipping": "Shipped", "fulfilled": "Complete"}'
    fake.words = StatusWords.from_setting(setting)
    client = make_client(fake, base_url, http, statuses=setting)
    order, held = fake.add_order(LINES), fake.add_order(LINES)
    fake.hold(held)

    statuses = {o.external_id: o.channel_status for o in (await client.list_orders(None)).orders}
    await client.create_fulfillment(order, None, UPS)
    shipped_word = fake.get_order(order)["status"]
    await client.mark_delivered(order, fake.get_order(order)["shipments"][0]["id"])

    assert fake.get_order(held)["status"] == "On Hold"
    assert statuses == {order: ChannelOrderStatus.AWAITING_FULFILLMENT, held: ChannelOrderStatus.ON_HOLD}
    assert (shipped_word, fake.get_order(order)["status"]) == ("Shipped", "Complete")
    assert fake.words.word(Meaning.UNFULFILLED) == "Unfulfilled"


# --- auth, throttling, failures ------------------------------------------------------------


async def test_a_revoked_key_raises_auth_failed_without_leaking_it(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    fake.revoke()
    fake.expire_access_token()  # no-op: keys never expire

    with pytest.raises(ChannelAuthFailed, match=r"refused Waybill's API key.*revoked.*reconnect the channel") as caught:
        await client.check_connection()

    assert KEY not in caught.value.message + repr(client)
    assert len(fake.requests) == 1  # not retried
    assert fake.refreshes == 0


async def test_a_wrong_key_gets_the_documented_401(fake: FakeBackOffice, base_url: str) -> None:
    async with httpx.AsyncClient(headers={"Authorization": "Bearer nope"}) as raw:
        response = await raw.get(f"{base_url}/api/v1/orders")

    assert response.status_code == 401
    assert response.json() == fixture("error_401.json")
    assert all(name in response.headers for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))


async def test_429_waits_retry_after_then_succeeds(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    fake.add_order(LINES)
    fake.throttle_next(2, retry_after=0.2)
    started = time.monotonic()

    result = await client.list_orders(None)

    assert len(result.orders) == 1
    assert fake.throttled == 2 and len(fake.requests) == 3
    assert time.monotonic() - started >= 0.4


async def test_after_a_final_429_the_next_call_waits_too(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    fake.throttle_next(4, retry_after=0.3)

    with pytest.raises(ChannelThrottled, match="Too many requests") as caught:
        await client.list_orders(None)
    assert caught.value.retry_after == pytest.approx(0.3)
    await client.check_connection()

    last_429, next_call = fake.requests[-2]["at"], fake.requests[-1]["at"]
    assert len(fake.requests) == 5 and next_call - last_429 >= 0.29


async def test_429_without_retry_after_waits_for_the_reset(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    fake.send_retry_after = False
    fake.throttle_next(1, retry_after=1.0)

    await client.check_connection()

    first, second = fake.requests
    assert second["at"] - first["at"] >= 0.99


async def test_an_empty_window_is_waited_out_instead_of_collecting_429s(
    fake: FakeBackOffice, client: BackOfficeClient
) -> None:
    fake.rate_limit, fake.rate_window = 2, 0.5

    for _ in range(4):
        await client.check_connection()

    assert fake.throttled == 0 and len(fake.requests) == 4


async def test_server_errors_are_retried_then_succeed(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    fake.fail_next(2, 502, path_contains="/orders")

    assert (await client.list_orders(None)).orders == []
    assert len(fake.requests) == 3


async def test_persistent_server_errors_raise_unavailable(fake: FakeBackOffice, client: BackOfficeClient) -> None:
    fake.fail_next(10, 500)

    with pytest.raises(ChannelUnavailable, match=r"500 to GET /api/v1/account: Internal Server Error"):
        await client.check_connection()
    assert len(fake.requests) == 3


# --- the fake itself -------------------------------------------------------------------------


async def test_the_fake_validates_like_the_contract(fake: FakeBackOffice, base_url: str) -> None:
    order = fake.add_order(LINES)
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {KEY}"}) as raw:
        too_big = await raw.get("/orders", params={"limit": 201})
        bad_cursor = await raw.get("/orders", params={"cursor": "garbage"})
        bad_since = await raw.get("/orders", params={"updated_since": "monday"})
        bad_status = await raw.put(f"/orders/{order}/status", json={"status": "Teleported"})
        too_many = await raw.post(
            f"/orders/{order}/shipments", json={"lines": [{"line_id": fake.line_ids(order)[1], "quantity": 2}]}
        )
        bad_carrier = await raw.post(f"/orders/{order}/shipments", json={"carrier": "pigeon"})
        missing = await raw.get("/orders/nope")

    assert (too_big.status_code, too_big.json()["error"]["field"]) == (400, "limit")
    assert (bad_cursor.status_code, bad_cursor.json()["error"]["code"]) == (400, "invalid_cursor")
    assert (bad_since.status_code, bad_since.json()["error"]["field"]) == (400, "updated_since")
    assert (bad_status.status_code, bad_status.json()["error"]["code"]) == (422, "invalid_status")
    assert too_many.json()["error"] == {
        "code": "quantity_exceeds_remaining",
        "message": f"Line {fake.line_ids(order)[1]}: 2 to ship but only 1 left.",
        "field": "lines[0].quantity",
    }
    assert (bad_carrier.status_code, bad_carrier.json()["error"]["field"]) == (422, "carrier")
    assert missing.status_code == 404
    assert set(fixture("error_422_unknown_line.json")["error"]) == set(too_many.json()["error"])


async def test_the_fake_serves_the_documented_shapes(fake: FakeBackOffice, base_url: str) -> None:
    fake.add_order(LINES)
    fake.add_order(LINES)
    async with httpx.AsyncClient(base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {KEY}"}) as raw:
        listed = await raw.get("/orders", params={"limit": 1})

    real = fixture("orders_list.json")
    body = listed.json()
    assert set(real) == set(body) and body["next_cursor"]
    assert set(real["orders"][0]) == set(body["orders"][0])
    assert set(real["orders"][0]["lines"][0]) == set(body["orders"][0]["lines"][0])
    assert set(real["orders"][0]["shipping_address"]) == set(body["orders"][0]["shipping_address"])
    assert all(name in listed.headers for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))


async def test_fake_clock_gives_every_change_a_later_second(fake: FakeBackOffice) -> None:
    order = fake.add_order(LINES)
    stamps = [fake.get_order(order)["updated_at"]]
    for _ in range(3):
        fake.touch_order(order)
        stamps.append(fake.get_order(order)["updated_at"])

    times = [parse_time(stamp) for stamp in stamps]
    assert all((later - earlier).total_seconds() >= 1 for earlier, later in itertools.pairwise(times))
    assert all(stamp.endswith("Z") for stamp in stamps)


async def test_the_fakes_webhooks_are_signed(fake: FakeBackOffice) -> None:
    order = fake.add_order(LINES)

    headers, body = fake.webhook(order)

    assert verify_webhook(headers, body, fake.credentials("http://x")["webhook_secret"])
    assert not verify_webhook(headers, body + b" ", fake.webhook_secret)
    assert headers["X-Event-Id"] == json.loads(body)["id"]
    [parsed] = parse_document(json.loads(body))
    assert parsed.external_id == order
    assert set(fixture("webhook_order_updated.json")) == set(json.loads(body))
