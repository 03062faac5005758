"""Amazon SP-API Orders v0 JSON -> domain objects, and the shipment confirmation body back.

Pure functions, no I/O. An Amazon order carries no lines: the client fetches getOrderItems per order
and hands both here. Amazon does not sign HTTP webhooks (notifications go to SQS), so there is no
signature check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus
from domain.ports import Tracking

#: CHANNELS.md section 8. Unfulfillable (Multi-Channel Fulfillment could not ship it) is final, like Canceled.
STATUS: dict[str, ChannelOrderStatus] = {
    "Pending": ChannelOrderStatus.PENDING_PAYMENT,
    "PendingAvailability": ChannelOrderStatus.PENDING_PAYMENT,
    "Unshipped": ChannelOrderStatus.AWAITING_FULFILLMENT,
    "PartiallyShipped": ChannelOrderStatus.PARTIALLY_FULFILLED,
    "Shipped": ChannelOrderStatus.FULFILLED,
    "InvoiceUnconfirmed": ChannelOrderStatus.FULFILLED,
    "Canceled": ChannelOrderStatus.CANCELLED,
    "Unfulfillable": ChannelOrderStatus.CANCELLED,
}

#: Amazon has no payment field: the order status says it. Pending = not authorized yet; once Unshipped,
#: Amazon has authorized the buyer and guarantees the seller's payment, so Waybill treats it as paid.
PAYMENT: dict[str, PaymentStatus] = {
    "Pending": PaymentStatus.PENDING,
    "PendingAvailability": PaymentStatus.PENDING,
    "Unshipped": PaymentStatus.PAID,
    "PartiallyShipped": PaymentStatus.PAID,
    "Shipped": PaymentStatus.PAID,
    "InvoiceUnconfirmed": PaymentStatus.PAID,
    "Canceled": PaymentStatus.VOIDED,
    "Unfulfillable": PaymentStatus.UNKNOWN,
}

#: Waybill carrier key -> Amazon CarrierCode; anything else is "Other" with the carrier's name.
CARRIER_CODES: dict[str, str] = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL"}
HAND_DELIVERY = "Hand delivery"


def parse_time(value: Any) -> datetime:
    """Amazon sends "2017-01-20T19:49:35Z"; the domain compares aware UTC instants."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def channel_status(order: Mapping[str, Any]) -> ChannelOrderStatus:
    """Cancelled first; orders Amazon fulfils itself (FBA, "AFN") are never Waybill's to ship."""
    status = STATUS.get(str(order.get("OrderStatus")), ChannelOrderStatus.UNKNOWN)
    if status is ChannelOrderStatus.CANCELLED:
        return status
    if order.get("FulfillmentChannel") == "AFN" and status is not ChannelOrderStatus.UNKNOWN:
        return ChannelOrderStatus.FULFILLED
    return status


def payment_status(order_status: str | None) -> PaymentStatus:
    return PAYMENT.get(order_status or "", PaymentStatus.UNKNOWN)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def to_address(raw: Mapping[str, Any] | None) -> Address | None:
    """ShippingAddress is absent for Pending and Canceled orders: None, and Waybill makes a draft."""
    if not raw:
        return None
    extra = " ".join(part for part in (_text(raw.get("AddressLine2")), _text(raw.get("AddressLine3"))) if part)
    return Address(
        name=_text(raw.get("Name")),
        company=_text(raw.get("CompanyName")),
        line1=_text(raw.get("AddressLine1")),
        line2=extra or None,
        city=_text(raw.get("City")),
        region=_text(raw.get("StateOrRegion")),
        postal_code=_text(raw.get("PostalCode")),
        country_code=_text(raw.get("CountryCode")),
        phone=_text(raw.get("Phone")),
    )


def unit_price(item: Mapping[str, Any], quantity: int) -> str | None:
    """ItemPrice is the line total (price x QuantityOrdered), so divide it back."""
    amount = _text((item.get("ItemPrice") or {}).get("Amount"))
    if amount is None or quantity <= 0:
        return amount
    try:
        unit = Decimal(amount) / quantity
    except InvalidOperation as exc:
        raise ValueError(f"item {item.get('OrderItemId')}: ItemPrice {amount!r} is not a number") from exc
    exponent = unit.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        unit = unit.quantize(Decimal("0.0001"))
    return str(unit)


def to_lines(items: Iterable[Mapping[str, Any]]) -> list[OrderLine]:
    """Items with nothing ordered (removed by a partial cancellation) are skipped."""
    lines: list[OrderLine] = []
    for item in items:
        quantity = int(item["QuantityOrdered"])
        if quantity <= 0:
            continue
        lines.append(
            OrderLine(
                channel_line_id=str(item["OrderItemId"]),
                title=_text(item.get("Title")) or _text(item.get("SellerSKU")) or _text(item.get("ASIN")) or "",
                quantity=quantity,
                sku=_text(item.get("SellerSKU")),
                quantity_shipped=int(item.get("QuantityShipped") or 0),
                unit_price=unit_price(item, quantity),
            )
        )
    return lines


def _required(order: Mapping[str, Any], key: str) -> Any:
    value = order.get(key)
    if value is None or value == "":
        raise ValueError(f"Amazon order {order.get('AmazonOrderId', '?')} has no {key!r}")
    return value


def to_channel_order(order: Mapping[str, Any], items: Iterable[Mapping[str, Any]] | None = None) -> ChannelOrder:
    """One getOrders/getOrder `Order` plus its getOrderItems `OrderItems` (None: lines not fetched)."""
    if not isinstance(order, Mapping):
        raise TypeError(f"an Amazon order is a JSON object, got {type(order).__name__}")
    order_id = str(_required(order, "AmazonOrderId"))
    raw_status = str(_required(order, "OrderStatus"))
    address = to_address(order.get("ShippingAddress"))
    buyer = order.get("BuyerInfo") or {}
    total = order.get("OrderTotal") or {}
    return ChannelOrder(
        external_id=order_id,
        number=order_id,  # what Seller Central and the buyer see
        channel_status=channel_status(order),
        payment_status=payment_status(raw_status),
        lines=to_lines(items if items is not None else order.get("OrderItems") or []),
        shipping_address=address,
        channel_updated_at=parse_time(_required(order, "LastUpdateDate")),
        channel_created_at=parse_time(_required(order, "PurchaseDate")),
        raw_status=raw_status,
        customer_name=_text(buyer.get("BuyerName")) or (address.name if address else None),
        customer_email=_text(buyer.get("BuyerEmail")),
        currency=_text(total.get("CurrencyCode")),
        total=_text(total.get("Amount")),
    )


# --- inspect-order: what a merchant pastes -----------------------------------------------


def _is_order(doc: Mapping[str, Any]) -> bool:
    return "AmazonOrderId" in doc and "OrderStatus" in doc


def _is_items(doc: Mapping[str, Any]) -> bool:
    return "AmazonOrderId" in doc and isinstance(doc.get("OrderItems"), list) and "OrderStatus" not in doc


def _unwrap(doc: Any) -> Any:
    return doc["payload"] if isinstance(doc, Mapping) and "payload" in doc else doc


def parse_document(doc: Any) -> list[ChannelOrder]:
    """Accepts a getOrders or getOrder response, a bare Order, or a JSON list of those plus getOrderItems
    responses (items are matched to their order by AmazonOrderId, so lines show)."""
    parts = doc if isinstance(doc, list) else [doc]
    orders: list[Mapping[str, Any]] = []
    items: dict[str, list[Mapping[str, Any]]] = {}
    for index, part in enumerate(parts):
        body = _unwrap(part)
        where = f"entry {index}: " if isinstance(doc, list) else ""
        if not isinstance(body, Mapping):
            raise ValueError(f"{where}expected a JSON object with an Amazon order, got {type(body).__name__}")
        if isinstance(body.get("Orders"), list):
            orders += body["Orders"]
        elif _is_order(body):
            orders.append(body)
        elif _is_items(body):
            items.setdefault(str(body["AmazonOrderId"]), []).extend(body["OrderItems"])
        else:
            raise ValueError(where + _not_an_order(body))
    if not orders:
        raise ValueError("only order items were given: paste the getOrder response too (in a JSON list)")
    return [
        to_channel_order(order, items.get(str(order.get("AmazonOrderId"))) if isinstance(order, Mapping) else None)
        for order in orders
    ]


def _not_an_order(body: Mapping[str, Any]) -> str:
    keys = ", ".join(sorted(map(str, body))[:8]) or "none"
    if "errors" in body:
        return f"this is an Amazon error response, not an order: {body['errors']}"
    if "order" in body or "orders" in body:
        return "this is an Orders API 2026-01-01 document; Waybill reads Orders v0 (getOrders / getOrder) responses"
    if "NotificationType" in body or "Payload" in body:
        return "an Amazon notification holds only a summary: paste the getOrder response for its AmazonOrderId"
    return (
        'not an Amazon order document: expected {"payload": {"Orders": [...]}}, {"payload": {...order...}} '
        f"or an order with AmazonOrderId and OrderStatus (top-level keys: {keys})"
    )


# --- shipment confirmation ----------------------------------------------------------------


def package_reference_id(tracking: Tracking | None, lines: Mapping[str, int] | None) -> str:
    """Deterministic, so a repeat resubmits (edits) the same package instead of adding one.

    Amazon accepts only positive numbers: 15 decimal digits of a SHA-256 of the tracking number
    (or, for hand delivery, of the lines shipped).
    """
    if tracking is not None:
        seed = f"tracking:{tracking.number.strip()}"
    elif lines is None:
        seed = "hand:all"
    else:
        seed = "hand:" + ",".join(f"{line_id}x{qty}" for line_id, qty in sorted(lines.items()))
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 10**15 + 1)


def carrier_fields(tracking: Tracking | None) -> dict[str, str]:
    """carrierCode from Amazon's list, with carrierName when the code is "Other" (also for hand delivery)."""
    if tracking is None:
        return {"carrierCode": "Other", "carrierName": HAND_DELIVERY}
    code = CARRIER_CODES.get((tracking.carrier or "").lower())
    if code is None:
        return {"carrierCode": "Other", "carrierName": tracking.company or tracking.carrier or "Other"}
    return {"carrierCode": code}


def shipment_body(
    marketplace_id: str,
    package_id: str,
    items: Mapping[str, int],
    tracking: Tracking | None,
    ship_date: datetime,
) -> dict[str, Any]:
    """The confirmShipment request. Amazon requires a tracking number: hand delivery gets a placeholder."""
    detail: dict[str, Any] = {
        "packageReferenceId": package_id,
        **carrier_fields(tracking),
        "trackingNumber": tracking.number if tracking is not None else f"HAND-{package_id}",
        "shipDate": ship_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orderItems": [{"orderItemId": item_id, "quantity": qty} for item_id, qty in items.items()],
    }
    if tracking is not None and tracking.service:
        detail["shippingMethod"] = tracking.service
    return {"marketplaceId": marketplace_id, "packageDetail": detail}


def wanted_quantities(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    """(line id, qty) pairs summed per line; zero or negative quantities are a caller bug."""
    if not lines:
        raise ValueError("no lines to ship: pass None to ship everything remaining")
    wanted: dict[str, int] = {}
    for line_id, quantity in lines:
        if quantity <= 0:
            raise ValueError(f"line {line_id}: quantity must be positive, got {quantity}")
        wanted[str(line_id)] = wanted.get(str(line_id), 0) + quantity
    return wanted


def unshipped_quantities(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """What getOrderItems says is still to ship, per OrderItemId."""
    remaining: dict[str, int] = {}
    for item in items:
        left = int(item.get("QuantityOrdered") or 0) - int(item.get("QuantityShipped") or 0)
        if left > 0:
            remaining[str(item["OrderItemId"])] = left
    return remaining
