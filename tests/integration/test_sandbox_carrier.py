"""The sandbox carrier end to end: SandboxCarrierClient against the fake served over real HTTP on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.carriers.sandbox import SandboxCarrier, SandboxCarrierClient, SandboxRequestRejected, SandboxSchedule
from domain.model import Address, RefundStatus, TrackingStatus
from domain.ports import CarrierFailure, Parcel, RateRequest, VoidRejected
from tests.support.servers import serve_app

API_KEY = "sk_sandbox_test_1234"
SCHEDULE = SandboxSchedule(pre_transit_s=60, in_transit_s=300, out_for_delivery_s=120)
REQUEST = RateRequest(
    ship_to=Address(
        name="Ada Lovelace", line1="12 Analytical Way", city="Springfield", region="IL", postal_code="62701",
        country_code="US",
    ),
    ship_from=Address(
        company="Waybill Test Shop", line1="1 Warehouse Rd", city="Portland", region="OR", postal_code="97201",
        country_code="US",
    ),
    parcel=Parcel(weight_grams=1200),
)  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Sandbox:
    carrier: SandboxCarrier
    client: SandboxCarrierClient
    clock: FakeClock
    base_url: str

    def label_posts(self) -> int:
        return self.carrier.requests.count(("POST", "/v1/labels"))


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    clock = FakeClock()
    carrier = SandboxCarrier(schedule=SCHEDULE, clock=clock)
    async with serve_app(carrier.app) as base_url:
        client = SandboxCarrierClient(base_url, API_KEY, retry_backoff=0)
        try:
            yield Sandbox(carrier, client, clock, base_url)
        finally:
            await client.aclose()


async def _raw(method: str, url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.request(method, url, **kwargs)  # type: ignore[arg-type]


# --- rates -------------------------------------------------------------------------------


async def test_rates_are_sorted_cheapest_first_and_priced_by_weight(sandbox: Sandbox) -> None:
    light = await sandbox.client.rates(REQUEST)
    heavy = await sandbox.client.rates(replace(REQUEST, parcel=Parcel(weight_grams=9000)))

    assert [rate.service for rate in light] == ["GROUND", "EXPRESS", "OVERNIGHT"]
    assert [rate.delivery_days for rate in light] == [5, 2, 1]
    assert light[0].amount < light[1].amount < light[2].amount
    assert all(rate.carrier == "sandbox" and rate.currency == "USD" for rate in light)
    assert light[0].amount == Decimal("9.80")  # 6.50 + 3 started half-kilos at 1.10
    assert all(h.amount > lt.amount for h, lt in zip(heavy, light, strict=True))
    assert await sandbox.client.rates(REQUEST) == light  # deterministic


async def test_invalid_address_is_rejected_naming_the_field(sandbox: Sandbox) -> None:
    no_zip = replace(REQUEST, ship_to=replace(REQUEST.ship_to, postal_code=None))
    with pytest.raises(SandboxRequestRejected) as caught:
        await sandbox.client.rates(no_zip)
    assert caught.value.retryable is False
    assert caught.value.code == "ADDRESS.VERIFY.FAILURE"
    assert caught.value.fields == ["ship_to.postal_code"]
    assert "ship_to.postal_code" in caught.value.message

    response = await _raw(
        "POST", f"{sandbox.base_url}/v1/rates", headers={"Authorization": f"Bearer {API_KEY}"},
        json={"to_address": {"name": "A"}, "from_address": None, "parcel": {"weight_g": 100}},
    )  # fmt: skip
    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["error"]["errors"]]
    assert {"to_address.street1", "to_address.zip", "to_address.country", "from_address", "parcel.length_cm"} <= set(
        fields
    )


async def test_invalid_parcel_is_rejected_naming_the_field(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxRequestRejected) as caught:
        await sandbox.client.rates(replace(REQUEST, parcel=Parcel(weight_grams=0)))
    assert caught.value.code == "PARCEL.INVALID"
    assert caught.value.fields == ["parcel.weight_grams"]


async def test_bad_api_key_is_refused_without_echoing_it(sandbox: Sandbox) -> None:
    client = SandboxCarrierClient(sandbox.base_url, "sk_live_secret_999", retry_backoff=0)
    try:
        with pytest.raises(CarrierFailure) as caught:
            await client.rates(REQUEST)
    finally:
        await client.aclose()
    assert caught.value.retryable is False
    assert "sk_live_secret_999" not in caught.value.message
    assert "sk_live_secret_999" not in repr(client)

    response = await _raw("POST", f"{sandbox.base_url}/v1/rates", json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "APIKEY.INACTIVE"


# --- buying ------------------------------------------------------------------------------


async def test_buy_returns_a_printable_pdf_and_zpl(sandbox: Sandbox) -> None:
    label = await sandbox.client.buy(REQUEST, "EXPRESS", "ship-1")

    assert re.fullmatch(r"SBX\d{16}", label.tracking_number)
    assert label.amount == (await sandbox.client.rates(REQUEST))[1].amount
    assert label.currency == "USD"
    assert label.pdf.startswith(b"%PDF-") and b"/MediaBox [ 0 0 288 432 ]" in label.pdf
    assert label.tracking_number.encode() in label.pdf
    assert label.zpl.startswith(b"^XA") and f"^FD{label.tracking_number}^FS".encode() in label.zpl
    assert list(sandbox.carrier.labels) == [label.carrier_label_id]

    page = await _raw("GET", label.tracking_url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert label.tracking_number in page.text


async def test_buying_twice_with_the_same_key_buys_once(sandbox: Sandbox) -> None:
    first = await sandbox.client.buy(REQUEST, "GROUND", "ship-2")
    again = await sandbox.client.buy(REQUEST, "GROUND", "ship-2")
    other = await sandbox.client.buy(REQUEST, "GROUND", "ship-3")

    assert again == first
    assert other.tracking_number != first.tracking_number
    assert len(sandbox.carrier.labels) == 2


async def test_reusing_a_key_for_a_different_label_is_a_conflict(sandbox: Sandbox) -> None:
    await sandbox.client.buy(REQUEST, "GROUND", "ship-4")
    with pytest.raises(SandboxRequestRejected) as caught:
        await sandbox.client.buy(REQUEST, "OVERNIGHT", "ship-4")
    assert caught.value.code == "IDEMPOTENCY_KEY.CONFLICT"
    assert caught.value.retryable is False
    assert len(sandbox.carrier.labels) == 1


async def test_unknown_service_is_rejected_by_name(sandbox: Sandbox) -> None:
    with pytest.raises(CarrierFailure) as caught:
        await sandbox.client.buy(REQUEST, "TELEPORT", "ship-5")
    assert "TELEPORT" in caught.value.message
    assert caught.value.retryable is False
    assert sandbox.carrier.labels == {}


async def test_purchase_needs_an_idempotency_key(sandbox: Sandbox) -> None:
    response = await _raw(
        "POST", f"{sandbox.base_url}/v1/labels", headers={"Authorization": f"Bearer {API_KEY}"},
        json={"service": "GROUND"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY.MISSING"


async def test_failure_after_charging_is_retried_into_the_label_already_bought(sandbox: Sandbox) -> None:
    sandbox.carrier.charge_then_fail_next(1)

    label = await sandbox.client.buy(REQUEST, "GROUND", "ship-6")

    assert sandbox.label_posts() == 2  # the 500, then the retry with the same key
    assert list(sandbox.carrier.labels) == [label.carrier_label_id]
    assert label.pdf.startswith(b"%PDF-")


async def test_outage_is_retryable_and_a_later_retry_reconciles(sandbox: Sandbox) -> None:
    sandbox.carrier.charge_then_fail_next(3)
    with pytest.raises(CarrierFailure) as caught:
        await sandbox.client.buy(REQUEST, "GROUND", "ship-7")
    assert caught.value.retryable is True
    assert sandbox.label_posts() == 3
    assert len(sandbox.carrier.labels) == 1  # charged once, though every answer was a 500

    label = await sandbox.client.buy(REQUEST, "GROUND", "ship-7")  # the outbox tries again later
    assert list(sandbox.carrier.labels) == [label.carrier_label_id]


async def test_transient_errors_are_retried(sandbox: Sandbox) -> None:
    sandbox.carrier.fail_next(2, status=503)
    rates = await sandbox.client.rates(REQUEST)
    assert len(rates) == 3
    assert sandbox.carrier.requests.count(("POST", "/v1/rates")) == 3


async def test_timeouts_are_retried_with_the_same_idempotency_key() -> None:
    seen: list[str | None] = []

    def hang(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("idempotency-key"))
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        client = SandboxCarrierClient("http://sandbox.invalid", API_KEY, http=http, retry_backoff=0)
        with pytest.raises(CarrierFailure) as caught:
            await client.buy(REQUEST, "GROUND", "ship-8")
        await client.aclose()
        assert not http.is_closed  # the caller's client is the caller's to close
    assert caught.value.retryable is True
    assert "timed out" in caught.value.message
    assert seen == ["ship-8", "ship-8", "ship-8"]


# --- void --------------------------------------------------------------------------------


async def test_void_before_the_first_scan_refunds_and_cancels_tracking(sandbox: Sandbox) -> None:
    label = await sandbox.client.buy(REQUEST, "GROUND", "ship-9")

    assert await sandbox.client.void(label.carrier_label_id) is RefundStatus.REFUNDED
    assert await sandbox.client.void(label.carrier_label_id) is RefundStatus.REFUNDED  # idempotent

    sandbox.clock.advance(SCHEDULE.delivered_after_s + 1)
    tracking = await sandbox.client.track(label.tracking_number)
    assert tracking.status is TrackingStatus.CANCELLED  # a voided label never moves again
    assert len(sandbox.carrier.labels) == 1


async def test_void_after_a_forced_scan_is_rejected(sandbox: Sandbox) -> None:
    label = await sandbox.client.buy(REQUEST, "GROUND", "ship-10")
    forced = await _raw(
        "POST", f"{sandbox.base_url}/_sandbox/trackers/{label.tracking_number}",
        headers={"Authorization": f"Bearer {API_KEY}"}, json={"status": "in_transit"},
    )  # fmt: skip
    assert forced.status_code == 200 and forced.json()["status"] == "in_transit"

    with pytest.raises(VoidRejected) as caught:
        await sandbox.client.void(label.carrier_label_id)
    assert "already scanned" in caught.value.message
    assert sandbox.carrier.labels[label.carrier_label_id].refund_status is None


async def test_void_of_an_unknown_label_fails_for_good(sandbox: Sandbox) -> None:
    with pytest.raises(CarrierFailure) as caught:
        await sandbox.client.void("lbl_nope")
    assert caught.value.retryable is False


# --- tracking ----------------------------------------------------------------------------


async def test_tracking_follows_the_clock_from_pending_to_delivered(sandbox: Sandbox) -> None:
    bought_at = sandbox.clock.now()
    label = await sandbox.client.buy(REQUEST, "GROUND", "ship-11")

    seen = [(await sandbox.client.track(label.tracking_number)).status]
    for seconds in (59, 2, 300, 120):
        sandbox.clock.advance(seconds)
        seen.append((await sandbox.client.track(label.tracking_number)).status)
    assert seen == [
        TrackingStatus.PENDING,
        TrackingStatus.PENDING,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]

    delivered = await sandbox.client.track(label.tracking_number)
    assert [(event.status, event.occurred_at - bought_at) for event in delivered.events] == [
        (TrackingStatus.PENDING, timedelta(0)),
        (TrackingStatus.IN_TRANSIT, timedelta(seconds=60)),
        (TrackingStatus.OUT_FOR_DELIVERY, timedelta(seconds=360)),
        (TrackingStatus.DELIVERED, timedelta(seconds=480)),
    ]
    assert delivered.events[-1].location == "Springfield, IL, US"
    with pytest.raises(VoidRejected):
        await sandbox.client.void(label.carrier_label_id)


async def test_forced_status_moves_now_and_the_schedule_continues_from_there(sandbox: Sandbox) -> None:
    label = await sandbox.client.buy(REQUEST, "GROUND", "ship-12")
    sandbox.carrier.force_status(label.tracking_number, "out_for_delivery")
    assert (await sandbox.client.track(label.tracking_number)).status is TrackingStatus.OUT_FOR_DELIVERY

    sandbox.clock.advance(SCHEDULE.out_for_delivery_s)
    tracking = await sandbox.client.track(label.tracking_number)
    assert tracking.status is TrackingStatus.DELIVERED
    assert [event.status for event in tracking.events] == [
        TrackingStatus.PENDING,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]

    sandbox.carrier.force_status(label.tracking_number, "return_to_sender")
    sandbox.clock.advance(10**6)
    assert (await sandbox.client.track(label.tracking_number)).status is TrackingStatus.RETURN_TO_SENDER


async def test_a_huge_schedule_never_moves_on_its_own() -> None:
    clock = FakeClock()
    carrier = SandboxCarrier(schedule=SandboxSchedule(1e300, 1e300, 1e300), clock=clock)
    async with serve_app(carrier.app) as base_url:
        client = SandboxCarrierClient(base_url, API_KEY, retry_backoff=0)
        try:
            label = await client.buy(REQUEST, "GROUND", "ship-13")
            clock.advance(10 * 365 * 24 * 3600)
            assert (await client.track(label.tracking_number)).status is TrackingStatus.PENDING
            assert await client.void(label.carrier_label_id) is RefundStatus.REFUNDED
        finally:
            await client.aclose()


async def test_unknown_tracking_number_fails_for_good(sandbox: Sandbox) -> None:
    with pytest.raises(CarrierFailure) as caught:
        await sandbox.client.track("SBX0000000000000000")
    assert caught.value.retryable is False
    assert (await _raw("GET", f"{sandbox.base_url}/track/SBX0000000000000000")).status_code == 404


async def test_works_when_mounted_under_a_prefix_as_in_demo_mode() -> None:
    """Waybill mounts the fake inside its own server; label and tracking links must keep the prefix."""
    carrier = SandboxCarrier(schedule=SCHEDULE, clock=FakeClock())
    host = Starlette(routes=[Mount("/sandbox-carrier", app=carrier.app)])
    async with serve_app(host) as base_url:
        client = SandboxCarrierClient(f"{base_url}/sandbox-carrier/", API_KEY, retry_backoff=0)
        try:
            label = await client.buy(REQUEST, "OVERNIGHT", "ship-14")
        finally:
            await client.aclose()
        assert label.pdf.startswith(b"%PDF-")
        assert label.tracking_url == f"{base_url}/sandbox-carrier/track/{label.tracking_number}"
        assert (await _raw("GET", label.tracking_url)).status_code == 200


async def test_tracking_page_escapes_what_the_merchant_typed(sandbox: Sandbox) -> None:
    hostile = replace(REQUEST, ship_from=replace(REQUEST.ship_from, city="<script>alert(1)</script>"))
    label = await sandbox.client.buy(hostile, "GROUND", "ship-15")
    page = await _raw("GET", label.tracking_url)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
