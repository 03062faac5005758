"""eBay Sell Fulfillment v1 JSON -> domain objects, and the pieces of a shipping fulfillment back.

Pure functions, no I/O: the client fetches, these translate, so they can be tested on real payloads.
eBay keeps one status per line and a derived one per order; a cancellation lives in `cancelStatus`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus
from domain.ports import Tracking

Json = dict[str, Any]

_PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "PENDING": PaymentStatus.PENDING,
    "PAID": PaymentStatus.PAID,
    "PARTIALLY_REFUNDED": PaymentStatus.PARTIALLY_REFUNDED,
    "FULLY_REFUNDED": PaymentStatus.REFUNDED,
    "FAILED": PaymentStatus.FAILED,
}

#: Waybill carrier key -> eBay shippingCarrierCode; anything else ships as "OTHER" (eBay has no carrier-name field).
CARRIER_CODES: dict[str, str] = {"ups": "UPS", "usps": "USPS", "fedex": "FEDEX", "dhl": "DHL"}
OTHER_CARRIER = "OTHER"

_NOT_TRACKING_CHARS = re.compile(r"[^A-Za-z0-9]")
_CENT = Decimal("0.01")


def parse_time(value: Any) -> datetime:
    """eBay stamps are UTC with milliseconds ("2024-01-01T00:00:00.000Z"); a zone-less one is read as UTC."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not an eBay timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The one format eBay filters accept; truncated to the millisecond so an inclusive filter never skips."""
    when = value if value.tzinfo else value.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def payment_status(order_payment_status: str | None) -> PaymentStatus:
    return _PAYMENT_STATUS.get((order_payment_status or "").upper(), PaymentStatus.UNKNOWN)


def channel_status(order: Mapping[str, Any]) -> tuple[ChannelOrderStatus, str]:
    """CHANNELS.md section 8: cancelled/refunded first, then fulfilment, then payment. Returns (status, raw).

    A buyer's cancel request still under review (cancelState IN_PROGRESS) holds the order: shipping it
    now would send goods the buyer may be refunded for.
    """
    fulfillment = str(order.get("orderFulfillmentStatus") or "")
    payment = str(order.get("orderPaymentStatus") or "")
    cancel_state = str((order.get("cancelStatus") or {}).get("cancelState") or "NONE_REQUESTED")
    raw = f"{fulfillment or 'UNKNOWN'}/{payment or 'UNKNOWN'}"
    if cancel_state != "NONE_REQUESTED":
        raw = f"{raw}/cancel {cancel_state}"
    if cancel_state == "CANCELED":
        return ChannelOrderStatus.CANCELLED, raw
    if payment == "FULLY_REFUNDED":
        return ChannelOrderStatus.REFUNDED, raw
    if fulfillment == "FULFILLED":
        return ChannelOrderStatus.FULFILLED, raw
    if fulfillment == "IN_PROGRESS":
        return ChannelOrderStatus.PARTIALLY_FULFILLED, raw
    if cancel_state == "IN_PROGRESS":
        return ChannelOrderStatus.ON_HOLD, raw
    if payment in ("PENDING", "FAILED"):
        return ChannelOrderStatus.PENDING_PAYMENT, raw
    if fulfillment == "NOT_STARTED":
        return ChannelOrderStatus.AWAITING_FULFILLMENT, raw
    return ChannelOrderStatus.UNKNOWN, raw


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def ship_to(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """eBay returns one set of fulfilment instructions; digital or pickup orders carry no shipTo."""
    for instruction in order.get("fulfillmentStartInstructions") or []:
        step = (instruction or {}).get("shippingStep") or {}
        if step.get("shipTo"):
            return step["shipTo"]
    return None


def to_address(raw: Mapping[str, Any] | None) -> Address | None:
    if not raw:
        return None
    contact = raw.get("contactAddress") or {}
    if not any(_text(contact.get(key)) for key in ("addressLine1", "city", "postalCode", "countryCode")):
        return None
    return Address(
        name=_text(raw.get("fullName")),
        company=_text(raw.get("companyName")),
        line1=_text(contact.get("addressLine1")),
        line2=_text(contact.get("addressLine2")),
        city=_text(contact.get("city")),
        region=_text(contact.get("stateOrProvince")),
        postal_code=_text(contact.get("postalCode")),
        country_code=_text(contact.get("countryCode")),
        phone=_text((raw.get("primaryPhone") or {}).get("phoneNumber")),
    )


def unit_price(line_item_cost: Mapping[str, Any] | None, quantity: int) -> str | None:
    """eBay's lineItemCost is price x quantity ("calculated by multiplying the single-item price by the quantity")."""
    value = (line_item_cost or {}).get("value")
    if value is None or quantity <= 0:
        return None
    try:
        return str((Decimal(str(value)) / quantity).quantize(_CENT, rounding=ROUND_HALF_UP))
    except InvalidOperation as exc:
        raise ValueError(f"lineItemCost {value!r} is not a number") from exc


def to_lines(line_items: Iterable[Mapping[str, Any]]) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for item in line_items:
        quantity = item["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise TypeError(f"line item {item.get('lineItemId')!r}: quantity {quantity!r} is not a whole number")
        line_id = _text(item["lineItemId"])
        if line_id is None:
            raise ValueError("a line item has an empty lineItemId")
        fulfilled = item.get("lineItemFulfillmentStatus") == "FULFILLED"
        lines.append(
            OrderLine(
                channel_line_id=line_id,
                title=_text(item.get("title")) or "",
                quantity=quantity,
                sku=_text(item.get("sku")),
                quantity_shipped=quantity if fulfilled else 0,
                unit_price=unit_price(item.get("lineItemCost"), quantity),
            )
        )
    return lines


def _required(order: Mapping[str, Any], key: str) -> Any:
    value = order.get(key)
    if value is None or value == "":
        raise ValueError(f"eBay order {order.get('orderId', '?')} has no {key!r}")
    return value


def to_channel_order(order: Mapping[str, Any]) -> ChannelOrder:
    """One eBay `Order` (getOrders entry or getOrder body) as the domain sees it."""
    if not isinstance(order, Mapping):
        raise TypeError(f"an eBay order is a JSON object, got {type(order).__name__}")
    order_id = str(_required(order, "orderId"))
    line_items = order.get("lineItems")
    if not isinstance(line_items, list):
        raise ValueError(f"eBay order {order_id} has no lineItems list")
    status, raw_status = channel_status(order)
    recipient = ship_to(order)
    address = to_address(recipient)
    buyer = order.get("buyer") or {}
    registration = buyer.get("buyerRegistrationAddress") or {}
    total = (order.get("pricingSummary") or {}).get("total") or {}
    return ChannelOrder(
        external_id=order_id,
        number=order_id,  # what Seller Hub shows as the order number
        channel_status=status,
        payment_status=payment_status(order.get("orderPaymentStatus")),
        lines=to_lines(line_items),
        shipping_address=address,
        channel_updated_at=parse_time(_required(order, "lastModifiedDate")),
        channel_created_at=parse_time(_required(order, "creationDate")),
        raw_status=raw_status,
        customer_name=(address.name if address else None)
        or _text(registration.get("fullName"))
        or _text(buyer.get("username")),
        customer_email=_text((recipient or {}).get("email")) or _text(registration.get("email")),
        currency=_text(total.get("currency")),
        total=_text(total.get("value")),
    )


def _looks_like_order(doc: Mapping[str, Any]) -> bool:
    return "orderId" in doc and ("lineItems" in doc or "creationDate" in doc)


def order_from_document(doc: Any) -> list[ChannelOrder]:
    """Reads what a merchant pastes: a getOrders response, a getOrder body, a bare order or a list of orders."""
    if isinstance(doc, list):
        return [to_channel_order(item) for item in doc]
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object with an eBay order, got {type(doc).__name__}")
    if isinstance(doc.get("orders"), list):
        bad = [i for i, item in enumerate(doc["orders"]) if not isinstance(item, Mapping)]
        if bad:
            raise ValueError(f"'orders' entries {bad} are not JSON objects")
        return [to_channel_order(item) for item in doc["orders"]]
    if _looks_like_order(doc):
        return [to_channel_order(doc)]
    notified = ((doc.get("notification") or {}).get("data") or {}).get("order") or {}
    if isinstance(notified, Mapping) and notified.get("orderId"):
        raise ValueError(
            f"this eBay notification only names order {notified['orderId']}; it does not contain the order. "
            "Paste the getOrder response (GET /sell/fulfillment/v1/order/{orderId}) instead"
        )
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ValueError(
        'not an eBay order document: expected a getOrders response {"orders": [...]} or an order object '
        f"with orderId and lineItems (top-level keys: {keys})"
    )


# --- shipping fulfillments ---------------------------------------------------------------


def tracking_number(number: str) -> str:
    """eBay takes tracking numbers as letters and digits only; carriers print them with spaces or dashes."""
    return _NOT_TRACKING_CHARS.sub("", number).upper()


def carrier_code(tracking: Tracking) -> str:
    key = (tracking.carrier or "").strip().lower()
    return CARRIER_CODES.get(key, OTHER_CARRIER)


def shipped_quantities(fulfillments: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    shipped: dict[str, int] = {}
    for fulfillment in fulfillments:
        for item in fulfillment.get("lineItems") or []:
            line_id = str(item["lineItemId"])
            shipped[line_id] = shipped.get(line_id, 0) + int(item.get("quantity") or 0)
    return shipped


def remaining_line_items(order: Mapping[str, Any], fulfillments: Sequence[Mapping[str, Any]]) -> list[Json]:
    """`lineItems` for "everything not shipped yet": each line's quantity minus what fulfillments carry."""
    shipped = shipped_quantities(fulfillments)
    items: list[Json] = []
    for item in order.get("lineItems") or []:
        line_id = str(item["lineItemId"])
        remaining = int(item["quantity"]) - shipped.get(line_id, 0)
        if remaining > 0:
            items.append({"lineItemId": line_id, "quantity": remaining})
    return items


def requested_line_items(lines: Sequence[tuple[str, int]]) -> list[Json]:
    """Waybill's (line id, quantity) pairs as eBay `lineItems`, duplicates merged (eBay rejects them: 32210)."""
    if not lines:
        raise ValueError("no lines to ship: pass None to ship everything remaining")
    wanted: dict[str, int] = {}
    for line_id, quantity in lines:
        if quantity <= 0:
            raise ValueError(f"line {line_id}: quantity must be positive, got {quantity}")
        wanted[str(line_id)] = wanted.get(str(line_id), 0) + quantity
    return [{"lineItemId": line_id, "quantity": quantity} for line_id, quantity in wanted.items()]


def matching_fulfillment(
    fulfillments: Sequence[Mapping[str, Any]], line_items: Sequence[Mapping[str, Any]] | None, number: str | None
) -> str | None:
    """The fulfillment an earlier attempt of this same write created: same tracking number, or (no tracking)
    the same lines without a tracking number."""
    for fulfillment in fulfillments:
        recorded = fulfillment.get("shipmentTrackingNumber")
        if number is not None:
            if recorded and tracking_number(str(recorded)) == number:
                return str(fulfillment["fulfillmentId"])
        elif not recorded and line_items is not None:
            if shipped_quantities([fulfillment]) == shipped_quantities([{"lineItems": line_items}]):
                return str(fulfillment["fulfillmentId"])
    return None


def fulfillment_id_from_location(location: str | None) -> str | None:
    """createShippingFulfillment answers 201 with an empty body; the id is the last segment of Location."""
    if not location:
        return None
    path = urlsplit(location).path.rstrip("/")
    head, _, last = path.rpartition("/")
    if not last or not head.endswith("shipping_fulfillment"):
        return None
    return last
