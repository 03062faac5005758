"""Shopify Admin REST JSON -> domain objects, and the fulfillment request body back.

Pure functions, no I/O: the client fetches, these translate, so they can be tested on real payloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from domain.forwarding import ForwardedCopy, ForwardRequest, StoreFulfillment, order_id_of
from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus

_PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "pending": PaymentStatus.PENDING,
    "authorized": PaymentStatus.AUTHORIZED,
    "partially_paid": PaymentStatus.PARTIALLY_PAID,
    "paid": PaymentStatus.PAID,
    "partially_refunded": PaymentStatus.PARTIALLY_REFUNDED,
    "refunded": PaymentStatus.REFUNDED,
    "voided": PaymentStatus.VOIDED,
    "expired": PaymentStatus.FAILED,
}

# Fulfillment orders in these states no longer hold anything to ship, so they neither block nor prove a hold.
_FINISHED_FO_STATUSES = frozenset({"closed", "cancelled"})
# Only these accept a new fulfillment; on_hold/scheduled/incomplete must be released first.
_FULFILLABLE_FO_STATUSES = frozenset({"open", "in_progress"})


def parse_time(value: str) -> datetime:
    """Shopify sends local offsets ("-05:00"); the domain compares instants, so normalize to UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def payment_status(financial_status: str | None) -> PaymentStatus:
    return _PAYMENT_STATUS.get((financial_status or "").lower(), PaymentStatus.UNKNOWN)


def is_on_hold(fulfillment_orders: Sequence[Mapping[str, Any]] | None) -> bool:
    """Shopify holds per fulfillment order. Any hold holds the order: Shopify refuses to
    fulfil held lines, so a label for the whole order could never be written back."""
    if not fulfillment_orders:
        return False
    active = [fo for fo in fulfillment_orders if fo.get("status") not in _FINISHED_FO_STATUSES]
    return any(fo.get("status") == "on_hold" for fo in active)


def needs_fulfillment_orders(order: Mapping[str, Any]) -> bool:
    """Whether fetching fulfillment orders could change the mapped status (saves API calls when it cannot)."""
    return not (
        order.get("cancelled_at")
        or order.get("financial_status") == "refunded"
        or order.get("fulfillment_status") in ("fulfilled", "partial")
    )


def channel_status(
    order: Mapping[str, Any], fulfillment_orders: Sequence[Mapping[str, Any]] | None = None
) -> tuple[ChannelOrderStatus, str]:
    """CHANNELS.md section 8: cancelled/refunded first, then fulfillment, hold, payment. Returns (status, raw)."""
    financial = order.get("financial_status") or "unknown"
    fulfillment = order.get("fulfillment_status")
    raw = f"{financial}/{fulfillment or 'unfulfilled'}"
    if order.get("cancelled_at"):
        return ChannelOrderStatus.CANCELLED, f"cancelled ({raw})"
    if financial == "refunded":
        return ChannelOrderStatus.REFUNDED, raw
    if fulfillment == "fulfilled":
        return ChannelOrderStatus.FULFILLED, raw
    if fulfillment == "partial":
        return ChannelOrderStatus.PARTIALLY_FULFILLED, raw
    if is_on_hold(fulfillment_orders):
        return ChannelOrderStatus.ON_HOLD, "on_hold"
    if financial in ("pending", "expired"):
        return ChannelOrderStatus.PENDING_PAYMENT, raw
    return ChannelOrderStatus.AWAITING_FULFILLMENT, raw


def _text(value: Any) -> str | None:
    """Shopify uses "" and null interchangeably for absent text; the domain wants None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _person_name(first: Any, last: Any) -> str | None:
    return _text(" ".join(part for part in (_text(first), _text(last)) if part))


def to_address(raw: Mapping[str, Any] | None) -> Address | None:
    if not raw:
        return None
    return Address(
        name=_text(raw.get("name")) or _person_name(raw.get("first_name"), raw.get("last_name")),
        company=_text(raw.get("company")),
        line1=_text(raw.get("address1")),
        line2=_text(raw.get("address2")),
        city=_text(raw.get("city")),
        region=_text(raw.get("province_code")),
        postal_code=_text(raw.get("zip")),
        country_code=_text(raw.get("country_code")),
        phone=_text(raw.get("phone")),
    )


def to_lines(line_items: Iterable[Mapping[str, Any]]) -> list[OrderLine]:
    """Lines removed by an edit or a restocking refund keep appearing with current_quantity 0: skip them."""
    lines: list[OrderLine] = []
    for item in line_items:
        quantity = item.get("current_quantity")
        if quantity is None:
            quantity = item.get("quantity") or 0
        if quantity <= 0:
            continue
        grams = item.get("grams")
        lines.append(
            OrderLine(
                channel_line_id=str(item["id"]),
                title=_text(item.get("title")) or _text(item.get("name")) or "",
                quantity=int(quantity),
                sku=_text(item.get("sku")),
                unit_price=_text(item.get("price")),
                grams=int(grams) if grams is not None else None,
            )
        )
    return lines


def _required(order: Mapping[str, Any], key: str) -> Any:
    value = order.get(key)
    if value is None or value == "":
        raise ValueError(f"Shopify order {order.get('id', '?')} has no {key!r}")
    return value


def to_channel_order(
    order: Mapping[str, Any], fulfillment_orders: Sequence[Mapping[str, Any]] | None = None
) -> ChannelOrder:
    """One REST `order` (plus, when fetched, its fulfillment orders so holds show) as the domain sees it."""
    status, raw_status = channel_status(order, fulfillment_orders)
    address = to_address(order.get("shipping_address"))
    customer = order.get("customer") or {}
    customer_name = (address.name if address else None) or _person_name(
        customer.get("first_name"), customer.get("last_name")
    )
    mapped = ChannelOrder(
        external_id=str(_required(order, "id")),
        number=str(_required(order, "name")),
        channel_status=status,
        payment_status=payment_status(order.get("financial_status")),
        lines=to_lines(order.get("line_items") or []),
        shipping_address=address,
        channel_updated_at=parse_time(_required(order, "updated_at")),
        channel_created_at=parse_time(_required(order, "created_at")),
        raw_status=raw_status,
        customer_name=customer_name,
        customer_email=_text(order.get("email")) or _text(order.get("contact_email")) or _text(customer.get("email")),
        currency=_text(order.get("currency")),
        total=_text(order.get("total_price")),
    )
    forwarded_from = order_id_of(order.get("tags"))
    if forwarded_from is None:
        return mapped
    return ForwardedCopy(
        **{name: getattr(mapped, name) for name in ChannelOrder.__dataclass_fields__},
        waybill_order_id=forwarded_from,
        fulfillments=store_fulfillments(order.get("fulfillments") or []),
    )


def store_fulfillments(fulfillments: Iterable[Mapping[str, Any]]) -> list[StoreFulfillment]:
    """A forwarded copy's live fulfillments with their tracking, for the marketplace it came from."""
    return [
        StoreFulfillment(
            fulfillment_id=str(f["id"]),
            tracking_number=_text(f.get("tracking_number")),
            company=_text(f.get("tracking_company")),
            url=_text(f.get("tracking_url")),
            lines=[(_text(item.get("sku")), int(item.get("quantity") or 0)) for item in f.get("line_items") or []],
        )
        for f in fulfillments
        if f.get("status") in ("success", "open", "pending") and f.get("id") is not None
    ]


def forwarded_order_body(request: ForwardRequest) -> dict[str, Any]:
    """POST orders.json for a forwarded marketplace order: tagged `waybill-<id>` so it is found before any retry
    creates it again, the marketplace named in source_name and note_attributes, no receipt to the buyer."""
    address = request.shipping_address
    first, _, last = (address.name if address and address.name else request.customer_name or "").partition(" ")
    body: dict[str, Any] = {
        "line_items": [
            {
                "title": line.title or line.sku or "Item",
                "sku": line.sku or "",
                "quantity": line.quantity,
                "price": line.unit_price or "0.00",
                "requires_shipping": True,
            }
            for line in request.lines
        ],
        "tags": f"{request.reference}, {request.source}",
        "source_name": "waybill",
        "note": f"{request.source} order {request.number}, forwarded by Waybill",
        "note_attributes": [
            {"name": "waybill_order_id", "value": str(request.order_id)},
            {"name": "marketplace", "value": request.source},
            {"name": "marketplace_order_number", "value": request.number},
        ],
        "financial_status": "paid" if request.paid else "pending",
        "send_receipt": False,
        "send_fulfillment_receipt": False,
        "inventory_behaviour": "decrement_obeying_policy",
    }
    if request.customer_email:
        body["email"] = request.customer_email
    if request.currency:
        body["currency"] = request.currency
    if address is not None:
        body["shipping_address"] = {
            "first_name": first,
            "last_name": last,
            "company": address.company,
            "address1": address.line1,
            "address2": address.line2,
            "city": address.city,
            "province_code": address.region,
            "zip": address.postal_code,
            "country_code": address.country_code,
            "phone": address.phone,
        }
    return {"order": body}


def _looks_like_order(doc: Mapping[str, Any]) -> bool:
    return "id" in doc and ("name" in doc or "line_items" in doc)


def order_from_document(doc: Any) -> list[ChannelOrder]:
    """Accepts what people paste from the API or a webhook: {"order": {...}}, {"orders": [...]} or a bare order."""
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object with an order, got {type(doc).__name__}")
    if isinstance(doc.get("order"), Mapping):
        return [to_channel_order(doc["order"])]
    if isinstance(doc.get("orders"), list):
        orders = doc["orders"]
        bad = [i for i, item in enumerate(orders) if not isinstance(item, Mapping)]
        if bad:
            raise ValueError(f"'orders' entries {bad} are not JSON objects")
        return [to_channel_order(item) for item in orders]
    if _looks_like_order(doc):
        return [to_channel_order(doc)]
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ValueError(
        'not a Shopify order document: expected {"order": {...}}, {"orders": [...]} '
        f"or an order object with id and name (top-level keys: {keys})"
    )


def fo_line_items_for(
    fulfillment_orders: Sequence[Mapping[str, Any]], lines: Sequence[tuple[str, int]] | None
) -> list[dict[str, Any]]:
    """Order-line quantities -> `line_items_by_fulfillment_order`, since Shopify ships FO lines, not order lines.

    A line split across locations draws from each open FO in turn. None means everything still fulfillable.
    """
    open_fos = [fo for fo in fulfillment_orders if fo.get("status") in _FULFILLABLE_FO_STATUSES]
    picked: dict[int, dict[int, int]] = {}  # FO id -> FO line id -> quantity
    if lines is None:
        for fo in open_fos:
            for fo_line in fo.get("line_items") or []:
                if (fo_line.get("fulfillable_quantity") or 0) > 0:
                    picked.setdefault(fo["id"], {})[fo_line["id"]] = fo_line["fulfillable_quantity"]
        if not picked:
            raise ValueError("nothing left to fulfill: no open fulfillment order has a fulfillable line")
    else:
        if not lines:
            raise ValueError("no lines to fulfill: pass None to fulfill everything remaining")
        wanted: dict[str, int] = {}
        for line_id, quantity in lines:
            if quantity <= 0:
                raise ValueError(f"line {line_id}: quantity must be positive, got {quantity}")
            wanted[str(line_id)] = wanted.get(str(line_id), 0) + quantity
        for line_id, quantity in wanted.items():
            sources = [
                (fo["id"], fo_line)
                for fo in open_fos
                for fo_line in fo.get("line_items") or []
                if str(fo_line.get("line_item_id")) == line_id and (fo_line.get("fulfillable_quantity") or 0) > 0
            ]
            available = sum(fo_line["fulfillable_quantity"] for _, fo_line in sources)
            if quantity > available:
                raise ValueError(
                    f"line {line_id}: {quantity} requested but only {available} fulfillable in open fulfillment orders"
                )
            remaining = quantity
            for fo_id, fo_line in sources:
                take = min(remaining, fo_line["fulfillable_quantity"])
                if take:
                    per_fo = picked.setdefault(fo_id, {})
                    per_fo[fo_line["id"]] = per_fo.get(fo_line["id"], 0) + take
                    remaining -= take
    return [
        {
            "fulfillment_order_id": fo_id,
            "fulfillment_order_line_items": [{"id": fo_line_id, "quantity": q} for fo_line_id, q in items.items()],
        }
        for fo_id, items in picked.items()
    ]
