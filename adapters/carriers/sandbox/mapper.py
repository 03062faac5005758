"""Pure translations between the sandbox carrier's EasyPost-like JSON and Waybill's domain objects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.model import Address, RefundStatus, TrackingEvent, TrackingStatus
from domain.ports import Parcel, PurchasedLabel, Rate, RateRequest, TrackingInfo

CARRIER = "sandbox"

# EasyPost tracker statuses (CHANNELS.md section 7/8); anything else is UNKNOWN.
TRACKING_STATUSES: dict[str, TrackingStatus] = {
    "pre_transit": TrackingStatus.PENDING,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "delivered": TrackingStatus.DELIVERED,
    "available_for_pickup": TrackingStatus.READY_FOR_PICKUP,
    "failure": TrackingStatus.DELIVERY_FAILED,
    "return_to_sender": TrackingStatus.RETURN_TO_SENDER,
    "cancelled": TrackingStatus.CANCELLED,
}

REFUND_STATUSES: dict[str, RefundStatus] = {
    "submitted": RefundStatus.SUBMITTED,
    "refunded": RefundStatus.REFUNDED,
    "rejected": RefundStatus.REJECTED,
    "not_applicable": RefundStatus.NOT_APPLICABLE,
}

# Wire address keys (EasyPost's) -> domain Address attributes.
ADDRESS_FIELDS: dict[str, str] = {
    "name": "name",
    "company": "company",
    "street1": "line1",
    "street2": "line2",
    "city": "city",
    "state": "region",
    "zip": "postal_code",
    "country": "country_code",
    "phone": "phone",
}
_FIELD_PREFIXES = {"to_address": "ship_to", "from_address": "ship_from", "parcel": "parcel"}
_PARCEL_FIELDS = {"weight_g": "weight_grams"}


def tracking_status(wire_status: str | None) -> TrackingStatus:
    return TRACKING_STATUSES.get((wire_status or "").lower(), TrackingStatus.UNKNOWN)


def refund_status(wire_status: str | None) -> RefundStatus:
    """A label with no refund yet reads as SUBMITTED only if the carrier said so; otherwise NOT_APPLICABLE."""
    return REFUND_STATUSES.get((wire_status or "").lower(), RefundStatus.NOT_APPLICABLE)


def domain_field(wire_field: str) -> str:
    """'to_address.zip' -> 'ship_to.postal_code': error messages name the field the merchant can edit."""
    head, _, rest = wire_field.partition(".")
    if head not in _FIELD_PREFIXES:
        return wire_field
    if not rest:
        return _FIELD_PREFIXES[head]
    names = _PARCEL_FIELDS if head == "parcel" else ADDRESS_FIELDS
    return f"{_FIELD_PREFIXES[head]}.{names.get(rest, rest)}"


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- requests ----------------------------------------------------------------------------


def address_to_wire(address: Address) -> dict[str, str | None]:
    return {wire: getattr(address, attribute) for wire, attribute in ADDRESS_FIELDS.items()}


def address_from_wire(payload: dict[str, Any]) -> Address:
    return Address(**{attribute: payload.get(wire) for wire, attribute in ADDRESS_FIELDS.items()})


def parcel_to_wire(parcel: Parcel) -> dict[str, int | str]:
    """Dimensions travel as decimal strings so no float rounding sneaks into the idempotency comparison."""
    return {
        "weight_g": parcel.weight_grams,
        "length_cm": str(parcel.length_cm),
        "width_cm": str(parcel.width_cm),
        "height_cm": str(parcel.height_cm),
    }


def rate_request_to_wire(request: RateRequest) -> dict[str, Any]:
    return {
        "to_address": address_to_wire(request.ship_to),
        "from_address": address_to_wire(request.ship_from),
        "parcel": parcel_to_wire(request.parcel),
    }


# --- responses ---------------------------------------------------------------------------


def rates_from_wire(payload: dict[str, Any]) -> list[Rate]:
    """Cheapest first, the order a merchant picks from."""
    rates = [
        Rate(
            carrier=CARRIER,
            service=str(item["service"]),
            service_name=str(item.get("service_name") or item["service"]),
            amount=Decimal(str(item["amount"])),
            currency=str(item.get("currency") or "USD"),
            delivery_days=int(item.get("delivery_days") or 0),
        )
        for item in payload.get("rates", [])
    ]
    return sorted(rates, key=lambda rate: (rate.amount, rate.delivery_days))


def purchased_label_from_wire(payload: dict[str, Any], pdf: bytes, zpl: bytes) -> PurchasedLabel:
    rate = payload.get("rate") or {}
    return PurchasedLabel(
        carrier_label_id=str(payload["id"]),
        tracking_number=str(payload["tracking_code"]),
        tracking_url=str(payload["tracking_url"]),
        amount=Decimal(str(rate["amount"])),
        currency=str(rate.get("currency") or "USD"),
        pdf=pdf,
        zpl=zpl,
    )


def _location(payload: dict[str, Any] | None) -> str | None:
    if not payload:
        return None
    parts = [payload.get(key) for key in ("city", "state", "country")]
    text = ", ".join(str(part) for part in parts if part)
    return text or None


def tracking_from_wire(payload: dict[str, Any]) -> TrackingInfo:
    """Events oldest first, whatever order the carrier lists them in."""
    events = [
        TrackingEvent(
            status=tracking_status(detail.get("status")),
            occurred_at=parse_datetime(str(detail["datetime"])),
            description=str(detail.get("message") or ""),
            location=_location(detail.get("tracking_location")),
        )
        for detail in payload.get("tracking_details", [])
    ]
    events.sort(key=lambda event: event.occurred_at)
    return TrackingInfo(status=tracking_status(payload.get("status")), events=events)
