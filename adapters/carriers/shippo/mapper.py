"""Pure translations between Shippo's wire JSON and Waybill's domain, plus the webhook signature scheme.

Field names follow goshippo/shippo-python-sdk docs/models/components (Shipment, Rate, Transaction, Refund,
Track) and docs.goshippo.com/docs/tracking/webhooksecurity (`Shippo-Auth-Signature: t=…,v1=…`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.model import Address, RefundStatus, TrackingEvent, TrackingStatus
from domain.ports import Parcel, PurchasedLabel, Rate, RateRequest, TrackingInfo

CARRIER = "shippo"
SIGNATURE_HEADER = "Shippo-Auth-Signature"
WEBHOOK_TOLERANCE_S = 300

# CHANNELS.md section 8; UNKNOWN (and anything new) stays UNKNOWN.
TRACKING_STATUSES: dict[str, TrackingStatus] = {
    "UNKNOWN": TrackingStatus.UNKNOWN,
    "PRE_TRANSIT": TrackingStatus.PENDING,
    "TRANSIT": TrackingStatus.IN_TRANSIT,
    "DELIVERED": TrackingStatus.DELIVERED,
    "RETURNED": TrackingStatus.RETURN_TO_SENDER,
    "FAILURE": TrackingStatus.DELIVERY_FAILED,
}

# Refund.status: QUEUED and PENDING are both "asked, not yet settled".
REFUND_STATUSES: dict[str, RefundStatus] = {
    "QUEUED": RefundStatus.SUBMITTED,
    "PENDING": RefundStatus.SUBMITTED,
    "SUCCESS": RefundStatus.REFUNDED,
    "ERROR": RefundStatus.REJECTED,
}

# Transaction.status once a refund was asked for.
TRANSACTION_REFUND_STATUSES: dict[str, RefundStatus] = {
    "REFUNDPENDING": RefundStatus.SUBMITTED,
    "REFUNDED": RefundStatus.REFUNDED,
    "REFUNDREJECTED": RefundStatus.REJECTED,
}

PENDING_TRANSACTION = frozenset({"QUEUED", "WAITING"})
FAILED_TRANSACTION = "ERROR"
# A label exists (was charged) in each of these, refunded or not.
BOUGHT_TRANSACTION = frozenset({"SUCCESS", "REFUNDPENDING", "REFUNDED", "REFUNDREJECTED"})

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


def tracking_status(wire_status: str | None) -> TrackingStatus:
    return TRACKING_STATUSES.get((wire_status or "").upper(), TrackingStatus.UNKNOWN)


def refund_status(wire_status: str | None) -> RefundStatus:
    """An unrecognised refund status reads as SUBMITTED: the refund was accepted, its outcome is not known."""
    return REFUND_STATUSES.get((wire_status or "").upper(), RefundStatus.SUBMITTED)


def transaction_refund_status(wire_status: str | None) -> RefundStatus | None:
    return TRANSACTION_REFUND_STATUSES.get((wire_status or "").upper())


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_text(payload: Any) -> str:
    """Shippo's 4xx bodies as one line: {"detail": …}, {field: [messages]} (nested for addresses), or text."""
    if payload is None:
        return ""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, Mapping):
        if payload.get("detail"):
            return error_text(payload["detail"])
        parts = []
        for key, value in payload.items():
            text = error_text(value)
            if text:
                parts.append(f"{key}: {text}" if key not in ("non_field_errors", "__all__") else text)
        return "; ".join(parts)
    if isinstance(payload, list | tuple):
        return "; ".join(text for text in (error_text(item) for item in payload) if text)
    return str(payload)


def messages_text(transaction: Mapping[str, Any]) -> str:
    """A failed transaction's `messages[]` ({source, code, text}) as "USPS: …; UPS 120100: …"."""
    parts = []
    for message in transaction.get("messages") or []:
        if not isinstance(message, Mapping) or not message.get("text"):
            continue
        source = " ".join(str(part) for part in (message.get("source"), message.get("code")) if part)
        parts.append(f"{source}: {message['text']}" if source else str(message["text"]))
    return "; ".join(parts)


# --- requests ----------------------------------------------------------------------------


def address_to_wire(address: Address) -> dict[str, str]:
    """Only the fields we know: Shippo treats an empty string as a value, so absent ones are left out."""
    wire = {key: getattr(address, attribute) for key, attribute in ADDRESS_FIELDS.items()}
    return {key: str(value) for key, value in wire.items() if value not in (None, "")}


def _decimal_text(value: Decimal) -> str:
    """Exact decimal text without exponent or trailing zeros ("30", "12.5")."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def parcel_to_wire(parcel: Parcel) -> dict[str, str]:
    """Grams and centimetres travel as-is (Shippo accepts g/cm): no unit conversion, so no rounding."""
    return {
        "length": _decimal_text(parcel.length_cm),
        "width": _decimal_text(parcel.width_cm),
        "height": _decimal_text(parcel.height_cm),
        "distance_unit": "cm",
        "weight": str(parcel.weight_grams),
        "mass_unit": "g",
    }


def shipment_request(request: RateRequest, metadata: str | None = None) -> dict[str, Any]:
    """POST /shipments with async=false, so the answer carries the rates."""
    body: dict[str, Any] = {
        "address_from": address_to_wire(request.ship_from),
        "address_to": address_to_wire(request.ship_to),
        "parcels": [parcel_to_wire(request.parcel)],
        "async": False,
    }
    if metadata:
        body["metadata"] = metadata
    return body


def transaction_request(rate_id: str, idempotency_key: str, label_file_type: str) -> dict[str, Any]:
    """The idempotency key rides in `metadata`: Shippo has no idempotency header, the client looks it up there."""
    return {"rate": rate_id, "label_file_type": label_file_type, "async": False, "metadata": idempotency_key}


# --- responses ---------------------------------------------------------------------------


def rate_from_wire(item: Mapping[str, Any]) -> Rate:
    level = item.get("servicelevel") or {}
    provider = str(item.get("provider") or "").strip()
    name = str(level.get("name") or level.get("token") or "")
    return Rate(
        carrier=CARRIER,
        service=str(level.get("token") or ""),
        service_name=f"{provider} {name}".strip() if provider and not name.startswith(provider) else name,
        amount=Decimal(str(item["amount"])),
        currency=str(item.get("currency") or "USD"),
        delivery_days=int(item.get("estimated_days") or 0),
    )


def rates_from_shipment(shipment: Mapping[str, Any]) -> list[Rate]:
    """Cheapest first (faster first at equal price), the order a merchant picks from."""
    rates = [
        rate_from_wire(item) for item in shipment.get("rates") or [] if (item.get("servicelevel") or {}).get("token")
    ]
    return sorted(rates, key=lambda rate: (rate.amount, rate.delivery_days, rate.service))


def find_rate(shipment: Mapping[str, Any], service: str) -> dict[str, Any] | None:
    """The shipment's rate for a servicelevel token; the cheapest if several carrier accounts offer it."""
    matches = [
        dict(item) for item in shipment.get("rates") or [] if (item.get("servicelevel") or {}).get("token") == service
    ]
    return min(matches, key=lambda item: Decimal(str(item["amount"]))) if matches else None


def find_by_metadata(transactions: Iterable[Mapping[str, Any]], metadata: str) -> dict[str, Any] | None:
    """The transaction bought under this key: any live one first (newest first), an ERROR one only if alone.

    An ERROR transaction charged nothing, so a caller may buy again; a live one must be reused.
    """
    failed: dict[str, Any] | None = None
    for transaction in transactions:
        if transaction.get("metadata") != metadata:
            continue
        if str(transaction.get("status")) != FAILED_TRANSACTION:
            return dict(transaction)
        failed = failed or dict(transaction)
    return failed


def label_kind(content: bytes) -> str | None:
    """Returns "pdf" or "zpl" by content, not by what was asked: a dashboard default can override the request."""
    head = content.lstrip()[:8]
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"^XA", b"~", b"^")):
        return "zpl"
    return None


def purchased_label(transaction: Mapping[str, Any], rate: Mapping[str, Any], label: bytes) -> PurchasedLabel:
    """One transaction is one label file: the format not bought stays empty (b"")."""
    kind = label_kind(label)
    return PurchasedLabel(
        carrier_label_id=str(transaction["object_id"]),
        tracking_number=str(transaction["tracking_number"]),
        tracking_url=str(transaction.get("tracking_url_provider") or ""),
        amount=Decimal(str(rate["amount"])),
        currency=str(rate.get("currency") or "USD"),
        pdf=label if kind == "pdf" else b"",
        zpl=label if kind == "zpl" else b"",
        carrier_name=str(rate.get("provider") or "") or None,
    )


def _location(payload: Mapping[str, Any] | None) -> str | None:
    if not payload:
        return None
    parts = [payload.get(key) for key in ("city", "state", "country")]
    return ", ".join(str(part) for part in parts if part) or None


def _event(item: Mapping[str, Any]) -> TrackingEvent | None:
    when = item.get("status_date") or item.get("object_created")
    if not when:
        return None
    return TrackingEvent(
        status=tracking_status(item.get("status")),
        occurred_at=parse_datetime(str(when)),
        description=str(item.get("status_details") or ""),
        location=_location(item.get("location")),
    )


def tracking_from_wire(track: Mapping[str, Any]) -> TrackingInfo:
    """A Track (GET /tracks or a track_updated webhook's data): current status, events oldest first."""
    current = track.get("tracking_status") or {}
    events = [event for item in track.get("tracking_history") or [] if (event := _event(item))]
    if not events and current and (event := _event(current)):
        events = [event]
    events.sort(key=lambda event: event.occurred_at)
    return TrackingInfo(status=tracking_status(current.get("status")), events=events)


def parse_track_webhook(body: bytes) -> tuple[str, TrackingInfo] | None:
    """(tracking number, tracking) from a `track_updated` body; None for other events. Verify it first."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("event") != "track_updated":
        return None
    data = payload.get("data")
    if not isinstance(data, dict) or not data.get("tracking_number"):
        return None
    return str(data["tracking_number"]), tracking_from_wire(data)


# --- webhook signature -------------------------------------------------------------------


def _digest(body: bytes, secret: str, timestamp: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign_webhook(body: bytes, secret: str, timestamp: int) -> str:
    """The `Shippo-Auth-Signature` value: t=<unix seconds>,v1=hex(HMAC-SHA256(secret, "{t}.{body}"))."""
    return f"t={timestamp},v1={_digest(body, secret, str(timestamp))}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance_s: int = WEBHOOK_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True only for a body signed with `secret` within `tolerance_s` of now (replays of old bodies fail).

    Accepts several v1 values (secret rotation) and a millisecond `t`; compares in constant time.
    """
    header = _header(headers, SIGNATURE_HEADER)
    if not header or not secret:
        return False
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value.strip()
        elif key == "v1" and value.strip():
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        return False
    try:
        seconds = float(timestamp)
    except ValueError:
        return False
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    if abs((time.time() if now is None else now) - seconds) > tolerance_s:
        return False
    expected = _digest(body, secret, timestamp)
    return any(hmac.compare_digest(expected, signature) for signature in signatures)
