"""ShippoClient against FakeShippo over real HTTP on loopback: rates, idempotent and async buys, voids, tracking."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

import httpx
import pytest

from adapters.carriers.shippo import FakeShippo, PurchasePending, ShippoClient, parse_track_webhook, verify_webhook
from domain.model import Address, RefundStatus, TrackingStatus
from domain.ports import CarrierFailure, Parcel, RateRequest, VoidRejected
from tests.support.servers import serve_app

TOKEN = "shippo_test_5f3c0a9d8e7b6a5f4e3d2c1b0a9f8e7d"
REQUEST = RateRequest(
    ship_to=Address(name="Ada Lovelace", line1="12 Analytical Way", city="Springfield", region="IL",
                    postal_code="62701", country_code="US"),
    ship_from=Address(company="Waybill Test Shop", line1="1 Warehouse Rd", city="Portland", region="OR",
                      postal_code="97201", country_code="US"),
    parcel=Parcel(weight_grams=1200),
)  # fmt: skip
FAST_POLL = (0.02, 0.02, 0.02)


@dataclass
class Shippo:
    fake: FakeShippo
    base_url: str
    client: ShippoClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.new_client()

    def new_client(self, **options: object) -> ShippoClient:
        """Another process's client: no memory of what this one bought."""
        settings: dict[str, object] = {"base_url": self.base_url, "retry_backoff": 0, "poll_delays": FAST_POLL}
        settings.update(options)
        return ShippoClient(str(settings.pop("token", TOKEN)), **settings)  # type: ignore[arg-type]

    def count(self, method: str, path: str) -> int:
        return self.fake.requests.count((method, path))


@pytest.fixture
async def shippo() -> AsyncIterator[Shippo]:
    fake = FakeShippo()
    async with serve_app(fake.app) as base_url:
        state = Shippo(fake, base_url)
        try:
            yield state
        finally:
            await state.client.aclose()


async def _wait_for(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- rates ---------------------------------------------------------------------------------


async def test_rates_are_quoted_cheapest_first_with_auth_and_api_version(shippo: Shippo) -> None:
    rates = await shippo.client.rates(REQUEST)

    assert [rate.service for rate in rates] == ["usps_ground_advantage", "usps_priority", "ups_next_day_air"]
    assert [rate.service_name for rate in rates] == ["USPS Ground Advantage", "USPS Priority Mail", "UPS Next Day Air"]
    assert [str(rate.amount) for rate in rates] == ["7.20", "11.05", "36.90"]  # base + 2 started kg
    assert [rate.delivery_days for rate in rates] == [5, 2, 1]
    assert all(rate.carrier == "shippo" and rate.currency == "USD" for rate in rates)
    assert shippo.fake.api_versions == ["2018-02-08"]
    shipment = next(iter(shippo.fake.shipments.values()))
    assert shipment.body["parcels"] == [
        {"length": "30", "width": "20", "height": "10", "distance_unit": "cm", "weight": "1200", "mass_unit": "g"}
    ]


async def test_invalid_address_is_a_non_retryable_failure_with_shippos_text(shippo: Shippo) -> None:
    no_zip = replace(REQUEST, ship_to=replace(REQUEST.ship_to, postal_code=None))
    with pytest.raises(CarrierFailure) as caught:
        await shippo.client.rates(no_zip)
    assert caught.value.retryable is False
    assert "address_to: zip: This field is required." in caught.value.message
    assert shippo.count("POST", "/shipments") == 1  # a 4xx is not retried


async def test_bad_token_is_refused_without_echoing_it(shippo: Shippo) -> None:
    client = shippo.new_client(token="sk_live_secret_999")
    try:
        with pytest.raises(CarrierFailure) as caught:
            await client.rates(REQUEST)
    finally:
        await client.aclose()
    assert caught.value.retryable is False
    assert "Invalid token." in caught.value.message
    assert "sk_live_secret_999" not in caught.value.message and "sk_live_secret_999" not in repr(client)


async def test_throttling_is_honoured_then_the_call_succeeds(shippo: Shippo) -> None:
    shippo.fake.throttle_next(1, retry_after=0.3, path_contains="/shipments")
    started = time.monotonic()
    rates = await shippo.client.rates(REQUEST)
    assert time.monotonic() - started >= 0.3
    assert len(rates) == 3 and shippo.count("POST", "/shipments") == 2


async def test_server_errors_are_retried_then_reported_as_retryable(shippo: Shippo) -> None:
    shippo.fake.fail_next(2, 503, path_contains="/shipments")
    assert len(await shippo.client.rates(REQUEST)) == 3
    assert shippo.count("POST", "/shipments") == 3

    shippo.fake.fail_next(3, 500, path_contains="/shipments")
    with pytest.raises(CarrierFailure) as caught:
        await shippo.client.rates(REQUEST)
    assert caught.value.retryable is True and "HTTP 500" in caught.value.message


# --- buying --------------------------------------------------------------------------------


async def test_buy_returns_the_pdf_label_and_tracking(shippo: Shippo) -> None:
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-1")

    [bought] = shippo.fake.labels()
    assert label.carrier_label_id == bought.object_id and bought.metadata == "ship-1"
    assert bought.label_file_type == "PDF_4x6"
    assert label.tracking_number == bought.tracking_number and label.tracking_number.startswith("9205590")
    assert label.tracking_url.endswith(f"origTrackNum={label.tracking_number}")
    assert str(label.amount) == "11.05" and label.currency == "USD"
    assert label.pdf.startswith(b"%PDF-") and label.tracking_number.encode() in label.pdf
    assert label.zpl == b""  # one label file per Shippo transaction; PDF asked for


async def test_a_zpl_account_gets_zpl_bytes(shippo: Shippo) -> None:
    client = shippo.new_client(label_file_type="ZPLII")
    try:
        label = await client.buy(REQUEST, "ups_next_day_air", "ship-zpl")
    finally:
        await client.aclose()
    assert label.zpl.startswith(b"^XA") and label.pdf == b"" and label.tracking_number.startswith("1Z")


async def test_duplicate_buy_with_the_same_key_returns_the_first_label(shippo: Shippo) -> None:
    first = await shippo.client.buy(REQUEST, "usps_priority", "ship-dup")
    again = await shippo.client.buy(REQUEST, "usps_priority", "ship-dup")
    other_process = shippo.new_client()
    try:
        third = await other_process.buy(REQUEST, "usps_priority", "ship-dup")
    finally:
        await other_process.aclose()

    assert first == again == third
    assert len(shippo.fake.labels()) == 1 and shippo.count("POST", "/transactions") == 1


async def test_a_first_attempt_skips_the_lookup(shippo: Shippo) -> None:
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-first", maybe_bought_before=False)
    assert shippo.count("GET", "/transactions") == 0
    assert await shippo.client.buy(REQUEST, "usps_priority", "ship-first", maybe_bought_before=False) == label
    assert len(shippo.fake.labels()) == 1


async def test_a_key_reused_for_another_service_is_refused(shippo: Shippo) -> None:
    await shippo.client.buy(REQUEST, "usps_priority", "ship-x")
    client = shippo.new_client()
    try:
        with pytest.raises(CarrierFailure) as caught:
            await client.buy(REQUEST, "ups_next_day_air", "ship-x")
    finally:
        await client.aclose()
    assert caught.value.retryable is False and "'usps_priority'" in caught.value.message
    assert len(shippo.fake.labels()) == 1


async def test_lost_purchase_answer_is_recovered_by_key_not_bought_again(shippo: Shippo) -> None:
    shippo.fake.charge_then_fail_next(1)
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-lost")

    [bought] = shippo.fake.labels()
    assert label.carrier_label_id == bought.object_id
    assert shippo.count("POST", "/transactions") == 1  # looked up, not re-posted
    assert label.pdf.startswith(b"%PDF-")


async def test_timed_out_purchase_is_not_posted_again_and_the_retry_finds_it(shippo: Shippo) -> None:
    shippo.fake.delay_next(1, 0.6, path_contains="/transactions", method="POST")
    client = shippo.new_client(timeout=0.3)
    try:
        with pytest.raises(CarrierFailure) as caught:
            await client.buy(REQUEST, "usps_priority", "ship-slow")
        assert caught.value.retryable is True and "retry with the same key" in caught.value.message
        await _wait_for(lambda: len(shippo.fake.labels()) == 1)  # the slow request lands after all

        label = await client.buy(REQUEST, "usps_priority", "ship-slow")
    finally:
        await client.aclose()
    [bought] = shippo.fake.labels()
    assert label.carrier_label_id == bought.object_id and shippo.count("POST", "/transactions") == 1


async def test_unknown_service_is_refused_before_buying(shippo: Shippo) -> None:
    with pytest.raises(CarrierFailure) as caught:
        await shippo.client.buy(REQUEST, "fedex_ground", "ship-fedex")
    assert caught.value.retryable is False and "usps_priority" in caught.value.message
    assert shippo.fake.transactions == {}


async def test_async_purchase_is_polled_until_it_succeeds(shippo: Shippo) -> None:
    shippo.fake.queue_next(1, polls=2)
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-async")
    [bought] = shippo.fake.labels()
    assert bought.status == "SUCCESS" and label.carrier_label_id == bought.object_id
    assert shippo.count("GET", f"/transactions/{bought.object_id}") == 2


async def test_still_pending_purchase_raises_then_the_retry_collects_the_same_transaction(shippo: Shippo) -> None:
    shippo.fake.queue_next(1, polls=100)
    with pytest.raises(PurchasePending) as caught:
        await shippo.client.buy(REQUEST, "usps_priority", "ship-queued")
    assert caught.value.retryable is True and "pending" in caught.value.message
    assert shippo.fake.labels() == []

    shippo.fake.complete(caught.value.transaction_id)
    other_process = shippo.new_client()
    try:
        label = await other_process.buy(REQUEST, "usps_priority", "ship-queued")
    finally:
        await other_process.aclose()
    assert label.carrier_label_id == caught.value.transaction_id
    assert len(shippo.fake.transactions) == 1 and shippo.count("POST", "/transactions") == 1


async def test_async_purchase_that_fails_reports_the_carriers_message(shippo: Shippo) -> None:
    shippo.fake.queue_next(1, polls=1, outcome="ERROR", message="The selected shipment date must be within 7 days.")
    with pytest.raises(CarrierFailure) as caught:
        await shippo.client.buy(REQUEST, "usps_priority", "ship-err")
    assert caught.value.retryable is False
    assert (
        caught.value.message
        == "Shippo could not create the label: USPS: The selected shipment date must be within 7 days."
    )
    assert shippo.fake.labels() == []


# --- voids ---------------------------------------------------------------------------------


async def test_void_is_submitted_then_refunded(shippo: Shippo) -> None:
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-void")

    assert await shippo.client.void(label.carrier_label_id) is RefundStatus.SUBMITTED
    assert shippo.fake.transactions[label.carrier_label_id].status == "REFUNDPENDING"
    assert await shippo.client.void(label.carrier_label_id) is RefundStatus.SUBMITTED  # a repeat is harmless
    shippo.fake.complete_refund(label.carrier_label_id)
    assert await shippo.client.void(label.carrier_label_id) is RefundStatus.REFUNDED
    assert len(shippo.fake.refunds) == 1


async def test_void_of_a_scanned_label_is_refused_and_the_label_stays(shippo: Shippo) -> None:
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-scanned")
    shippo.fake.advance(label.tracking_number, "TRANSIT")

    with pytest.raises(VoidRejected) as caught:
        await shippo.client.void(label.carrier_label_id)
    assert "already been scanned by USPS (TRANSIT)" in caught.value.message
    assert shippo.fake.transactions[label.carrier_label_id].status == "SUCCESS"
    assert shippo.fake.refunds == {}


# --- tracking ------------------------------------------------------------------------------


async def test_tracking_follows_the_parcel_to_delivered(shippo: Shippo) -> None:
    label = await shippo.client.buy(REQUEST, "ups_next_day_air", "ship-track")
    assert (await shippo.client.track(label.tracking_number)).status is TrackingStatus.PENDING

    shippo.fake.advance(label.tracking_number, "TRANSIT")
    shippo.fake.advance(label.tracking_number, "DELIVERED")
    info = await shippo.client.track(label.tracking_number)

    assert shippo.count("GET", f"/tracks/ups/{label.tracking_number}") == 2  # the carrier it was bought with
    assert info.status is TrackingStatus.DELIVERED
    assert [event.status for event in info.events] == [
        TrackingStatus.PENDING, TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED,
    ]  # fmt: skip
    assert info.events[-1].location == "Springfield, IL, US"


async def test_webhook_with_a_good_signature_is_accepted_and_a_bad_one_rejected(shippo: Shippo) -> None:
    label = await shippo.client.buy(REQUEST, "usps_priority", "ship-hook")
    shippo.fake.advance(label.tracking_number, "DELIVERED")

    headers, body = shippo.fake.webhook(label.tracking_number)
    assert verify_webhook(headers, body, shippo.fake.webhook_secret)
    parsed = parse_track_webhook(body)
    assert parsed is not None and parsed[0] == label.tracking_number
    assert parsed[1].status is TrackingStatus.DELIVERED

    forged_headers, forged_body = shippo.fake.webhook(label.tracking_number, secret="not-the-secret")
    assert not verify_webhook(forged_headers, forged_body, shippo.fake.webhook_secret)
    assert not verify_webhook(headers, body.replace(b"DELIVERED", b"RETURNED"), shippo.fake.webhook_secret)
    stale_headers, stale_body = shippo.fake.webhook(label.tracking_number, timestamp=int(time.time()) - 3600)
    assert not verify_webhook(stale_headers, stale_body, shippo.fake.webhook_secret)


async def test_label_files_are_public_but_the_api_is_not(shippo: Shippo) -> None:
    await shippo.client.buy(REQUEST, "usps_priority", "ship-public")
    [bought] = shippo.fake.labels()
    async with httpx.AsyncClient() as http:
        label = await http.get(f"{shippo.base_url}/labels/{bought.object_id}.pdf")
        api = await http.get(f"{shippo.base_url}/transactions/{bought.object_id}")
    assert label.status_code == 200 and label.content.startswith(b"%PDF-")
    assert api.status_code == 401 and api.json() == {"detail": "Authentication credentials were not provided."}
