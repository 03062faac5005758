"""Etsy Open API v3 receipts -> domain objects, and the Standard Webhooks signature check.

Pure functions, no I/O. Etsy calls an order a "receipt" and an order line a "transaction"; money is
{amount, divisor, currency_code}; timestamps are epoch seconds (older payloads spell them
create_timestamp/update_timestamp); the live API capitalises statuses ("Completed") where the spec
writes them in lower case, so every comparison here ignores case.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus

#: Every receipt status Etsy documents, lower-cased (ShopReceipt.status).
STATUSES = ("open", "payment processing", "paid", "completed", "canceled", "fully refunded", "partially refunded")
WEBHOOK_TOLERANCE_SECONDS = 300


def _status(receipt: Mapping[str, Any]) -> str:
    return str(receipt.get("status") or "").strip().lower()


def channel_status(receipt: Mapping[str, Any]) -> ChannelOrderStatus:
    """CHANNELS.md section 8: canceled / fully refunded first, then shipped, then payment."""
    status = _status(receipt)
    if status in ("canceled", "cancelled"):
        return ChannelOrderStatus.CANCELLED
    if status == "fully refunded":
        return ChannelOrderStatus.REFUNDED
    if status == "completed" or receipt.get("is_shipped") is True:
        return ChannelOrderStatus.FULFILLED
    if status in ("open", "payment processing"):
        return ChannelOrderStatus.PENDING_PAYMENT
    if status in ("paid", "partially refunded"):
        return ChannelOrderStatus.AWAITING_FULFILLMENT
    return ChannelOrderStatus.UNKNOWN


def payment_status(receipt: Mapping[str, Any]) -> PaymentStatus:
    """Etsy has one status string plus `is_paid`; a paid order that is canceled was refunded by Etsy."""
    status, paid = _status(receipt), receipt.get("is_paid") is True
    if status == "fully refunded":
        return PaymentStatus.REFUNDED
    if status == "partially refunded":
        return PaymentStatus.PARTIALLY_REFUNDED
    if status in ("canceled", "cancelled"):
        return PaymentStatus.REFUNDED if paid else PaymentStatus.VOIDED
    if status in ("open", "payment processing"):
        return PaymentStatus.PENDING
    if paid or status in ("paid", "completed"):
        return PaymentStatus.PAID
    return PaymentStatus.UNKNOWN


def money(value: Any) -> tuple[str, str | None]:
    """{amount: 11250, divisor: 100, currency_code: "USD"} -> ("112.50", "USD"), keeping the divisor's decimals."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an Etsy money object, got {type(value).__name__}")
    amount, divisor = value["amount"], value.get("divisor", 1)
    if isinstance(amount, bool) or not isinstance(amount, int) or isinstance(divisor, bool):
        raise TypeError(f"money amount must be an integer, got {amount!r}")
    if not isinstance(divisor, int) or divisor <= 0:
        raise ValueError(f"money divisor must be a positive integer, got {divisor!r}")
    digits = len(str(divisor)) - 1
    if divisor == 10**digits:
        text = str(Decimal(amount).scaleb(-digits))
    else:
        text = str((Decimal(amount) / Decimal(divisor)).normalize())
    currency = value.get("currency_code")
    return text, (str(currency) if currency else None)


def epoch(receipt: Mapping[str, Any], *names: str) -> datetime:
    """The first of `names` present, as an aware UTC datetime (Etsy renamed *_timestamp fields once)."""
    for name in names:
        value = receipt.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be epoch seconds, got {value!r}")
        return datetime.fromtimestamp(value, tz=UTC)
    raise KeyError(f"receipt {receipt.get('receipt_id', '?')} has no {names[0]}")


def updated_at(receipt: Mapping[str, Any]) -> datetime:
    return epoch(receipt, "updated_timestamp", "update_timestamp")


def _text(value: Any) -> str | None:
    """Etsy sends "" and null interchangeably for absent text; the domain wants None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def to_address(receipt: Mapping[str, Any]) -> Address | None:
    """None when Etsy withholds the address (regions without a partnership) so Waybill makes a draft."""
    address = Address(
        name=_text(receipt.get("name")),
        line1=_text(receipt.get("first_line")),
        line2=_text(receipt.get("second_line")),
        city=_text(receipt.get("city")),
        region=_text(receipt.get("state")),
        postal_code=_text(receipt.get("zip")),
        country_code=_text(receipt.get("country_iso")),
    )
    if not (address.line1 or address.line2 or address.city or address.postal_code):
        return None
    return address


def to_lines(transactions: Iterable[Any], receipt_shipped: bool) -> list[OrderLine]:
    """One line per transaction; a transaction with `shipped_timestamp` (or a shipped receipt) is fully shipped."""
    lines: list[OrderLine] = []
    for item in transactions:
        if not isinstance(item, Mapping):
            raise TypeError(f"a transaction must be a JSON object, got {type(item).__name__}")
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise TypeError(f"transaction {item.get('transaction_id', '?')}: quantity must be an integer")
        if quantity <= 0:
            continue
        shipped = receipt_shipped or bool(item.get("shipped_timestamp"))
        price = item.get("price")
        lines.append(
            OrderLine(
                channel_line_id=str(item["transaction_id"]),
                title=_text(item.get("title")) or "",
                quantity=quantity,
                sku=_text(item.get("sku")),
                quantity_shipped=quantity if shipped else 0,
                unit_price=money(price)[0] if price is not None else None,
            )
        )
    return lines


def to_channel_order(receipt: Mapping[str, Any]) -> ChannelOrder:
    """One ShopReceipt (with its transactions, as getShopReceipts returns them) as the domain sees it."""
    if not isinstance(receipt, Mapping):
        raise TypeError(f"a receipt must be a JSON object, got {type(receipt).__name__}")
    receipt_id = receipt["receipt_id"]
    if isinstance(receipt_id, bool) or not isinstance(receipt_id, int | str) or not str(receipt_id).strip():
        raise ValueError(f"receipt_id must be a number, got {receipt_id!r}")
    transactions = receipt.get("transactions") or []
    if not isinstance(transactions, list):
        raise TypeError(f"receipt {receipt_id}: transactions must be a list")
    total, currency = money(receipt["grandtotal"]) if receipt.get("grandtotal") is not None else (None, None)
    return ChannelOrder(
        external_id=str(receipt_id),
        number=str(receipt_id),  # Etsy shows the receipt id as the order number ("Order #3021745515")
        channel_status=channel_status(receipt),
        payment_status=payment_status(receipt),
        lines=to_lines(transactions, receipt.get("is_shipped") is True),
        shipping_address=to_address(receipt),
        channel_updated_at=updated_at(receipt),
        channel_created_at=epoch(receipt, "created_timestamp", "create_timestamp"),
        raw_status=str(receipt.get("status") or ""),
        customer_name=_text(receipt.get("name")),
        customer_email=_text(receipt.get("buyer_email")),
        currency=currency,
        total=total,
    )


def parse_document(doc: Any) -> list[ChannelOrder]:
    """What a merchant pastes: a getShopReceipts page, one receipt (getShopReceipt / createReceiptShipment), or a list."""
    if isinstance(doc, list):
        bad = [i for i, item in enumerate(doc) if not isinstance(item, Mapping)]
        if bad:
            raise ValueError(f"list entries {bad} are not Etsy receipts (JSON objects)")
        return [to_channel_order(item) for item in doc]
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object with an Etsy receipt, got {type(doc).__name__}")
    if isinstance(doc.get("results"), list):
        return parse_document(doc["results"])
    if "receipt_id" in doc:
        return [to_channel_order(doc)]
    if "event_type" in doc and "resource_url" in doc:
        raise ValueError(
            f"this is an Etsy webhook ({doc.get('event_type')}): it only points at the receipt "
            f"({doc.get('resource_url')}); paste the receipt itself (GET that URL) instead"
        )
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ValueError(
        'not an Etsy receipt document: expected {"count": N, "results": [...]}, a receipt with receipt_id, '
        f"or a list of receipts (top-level keys: {keys})"
    )


def sign_webhook(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature ("v1," + base64 HMAC-SHA256); used by the check and by tests."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
) -> bool:
    """Etsy signs webhooks per Standard Webhooks; any of the space-separated v1 signatures may match.

    Timestamps more than `tolerance` seconds away from `now` (either way) are refused: replays.
    """
    lower = {str(key).lower(): str(value) for key, value in headers.items()}
    webhook_id, timestamp = lower.get("webhook-id"), lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature", "")
    if not webhook_id or not timestamp or not signatures:
        return False
    try:
        sent_at = int(timestamp)
        expected = sign_webhook(secret, webhook_id, timestamp, body)
    except (ValueError, binascii.Error):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    found = False
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected.encode()):
            found = True  # keep comparing: the time taken must not depend on which one matched
    return found
