"""FakeShippo's state and wire rendering: shipments with rates, transactions (sync or queued), refunds, tracks.

Kept apart from the HTTP layer so the rules (prices, what may be refunded, how a queued purchase settles)
read in one place. JSON shapes follow the Shippo objects in the shared fixtures.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.carriers.sandbox.labels import LabelData
from adapters.carriers.shippo.mapper import format_datetime
from domain.model import Address

OWNER = "fake@waybill.test"
GRAMS_PER_UNIT = {"g": Decimal(1), "kg": Decimal(1000), "oz": Decimal("28.349523125"), "lb": Decimal("453.59237")}
DISTANCE_UNITS = frozenset({"cm", "in", "ft", "mm", "m", "yd"})
LABEL_FILE_TYPES = frozenset(
    {"PNG", "PNG_2.3x7.5", "PDF", "PDF_2.3x7.5", "PDF_4x6", "PDF_4x8", "PDF_A4", "PDF_A5", "PDF_A6", "ZPLII"}
)
REFUNDABLE_TRACKING = frozenset({"UNKNOWN", "PRE_TRANSIT"})  # not scanned by the carrier yet
TRACKING_STATUSES = frozenset({"UNKNOWN", "PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE"})
STATUS_DETAILS = {
    "UNKNOWN": "The carrier has not yet received the shipment.",
    "PRE_TRANSIT": "The shipping label has been created and the carrier is awaiting the item.",
    "TRANSIT": "Your shipment has been accepted at the origin facility.",
    "DELIVERED": "Your shipment has been delivered.",
    "RETURNED": "Your shipment is being returned to the sender.",
    "FAILURE": "Delivery failed: the address could not be found.",
}
ADDRESS_REQUIRED = ("street1", "city", "zip", "country")


@dataclass(frozen=True)
class Service:
    provider: str  # display name ("USPS"); the track carrier token is its lower case
    token: str
    name: str
    estimated_days: int
    base: Decimal
    per_kg: Decimal

    @property
    def carrier(self) -> str:
        return self.provider.lower()

    def price(self, grams: Decimal) -> Decimal:
        """Base plus each started kilogram: heavier parcels always cost more."""
        return self.base + self.per_kg * max(1, math.ceil(grams / 1000))


SERVICES: tuple[Service, ...] = (
    Service("USPS", "usps_ground_advantage", "Ground Advantage", 5, Decimal("5.40"), Decimal("0.90")),
    Service("USPS", "usps_priority", "Priority Mail", 2, Decimal("7.85"), Decimal("1.60")),
    Service("UPS", "ups_next_day_air", "Next Day Air", 1, Decimal("28.50"), Decimal("4.20")),
)


def new_id() -> str:
    return secrets.token_hex(16)


def tracking_number_for(service: Service) -> str:
    if service.carrier == "ups":
        return "1Z" + secrets.token_hex(8).upper()
    return "9205590" + f"{secrets.randbelow(10**15):015d}"


def tracking_url_for(service: Service, number: str) -> str:
    if service.carrier == "ups":
        return f"https://www.ups.com/track?tracknum={number}"
    return f"https://tools.usps.com/go/TrackConfirmAction_input?origTrackNum={number}"


def validate_shipment(body: Any) -> dict[str, Any] | None:
    """DRF-style {field: [messages]} for what Shippo would refuse, or None."""
    if not isinstance(body, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, Any] = {}
    for key in ("address_from", "address_to"):
        address = body.get(key)
        if not isinstance(address, dict):
            errors[key] = ["This field is required."]
            continue
        missing = {name: ["This field is required."] for name in ADDRESS_REQUIRED if not address.get(name)}
        if missing:
            errors[key] = missing
    parcels = body.get("parcels")
    if not isinstance(parcels, list) or not parcels:
        errors["parcels"] = ["This field is required."]
    else:
        problems = [parcel_problems(parcel) for parcel in parcels]
        if any(problems):
            errors["parcels"] = problems
    return errors or None


def parcel_problems(parcel: Any) -> dict[str, list[str]]:
    if not isinstance(parcel, dict):
        return {"non_field_errors": ["Invalid parcel."]}
    problems: dict[str, list[str]] = {}
    if parcel.get("mass_unit") not in GRAMS_PER_UNIT:
        problems["mass_unit"] = [f'"{parcel.get("mass_unit")}" is not a valid choice.']
    if parcel.get("distance_unit") not in DISTANCE_UNITS:
        problems["distance_unit"] = [f'"{parcel.get("distance_unit")}" is not a valid choice.']
    for name in ("length", "width", "height", "weight"):
        try:
            if Decimal(str(parcel.get(name))) <= 0:
                problems[name] = ["Ensure this value is greater than 0."]
        except ArithmeticError:
            problems[name] = ["A valid number is required."]
    return problems


def parcel_grams(parcel: dict[str, Any]) -> Decimal:
    return Decimal(str(parcel["weight"])) * GRAMS_PER_UNIT[str(parcel["mass_unit"])]


def label_address(wire: dict[str, Any]) -> Address:
    return Address(
        name=wire.get("name"), company=wire.get("company"), line1=wire.get("street1"), line2=wire.get("street2"),
        city=wire.get("city"), region=wire.get("state"), postal_code=wire.get("zip"),
        country_code=wire.get("country"),
    )  # fmt: skip


@dataclass
class FakeRate:
    object_id: str
    shipment_id: str
    service: Service
    amount: Decimal
    created_at: datetime
    test: bool

    def json(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id, "object_created": format_datetime(self.created_at), "object_owner": OWNER,
            "shipment": self.shipment_id, "attributes": [], "amount": str(self.amount), "currency": "USD",
            "amount_local": str(self.amount), "currency_local": "USD", "provider": self.service.provider,
            "provider_image_75": None, "provider_image_200": None,
            "servicelevel": {"name": self.service.name, "token": self.service.token, "terms": ""},
            "estimated_days": self.service.estimated_days, "duration_terms": "", "carrier_account": new_id()[:32],
            "zone": "5", "messages": [], "test": self.test,
        }  # fmt: skip


@dataclass
class FakeShipment:
    object_id: str
    body: dict[str, Any]
    rates: list[FakeRate]
    created_at: datetime
    test: bool

    def json(self) -> dict[str, Any]:
        created = format_datetime(self.created_at)
        return {
            "object_id": self.object_id, "object_created": created, "object_updated": created, "object_owner": OWNER,
            "status": "SUCCESS", "address_from": self.body["address_from"], "address_to": self.body["address_to"],
            "address_return": self.body["address_from"],
            "parcels": [{"object_id": new_id(), **parcel} for parcel in self.body["parcels"]],
            "rates": [rate.json() for rate in self.rates], "messages": [], "metadata": self.body.get("metadata", ""),
            "test": self.test,
        }  # fmt: skip


@dataclass
class FakeTrack:
    carrier: str
    tracking_number: str
    service: Service
    address_from: dict[str, Any]
    address_to: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.history[-1]["status"]) if self.history else "UNKNOWN"

    def add(
        self, status: str, at: datetime, details: str | None = None, location: dict[str, Any] | None = None
    ) -> None:
        self.history.append(
            {
                "object_created": format_datetime(at), "object_updated": format_datetime(at), "object_id": new_id(),
                "status": status, "status_details": details or STATUS_DETAILS[status],
                "status_date": format_datetime(at), "substatus": None, "location": location,
            }
        )  # fmt: skip

    def json(self) -> dict[str, Any]:
        def place(address: dict[str, Any]) -> dict[str, Any]:
            return {key: address.get(key, "") for key in ("city", "state", "zip", "country")}

        return {
            "carrier": self.carrier, "tracking_number": self.tracking_number,
            "address_from": place(self.address_from), "address_to": place(self.address_to), "eta": None,
            "original_eta": None, "servicelevel": {"token": self.service.token, "name": self.service.name},
            "metadata": None, "transaction": None, "test": True,
            "tracking_status": self.history[-1] if self.history else None, "tracking_history": list(self.history),
        }  # fmt: skip


@dataclass
class FakeTransaction:
    object_id: str
    rate: FakeRate
    shipment: FakeShipment
    metadata: str
    label_file_type: str
    created_at: datetime
    updated_at: datetime
    status: str
    tracking_number: str
    test: bool
    messages: list[dict[str, str]] = field(default_factory=list)
    polls_left: int = 0  # GETs until a QUEUED transaction settles
    outcome: str = "SUCCESS"
    outcome_message: str = ""
    label_ready: bool = False

    @property
    def label_extension(self) -> str:
        return "zpl" if self.label_file_type == "ZPLII" else "pdf"

    def settle(self, at: datetime, outcome: str | None = None, message: str | None = None) -> None:
        """QUEUED/WAITING → SUCCESS (label ready) or ERROR (carrier message, nothing charged)."""
        outcome = outcome or self.outcome
        self.updated_at = at
        if outcome == "SUCCESS":
            self.status, self.label_ready = "SUCCESS", True
        else:
            self.status, self.tracking_number = "ERROR", ""
            text = message or self.outcome_message or "The carrier could not create the label."
            self.messages = [{"source": self.rate.service.provider, "code": "", "text": text}]

    def label_data(self) -> LabelData:
        return LabelData(
            tracking_number=self.tracking_number,
            service_name=f"{self.rate.service.provider} {self.rate.service.name}",
            ship_from=label_address(self.shipment.body["address_from"]),
            ship_to=label_address(self.shipment.body["address_to"]),
            weight_grams=int(parcel_grams(self.shipment.body["parcels"][0])),
            created_at=self.created_at,
        )

    def json(self, base_url: str, track: FakeTrack | None) -> dict[str, Any]:
        ready = self.label_ready and self.status != "ERROR"
        return {
            "object_state": "VALID", "status": self.status, "object_created": format_datetime(self.created_at),
            "object_updated": format_datetime(self.updated_at), "object_id": self.object_id, "object_owner": OWNER,
            "test": self.test, "rate": self.rate.object_id,
            "tracking_number": self.tracking_number if ready else "",
            "tracking_status": (track.status if track and ready else None), "tracking_history": [],
            "tracking_url_provider": tracking_url_for(self.rate.service, self.tracking_number) if ready else "",
            "eta": None,
            "label_url": f"{base_url}/labels/{self.object_id}.{self.label_extension}" if ready else "",
            "commercial_invoice_url": None, "messages": self.messages, "order": None, "metadata": self.metadata,
            "parcel": new_id(), "qr_code_url": None,
        }  # fmt: skip


@dataclass
class FakeRefund:
    object_id: str
    transaction_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    test: bool

    def json(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id, "object_created": format_datetime(self.created_at),
            "object_updated": format_datetime(self.updated_at), "object_owner": OWNER, "status": self.status,
            "transaction": self.transaction_id, "test": self.test,
        }  # fmt: skip
