"""Pure translations between EasyPost's v2 JSON and Waybill's domain objects (no I/O, no clock).

EasyPost aggregates many carriers, so a Waybill service names both: "USPS:Priority". Weights travel in
ounces and dimensions in inches, rounded *up* to a tenth so a parcel is never declared lighter or smaller
than it is (carriers re-bill under-declared parcels).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from domain.model import Address, RefundStatus, TrackingEvent, TrackingStatus
from domain.ports import Parcel, PurchasedLabel, Rate, RateRequest, TrackingInfo

CARRIER = "easypost"
SERVICE_SEPARATOR = ":"
SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="

GRAMS_PER_OUNCE = Decimal("28.349523125")
CM_PER_INCH = Decimal("2.54")
TENTH = Decimal("0.1")
_PLAIN_REFERENCE = re.compile(r"[A-Za-z0-9_.~-]{1,64}")

# Every documented tracker status (CHANNELS.md section 8); anything else is UNKNOWN.
TRACKING_STATUSES: dict[str, TrackingStatus] = {
    "unknown": TrackingStatus.UNKNOWN,
    "pre_transit": TrackingStatus.PENDING,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "delivered": TrackingStatus.DELIVERED,
    "available_for_pickup": TrackingStatus.READY_FOR_PICKUP,
    "return_to_sender": TrackingStatus.RETURN_TO_SENDER,
    "failure": TrackingStatus.DELIVERY_FAILED,
    "cancelled": TrackingStatus.CANCELLED,
    "error": TrackingStatus.UNKNOWN,
}

REFUND_STATUSES: dict[str, RefundStatus] = {
    "submitted": RefundStatus.SUBMITTED,
    "refunded": RefundStatus.REFUNDED,
    "rejected": RefundStatus.REJECTED,
    "not_applicable": RefundStatus.NOT_APPLICABLE,
}

#: Tracker statuses in which the carrier has not touched the parcel: a refund can still be granted.
UNSCANNED = frozenset({"unknown", "pre_transit"})

# EasyPost address keys -> domain Address attributes.
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
_PARCEL_FIELDS = {"weight": "weight_grams", "length": "length_cm", "width": "width_cm", "height": "height_cm"}


def tracking_status(wire_status: str | None) -> TrackingStatus:
    return TRACKING_STATUSES.get((wire_status or "").lower(), TrackingStatus.UNKNOWN)


def refund_status(wire_status: str | None) -> RefundStatus | None:
    """None while no refund was asked for (EasyPost sends null), so callers can tell "nothing yet"."""
    return REFUND_STATUSES.get((wire_status or "").lower())


def reference_for(idempotency_key: str) -> str:
    """The shipment `reference` for a key: the key itself when it is URL-plain, else a stable hash of it.

    The reference is looked up as a path segment (GET /shipments/{reference}); a "/" or "%" in it, or a key
    that looks like a shipment id, could miss the first purchase and buy a second label.
    """
    if _PLAIN_REFERENCE.fullmatch(idempotency_key) and not idempotency_key.startswith("shp_"):
        return idempotency_key
    return "wb_" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]


def service_key(carrier: str, service: str) -> str:
    return f"{carrier}{SERVICE_SEPARATOR}{service}"


def split_service(service: str) -> tuple[str | None, str]:
    """'USPS:Priority' -> ('USPS', 'Priority'); a bare 'Priority' matches any carrier."""
    carrier, separator, name = service.partition(SERVICE_SEPARATOR)
    return (carrier, name) if separator else (None, service)


def domain_field(wire_field: str) -> str:
    """'to_address.zip' -> 'ship_to.postal_code': an error names the field the merchant can edit."""
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


# --- requests ----------------------------------------------------------------------------


def ounces(grams: int) -> Decimal:
    return (Decimal(grams) / GRAMS_PER_OUNCE).quantize(TENTH, rounding=ROUND_CEILING)


def inches(centimetres: Decimal) -> Decimal:
    return (Decimal(centimetres) / CM_PER_INCH).quantize(TENTH, rounding=ROUND_CEILING)


def address_to_wire(address: Address) -> dict[str, str]:
    """Empty parts are left out: EasyPost treats "" and a missing key alike, but null trips some carriers."""
    wire = {key: getattr(address, attribute) for key, attribute in ADDRESS_FIELDS.items()}
    return {key: str(value) for key, value in wire.items() if value not in (None, "")}


def address_from_wire(payload: Mapping[str, Any]) -> Address:
    return Address(**{attribute: payload.get(key) or None for key, attribute in ADDRESS_FIELDS.items()})


def parcel_to_wire(parcel: Parcel) -> dict[str, float]:
    return {
        "length": float(inches(parcel.length_cm)),
        "width": float(inches(parcel.width_cm)),
        "height": float(inches(parcel.height_cm)),
        "weight": float(ounces(parcel.weight_grams)),
    }


def shipment_to_wire(
    request: RateRequest,
    *,
    reference: str | None = None,
    label_format: str = "PDF",
    carrier_accounts: list[str] | None = None,
) -> dict[str, Any]:
    """The body of POST /shipments; `reference` carries the idempotency key (GET /shipments/{reference})."""
    shipment: dict[str, Any] = {
        "to_address": address_to_wire(request.ship_to),
        "from_address": address_to_wire(request.ship_from),
        "parcel": parcel_to_wire(request.parcel),
        "options": {"label_format": label_format, "label_size": "4x6"},
    }
    if reference is not None:
        shipment["reference"] = reference
    if carrier_accounts:
        shipment["carrier_accounts"] = list(carrier_accounts)
    return {"shipment": shipment}


# --- responses ---------------------------------------------------------------------------


def _delivery_days(rate: Mapping[str, Any]) -> int:
    for key in ("delivery_days", "est_delivery_days"):
        if rate.get(key) is not None:
            return int(rate[key])
    return 0


def rate_from_wire(rate: Mapping[str, Any]) -> Rate:
    carrier, service = str(rate["carrier"]), str(rate["service"])
    return Rate(
        carrier=CARRIER,
        service=service_key(carrier, service),
        service_name=f"{carrier} {service}",
        amount=Decimal(str(rate["rate"])),
        currency=str(rate.get("currency") or "USD"),
        delivery_days=_delivery_days(rate),
    )


def rates_from_wire(shipment: Mapping[str, Any]) -> list[Rate]:
    """Cheapest first (then fastest), the order a merchant picks from."""
    rates = [rate_from_wire(rate) for rate in shipment.get("rates") or []]
    return sorted(rates, key=lambda rate: (rate.amount, rate.delivery_days, rate.service))


def find_rate(shipment: Mapping[str, Any], service: str) -> Mapping[str, Any] | None:
    """The shipment's rate for a Waybill service ('USPS:Priority'); carrier and service compare case-blind."""
    carrier, name = split_service(service)
    for rate in shipment.get("rates") or []:
        if str(rate.get("service", "")).lower() != name.lower():
            continue
        if carrier is None or str(rate.get("carrier", "")).lower() == carrier.lower():
            found: Mapping[str, Any] = rate
            return found
    return None


def offered_services(shipment: Mapping[str, Any]) -> list[str]:
    return [service_key(str(rate["carrier"]), str(rate["service"])) for rate in shipment.get("rates") or []]


def is_purchased(shipment: Mapping[str, Any]) -> bool:
    return bool(shipment.get("postage_label")) and bool(shipment.get("tracking_code"))


def label_urls(shipment: Mapping[str, Any]) -> dict[str, str | None]:
    """The PDF and ZPL links a bought shipment has so far; label_url is the format asked for at creation."""
    label = shipment.get("postage_label") or {}
    urls: dict[str, str | None] = {"PDF": label.get("label_pdf_url"), "ZPL": label.get("label_zpl_url")}
    file_type = str(label.get("label_file_type") or "").lower()
    main = label.get("label_url")
    if main and urls["PDF"] is None and file_type == "application/pdf":
        urls["PDF"] = main
    if main and urls["ZPL"] is None and file_type in ("application/zpl", "text/plain"):
        urls["ZPL"] = main
    return urls


def purchased_label_from_wire(shipment: Mapping[str, Any], pdf: bytes, zpl: bytes) -> PurchasedLabel:
    rate = shipment.get("selected_rate") or {}
    tracker = shipment.get("tracker") or {}
    return PurchasedLabel(
        carrier_label_id=str(shipment["id"]),
        tracking_number=str(shipment["tracking_code"]),
        tracking_url=str(tracker.get("public_url") or ""),
        amount=Decimal(str(rate["rate"])),
        currency=str(rate.get("currency") or "USD"),
        pdf=pdf,
        zpl=zpl,
        carrier_name=str(rate.get("carrier") or "") or None,
    )


def _location(payload: Mapping[str, Any] | None) -> str | None:
    if not payload:
        return None
    parts = [payload.get(key) for key in ("city", "state", "country")]
    text = ", ".join(str(part) for part in parts if part)
    return text or None


def tracking_from_wire(tracker: Mapping[str, Any]) -> TrackingInfo:
    """Events oldest first, whatever order the carrier lists them in."""
    events = [
        TrackingEvent(
            status=tracking_status(detail.get("status")),
            occurred_at=parse_datetime(str(detail["datetime"])),
            description=str(detail.get("message") or detail.get("description") or ""),
            location=_location(detail.get("tracking_location")),
        )
        for detail in tracker.get("tracking_details") or []
        if detail.get("datetime")
    ]
    events.sort(key=lambda event: event.occurred_at)
    return TrackingInfo(status=tracking_status(tracker.get("status")), events=events)


def error_text(payload: Any) -> tuple[str, str, list[tuple[str, str]]]:
    """(code, message, [(domain field, message)]) from {"error": {code, message, errors: [...]}}."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return "", "", []
    fields = [
        (domain_field(str(item.get("field"))), str(item.get("message") or "is invalid"))
        for item in error.get("errors") or []
        if isinstance(item, dict) and item.get("field")
    ]
    return str(error.get("code") or ""), str(error.get("message") or ""), fields


# --- webhooks ----------------------------------------------------------------------------


def sign_webhook(body: bytes, secret: str) -> str:
    """The X-Hmac-Signature value EasyPost sends: the secret is NFKD-normalised before use."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """True only for a body signed with `secret`; header names compare case-blind, digests in constant time."""
    if not secret:
        return False
    wanted = SIGNATURE_HEADER.lower()
    received = next((value for name, value in headers.items() if name.lower() == wanted), None)
    if not received:
        return False
    return hmac.compare_digest(sign_webhook(body, secret).encode(), received.strip().encode())


def parse_webhook(body: bytes) -> tuple[str, TrackingInfo] | None:
    """(tracking number, tracking) from a tracker.created/updated Event; None for any other event."""
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(event, dict) or not str(event.get("description", "")).startswith("tracker."):
        return None
    tracker = event.get("result")
    if not isinstance(tracker, dict) or not tracker.get("tracking_code"):
        return None
    return str(tracker["tracking_code"]), tracking_from_wire(tracker)
