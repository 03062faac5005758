"""EasyPostClient against FakeEasyPost served over real HTTP on loopback: money moves once, failures say why."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from adapters.carriers.easypost import EasyPostClient, EasyPostRequestRejected, FakeEasyPost, parse_webhook
from adapters.carriers.easypost import verify_webhook as verify
from domain.model import Address, RefundStatus, TrackingStatus
from domain.ports import CarrierFailure, Parcel, RateRequest, VoidRejected
from tests.support.harness import eventually
from tests.support.servers import serve_app

API_KEY = "EZTK_fake_test_key_1234"
REQUEST = RateRequest(
    ship_to=Address(name="Ada Lovelace", line1="12 Analytical Way", city="Springfield", region="IL",
                    postal_code="62701", country_code="US"),
    ship_from=Address(company="Waybill Test Shop", line1="1 Warehouse Rd", city="Portland", region="OR",
                      postal_code="97201", country_code="US"),
    parcel=Parcel(weight_grams=1200),
)  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, minutes: float) -> None:
        self.current += timedelta(minutes=minutes)


@dataclass
class EasyPost:
    fake: FakeEasyPost
    client: EasyPostClient
    clock: FakeClock
    base_url: str

    def new_client(self, **kwargs: object) -> EasyPostClient:
        options: dict[str, object] = {"base_url": f"{self.base_url}/v2", "retry_backoff": 0, **kwargs}
        return EasyPostClient(str(options.pop("api_key", API_KEY)), **options)  # type: ignore[arg-type]

    def posts(self, path: str) -> int:
        return self.fake.requests.count(("POST", path))


@pytest.fixture
async def easypost() -> AsyncIterator[EasyPost]:
    clock = FakeClock()
    fake = FakeEasyPost(clock=clock)
    async with serve_app(fake.app) as base_url:
        client = EasyPostClient(API_KEY, base_url=f"{base_url}/v2", retry_backoff=0)
        try:
            yield EasyPost(fake, client, clock, base_url)
        finally:
            await client.aclose()


async def _raw(method: str, url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.request(method, url, **kwargs)  # type: ignore[arg-type]


# --- rates -------------------------------------------------------------------------------


async def test_rates_cheapest_first_in_ounces_and_inches(easypost: EasyPost) -> None:
    rates = await easypost.client.rates(REQUEST)

    # 1200 g = 42.4 oz, priced per started ounce (43).
    assert [(r.service, r.amount, r.delivery_days) for r in rates] == [
        ("USPS:GroundAdvantage", Decimal("10.56"), 3),
        ("UPS:Ground", Decimal("13.40"), 4),
        ("USPS:Priority", Decimal("16.44"), 2),
        ("USPS:Express", Decimal("42.55"), 1),
        ("UPS:NextDayAir", Decimal("55.20"), 1),
    ]
    assert {(r.carrier, r.currency) for r in rates} == {("easypost", "USD")}
    (shipment,) = easypost.fake.shipments.values()
    assert {k: shipment.parcel[k] for k in ("weight", "length", "width", "height")} == {
        "weight": 42.4, "length": 11.9, "width": 7.9, "height": 4.0,
    }  # fmt: skip
    assert shipment.to_address["zip"] == "62701" and shipment.from_address["company"] == "Waybill Test Shop"
    assert easypost.fake.labels_bought() == 0  # rating never buys


async def test_invalid_address_is_refused_in_easyposts_words(easypost: EasyPost) -> None:
    no_zip = replace(REQUEST, ship_to=replace(REQUEST.ship_to, postal_code=None))
    with pytest.raises(EasyPostRequestRejected) as caught:
        await easypost.client.rates(no_zip)

    assert caught.value.retryable is False
    assert caught.value.code == "SHIPMENT.INVALID_PARAMS"
    assert caught.value.fields == ["ship_to.postal_code"]
    assert "one or more parameters were invalid" in caught.value.message
    assert "ship_to.postal_code: cannot be blank" in caught.value.message


async def test_bad_api_key_is_refused_without_echoing_it(easypost: EasyPost) -> None:
    client = easypost.new_client(api_key="sk_live_secret_999")
    try:
        with pytest.raises(CarrierFailure) as caught:
            await client.rates(REQUEST)
    finally:
        await client.aclose()
    assert caught.value.retryable is False
    assert "APIKEY.INACTIVE" in caught.value.message
    assert "sk_live_secret_999" not in caught.value.message
    assert "sk_live_secret_999" not in repr(client) and API_KEY not in repr(easypost.client)

    body = {"shipment": {}}
    assert (await _raw("POST", f"{easypost.base_url}/v2/shipments", json=body)).status_code == 401
    bearer = await _raw(
        "POST", f"{easypost.base_url}/v2/shipments", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    basic = base64.b64encode(f"{API_KEY}:".encode()).decode()
    basic_answer = await _raw(
        "POST", f"{easypost.base_url}/v2/shipments", json=body, headers={"Authorization": f"Basic {basic}"}
    )
    assert bearer.status_code == basic_answer.status_code == 422  # authenticated both ways, then validated


# --- buying ------------------------------------------------------------------------------


async def test_buy_returns_a_printable_pdf_and_zpl(easypost: EasyPost) -> None:
    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-1")

    shipment = easypost.fake.shipments[label.carrier_label_id]
    assert shipment.reference == "ship-1"
    assert (label.amount, label.currency) == (Decimal("16.44"), "USD")
    assert label.tracking_number == shipment.tracking_code
    assert label.pdf.startswith(b"%PDF-") and b"/MediaBox [ 0 0 288 432 ]" in label.pdf
    assert label.tracking_number.encode() in label.pdf
    assert label.zpl.startswith(b"^XA") and f"^FD{label.tracking_number}^FS".encode() in label.zpl
    assert shipment.label_formats == ["PDF", "ZPL"]  # PDF asked at creation, ZPL converted
    assert easypost.fake.file_downloads_with_auth == 0  # the API key never goes to the file host
    page = await _raw("GET", label.tracking_url)
    assert page.status_code == 200 and label.tracking_number in page.text


async def test_duplicate_buy_with_the_same_key_returns_the_first_label(easypost: EasyPost) -> None:
    first = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-dup")
    other_process = easypost.new_client()
    try:
        again = await other_process.buy(REQUEST, "USPS:Priority", "ship-dup")
    finally:
        await other_process.aclose()

    assert again == first
    assert easypost.fake.labels_bought() == 1
    assert easypost.posts("/v2/shipments") == 1
    assert easypost.posts(f"/v2/shipments/{first.carrier_label_id}/buy") == 1


async def test_a_key_that_is_not_url_plain_still_buys_once(easypost: EasyPost) -> None:
    first = await easypost.client.buy(REQUEST, "USPS:Priority", "order 12/ship#1")
    again = await easypost.client.buy(REQUEST, "USPS:Priority", "order 12/ship#1")

    assert again == first and easypost.fake.labels_bought() == 1
    assert (
        easypost.fake.shipments[first.carrier_label_id].reference
        == "wb_" + (hashlib.sha256(b"order 12/ship#1").hexdigest()[:40])
    )


async def test_lost_purchase_answer_is_recovered_not_rebought(easypost: EasyPost) -> None:
    easypost.fake.charge_then_fail_next()

    label = await easypost.client.buy(REQUEST, "USPS:GroundAdvantage", "ship-lost")

    assert easypost.fake.labels_bought() == 1
    assert easypost.posts(f"/v2/shipments/{label.carrier_label_id}/buy") == 1  # re-checked, never re-sent
    assert label.amount == Decimal("10.56")


async def test_lost_answer_then_a_later_retry_with_the_key_finds_the_label(easypost: EasyPost) -> None:
    easypost.fake.charge_then_fail_next()
    # ...and the re-check is lost too: this worker cannot tell whether it bought.
    easypost.fake.faults.fail_next(1, 503, path_contains="/v2/shipments/shp_", method="GET")
    impatient = easypost.new_client(max_attempts=1)
    try:
        with pytest.raises(CarrierFailure) as caught:
            await impatient.buy(REQUEST, "USPS:Priority", "ship-later")
    finally:
        await impatient.aclose()
    assert caught.value.retryable is True
    assert easypost.fake.labels_bought() == 1  # EasyPost sold it; we do not know yet

    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-later")  # the job's retry

    assert easypost.fake.labels_bought() == 1
    assert easypost.fake.shipments[label.carrier_label_id].reference == "ship-later"
    assert easypost.posts("/v2/shipments") == 1


async def test_purchase_timeout_rechecks_before_buying_again(easypost: EasyPost) -> None:
    easypost.fake.delay_next(1, 0.6, path_contains="/buy")
    client = easypost.new_client(timeout=0.2)
    try:
        label = await client.buy(REQUEST, "USPS:Priority", "ship-slow")
    finally:
        await client.aclose()

    # The delayed first purchase still reaches EasyPost, late, and must be refused.
    async def late_purchase_refused() -> bool:
        return easypost.fake.repeat_purchases_refused == 1

    await eventually(late_purchase_refused, within=5)
    assert easypost.fake.labels_bought() == 1
    assert easypost.fake.shipments[label.carrier_label_id].selected_rate["rate"] == "16.44"  # type: ignore[index]


async def test_unknown_service_is_refused_before_any_money_moves(easypost: EasyPost) -> None:
    with pytest.raises(EasyPostRequestRejected) as caught:
        await easypost.client.buy(REQUEST, "USPS:Teleport", "ship-x")
    assert caught.value.retryable is False
    assert "offers no USPS:Teleport" in caught.value.message and "USPS:Priority" in caught.value.message
    assert easypost.fake.labels_bought() == 0


# --- voids -------------------------------------------------------------------------------


async def test_void_accepted_then_refunded(easypost: EasyPost) -> None:
    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-void")

    assert await easypost.client.void(label.carrier_label_id) is RefundStatus.SUBMITTED
    easypost.fake.settle_refunds()
    assert await easypost.client.void(label.carrier_label_id) is RefundStatus.REFUNDED
    assert easypost.fake.shipments[label.carrier_label_id].tracker.status == "cancelled"  # type: ignore[union-attr]


async def test_void_refused_once_scanned_and_the_label_stays(easypost: EasyPost) -> None:
    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-scanned")
    easypost.fake.advance(label.tracking_number, "in_transit")

    with pytest.raises(VoidRejected) as caught:
        await easypost.client.void(label.carrier_label_id)

    assert "already scanned" in caught.value.message and "in_transit" in caught.value.message
    shipment = easypost.fake.shipments[label.carrier_label_id]
    assert shipment.purchased and shipment.refund_status == "rejected"
    assert (await easypost.client.track(label.tracking_number)).status is TrackingStatus.IN_TRANSIT


async def test_spurious_rejection_right_after_purchase_is_asked_again(easypost: EasyPost) -> None:
    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-early-void")
    easypost.fake.reject_refunds_next()

    assert await easypost.client.void(label.carrier_label_id) is RefundStatus.SUBMITTED
    assert easypost.posts(f"/v2/shipments/{label.carrier_label_id}/refund") == 2


async def test_void_of_an_unknown_label_is_a_refusal(easypost: EasyPost) -> None:
    with pytest.raises(EasyPostRequestRejected) as caught:
        await easypost.client.void("shp_missing")
    assert caught.value.retryable is False and caught.value.code == "NOT_FOUND"


# --- tracking ----------------------------------------------------------------------------


async def test_tracking_to_delivered(easypost: EasyPost) -> None:
    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-track")
    assert (await easypost.client.track(label.tracking_number)).status is TrackingStatus.PENDING

    for status in ("in_transit", "out_for_delivery", "delivered"):
        easypost.clock.advance(90)
        easypost.fake.advance(label.tracking_number, status)
    fresh = easypost.new_client()  # another worker: finds the tracker by code, not from memory
    try:
        info = await fresh.track(label.tracking_number)
    finally:
        await fresh.aclose()

    assert info.status is TrackingStatus.DELIVERED
    assert [e.status for e in info.events] == [
        TrackingStatus.PENDING, TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED,
    ]  # fmt: skip
    assert info.events[-1].location == "Springfield, IL, US"
    assert info.events[0].occurred_at < info.events[-1].occurred_at
    assert easypost.posts("/v2/trackers") == 0  # the label came with its tracker: no paid tracker created


async def test_tracking_a_number_bought_elsewhere_creates_its_tracker(easypost: EasyPost) -> None:
    info = await easypost.client.track("EZ4000000004")  # EasyPost's test code for "delivered"

    assert info.status is TrackingStatus.DELIVERED
    await easypost.client.track("EZ4000000004")
    assert easypost.posts("/v2/trackers") == 1


# --- webhooks ----------------------------------------------------------------------------


async def test_tracker_webhook_good_signature_accepted_bad_rejected(easypost: EasyPost) -> None:
    label = await easypost.client.buy(REQUEST, "USPS:Priority", "ship-hook")
    easypost.fake.advance(label.tracking_number, "out_for_delivery")
    headers, body = easypost.fake.webhook(label.tracking_number)

    assert verify(headers, body, easypost.fake.webhook_secret)
    parsed = parse_webhook(body)
    assert parsed is not None and parsed[0] == label.tracking_number
    assert parsed[1].status is TrackingStatus.OUT_FOR_DELIVERY

    assert not verify(headers, body, "someone-elses-secret")
    assert not verify(headers, body.replace(b"out_for_delivery", b"delivered"), easypost.fake.webhook_secret)
    assert not verify({"Content-Type": "application/json"}, body, easypost.fake.webhook_secret)


# --- transport ---------------------------------------------------------------------------


async def test_429_waits_for_retry_after(easypost: EasyPost) -> None:
    easypost.fake.throttle_next(1, retry_after=0.3)
    started = time.monotonic()

    rates = await easypost.client.rates(REQUEST)

    assert rates and time.monotonic() - started >= 0.3
    assert easypost.posts("/v2/shipments") == 2


async def test_long_retry_after_is_handed_back_not_slept(easypost: EasyPost) -> None:
    easypost.fake.throttle_next(1, retry_after=120)
    started = time.monotonic()
    with pytest.raises(CarrierFailure) as caught:
        await easypost.client.rates(REQUEST)
    assert caught.value.retryable is True and "retry in 120 s" in caught.value.message
    assert time.monotonic() - started < 5


async def test_5xx_is_retried_then_reported_retryable(easypost: EasyPost) -> None:
    easypost.fake.fail_next(2, 503)
    assert await easypost.client.rates(REQUEST)
    assert easypost.posts("/v2/shipments") == 3

    easypost.fake.fail_next(3, 500)
    with pytest.raises(CarrierFailure) as caught:
        await easypost.client.rates(REQUEST)
    assert caught.value.retryable is True
    assert caught.value.message == "EasyPost unavailable after 3 attempts: HTTP 500 We're sorry, something went wrong."


async def test_5xx_on_the_purchase_never_buys_twice(easypost: EasyPost) -> None:
    easypost.fake.fail_next(1, 502, path_contains="/buy")

    label = await easypost.client.buy(REQUEST, "UPS:Ground", "ship-502")

    assert easypost.fake.labels_bought() == 1 and label.amount == Decimal("13.40")
    assert easypost.posts(f"/v2/shipments/{label.carrier_label_id}/buy") == 2  # re-checked: not bought, re-sent


async def test_injected_http_client_stays_open(easypost: EasyPost) -> None:
    async with httpx.AsyncClient() as http:
        client = EasyPostClient(API_KEY, base_url=f"{easypost.base_url}/v2", http=http, retry_backoff=0)
        await client.rates(REQUEST)
        await client.aclose()
        assert not http.is_closed
