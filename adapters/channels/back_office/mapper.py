"""Back-office API JSON (docs/back-office-api.md) -> domain objects; status words; webhook signatures.

Pure functions, no I/O. The status vocabulary is the ZenSales/ControlPad preset unless the merchant's
back office uses other words: `StatusWords.from_setting` reads the optional `statuses` credential.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus

SIGNATURE_HEADER = "X-Waybill-Signature"
EVENT_ID_HEADER = "X-Event-Id"


class Meaning(StrEnum):
    """What a back-office status word means to Waybill (the keys of the `statuses` setting)."""

    UNFULFILLED = "unfulfilled"
    PENDING = "pending"
    HELD = "held"
    SHIPPING = "shipping"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


#: The ZenSales/ControlPad vocabulary; the first word of each meaning is the one Waybill writes.
PRESET: dict[Meaning, tuple[str, ...]] = {
    Meaning.UNFULFILLED: ("Unfulfilled",),
    Meaning.PENDING: ("Pending",),
    Meaning.HELD: ("Held", "Hold"),
    Meaning.SHIPPING: ("Shipping",),
    Meaning.FULFILLED: ("Fulfilled",),
    Meaning.CANCELLED: ("Cancelled", "Canceled"),
    Meaning.REFUNDED: ("Refunded",),
}

_PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "pending": PaymentStatus.PENDING,
    "unpaid": PaymentStatus.PENDING,
    "authorized": PaymentStatus.AUTHORIZED,
    "paid": PaymentStatus.PAID,
    "partially_paid": PaymentStatus.PARTIALLY_PAID,
    "partially_refunded": PaymentStatus.PARTIALLY_REFUNDED,
    "refunded": PaymentStatus.REFUNDED,
    "voided": PaymentStatus.VOIDED,
    "failed": PaymentStatus.FAILED,
}
#: A "Pending" order with one of these payments waits for money, not for the warehouse.
UNPAID = frozenset({PaymentStatus.PENDING, PaymentStatus.PARTIALLY_PAID, PaymentStatus.FAILED})


class StatusWords:
    """Our meaning <-> the back office's words, matched case-insensitively; unknown words read as None."""

    def __init__(self, words: Mapping[Meaning, tuple[str, ...]] = PRESET) -> None:
        self.words = {meaning: tuple(words[meaning]) for meaning in Meaning}
        self._meaning: dict[str, Meaning] = {}
        for meaning, names in self.words.items():
            for name in names:
                key = name.strip().casefold()
                if self._meaning.get(key, meaning) is not meaning:
                    raise ValueError(f"statuses: the word {name!r} is used for both {self._meaning[key]} and {meaning}")
                self._meaning[key] = meaning

    @classmethod
    def from_setting(cls, setting: str | Mapping[str, Any] | None) -> StatusWords:
        """The preset, with the meanings the setting names replaced by its words (a JSON object or its text)."""
        if setting is None or setting == "" or setting == {}:
            return cls()
        if isinstance(setting, str):
            try:
                setting = json.loads(setting)
            except ValueError as exc:
                raise ValueError(f'statuses must be a JSON object, e.g. {{"held": "On Hold"}}: {exc}') from None
        if not isinstance(setting, Mapping):
            raise ValueError('statuses must be a JSON object of meaning -> word, e.g. {"held": "On Hold"}')
        words = dict(PRESET)
        for key, value in setting.items():
            try:
                meaning = Meaning(str(key).strip().lower())
            except ValueError:
                known = ", ".join(m.value for m in Meaning)
                raise ValueError(f"statuses: unknown meaning {key!r}; use one of {known}") from None
            names = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else ()
            if not names or not all(isinstance(name, str) and name.strip() for name in names):
                raise ValueError(f"statuses: {key!r} must be a status word or a list of words")
            words[meaning] = tuple(name.strip() for name in names)
        return cls(words)

    def meaning(self, word: str | None) -> Meaning | None:
        return self._meaning.get((word or "").strip().casefold())

    def word(self, meaning: Meaning) -> str:
        """The word Waybill writes for `meaning`."""
        return self.words[meaning][0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatusWords) and other.words == self.words

    def __hash__(self) -> int:
        return hash(tuple(self.words.items()))


DEFAULT_WORDS = StatusWords()


def parse_time(value: Any) -> datetime:
    """ISO 8601 with an offset or Z; naive times are taken as UTC. The domain compares aware UTC instants."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The API's timestamp form: UTC with a Z."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payment_status(value: Any) -> PaymentStatus:
    return _PAYMENT_STATUS.get(str(value or "").strip().lower(), PaymentStatus.UNKNOWN)


def channel_status(order: Mapping[str, Any], words: StatusWords = DEFAULT_WORDS) -> ChannelOrderStatus:
    """Cancelled/refunded first (CHANNELS.md section 8); shipped lines on an open order read as partial."""
    meaning = words.meaning(order.get("status"))
    payment = payment_status(order.get("payment_status"))
    if meaning is Meaning.CANCELLED:
        return ChannelOrderStatus.CANCELLED
    if meaning is Meaning.REFUNDED or (payment is PaymentStatus.REFUNDED and meaning is not None):
        return ChannelOrderStatus.REFUNDED
    if meaning in (Meaning.SHIPPING, Meaning.FULFILLED):
        return ChannelOrderStatus.FULFILLED
    if meaning is Meaning.HELD:
        return ChannelOrderStatus.ON_HOLD
    if meaning is None:
        return ChannelOrderStatus.UNKNOWN
    if any(_int(line.get("quantity_shipped"), 0) > 0 for line in _lines_of(order)):
        return ChannelOrderStatus.PARTIALLY_FULFILLED
    if meaning is Meaning.PENDING and payment in UNPAID:
        return ChannelOrderStatus.PENDING_PAYMENT
    return ChannelOrderStatus.AWAITING_FULFILLMENT


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def _lines_of(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    lines = order.get("lines")
    if not isinstance(lines, list) or not all(isinstance(line, Mapping) for line in lines):
        raise TypeError(f"order {order.get('id', '?')}: 'lines' must be a list of objects")
    return lines


def to_address(raw: Any) -> Address | None:
    """None when the back office has no shipping address: Waybill then makes a draft."""
    if not raw:
        return None
    if not isinstance(raw, Mapping):
        raise TypeError(f"shipping_address must be an object, got {type(raw).__name__}")
    address = Address(
        name=_text(raw.get("name")),
        company=_text(raw.get("company")),
        line1=_text(raw.get("line1")),
        line2=_text(raw.get("line2")),
        city=_text(raw.get("city")),
        region=_text(raw.get("region")),
        postal_code=_text(raw.get("postal_code")),
        country_code=(_text(raw.get("country_code")) or "").upper() or None,
        phone=_text(raw.get("phone")),
    )
    return None if address == Address() else address


def to_lines(raw_lines: Iterable[Mapping[str, Any]]) -> list[OrderLine]:
    """Lines cut to quantity 0 by an order edit are left out: nothing to ship."""
    lines: list[OrderLine] = []
    for raw in raw_lines:
        quantity = _int(raw.get("quantity"))
        if quantity is None:
            raise ValueError(f"line {raw.get('id', '?')} has no quantity")
        if quantity <= 0:
            continue
        line_id = _text(raw.get("id"))
        if line_id is None:
            raise ValueError("a line has no id")
        lines.append(
            OrderLine(
                channel_line_id=line_id,
                title=_text(raw.get("title")) or _text(raw.get("sku")) or "",
                quantity=quantity,
                sku=_text(raw.get("sku")),
                quantity_shipped=min(quantity, _int(raw.get("quantity_shipped"), 0) or 0),
                unit_price=_text(raw.get("unit_price")),
                grams=_int(raw.get("grams")),
            )
        )
    return lines


def _required(order: Mapping[str, Any], key: str) -> Any:
    value = order.get(key)
    if value is None or value == "":
        raise ValueError(f"back-office order {order.get('id', '?')} has no {key!r}")
    return value


def to_channel_order(order: Mapping[str, Any], words: StatusWords = DEFAULT_WORDS) -> ChannelOrder:
    """One order object as the domain sees it; raises ValueError/KeyError/TypeError when malformed."""
    if not isinstance(order, Mapping):
        raise TypeError(f"an order must be a JSON object, got {type(order).__name__}")
    raw_status = str(_required(order, "status"))
    address = to_address(order.get("shipping_address"))
    customer = order.get("customer") or {}
    if not isinstance(customer, Mapping):
        raise TypeError("customer must be an object")
    total = order.get("total")
    return ChannelOrder(
        external_id=str(_required(order, "id")),
        number=str(_required(order, "number")),
        channel_status=channel_status(order, words),
        payment_status=payment_status(order.get("payment_status")),
        lines=to_lines(_lines_of(order)),
        shipping_address=address,
        channel_updated_at=parse_time(_required(order, "updated_at")),
        channel_created_at=parse_time(_required(order, "created_at")),
        raw_status=raw_status,
        customer_name=_text(customer.get("name")) or (address.name if address else None),
        customer_email=_text(customer.get("email")),
        currency=(_text(order.get("currency")) or "").upper() or None,
        total=_text(total) if not isinstance(total, float) else f"{total:.2f}",
    )


def _looks_like_order(doc: Mapping[str, Any]) -> bool:
    return {"id", "number", "lines"} <= set(doc)


def parse_document(doc: Any, words: StatusWords = DEFAULT_WORDS) -> list[ChannelOrder]:
    """What a merchant pastes: a list response, a single-order response or webhook body, or a bare order."""
    if isinstance(doc, list):
        raise ValueError('expected a JSON object; wrap a list of orders as {"orders": [...]}')
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object with an order, got {type(doc).__name__}")
    if isinstance(doc.get("order"), Mapping):
        return [to_channel_order(doc["order"], words)]
    if isinstance(doc.get("orders"), list):
        bad = [i for i, item in enumerate(doc["orders"]) if not isinstance(item, Mapping)]
        if bad:
            raise ValueError(f"'orders' entries {bad} are not JSON objects")
        return [to_channel_order(item, words) for item in doc["orders"]]
    if _looks_like_order(doc):
        return [to_channel_order(doc, words)]
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ValueError(
        'not a back-office order document: expected {"orders": [...]}, {"order": {...}} (an API response '
        f"or a webhook body) or an order object with id, number and lines (top-level keys: {keys})"
    )


def sign_webhook(body: bytes, secret: str) -> str:
    """The X-Waybill-Signature value a back office sends with `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """True when X-Waybill-Signature is HMAC-SHA256(secret, raw body); constant-time compare."""
    if not secret:
        return False
    wanted = SIGNATURE_HEADER.lower()
    given = next((value for key, value in headers.items() if key.lower() == wanted), None)
    if not given:
        return False
    return hmac.compare_digest(given.strip().encode(), sign_webhook(body, secret).encode())
