"""The sandbox wire format maps onto Waybill's domain exactly as CHANNELS.md section 8 prescribes for EasyPost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.carriers.sandbox import mapper
from domain.model import Address, RefundStatus, TrackingStatus
from domain.ports import Parcel, RateRequest


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("pre_transit", TrackingStatus.PENDING),
        ("in_transit", TrackingStatus.IN_TRANSIT),
        ("out_for_delivery", TrackingStatus.OUT_FOR_DELIVERY),
        ("delivered", TrackingStatus.DELIVERED),
        ("available_for_pickup", TrackingStatus.READY_FOR_PICKUP),
        ("failure", TrackingStatus.DELIVERY_FAILED),
        ("return_to_sender", TrackingStatus.RETURN_TO_SENDER),
        ("cancelled", TrackingStatus.CANCELLED),
        ("DELIVERED", TrackingStatus.DELIVERED),
        ("unknown", TrackingStatus.UNKNOWN),
        ("error", TrackingStatus.UNKNOWN),
        ("teleported", TrackingStatus.UNKNOWN),
        ("", TrackingStatus.UNKNOWN),
        (None, TrackingStatus.UNKNOWN),
    ],
)
def test_tracking_status(wire: str | None, expected: TrackingStatus) -> None:
    assert mapper.tracking_status(wire) is expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("refunded", RefundStatus.REFUNDED),
        ("submitted", RefundStatus.SUBMITTED),
        ("rejected", RefundStatus.REJECTED),
        ("not_applicable", RefundStatus.NOT_APPLICABLE),
        (None, RefundStatus.NOT_APPLICABLE),
    ],
)
def test_refund_status(wire: str | None, expected: RefundStatus) -> None:
    assert mapper.refund_status(wire) is expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("to_address.zip", "ship_to.postal_code"),
        ("from_address.street1", "ship_from.line1"),
        ("to_address.state", "ship_to.region"),
        ("from_address", "ship_from"),
        ("parcel.weight_g", "parcel.weight_grams"),
        ("parcel.length_cm", "parcel.length_cm"),
        ("service", "service"),
    ],
)
def test_error_fields_are_named_as_the_merchant_knows_them(wire: str, expected: str) -> None:
    assert mapper.domain_field(wire) == expected


def test_rate_request_round_trips_addresses_and_keeps_dimensions_exact() -> None:
    ship_to = Address(
        name="Ada", line1="1 Main St", city="Springfield", region="IL", postal_code="62701", country_code="US"
    )
    ship_from = Address(
        company="Shop", line1="2 Dock Rd", city="Austin", region="TX", postal_code="73301", country_code="US"
    )
    wire = mapper.rate_request_to_wire(RateRequest(ship_to, ship_from, Parcel(1500, Decimal("30.5"))))
    assert wire["to_address"]["street1"] == "1 Main St"
    assert wire["to_address"]["zip"] == "62701"
    assert wire["from_address"]["company"] == "Shop"
    assert wire["parcel"] == {"weight_g": 1500, "length_cm": "30.5", "width_cm": "20", "height_cm": "10"}
    assert mapper.address_from_wire(wire["to_address"]) == ship_to


def test_rates_are_sorted_cheapest_first_with_exact_amounts() -> None:
    def rate(service: str, amount: str, days: int) -> dict[str, object]:
        return {
            "service": service,
            "service_name": service.title(),
            "amount": amount,
            "currency": "USD",
            "delivery_days": days,
        }

    payload = {"rates": [rate("EXPRESS", "16.25", 2), rate("GROUND", "7.60", 5), rate("OVERNIGHT", "36.00", 1)]}
    rates = mapper.rates_from_wire(payload)
    assert [rate.service for rate in rates] == ["GROUND", "EXPRESS", "OVERNIGHT"]
    assert rates[0].amount == Decimal("7.60")
    assert rates[0].carrier == "sandbox"
    assert rates[0].delivery_days == 5


def test_tracker_events_are_oldest_first_with_locations() -> None:
    tracker = {
        "status": "in_transit",
        "tracking_details": [
            {
                "status": "in_transit",
                "message": "Departed sandbox sorting facility",
                "datetime": "2025-03-04T12:05:00Z",
                "tracking_location": {"city": "Sandbox Hub", "state": None, "country": None},
            },
            {
                "status": "pre_transit",
                "message": "Shipping label created",
                "datetime": "2025-03-04T12:00:00Z",
                "tracking_location": {"city": "Austin", "state": "TX", "country": "US"},
            },
        ],
    }
    info = mapper.tracking_from_wire(tracker)
    assert info.status is TrackingStatus.IN_TRANSIT
    assert [event.status for event in info.events] == [TrackingStatus.PENDING, TrackingStatus.IN_TRANSIT]
    assert info.events[0].occurred_at == datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
    assert info.events[0].location == "Austin, TX, US"
    assert info.events[1].location == "Sandbox Hub"
    assert info.events[1].description == "Departed sandbox sorting facility"


def test_datetimes_round_trip_in_utc() -> None:
    moment = datetime(2025, 3, 4, 12, 0, 30, tzinfo=UTC)
    assert mapper.format_datetime(moment) == "2025-03-04T12:00:30Z"
    assert mapper.parse_datetime("2025-03-04T12:00:30Z") == moment
