"""State and rules of the fake EasyPost: shipments, rates, trackers and their JSON, shaped like the real payloads.

Kept apart from the HTTP layer (fake.py) so prices, validation and tracker text are plain functions.
"""

from __future__ import annotations

import math
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from adapters.carriers.easypost.mapper import GRAMS_PER_OUNCE, address_from_wire
from adapters.carriers.sandbox.labels import LabelData

CENT = Decimal("0.01")


@dataclass(frozen=True)
class FakeService:
    carrier: str
    service: str
    base: Decimal
    per_ounce: Decimal
    delivery_days: int
    carrier_account_id: str


# Not in price order: clients must sort.
SERVICES: tuple[FakeService, ...] = (
    FakeService("USPS", "Express", Decimal("27.50"), Decimal("0.35"), 1, "ca_fake_usps"),
    FakeService("USPS", "GroundAdvantage", Decimal("5.40"), Decimal("0.12"), 3, "ca_fake_usps"),
    FakeService("USPS", "Priority", Decimal("8.70"), Decimal("0.18"), 2, "ca_fake_usps"),
    FakeService("UPS", "Ground", Decimal("9.10"), Decimal("0.10"), 4, "ca_fake_ups"),
    FakeService("UPS", "NextDayAir", Decimal("38.00"), Decimal("0.40"), 1, "ca_fake_ups"),
)

TRACKER_STATUSES = (
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
# status -> (status_detail, message, where: origin | destination | hub | None)
STATUS_TEXT: dict[str, tuple[str, str, str | None]] = {
    "unknown": ("unknown", "Awaiting carrier information", None),
    "pre_transit": ("label_created", "Shipping Label Created", "origin"),
    "in_transit": ("arrived_at_facility", "Arrived at USPS Regional Facility", "hub"),
    "out_for_delivery": ("out_for_delivery", "Out for Delivery", "destination"),
    "delivered": ("arrived_at_destination", "Delivered, In/At Mailbox", "destination"),
    "available_for_pickup": ("available_for_pickup", "Available for Pickup", "destination"),
    "return_to_sender": ("return", "Return to Sender Processed", "hub"),
    "failure": ("delivery_exception", "Delivery Attempt Failed: No Access", "destination"),
    "cancelled": ("label_voided", "Shipping Label Cancelled", "origin"),
    "error": ("unknown", "Carrier Error", None),
}
HUB = {"city": "KANSAS CITY", "state": "MO", "country": "US", "zip": "64121"}
# EasyPost's documented test tracking codes and where they stand.
TEST_TRACKING_CODES = {
    "EZ1000000001": "pre_transit",
    "EZ2000000002": "in_transit",
    "EZ3000000003": "out_for_delivery",
    "EZ4000000004": "delivered",
    "EZ5000000005": "return_to_sender",
    "EZ6000000006": "failure",
    "EZ7000000007": "unknown",
}
REQUIRED_ADDRESS_FIELDS = ("street1", "city", "zip", "country")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def price(service: FakeService, weight_oz: float) -> Decimal:
    """Base price plus a step for every started ounce."""
    return (service.base + service.per_ounce * max(1, math.ceil(weight_oz))).quantize(CENT, rounding=ROUND_HALF_UP)


def validate_shipment(shipment: Any) -> list[dict[str, str]]:
    """EasyPost-style field errors ("to_address.zip"): empty when the shipment can be rated."""
    if not isinstance(shipment, dict):
        return [{"field": "shipment", "message": "is required"}]
    errors: list[dict[str, str]] = []
    for key in ("to_address", "from_address"):
        address = shipment.get(key)
        if not isinstance(address, dict):
            errors.append({"field": key, "message": "is required"})
            continue
        if not (address.get("name") or address.get("company")):
            errors.append({"field": f"{key}.name", "message": "name or company is required"})
        errors.extend(
            {"field": f"{key}.{part}", "message": "cannot be blank"}
            for part in REQUIRED_ADDRESS_FIELDS
            if not str(address.get(part) or "").strip()
        )
    parcel = shipment.get("parcel")
    if not isinstance(parcel, dict):
        return [*errors, {"field": "parcel", "message": "is required"}]
    for part in ("weight", "length", "width", "height"):
        value = parcel.get(part)
        if value is None and part != "weight":
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            errors.append({"field": f"parcel.{part}", "message": "must be a positive number"})
    return errors


@dataclass
class Step:
    status: str
    at: datetime


@dataclass
class FakeTracker:
    id: str
    tracking_code: str
    carrier: str
    created_at: datetime
    shipment_id: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    destination: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.steps[-1].status if self.steps else "unknown"

    def to_json(self, base_url: str) -> dict[str, Any]:
        details = [self._detail(step) for step in self.steps if step.status != "unknown"]
        status_detail = STATUS_TEXT[self.status][0]
        return {
            "id": self.id,
            "object": "Tracker",
            "mode": "test",
            "tracking_code": self.tracking_code,
            "status": self.status,
            "status_detail": status_detail,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.steps[-1].at if self.steps else self.created_at),
            "signed_by": "J SMITH" if self.status == "delivered" else None,
            "weight": None,
            "est_delivery_date": iso(self.created_at + timedelta(days=3)),
            "shipment_id": self.shipment_id,
            "carrier": self.carrier,
            "tracking_details": details,
            "fees": [],
            "carrier_detail": None,
            "public_url": f"{base_url}/track/{self.id}",
        }

    def _detail(self, step: Step) -> dict[str, Any]:
        status_detail, message, where = STATUS_TEXT[step.status]
        place = {"origin": self.origin, "destination": self.destination, "hub": HUB}.get(where or "", {})
        location = {key: place.get(key) for key in ("city", "state", "country", "zip")}
        return {
            "object": "TrackingDetail",
            "message": message,
            "description": message,
            "status": step.status,
            "status_detail": status_detail,
            "datetime": iso(step.at),
            "source": self.carrier,
            "carrier_code": "",
            "tracking_location": {"object": "TrackingLocation", **location},
        }


@dataclass
class FakeShipment:
    id: str
    mode: str
    reference: str | None
    to_address: dict[str, Any]
    from_address: dict[str, Any]
    parcel: dict[str, Any]
    options: dict[str, Any]
    rates: list[dict[str, Any]]
    created_at: datetime
    selected_rate: dict[str, Any] | None = None
    tracking_code: str | None = None
    tracker: FakeTracker | None = None
    label_id: str | None = None
    label_formats: list[str] = field(default_factory=list)  # first: the format asked for at creation
    refund_status: str | None = None

    @property
    def purchased(self) -> bool:
        return self.selected_rate is not None

    def label_data(self) -> LabelData:
        rate = self.selected_rate or {}
        return LabelData(
            tracking_number=self.tracking_code or "",
            service_name=f"{rate.get('carrier', '')} {rate.get('service', '')}".strip(),
            ship_from=address_from_wire(self.from_address),
            ship_to=address_from_wire(self.to_address),
            weight_grams=round(Decimal(str(self.parcel["weight"])) * GRAMS_PER_OUNCE),
            created_at=self.created_at,
        )

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "Shipment",
            "mode": self.mode,
            "reference": self.reference,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
            "is_return": False,
            "status": "unknown",
            "messages": [],
            "options": {"currency": "USD", **self.options},
            "to_address": self.to_address,
            "from_address": self.from_address,
            "parcel": self.parcel,
            "insurance": None,
            "rates": self.rates,
            "selected_rate": self.selected_rate,
            "tracking_code": self.tracking_code,
            "postage_label": self._postage_label(base_url),
            "tracker": self.tracker.to_json(base_url) if self.tracker else None,
            "refund_status": self.refund_status,
            "fees": self._fees(),
            "forms": [],
        }

    def _postage_label(self, base_url: str) -> dict[str, Any] | None:
        if not self.purchased or self.label_id is None:
            return None
        files = f"{base_url}/files/postage_label/{self.label_id}"
        main = self.label_formats[0]
        return {
            "object": "PostageLabel",
            "id": self.label_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
            "date_advance": 0,
            "integrated_form": "none",
            "label_date": iso(self.created_at),
            "label_resolution": 300,
            "label_size": "4x6",
            "label_type": "default",
            "label_file_type": {"PDF": "application/pdf", "ZPL": "application/zpl"}.get(main, "image/png"),
            "label_url": f"{files}.{main.lower()}",
            "label_pdf_url": f"{files}.pdf" if "PDF" in self.label_formats else None,
            "label_zpl_url": f"{files}.zpl" if "ZPL" in self.label_formats else None,
            "label_epl2_url": None,
            "label_file": None,
        }

    def _fees(self) -> list[dict[str, Any]]:
        if self.selected_rate is None:
            return []
        refunded = self.refund_status == "refunded"
        amount = f"{Decimal(self.selected_rate['rate']):.5f}"
        return [{"object": "Fee", "type": "PostageFee", "amount": amount, "charged": True, "refunded": refunded}]


def rates_for(shipment_id: str, mode: str, weight_oz: float, now: datetime) -> list[dict[str, Any]]:
    rates = []
    for service in SERVICES:
        amount = f"{price(service, weight_oz):.2f}"
        rates.append(
            {
                "id": new_id("rate"),
                "object": "Rate",
                "created_at": iso(now),
                "updated_at": iso(now),
                "mode": mode,
                "service": service.service,
                "carrier": service.carrier,
                "rate": amount,
                "currency": "USD",
                "retail_rate": amount,
                "retail_currency": "USD",
                "list_rate": amount,
                "list_currency": "USD",
                "billing_type": "easypost",
                "delivery_days": service.delivery_days,
                "delivery_date": None,
                "delivery_date_guaranteed": False,
                "est_delivery_days": service.delivery_days,
                "shipment_id": shipment_id,
                "carrier_account_id": service.carrier_account_id,
            }
        )
    return rates


def stored_address(address: dict[str, Any], mode: str, now: datetime) -> dict[str, Any]:
    keys = ("name", "company", "street1", "street2", "city", "state", "zip", "country", "phone", "email")
    fields = {key: address.get(key) for key in keys}
    return {"id": new_id("adr"), "object": "Address", "created_at": iso(now), "mode": mode, **fields}


def stored_parcel(parcel: dict[str, Any], mode: str, now: datetime) -> dict[str, Any]:
    sizes = {key: parcel.get(key) for key in ("length", "width", "height", "weight")}
    return {"id": new_id("prcl"), "object": "Parcel", "created_at": iso(now), "mode": mode, **sizes}


def tiny_png() -> bytes:
    """A valid 1x1 white PNG: the default label format when none was asked for."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff")) + chunk(b"IEND", b"")
    )
