"""Magento 2 REST order JSON -> ChannelOrder: pure functions, no I/O.

Magento keeps one `state` per order plus per-item `qty_shipped`; the status table is CHANNELS.md section 8.
Child items (`parent_item_id` set: the simple product under a configurable or a bundle shipped together) are
left out: the parent line carries the SKU, price and quantities and is the one Magento ships. Virtual and
downloadable items are left out too: there is nothing to ship.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # Magento's REST timestamps: UTC, no zone
GRAMS_PER_UNIT = {"lbs": Decimal("453.59237"), "kgs": Decimal("1000")}
PENDING_PAYMENT_STATES = frozenset({"new", "pending_payment", "payment_review"})
STATES = frozenset({*PENDING_PAYMENT_STATES, "processing", "complete", "closed", "canceled", "holded"})
REQUIRED = ("entity_id", "increment_id", "state", "created_at", "updated_at", "items")


def parse_time(value: Any) -> datetime:
    """'2017-08-21 22:22:19' (UTC, as Magento's REST API writes it) -> aware datetime."""
    if not isinstance(value, str):
        raise TypeError(f"timestamp must be a string, got {value!r}")
    text = value.strip().replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1]
    return datetime.strptime(text[:19], TIME_FORMAT).replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """The filter value Magento compares against its UTC columns."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime(TIME_FORMAT)


def to_decimal(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def to_quantity(value: Any, what: str) -> int:
    number = to_decimal(value)
    if number != number.to_integral_value() or number < 0:
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def money(value: Any) -> str:
    return str(to_decimal(value).quantize(Decimal("0.01")))


def shippable_items(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The items Magento ships by their own item_id: top-level and not virtual."""
    items = order["items"]
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    return [item for item in items if not item.get("parent_item_id") and not _truthy(item.get("is_virtual"))]


def to_line(item: Mapping[str, Any], weight_unit: str | None = None) -> OrderLine:
    ordered = to_quantity(item["qty_ordered"], "qty_ordered") - to_quantity(item.get("qty_canceled"), "qty_canceled")
    grams = None
    factor = GRAMS_PER_UNIT.get((weight_unit or "").lower())
    if factor is not None and item.get("weight") not in (None, ""):
        grams = int((to_decimal(item["weight"]) * factor).to_integral_value())
    return OrderLine(
        channel_line_id=str(item["item_id"]),
        title=str(item.get("name") or item.get("sku") or item["item_id"]),
        quantity=max(ordered, 0),
        sku=item.get("sku") or None,
        quantity_shipped=to_quantity(item.get("qty_shipped"), "qty_shipped"),
        unit_price=money(item.get("price")),
        grams=grams,
    )


def shipping_address(order: Mapping[str, Any]) -> Address | None:
    """extension_attributes.shipping_assignments[0].shipping.address; None for virtual orders or a bare list."""
    assignments = (order.get("extension_attributes") or {}).get("shipping_assignments") or []
    if not assignments:
        return None
    raw = ((assignments[0] or {}).get("shipping") or {}).get("address")
    if not raw:
        return None
    street = [str(part) for part in raw.get("street") or [] if part]
    name = " ".join(part for part in (raw.get("firstname"), raw.get("lastname")) if part) or None
    return Address(
        name=name,
        company=raw.get("company") or None,
        line1=street[0] if street else None,
        line2=", ".join(street[1:]) or None,
        city=raw.get("city") or None,
        region=raw.get("region_code") or raw.get("region") or None,
        postal_code=raw.get("postcode") or None,
        country_code=raw.get("country_id") or None,
        phone=raw.get("telephone") or None,
    )


def channel_status(state: str, lines: list[OrderLine]) -> ChannelOrderStatus:
    """CHANNELS.md section 8, cancelled/refunded first; `processing` splits on the shipped quantities."""
    if state == "canceled":
        return ChannelOrderStatus.CANCELLED
    if state == "closed":
        return ChannelOrderStatus.REFUNDED
    if state == "holded":
        return ChannelOrderStatus.ON_HOLD
    if state in PENDING_PAYMENT_STATES:
        return ChannelOrderStatus.PENDING_PAYMENT
    if state == "complete":
        return ChannelOrderStatus.FULFILLED
    if state == "processing":
        shipped = sum(min(line.quantity_shipped, line.quantity) for line in lines)
        ordered = sum(line.quantity for line in lines)
        if shipped == 0:
            return ChannelOrderStatus.AWAITING_FULFILLMENT
        return ChannelOrderStatus.PARTIALLY_FULFILLED if shipped < ordered else ChannelOrderStatus.FULFILLED
    return ChannelOrderStatus.UNKNOWN


def payment_status(order: Mapping[str, Any]) -> PaymentStatus:
    """Magento has no payment status: it is read from the totals (paid, refunded) and the state."""
    grand_total = to_decimal(order.get("grand_total"))
    paid = to_decimal(order.get("total_paid"))
    refunded = to_decimal(order.get("total_refunded"))
    state = order.get("state")
    if refunded > 0:
        return PaymentStatus.REFUNDED if refunded >= grand_total else PaymentStatus.PARTIALLY_REFUNDED
    if state == "closed":
        return PaymentStatus.REFUNDED
    if paid > 0:
        return PaymentStatus.PAID if paid >= grand_total else PaymentStatus.PARTIALLY_PAID
    if state == "canceled":
        return PaymentStatus.VOIDED
    if state in PENDING_PAYMENT_STATES:
        return PaymentStatus.PENDING
    if to_decimal((order.get("payment") or {}).get("amount_authorized")) > 0:
        return PaymentStatus.AUTHORIZED
    if state in ("processing", "complete") and grand_total == 0:
        return PaymentStatus.PAID  # a free order needs no payment
    return PaymentStatus.PENDING if state in ("processing", "holded", "complete") else PaymentStatus.UNKNOWN


def to_channel_order(raw: Mapping[str, Any], *, weight_unit: str | None = None) -> ChannelOrder:
    """One Magento order (GET /V1/orders/{id} or an item of the search); raises on a malformed one."""
    if not isinstance(raw, Mapping):
        raise TypeError(f"an order must be a JSON object, got {type(raw).__name__}")
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise KeyError(f"order {raw.get('entity_id', '?')} lacks {', '.join(missing)}")
    state = raw["state"]
    if not isinstance(state, str):
        raise TypeError(f"state must be a string, got {state!r}")
    lines = [to_line(item, weight_unit) for item in shippable_items(raw)]
    address = shipping_address(raw)
    name = " ".join(part for part in (raw.get("customer_firstname"), raw.get("customer_lastname")) if part)
    if not name:
        billing = raw.get("billing_address") or {}
        name = " ".join(part for part in (billing.get("firstname"), billing.get("lastname")) if part)
    return ChannelOrder(
        external_id=str(raw["entity_id"]),
        number=str(raw["increment_id"]),
        channel_status=channel_status(state, lines),
        payment_status=payment_status(raw),
        lines=lines,
        shipping_address=address,
        channel_updated_at=parse_time(raw["updated_at"]),
        channel_created_at=parse_time(raw["created_at"]),
        raw_status=str(raw.get("status") or state),
        customer_name=name or (address.name if address else None),
        customer_email=raw.get("customer_email") or None,
        currency=raw.get("order_currency_code") or raw.get("base_currency_code") or None,
        total=money(raw["grand_total"]) if raw.get("grand_total") is not None else None,
    )


def parse_document(doc: Any) -> list[ChannelOrder]:
    """What a merchant pastes: a search result {items, total_count}, one order, a list, or a webhook body."""
    orders = _orders_in(doc)
    if not orders:
        raise ValueError("no Magento order found: paste GET /V1/orders/{id} or a /V1/orders search result")
    parsed = []
    for raw in orders:
        try:
            parsed.append(to_channel_order(raw))
        except KeyError as exc:
            raise ValueError(
                f"{exc.args[0]}: paste the full order (GET /V1/orders/{{id}}), not a fields-filtered search"
            ) from None
        except TypeError as exc:
            raise ValueError(f"order {raw.get('entity_id', '?')} is malformed: {exc}") from None
    return parsed


def _orders_in(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object or list, got {type(doc).__name__}")
    if "entity_id" in doc and "increment_id" in doc:
        return [doc]
    if isinstance(doc.get("items"), list) and ("total_count" in doc or "search_criteria" in doc or doc["items"]):
        return list(doc["items"])
    if isinstance(doc.get("order"), Mapping):  # Adobe Commerce webhooks: {"order": {...}}
        return [doc["order"]]
    data = doc.get("data")
    if isinstance(data, Mapping):  # Adobe I/O events: {"data": {"value": {...}}} or {"data": {"order": {...}}}
        for key in ("value", "order"):
            if isinstance(data.get(key), Mapping):
                return [data[key]]
    if "message" in doc:
        raise ValueError(f"this is a Magento error response, not an order: {doc['message']}")
    raise ValueError(f"not a Magento order: expected entity_id and increment_id, found {', '.join(list(doc)[:8])}")


def _truthy(value: Any) -> bool:
    return value not in (None, "", 0, "0", False)
