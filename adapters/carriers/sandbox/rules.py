"""The sandbox carrier's business rules: services and prices, request validation, and the transit schedule.

Pure and deterministic, so the fake server stays a thin HTTP layer and prices never surprise a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    base: Decimal
    per_half_kilo: Decimal
    delivery_days: int


# Alphabetical, which is deliberately not price order: clients must sort.
SERVICES: dict[str, Service] = {
    "EXPRESS": Service("EXPRESS", "Sandbox Express", Decimal("14.00"), Decimal("2.25"), 2),
    "GROUND": Service("GROUND", "Sandbox Ground", Decimal("6.50"), Decimal("1.10"), 5),
    "OVERNIGHT": Service("OVERNIGHT", "Sandbox Overnight", Decimal("32.00"), Decimal("4.00"), 1),
}

MAX_WEIGHT_G = 70_000
MAX_SIDE_CM = Decimal("300")


def price(service: Service, weight_g: int) -> Decimal:
    """Base price plus a step for every started 500 g."""
    steps = max(1, math.ceil(weight_g / 500))
    return (service.base + service.per_half_kilo * steps).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- validation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    """A 422 answer: EasyPost-style code plus the fields at fault."""

    code: str
    message: str
    errors: list[dict[str, str]]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _address_errors(prefix: str, address: Any) -> list[dict[str, str]]:
    if not isinstance(address, dict):
        return [{"field": prefix, "message": "is required"}]
    errors = []
    if not _text(address.get("name")) and not _text(address.get("company")):
        errors.append({"field": f"{prefix}.name", "message": "name or company is required"})
    for key in ("street1", "city", "zip"):
        if not _text(address.get(key)):
            errors.append({"field": f"{prefix}.{key}", "message": "is required"})
    country = _text(address.get("country"))
    if not (len(country) == 2 and country.isalpha()):
        errors.append({"field": f"{prefix}.country", "message": "must be a two-letter ISO country code"})
    elif country.upper() == "US" and not _text(address.get("state")):
        errors.append({"field": f"{prefix}.state", "message": "is required for US addresses"})
    return errors


def _parcel_errors(parcel: Any) -> list[dict[str, str]]:
    if not isinstance(parcel, dict):
        return [{"field": "parcel", "message": "is required"}]
    errors = []
    weight = parcel.get("weight_g")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 < weight <= MAX_WEIGHT_G:
        errors.append({"field": "parcel.weight_g", "message": f"must be a whole number of grams, 1 to {MAX_WEIGHT_G}"})
    for key in ("length_cm", "width_cm", "height_cm"):
        try:
            side = Decimal(str(parcel.get(key)))
        except InvalidOperation:
            side = Decimal("NaN")
        if isinstance(parcel.get(key), bool) or not side.is_finite() or not 0 < side <= MAX_SIDE_CM:
            errors.append(
                {"field": f"parcel.{key}", "message": f"must be a number of centimetres, above 0 up to {MAX_SIDE_CM}"}
            )
    return errors


def validate_shipment(body: Any) -> Invalid | None:
    """Checks the addresses and parcel of a rates or label request; address faults take precedence in the code."""
    if not isinstance(body, dict):
        return Invalid("REQUEST.INVALID", "The request body must be a JSON object.", [])
    address_errors = _address_errors("to_address", body.get("to_address"))
    address_errors += _address_errors("from_address", body.get("from_address"))
    errors = address_errors + _parcel_errors(body.get("parcel"))
    if not errors:
        return None
    code = "ADDRESS.VERIFY.FAILURE" if address_errors else "PARCEL.INVALID"
    detail = "; ".join(f"{error['field']} {error['message']}" for error in errors)
    return Invalid(code, f"Invalid shipment: {detail}.", errors)


def validate_service(service: Any) -> Invalid | None:
    if isinstance(service, str) and service in SERVICES:
        return None
    available = ", ".join(SERVICES)
    message = f"Unknown service {service!r}; the sandbox carrier offers {available}."
    return Invalid("SERVICE.INVALID", message, [{"field": "service", "message": message}])


# --- transit schedule --------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxSchedule:
    """How long a label stays in each phase, laid end to end from purchase.

    Defaults deliver about ten minutes after purchase, long enough to void in a demo.
    Tests pass tiny values (moves at once) or huge ones (never moves on its own).
    """

    pre_transit_s: float = 120.0
    in_transit_s: float = 300.0
    out_for_delivery_s: float = 180.0

    def next_after(self, status: str) -> tuple[str, float] | None:
        """The status that follows `status` on schedule and how long `status` lasts; None when it stays."""
        following = {
            "pre_transit": ("in_transit", self.pre_transit_s),
            "in_transit": ("out_for_delivery", self.in_transit_s),
            "out_for_delivery": ("delivered", self.out_for_delivery_s),
        }
        return following.get(status)

    @property
    def delivered_after_s(self) -> float:
        return self.pre_transit_s + self.in_transit_s + self.out_for_delivery_s


def later(start: datetime, seconds: float) -> datetime | None:
    """`start + seconds`, or None when that lies beyond any datetime (a 'never' schedule)."""
    try:
        return start + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


TRACKING_STATUSES = (
    "unknown",
    "pre_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "available_for_pickup",
    "return_to_sender",
    "failure",
    "cancelled",
    "error",
)

# status -> (status_detail, message, where): where is "origin", "hub" or "destination".
STATUS_TEXT: dict[str, tuple[str, str, str]] = {
    "unknown": ("unknown", "No information yet", "origin"),
    "pre_transit": ("label_created", "Shipping label created; awaiting carrier pickup", "origin"),
    "in_transit": ("departed_facility", "Departed sandbox sorting facility", "hub"),
    "out_for_delivery": ("out_for_delivery", "Out for delivery", "destination"),
    "delivered": ("arrived_at_destination", "Delivered", "destination"),
    "available_for_pickup": ("available_for_pickup", "Available for pickup at the local sandbox depot", "destination"),
    "return_to_sender": ("return", "Returning to sender", "hub"),
    "failure": ("delivery_failed", "Delivery attempt failed", "destination"),
    "cancelled": ("cancelled", "Label voided; shipment cancelled", "origin"),
    "error": ("unknown", "Tracking error at the carrier", "hub"),
}
