"""WooCommerce REST v3 JSON -> domain objects, the notes Waybill writes, and the webhook signature check.

Pure functions, no I/O: the client fetches, these translate, so they can be tested on real payloads.
Woo keeps no per-line fulfilment, so shipments live in Shipment Tracking items or in order notes whose
text is defined here once (the client writes it, the fake reads it back).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.forwarding import REFERENCE_PREFIX, ForwardedCopy, ForwardRequest, StoreFulfillment, order_id_of
from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus

#: Where the Shipment Tracking extension keeps an order's tracking items (visible in `meta_data`).
TRACKING_META_KEY = "_wc_shipment_tracking_items"

#: Every status core WooCommerce documents, normalized (CHANNELS.md section 8).
ORDER_STATUS: dict[str, ChannelOrderStatus] = {
    "pending": ChannelOrderStatus.PENDING_PAYMENT,
    "failed": ChannelOrderStatus.PENDING_PAYMENT,
    "checkout-draft": ChannelOrderStatus.PENDING_PAYMENT,  # block checkout not yet placed
    "processing": ChannelOrderStatus.AWAITING_FULFILLMENT,
    "on-hold": ChannelOrderStatus.ON_HOLD,
    "completed": ChannelOrderStatus.FULFILLED,
    "cancelled": ChannelOrderStatus.CANCELLED,
    "refunded": ChannelOrderStatus.REFUNDED,
    "trash": ChannelOrderStatus.CANCELLED,  # deleted by the merchant: nothing left to ship
}
#: wc_get_is_paid_statuses(): Woo itself counts these as paid, with or without date_paid.
PAID_STATUSES = frozenset({"processing", "completed"})
#: Orders that must never be marked shipped (completing them would undo the cancellation).
CLOSED_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})


def parse_gmt(value: Any) -> datetime:
    """Woo's `*_gmt` fields are naive ISO strings in UTC ("2017-03-22T19:28:08")."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a WooCommerce date: {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_gmt(moment: datetime) -> str:
    """The form Woo's `modified_after` takes with dates_are_gmt=true (second precision, no offset)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def tracking_items(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Shipment Tracking items stored on the order, if the extension is installed."""
    for meta in order.get("meta_data") or []:
        if isinstance(meta, Mapping) and meta.get("key") == TRACKING_META_KEY and isinstance(meta.get("value"), list):
            return [item for item in meta["value"] if isinstance(item, Mapping)]
    return []


def channel_status(order: Mapping[str, Any]) -> ChannelOrderStatus:
    """Status first (cancelled/refunded are statuses in Woo); processing with tracking items is partial."""
    status = str(order.get("status") or "")
    mapped = ORDER_STATUS.get(status, ChannelOrderStatus.UNKNOWN)
    if mapped is ChannelOrderStatus.AWAITING_FULFILLMENT and tracking_items(order):
        return ChannelOrderStatus.PARTIALLY_FULFILLED
    return mapped


def payment_status(order: Mapping[str, Any]) -> PaymentStatus:
    """Woo has no financial status: derive it from the order status, date_paid and the refunds list."""
    status = str(order.get("status") or "")
    paid = bool(order.get("date_paid_gmt")) or status in PAID_STATUSES
    if status == "refunded":
        return PaymentStatus.REFUNDED
    if order.get("refunds"):
        return PaymentStatus.PARTIALLY_REFUNDED
    if status == "failed":
        return PaymentStatus.FAILED
    if paid:
        return PaymentStatus.PAID
    if status == "cancelled":
        return PaymentStatus.VOIDED
    if status in ("pending", "on-hold", "checkout-draft"):
        return PaymentStatus.PENDING
    return PaymentStatus.UNKNOWN


def _text(value: Any) -> str | None:
    """Woo sends "" for absent text and HTML entities in names ("&ndash;"); the domain wants None / plain text."""
    if value is None:
        return None
    text = html.unescape(str(value)).strip()
    return text or None


def _person_name(raw: Mapping[str, Any]) -> str | None:
    return _text(" ".join(part for part in (_text(raw.get("first_name")), _text(raw.get("last_name"))) if part))


def to_address(shipping: Mapping[str, Any] | None, billing: Mapping[str, Any] | None = None) -> Address | None:
    """None when the order has no shipping address at all (virtual products): Waybill makes a draft."""
    if not isinstance(shipping, Mapping):
        return None
    if not any(_text(shipping.get(key)) for key in ("address_1", "address_2", "city", "postcode", "country")):
        return None
    billing_phone = _text(billing.get("phone")) if isinstance(billing, Mapping) else None
    return Address(
        name=_person_name(shipping),
        company=_text(shipping.get("company")),
        line1=_text(shipping.get("address_1")),
        line2=_text(shipping.get("address_2")),
        city=_text(shipping.get("city")),
        region=_text(shipping.get("state")),
        postal_code=_text(shipping.get("postcode")),
        country_code=_text(shipping.get("country")),
        # shipping.phone exists since WC 5.6; carriers want a phone, and the buyer gave one at billing.
        phone=_text(shipping.get("phone")) or billing_phone,
    )


def unit_price(item: Mapping[str, Any]) -> str | None:
    """Catalogue price per unit from `subtotal` (before coupons), in the store's decimals; `price` is a float."""
    quantity = int(item.get("quantity") or 0)
    subtotal = item.get("subtotal")
    if quantity > 0 and isinstance(subtotal, str) and subtotal:
        try:
            amount = Decimal(subtotal)
        except InvalidOperation:
            raise ValueError(f"line {item.get('id')}: subtotal {subtotal!r} is not a number") from None
        exponent = amount.as_tuple().exponent
        places = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
        return str((amount / quantity).quantize(places))
    return _text(item.get("price"))


def to_lines(line_items: Iterable[Mapping[str, Any]]) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for item in line_items:
        quantity = int(item["quantity"])
        if quantity <= 0:
            continue
        lines.append(
            OrderLine(
                channel_line_id=str(item["id"]),
                title=_text(item.get("name")) or "",
                quantity=quantity,
                sku=_text(item.get("sku")),
                unit_price=unit_price(item),
            )
        )
    return lines


def _required(order: Mapping[str, Any], key: str) -> Any:
    value = order.get(key)
    if value is None or value == "":
        raise ValueError(f"WooCommerce order {order.get('id', '?')} has no {key!r}")
    return value


def to_channel_order(order: Mapping[str, Any]) -> ChannelOrder:
    """One REST v3 order (also the body of an order.* webhook) as the domain sees it."""
    if not isinstance(order, Mapping):
        raise TypeError(f"expected an order object, got {type(order).__name__}")
    line_items = order.get("line_items") or []
    if not isinstance(line_items, list):
        raise TypeError(f"WooCommerce order {order.get('id', '?')}: line_items is not a list")
    billing = order.get("billing") if isinstance(order.get("billing"), Mapping) else {}
    address = to_address(order.get("shipping"), billing)
    mapped = ChannelOrder(
        external_id=str(_required(order, "id")),
        number=str(order.get("number") or order["id"]),
        channel_status=channel_status(order),
        payment_status=payment_status(order),
        lines=to_lines(line_items),
        shipping_address=address,
        channel_updated_at=parse_gmt(_required(order, "date_modified_gmt")),
        channel_created_at=parse_gmt(_required(order, "date_created_gmt")),
        raw_status=str(order.get("status") or ""),
        customer_name=(address.name if address else None) or _person_name(billing),
        customer_email=_text(billing.get("email")),
        currency=_text(order.get("currency")),
        total=_text(order.get("total")),
    )
    forwarded_from = forwarded_order_id(order)
    if forwarded_from is None:
        return mapped
    # The parcels come from the Shipment Tracking extension: the client reads them for copies only.
    return ForwardedCopy(
        **{name: getattr(mapped, name) for name in ChannelOrder.__dataclass_fields__}, waybill_order_id=forwarded_from
    )


#: Order meta naming the Waybill order a forwarded copy came from. No leading underscore: WooCommerce hides
#: "protected" (_-prefixed) meta from the REST API, and Waybill must read it back.
FORWARD_META = "waybill_order_id"


def forwarded_order_id(order: Mapping[str, Any]) -> int | None:
    for meta in order.get("meta_data") or []:
        if isinstance(meta, Mapping) and meta.get("key") == FORWARD_META:
            return order_id_of(REFERENCE_PREFIX + str(meta.get("value") or ""))
    return None


def tracking_fulfillments(items: Sequence[Mapping[str, Any]]) -> list[StoreFulfillment]:
    """Shipment Tracking items of a forwarded copy: Woo ships whole orders, so no lines."""
    return [
        StoreFulfillment(
            fulfillment_id=str(item.get("tracking_id") or item.get("tracking_number")),
            tracking_number=_text(item.get("tracking_number")),
            company=_text(item.get("tracking_provider")) or _text(item.get("custom_tracking_provider")),
            url=_text(item.get("tracking_link")) or _text(item.get("custom_tracking_link")),
        )
        for item in items
        if _text(item.get("tracking_number"))
    ]


def forwarded_order_body(request: ForwardRequest) -> dict[str, Any]:
    """POST /orders for a forwarded marketplace order. The reference goes into the order meta (read back exactly)
    and the shipping line's title (WooCommerce's order search looks at item names, so `search=` finds it)."""
    address = request.shipping_address
    first, _, last = (address.name if address and address.name else request.customer_name or "").partition(" ")
    shipping: dict[str, Any] = {"first_name": first, "last_name": last}
    if address is not None:
        shipping.update(
            company=address.company or "",
            address_1=address.line1 or "",
            address_2=address.line2 or "",
            city=address.city or "",
            state=address.region or "",
            postcode=address.postal_code or "",
            country=address.country_code or "",
            phone=address.phone or "",
        )
    body: dict[str, Any] = {
        "status": "processing" if request.paid else "pending",
        "set_paid": request.paid,
        "billing": {"first_name": first, "last_name": last, "email": request.customer_email or ""},
        "shipping": shipping,
        "line_items": [
            {
                "name": line.title or line.sku or "Item",
                "quantity": line.quantity,
                "total": f"{Decimal(line.unit_price or '0') * line.quantity:.2f}",
                "meta_data": [{"key": "SKU", "value": line.sku}] if line.sku else [],
            }
            for line in request.lines
        ],
        "shipping_lines": [
            {
                "method_id": "waybill",
                "method_title": f"{request.source} order {request.number} ({request.reference})",
                "total": "0.00",
            }
        ],
        "meta_data": [
            {"key": FORWARD_META, "value": str(request.order_id)},
            {"key": "marketplace", "value": request.source},
            {"key": "marketplace_order_number", "value": request.number},
        ],
        "customer_note": f"{request.source} order {request.number}, forwarded by Waybill",
    }
    if request.currency:
        body["currency"] = request.currency
    return body


def _looks_like_order(doc: Mapping[str, Any]) -> bool:
    return "id" in doc and ("line_items" in doc or "order_key" in doc) and "status" in doc


def parse_document(doc: Any) -> list[ChannelOrder]:
    """What a merchant pastes: GET /orders (a list), GET /orders/{id} or an order.* webhook body (an order),
    or the legacy {"order": {...}} / {"orders": [...]} wrappers."""
    if isinstance(doc, list):
        bad = [i for i, item in enumerate(doc) if not isinstance(item, Mapping)]
        if bad:
            raise ValueError(f"entries {bad} of the list are not WooCommerce order objects")
        return [to_channel_order(item) for item in doc]
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a WooCommerce order or a list of orders, got {type(doc).__name__}")
    if isinstance(doc.get("order"), Mapping):
        return [to_channel_order(doc["order"])]
    if isinstance(doc.get("orders"), list):
        return parse_document(doc["orders"])
    if _looks_like_order(doc):
        return [to_channel_order(doc)]
    if set(doc) == {"webhook_id"}:
        raise ValueError("this is a WooCommerce webhook ping ({'webhook_id': ...}); it carries no order")
    if "topic" in doc and "delivery_url" in doc:
        raise ValueError(
            "this is a WooCommerce webhook subscription, not an order: paste the body it delivers (the order JSON)"
        )
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ValueError(
        "not a WooCommerce order document: expected a list from GET /orders, an order object with id, status "
        f"and line_items, or an order.* webhook body (top-level keys: {keys})"
    )


def webhook_signature(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(raw body, webhook secret))."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """True when the delivery was signed with the webhook's secret (constant-time compare)."""
    given = next((value for key, value in headers.items() if key.lower() == "x-wc-webhook-signature"), None)
    if not given or not secret:
        return False
    return hmac.compare_digest(given.strip().encode(), webhook_signature(body, secret).encode())


# --- the order notes Waybill writes (and reads back for idempotency) ------------------------


@dataclass(frozen=True)
class ShipmentNote:
    """A shipment Waybill recorded as an order note: `number` None for one without tracking."""

    note_id: int
    number: str | None
    company: str | None


_TRACKED = re.compile(r"^Your order has been shipped with (?P<company>.+?)\.\nTracking number: (?P<number>\S+)")
_UNTRACKED = re.compile(r"^Waybill: shipped without tracking \((?P<what>[^)]*)\)\.")
_CANCELLED_TRACKED = re.compile(r"^The shipment with tracking number (?P<number>\S+) was cancelled\.")
_CANCELLED_NOTE = re.compile(r"^Waybill: the shipment recorded in note (?P<note_id>\d+) was cancelled\.")


def shipped_note(company: str, number: str, url: str | None) -> str:
    """The customer note for a tracked shipment on a store without the Shipment Tracking extension."""
    text = f"Your order has been shipped with {company}.\nTracking number: {number}"
    return f"{text}\nTrack it at: {url}" if url else text


def untracked_note(lines: Iterable[tuple[str, int]] | None) -> str:
    """The private note for a shipment without tracking (hand delivery); names its lines so repeats match."""
    what = "all remaining items" if lines is None else "lines " + ", ".join(f"{line}x{qty}" for line, qty in lines)
    return f"Waybill: shipped without tracking ({what})."


def cancelled_tracking_note(number: str) -> str:
    return (
        f"The shipment with tracking number {number} was cancelled. "
        "You will receive new tracking details when your order ships."
    )


def cancelled_untracked_note(note_id: int) -> str:
    return f"Waybill: the shipment recorded in note {note_id} was cancelled."


def parse_shipment_note(note: Mapping[str, Any]) -> ShipmentNote | None:
    text = html.unescape(str(note.get("note") or ""))
    if (match := _TRACKED.match(text)) is not None:
        return ShipmentNote(int(note["id"]), match["number"], match["company"])
    if _UNTRACKED.match(text):
        return ShipmentNote(int(note["id"]), None, None)
    return None


def cancellation_target(note: Mapping[str, Any]) -> tuple[str, str] | None:
    """("number", tracking number) or ("note", note id) for a cancellation note Waybill wrote."""
    text = html.unescape(str(note.get("note") or ""))
    if (match := _CANCELLED_TRACKED.match(text)) is not None:
        return "number", match["number"]
    if (match := _CANCELLED_NOTE.match(text)) is not None:
        return "note", match["note_id"]
    return None


def active_shipment_notes(notes: Iterable[Mapping[str, Any]]) -> list[tuple[ShipmentNote, str]]:
    """Shipment notes not cancelled by a later note, oldest first, each with its exact text."""
    ordered = sorted((n for n in notes if isinstance(n, Mapping) and "id" in n), key=lambda n: int(n["id"]))
    active: dict[int, tuple[ShipmentNote, str]] = {}
    for note in ordered:
        shipment = parse_shipment_note(note)
        if shipment is not None:
            active[shipment.note_id] = (shipment, html.unescape(str(note.get("note") or "")))
            continue
        target = cancellation_target(note)
        if target is None:
            continue
        kind, value = target
        for note_id, (earlier, _) in list(active.items()):
            if (kind == "note" and str(note_id) == value) or (kind == "number" and earlier.number == value):
                del active[note_id]
    return list(active.values())
