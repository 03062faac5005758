"""Golden tests of the Shippo mapper on real payloads (tests/fixtures/shippo, copies of shared/fixtures/shippo).

track_get_status / transaction_* / transactions_list: Shippo API reference examples. Statuses per CHANNELS.md
section 8: PRE_TRANSIT→PENDING, TRANSIT→IN_TRANSIT, RETURNED→RETURN_TO_SENDER, FAILURE→DELIVERY_FAILED.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.carriers.shippo import mapper
from domain.model import Address, RefundStatus, TrackingStatus
from domain.ports import Parcel, Rate, RateRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shippo"
SECRET = "whsec_test_secret"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


# --- status tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("UNKNOWN", TrackingStatus.UNKNOWN),
        ("PRE_TRANSIT", TrackingStatus.PENDING),
        ("TRANSIT", TrackingStatus.IN_TRANSIT),
        ("DELIVERED", TrackingStatus.DELIVERED),
        ("RETURNED", TrackingStatus.RETURN_TO_SENDER),
        ("FAILURE", TrackingStatus.DELIVERY_FAILED),
        ("transit", TrackingStatus.IN_TRANSIT),
        ("TELEPORTED", TrackingStatus.UNKNOWN),
        ("", TrackingStatus.UNKNOWN),
        (None, TrackingStatus.UNKNOWN),
    ],
)
def test_tracking_status(wire: str | None, expected: TrackingStatus) -> None:
    assert mapper.tracking_status(wire) is expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("QUEUED", RefundStatus.SUBMITTED),
        ("PENDING", RefundStatus.SUBMITTED),
        ("SUCCESS", RefundStatus.REFUNDED),
        ("ERROR", RefundStatus.REJECTED),
    ],
)
def test_refund_status(wire: str, expected: RefundStatus) -> None:
    assert mapper.refund_status(wire) is expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("REFUNDPENDING", RefundStatus.SUBMITTED),
        ("REFUNDED", RefundStatus.REFUNDED),
        ("REFUNDREJECTED", RefundStatus.REJECTED),
        ("SUCCESS", None),
        ("QUEUED", None),
    ],
)
def test_transaction_refund_status(wire: str, expected: RefundStatus | None) -> None:
    assert mapper.transaction_refund_status(wire) is expected


# --- tracking ------------------------------------------------------------------------------


def test_track_fixture_maps_status_and_every_event_in_order() -> None:
    info = mapper.tracking_from_wire(fixture("track_get_status.json"))

    assert info.status is TrackingStatus.DELIVERED
    assert len(info.events) == 11
    first, third, last = info.events[0], info.events[2], info.events[-1]
    assert first.status is TrackingStatus.UNKNOWN
    assert first.occurred_at == datetime(2016, 12, 7, 0, 0, tzinfo=UTC)
    assert first.location is None
    assert first.description == "The USPS has received the electronic shipment information and is awaiting the item."
    assert third.status is TrackingStatus.IN_TRANSIT
    assert third.location == "San Francisco, CA, US"
    assert third.description == "Your shipment has been accepted at the USPS origin facility."
    assert last.status is TrackingStatus.DELIVERED
    assert last.occurred_at == datetime(2016, 12, 8, 15, 19, tzinfo=UTC)
    assert last.location == "Berkeley, CA, US"
    assert [event.occurred_at for event in info.events] == sorted(event.occurred_at for event in info.events)


def test_track_without_history_uses_the_current_status_as_its_only_event() -> None:
    track = fixture("track_get_status.json")
    track["tracking_history"] = []
    info = mapper.tracking_from_wire(track)
    assert info.status is TrackingStatus.DELIVERED
    assert [(e.status, e.description) for e in info.events] == [
        (TrackingStatus.DELIVERED, "Your shipment has been delivered at the destination mailbox.")
    ]
    assert mapper.tracking_from_wire({"tracking_status": None, "tracking_history": []}).status is TrackingStatus.UNKNOWN


# --- transactions --------------------------------------------------------------------------


def test_successful_transaction_becomes_a_purchased_label() -> None:
    transaction = fixture("transaction_success.json")
    rate = {"object_id": transaction["rate"], "amount": "7.85", "currency": "USD", "provider": "USPS"}

    label = mapper.purchased_label(transaction, rate, b"%PDF-1.4 label")
    assert label.carrier_name == "USPS"

    assert label.carrier_label_id == "f3b5b88d350b4a02922dcec49b781ffd"
    assert label.tracking_number == "9205590164917310132354"
    assert label.tracking_url == (
        "https://tools.usps.com/go/TrackConfirmAction_input?origTrackNum=9205590164917310132354"
    )
    assert label.amount == Decimal("7.85") and label.currency == "USD"
    assert label.pdf == b"%PDF-1.4 label" and label.zpl == b""
    assert mapper.purchased_label(transaction, rate, b"^XA^FDx^FS^XZ").zpl == b"^XA^FDx^FS^XZ"


def test_queued_transaction_is_pending_and_has_no_label_yet() -> None:
    queued = fixture("transaction_create_queued.json")
    assert queued["status"] in mapper.PENDING_TRANSACTION
    assert queued["label_url"] == "" and queued["tracking_number"] == ""
    assert fixture("transaction_success.json")["status"] in mapper.BOUGHT_TRANSACTION


def test_lookup_by_metadata_prefers_a_live_transaction_over_failed_ones() -> None:
    results = fixture("transactions_list.json")["results"]

    found = mapper.find_by_metadata(results, "Customer ID 123456")
    assert found is not None and found["object_id"] == "0cea366887e54c93aabe57d57084ded1"  # QUEUED, not the ERRORs

    only_failed = mapper.find_by_metadata(results[1:3], "Customer ID 123456")
    assert only_failed is not None and only_failed["status"] == "ERROR"
    assert mapper.find_by_metadata(results, "never-used") is None


def test_failed_transaction_messages_read_as_one_line() -> None:
    results = fixture("transactions_list.json")["results"]
    assert mapper.messages_text(results[1]) == (
        "USPS: The selected shipment date must be within 7 days of 04/10/2017, 12:52AM CDT."
    )
    assert mapper.messages_text(results[4]) == "UPS 120100: Hard: Missing or invalid shipper number"
    assert mapper.messages_text(results[0]) == ""


# --- requests and rates --------------------------------------------------------------------

REQUEST = RateRequest(
    ship_to=Address(name="Ada Lovelace", line1="12 Analytical Way", city="Springfield", region="IL",
                    postal_code="62701", country_code="US"),
    ship_from=Address(company="Waybill Test Shop", line1="1 Warehouse Rd", city="Portland", region="OR",
                      postal_code="97201", country_code="US", phone="+1 503 555 0100"),
    parcel=Parcel(weight_grams=1200, length_cm=Decimal("30.50"), width_cm=Decimal("20"), height_cm=Decimal("1E+1")),
)  # fmt: skip


def test_shipment_request_sends_grams_and_centimetres_exactly() -> None:
    body = mapper.shipment_request(REQUEST, metadata="key-1")
    assert body == {
        "address_from": {"company": "Waybill Test Shop", "street1": "1 Warehouse Rd", "city": "Portland",
                         "state": "OR", "zip": "97201", "country": "US", "phone": "+1 503 555 0100"},
        "address_to": {"name": "Ada Lovelace", "street1": "12 Analytical Way", "city": "Springfield", "state": "IL",
                       "zip": "62701", "country": "US"},
        "parcels": [{"length": "30.5", "width": "20", "height": "10", "distance_unit": "cm", "weight": "1200",
                     "mass_unit": "g"}],
        "async": False,
        "metadata": "key-1",
    }  # fmt: skip
    assert mapper.transaction_request("rate_1", "key-1", "PDF_4x6") == {
        "rate": "rate_1", "label_file_type": "PDF_4x6", "async": False, "metadata": "key-1",
    }  # fmt: skip


# The Rate shape of goshippo/shippo-python-sdk docs/models/components/rate.md.
SHIPMENT = {
    "object_id": "5e40ead7cffe4cc1ad45108696162e42",
    "status": "SUCCESS",
    "rates": [
        {"object_id": "ec9f0d3adc9441449c85d315f0997fd5", "amount": "28.50", "currency": "USD", "provider": "UPS",
         "servicelevel": {"name": "Next Day Air", "token": "ups_next_day_air", "terms": ""}, "estimated_days": 1},
        {"object_id": "545ab0a1a6ea4c9f9adb2512a57d6d8b", "amount": "7.85", "currency": "USD", "provider": "USPS",
         "servicelevel": {"name": "Priority Mail", "token": "usps_priority", "terms": ""}, "estimated_days": 2},
        {"object_id": "f9a2d0c1b2e34f5a8d7c6b5a4e3d2c1b", "amount": "7.85", "currency": "USD", "provider": "USPS",
         "servicelevel": {"name": "Ground Advantage", "token": "usps_ground_advantage", "terms": ""},
         "estimated_days": None},
    ],
}  # fmt: skip


def test_rates_map_cheapest_first_with_provider_in_the_name() -> None:
    assert mapper.rates_from_shipment(SHIPMENT) == [
        Rate("shippo", "usps_ground_advantage", "USPS Ground Advantage", Decimal("7.85"), "USD", 0),
        Rate("shippo", "usps_priority", "USPS Priority Mail", Decimal("7.85"), "USD", 2),
        Rate("shippo", "ups_next_day_air", "UPS Next Day Air", Decimal("28.50"), "USD", 1),
    ]
    rate = mapper.find_rate(SHIPMENT, "usps_priority")
    assert rate is not None and rate["object_id"] == "545ab0a1a6ea4c9f9adb2512a57d6d8b"
    assert mapper.find_rate(SHIPMENT, "fedex_ground") is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"detail": "Invalid token."}, "Invalid token."),
        ({"address_to": {"zip": ["This field is required."]}}, "address_to: zip: This field is required."),
        ({"transaction": ["Refund with this Transaction already exists."]},
         "transaction: Refund with this Transaction already exists."),
        ({"non_field_errors": ["Bad."], "rate": ["Expired."]}, "Bad.; rate: Expired."),
        (None, ""),
    ],
)  # fmt: skip
def test_error_text(body: Any, expected: str) -> None:
    assert mapper.error_text(body) == expected


# --- webhooks ------------------------------------------------------------------------------


def _webhook_body() -> bytes:
    return json.dumps({"event": "track_updated", "test": True, "data": fixture("track_get_status.json")}).encode()


def test_webhook_signature_round_trip_and_tolerance() -> None:
    body = _webhook_body()
    header = mapper.sign_webhook(body, SECRET, 1_700_000_000)
    headers = {"shippo-auth-signature": header}
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64

    assert mapper.verify_webhook(headers, body, SECRET, now=1_700_000_100)
    assert mapper.verify_webhook({"Shippo-Auth-Signature": header}, body, SECRET, now=1_700_000_000)
    assert not mapper.verify_webhook(headers, body, SECRET, now=1_700_000_301)  # replayed too late
    assert not mapper.verify_webhook(headers, body, SECRET, now=1_699_999_600)  # from the future
    assert not mapper.verify_webhook(headers, body + b" ", SECRET, now=1_700_000_000)  # body changed
    assert not mapper.verify_webhook(headers, body, "other", now=1_700_000_000)
    assert not mapper.verify_webhook(headers, body, "", now=1_700_000_000)
    assert not mapper.verify_webhook({}, body, SECRET, now=1_700_000_000)
    assert not mapper.verify_webhook({"Shippo-Auth-Signature": "v1=abc"}, body, SECRET, now=1_700_000_000)
    rotated = {"Shippo-Auth-Signature": f"{header},v1={'0' * 64}"}
    assert mapper.verify_webhook(rotated, body, SECRET, now=1_700_000_000)


def test_track_updated_webhook_parses_to_tracking_number_and_info() -> None:
    parsed = mapper.parse_track_webhook(_webhook_body())
    assert parsed is not None
    number, info = parsed
    assert number == "9205590164917337534322"
    assert info.status is TrackingStatus.DELIVERED and len(info.events) == 11
    assert mapper.parse_track_webhook(b'{"event": "transaction_created", "data": {}}') is None
    assert mapper.parse_track_webhook(b"not json") is None
