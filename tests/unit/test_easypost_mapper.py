"""EasyPost's real payloads (tests/fixtures/easypost, copied from the shared fixtures) map onto Waybill exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.carriers.easypost import mapper
from domain.model import Address, RefundStatus, TrackingStatus
from domain.ports import Parcel, RateRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "easypost"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("unknown", TrackingStatus.UNKNOWN),
        ("pre_transit", TrackingStatus.PENDING),
        ("in_transit", TrackingStatus.IN_TRANSIT),
        ("out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY),
        ("delivered", TrackingStatus.DELIVERED),
        ("available_for_pickup", TrackingStatus.READY_FOR_PICKUP),
        ("return_to_sender", TrackingStatus.RETURN_TO_SENDER),
        ("failure", TrackingStatus.DELIVERY_FAILED),
        ("cancelled", TrackingStatus.CANCELLED),
        ("error", TrackingStatus.UNKNOWN),
        ("DELIVERED", TrackingStatus.DELIVERED),
        ("teleported", TrackingStatus.UNKNOWN),
        ("", TrackingStatus.UNKNOWN),
        (None, TrackingStatus.UNKNOWN),
    ],
)
def test_every_documented_tracker_status(wire: str | None, expected: TrackingStatus) -> None:
    assert mapper.tracking_status(wire) is expected


def test_the_status_table_covers_every_documented_status() -> None:
    documented = "unknown pre_transit in_transit out_for_delivery delivered available_for_pickup return_to_sender failure cancelled error"
    assert set(mapper.TRACKING_STATUSES) == set(documented.split())


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("submitted", RefundStatus.SUBMITTED),
        ("refunded", RefundStatus.REFUNDED),
        ("rejected", RefundStatus.REJECTED),
        ("not_applicable", RefundStatus.NOT_APPLICABLE),
        (None, None),
        ("", None),
    ],
)
def test_refund_statuses(wire: str | None, expected: RefundStatus | None) -> None:
    assert mapper.refund_status(wire) is expected


# --- requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(("grams", "oz"), [(1, "0.1"), (28, "1.0"), (500, "17.7"), (1000, "35.3"), (1200, "42.4")])
def test_weight_goes_in_ounces_rounded_up(grams: int, oz: str) -> None:
    assert mapper.ounces(grams) == Decimal(oz)


@pytest.mark.parametrize(("cm", "inch"), [("30", "11.9"), ("20", "7.9"), ("10", "4.0"), ("2.54", "1.0")])
def test_dimensions_go_in_inches_rounded_up(cm: str, inch: str) -> None:
    assert mapper.inches(Decimal(cm)) == Decimal(inch)


def test_shipment_request_golden() -> None:
    request = RateRequest(
        ship_to=Address(name="Ada Lovelace", line1="12 Analytical Way", line2="", city="Springfield", region="IL",
                        postal_code="62701", country_code="US"),
        ship_from=Address(company="Waybill Shop", line1="1 Dock St", city="Portland", region="OR",
                          postal_code="97209", country_code="US", phone="5035550100"),
        parcel=Parcel(weight_grams=1200),
    )  # fmt: skip

    assert mapper.shipment_to_wire(request, reference="ship-42", carrier_accounts=["ca_1"]) == {
        "shipment": {
            "to_address": {"name": "Ada Lovelace", "street1": "12 Analytical Way", "city": "Springfield",
                           "state": "IL", "zip": "62701", "country": "US"},
            "from_address": {"company": "Waybill Shop", "street1": "1 Dock St", "city": "Portland", "state": "OR",
                             "zip": "97209", "country": "US", "phone": "5035550100"},
            "parcel": {"length": 11.9, "width": 7.9, "height": 4.0, "weight": 42.4},
            "options": {"label_format": "PDF", "label_size": "4x6"},
            "reference": "ship-42",
            "carrier_accounts": ["ca_1"],
        }
    }  # fmt: skip
    assert "reference" not in mapper.shipment_to_wire(request)["shipment"]


def test_reference_is_the_key_when_url_plain_else_a_stable_hash() -> None:
    assert mapper.reference_for("buy-42_a.b~c") == "buy-42_a.b~c"
    hashed = mapper.reference_for("order 12/ship#1")
    assert hashed == mapper.reference_for("order 12/ship#1") and hashed.startswith("wb_") and len(hashed) == 43
    assert mapper.reference_for("shp_123").startswith("wb_")  # never mistaken for a shipment id
    assert mapper.reference_for("x" * 65).startswith("wb_")
    assert mapper.reference_for("order 12/ship#1") != mapper.reference_for("order 12/ship#2")


# --- shipments ---------------------------------------------------------------------------


def test_rates_from_the_real_shipment_cheapest_first() -> None:
    rates = mapper.rates_from_wire(fixture("shipment_buy.json"))

    assert [(r.service, r.service_name, r.amount, r.delivery_days) for r in rates] == [
        ("USPS:GroundAdvantage", "USPS GroundAdvantage", Decimal("8.20"), 3),
        ("USPS:Priority", "USPS Priority", Decimal("11.01"), 2),
        ("USPS:Express", "USPS Express", Decimal("51.20"), 2),
    ]
    assert {(r.carrier, r.currency) for r in rates} == {("easypost", "USD")}


def test_find_rate_by_waybill_service() -> None:
    shipment = fixture("shipment_buy.json")

    assert mapper.find_rate(shipment, "USPS:Priority")["id"] == "rate_3c8c460fdfcb4a019021b9058545c513"  # type: ignore[index]
    assert mapper.find_rate(shipment, "usps:priority")["id"] == "rate_3c8c460fdfcb4a019021b9058545c513"  # type: ignore[index]
    assert mapper.find_rate(shipment, "Express")["id"] == "rate_d090eaf590ba4187b30223db0af58909"  # type: ignore[index]
    assert mapper.find_rate(shipment, "UPS:Priority") is None
    assert mapper.offered_services(shipment) == ["USPS:Express", "USPS:Priority", "USPS:GroundAdvantage"]


def test_purchased_label_from_the_real_bought_shipment() -> None:
    shipment = fixture("shipment_buy.json")

    assert mapper.is_purchased(shipment)
    label = mapper.purchased_label_from_wire(shipment, b"%PDF-", b"^XA")
    assert label.carrier_label_id == "shp_40b6f049f00348b18de3804a26f7fd62"
    assert label.tracking_number == "9434600208303109842228"
    assert label.tracking_url == "https://track.easypost.com/djE6dHJrX2JlYmU3MzU3Y2M3ZTRlYmM5MjQ4YmRkNzE5MTA4NGFm"
    assert (label.amount, label.currency) == (Decimal("8.20"), "USD")
    assert (label.pdf, label.zpl) == (b"%PDF-", b"^XA")
    assert label.carrier_name == shipment["selected_rate"]["carrier"] == "USPS", "who moves the parcel"


def test_a_png_label_still_needs_both_formats_converted() -> None:
    shipment = fixture("shipment_buy.json")
    assert shipment["postage_label"]["label_file_type"] == "image/png"
    assert mapper.label_urls(shipment) == {"PDF": None, "ZPL": None}

    as_pdf = {**shipment, "postage_label": {**shipment["postage_label"], "label_file_type": "application/pdf",
                                            "label_url": "https://files/x.pdf"}}  # fmt: skip
    assert mapper.label_urls(as_pdf) == {"PDF": "https://files/x.pdf", "ZPL": None}


def test_unbought_shipment_is_not_purchased() -> None:
    shipment = {**fixture("shipment_buy.json"), "postage_label": None, "tracking_code": None}
    assert not mapper.is_purchased(shipment)


def test_error_body_names_domain_fields() -> None:
    body = {"error": {"code": "SHIPMENT.INVALID_PARAMS", "message": "Unable to create shipment",
                      "errors": [{"field": "to_address.zip", "message": "cannot be blank"},
                                 {"field": "parcel.weight", "message": "must be positive"}, "junk"]}}  # fmt: skip

    assert mapper.error_text(body) == (
        "SHIPMENT.INVALID_PARAMS",
        "Unable to create shipment",
        [("ship_to.postal_code", "cannot be blank"), ("parcel.weight_grams", "must be positive")],
    )
    assert mapper.error_text({"unexpected": True}) == ("", "", [])
    assert mapper.error_text(None) == ("", "", [])


# --- trackers ----------------------------------------------------------------------------


def test_tracker_from_the_real_payload() -> None:
    info = mapper.tracking_from_wire(fixture("tracker_retrieve.json"))

    assert info.status is TrackingStatus.PENDING
    assert [(e.status, e.occurred_at, e.description, e.location) for e in info.events] == [
        (TrackingStatus.PENDING, datetime(2025, 4, 9, 20, 40, 17, tzinfo=UTC), "Pre-Shipment Info Sent to USPS", None),
        (TrackingStatus.PENDING, datetime(2025, 4, 10, 9, 17, 17, tzinfo=UTC), "Shipping Label Created", "HOUSTON, TX"),
    ]


def test_tracker_events_are_sorted_oldest_first() -> None:
    tracker = fixture("tracker_retrieve.json")
    tracker["tracking_details"].reverse()
    events = mapper.tracking_from_wire(tracker).events
    assert [e.description for e in events] == ["Pre-Shipment Info Sent to USPS", "Shipping Label Created"]


# --- webhooks ----------------------------------------------------------------------------


def _official_body() -> bytes:
    """The event body EasyPost's SDKs sign in their tests, serialised compactly as EasyPost sends it."""
    return json.dumps(fixture("event_tracker_updated.json"), separators=(",", ":")).encode()


def test_signature_matches_easyposts_official_vector() -> None:
    hook = fixture("webhook_hmac_fixture.json")["webhooks"]
    assert mapper.sign_webhook(_official_body(), hook["secret"]) == hook["hmac_signature"]


def test_verify_webhook_accepts_only_the_signed_body() -> None:
    hook = fixture("webhook_hmac_fixture.json")["webhooks"]
    body, secret = _official_body(), hook["secret"]
    good = {"X-Hmac-Signature": hook["hmac_signature"]}

    assert mapper.verify_webhook(good, body, secret)
    assert mapper.verify_webhook({"x-hmac-signature": hook["hmac_signature"]}, body, secret)
    assert mapper.verify_webhook(good, body, "se\u0301cret")  # decomposed é: NFKD makes both one secret
    assert not mapper.verify_webhook(good, body, "secret")
    assert not mapper.verify_webhook(good, body.replace(b"in_transit", b"delivered"), secret)
    assert not mapper.verify_webhook({}, body, secret)
    assert not mapper.verify_webhook(good, body, "")
    assert not mapper.verify_webhook({"X-Hmac-Signature": "hmac-sha256-hex=00"}, body, secret)


def test_parse_tracker_updated_event() -> None:
    parsed = mapper.parse_webhook(_official_body())

    assert parsed is not None
    tracking_number, info = parsed
    assert tracking_number == "1"
    assert info.status is TrackingStatus.IN_TRANSIT
    assert len(info.events) == 7
    assert info.events[0].status is TrackingStatus.PENDING
    assert info.events[0].location == "US"
    last = info.events[-1]
    assert (last.occurred_at, last.description, last.location) == (
        datetime(2024, 8, 2, 18, 50, tzinfo=UTC),
        "Arrived at FedEx location",
        "EDISON, NJ, US",
    )


def test_other_events_are_not_tracking() -> None:
    assert mapper.parse_webhook(json.dumps(fixture("event_retrieve.json")).encode()) is None  # no result
    assert mapper.parse_webhook(b'{"description":"batch.updated","result":{"id":"batch_1"}}') is None
    assert mapper.parse_webhook(b"not json") is None
