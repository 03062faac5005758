"""The in-memory back office behind FakeBackOffice: orders, shipments and the rules of docs/back-office-api.md.

Kept apart from the HTTP layer so tests and the sandbox can drive it directly (hold, cancel, set_status...).
Every change gets a modified time at least one second after the previous one: the API has second resolution.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.channels.back_office.mapper import DEFAULT_WORDS, Meaning, StatusWords, format_time, parse_time
from adapters.channels.base import FakeShipment

Json = dict[str, Any]
CARRIERS = frozenset({"ups", "usps", "fedex", "dhl", "dhl_express", "canada_post", "royal_mail", "other"})
_ADDRESS = {
    "name": "Ada Lovelace",
    "company": None,
    "line1": "12 Analytical Row",
    "line2": "Suite 4",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country_code": "US",
    "phone": "+1 217 555 0100",
}


class ApiError(Exception):
    """Raised by a store operation to answer {"error": {"code", "message", "field"?}} with `status`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"error": {"code": code, "message": message, **({"field": field} if field else {})}}


class BackOfficeStore:
    """One back office's data. Helpers return deep copies, so callers cannot change the store behind its back."""

    def __init__(self, *, statuses: StatusWords = DEFAULT_WORDS, start: datetime | None = None) -> None:
        self.words = statuses
        self._orders: dict[str, Json] = {}
        self._idempotency: dict[str, tuple[str, str, str]] = {}  # key -> (request fingerprint, order id, shipment id)
        self._next_id = {"order": 4101, "line": 88001, "shipment": 7001}
        self._next_number = 10001
        self._touches = 0
        self._last_stamp = (start or datetime.now(UTC)).replace(microsecond=0) - timedelta(seconds=1)

    # --- the FakeChannel surface -----------------------------------------------------------

    def add_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        """Ready: paid, Unfulfilled, with a full address; otherwise Pending with the payment still due."""
        stamp = self._stamp()
        order_id = self._new_id("order")
        raw_lines = [
            {
                "id": self._new_id("line"),
                "sku": sku,
                "title": title,
                "quantity": quantity,
                "quantity_shipped": 0,
                "unit_price": "12.50",
                "grams": 250,
            }
            for sku, title, quantity in lines
        ]
        total = sum(line["quantity"] for line in raw_lines) * 12.5
        self._orders[order_id] = {
            "id": order_id,
            "number": str(self._next_number),
            "status": self.words.word(Meaning.UNFULFILLED if ready else Meaning.PENDING),
            "created_at": stamp,
            "updated_at": stamp,
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "shipping_address": dict(_ADDRESS),
            "lines": raw_lines,
            "currency": "USD",
            "total": f"{total:.2f}",
            "payment_status": "paid" if ready else "pending",
            "shipments": [],
        }
        self._next_number += 1
        return order_id

    def create_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        return self.add_order(lines, ready=ready)

    def touch_order(self, external_id: str) -> None:
        """The buyer changed their phone number: content and modified time change, nothing else."""
        order = self._order(external_id)
        self._touches += 1
        if isinstance(order.get("shipping_address"), dict):
            order["shipping_address"]["phone"] = f"+1 217 555 {self._touches % 10000:04d}"
        self._touch(order)

    def line_ids(self, external_id: str) -> list[str]:
        return [line["id"] for line in self._order(external_id)["lines"]]

    def shipments(self, external_id: str) -> list[FakeShipment]:
        return [
            FakeShipment(
                tracking_number=shipment["tracking_number"],
                carrier=shipment["carrier_name"] or shipment["carrier"],
                lines={line["line_id"]: line["quantity"] for line in shipment["lines"]},
                cancelled=shipment["status"] == "cancelled",
            )
            for shipment in self._order(external_id)["shipments"]
        ]

    def is_shipped(self, external_id: str) -> bool:
        return self.words.meaning(self._order(external_id)["status"]) in (Meaning.SHIPPING, Meaning.FULFILLED)

    # --- driving the store ---------------------------------------------------------------

    def order(self, order_id: str) -> Json:
        return copy.deepcopy(self._order(order_id))

    def set_status(self, order_id: str, status: Meaning | str) -> None:
        """A meaning (written with this back office's word) or a literal word, known or not."""
        order = self._order(order_id)
        order["status"] = self.words.word(status) if isinstance(status, Meaning) else status
        self._touch(order)

    def hold(self, order_id: str) -> None:
        self.set_status(order_id, Meaning.HELD)

    def release(self, order_id: str) -> None:
        self.set_status(order_id, Meaning.UNFULFILLED)

    def cancel(self, order_id: str) -> None:
        self.set_status(order_id, Meaning.CANCELLED)

    def update(self, order_id: str, **fields: Any) -> None:
        """Any order fields as the API names them (payment_status, shipping_address=None...)."""
        order = self._order(order_id)
        order.update(copy.deepcopy(fields))
        self._touch(order)

    def add_raw_order(self, raw: Json) -> str:
        """An order stored as given (malformed ones too); its id and updated_at should be present."""
        self._orders[str(raw["id"])] = copy.deepcopy(raw)
        return str(raw["id"])

    # --- operations behind the endpoints -------------------------------------------------

    def list_orders(self, since: datetime | None, after: tuple[str, str] | None, limit: int) -> tuple[list[Json], bool]:
        """Oldest change first by the keyset (updated_at, id); returns a page and whether more follow."""
        rows = [o for o in self._orders.values() if since is None or _updated(o) >= since]
        rows.sort(key=_key)
        if after is not None:
            anchor = (parse_time(after[0]), after[1])
            rows = [o for o in rows if _key(o) > anchor]
        return copy.deepcopy(rows[:limit]), len(rows) > limit

    def get_order(self, order_id: str) -> Json:
        return copy.deepcopy(self._order_or_404(order_id))

    def put_status(self, order_id: str, body: Json) -> Json:
        order = self._order_or_404(order_id)
        word = body.get("status")
        if not isinstance(word, str) or self.words.meaning(word) is None:
            known = ", ".join(name for names in self.words.words.values() for name in names)
            raise ApiError(422, "invalid_status", f"Unknown status {word!r}; known statuses: {known}", "status")
        if order["status"] != word:
            order["status"] = word
            self._touch(order)
        return copy.deepcopy(order)

    def create_shipment(self, order_id: str, body: Json, idempotency_key: str | None) -> tuple[Json, bool]:
        """POST shipments: (shipment, created). A known Idempotency-Key replays the first result."""
        order = self._order_or_404(order_id)
        fingerprint = hashlib.sha256(json.dumps([order_id, body], sort_keys=True).encode()).hexdigest()
        if idempotency_key and idempotency_key in self._idempotency:
            first, first_order, shipment_id = self._idempotency[idempotency_key]
            if (first, first_order) != (fingerprint, order_id):
                raise ApiError(
                    422, "idempotency_key_reused", "This Idempotency-Key was used for a different request.", None
                )
            return copy.deepcopy(self._shipment(order, shipment_id)), False
        meaning = self.words.meaning(order["status"])
        if meaning in (Meaning.CANCELLED, Meaning.REFUNDED):
            raise ApiError(409, "order_cancelled", f"Order {order['number']} is {order['status']}; it cannot ship.")
        if meaning is Meaning.HELD:
            raise ApiError(409, "order_on_hold", f"Order {order['number']} is {order['status']}; release it first.")
        shipment = {
            "id": "",
            "order_id": order_id,
            "status": "active",
            **_tracking_fields(body),
            "lines": self._shipment_lines(order, body.get("lines")),
            "shipped_at": _time_field(body, "shipped_at") or self._stamp_peek(),
            "delivered_at": None,
            "cancelled_at": None,
        }
        shipment["id"] = self._new_id("shipment")
        order["shipments"].append(shipment)
        self._refresh_shipped(order)
        self._touch(order)
        if idempotency_key:
            self._idempotency[idempotency_key] = (fingerprint, order_id, shipment["id"])
        return copy.deepcopy(shipment), True

    def cancel_shipment(self, order_id: str, shipment_id: str) -> Json:
        """DELETE: the tracking is removed and its lines count as unshipped again; a repeat changes nothing."""
        order = self._order_or_404(order_id)
        shipment = self._shipment(order, shipment_id)
        if shipment["status"] == "delivered":
            raise ApiError(409, "shipment_delivered", f"Shipment {shipment_id} was delivered; it cannot be removed.")
        if shipment["status"] != "cancelled":
            stamp = self._touch(order)
            shipment.update(status="cancelled", cancelled_at=stamp)
            self._refresh_shipped(order)
        return copy.deepcopy(shipment)

    def deliver_shipment(self, order_id: str, shipment_id: str) -> Json:
        order = self._order_or_404(order_id)
        shipment = self._shipment(order, shipment_id)
        if shipment["status"] == "cancelled":
            raise ApiError(409, "shipment_cancelled", f"Shipment {shipment_id} was removed; it cannot be delivered.")
        if shipment["status"] != "delivered":
            shipment.update(status="delivered", delivered_at=self._touch(order))
        return copy.deepcopy(shipment)

    # --- internals -----------------------------------------------------------------------

    def _shipment_lines(self, order: Json, requested: Any) -> list[Json]:
        remaining = {line["id"]: line["quantity"] - line["quantity_shipped"] for line in order["lines"]}
        if requested is None:
            picked = [{"line_id": lid, "quantity": qty} for lid, qty in remaining.items() if qty > 0]
            if not picked:
                raise ApiError(422, "nothing_to_ship", f"Every line of order {order['number']} has shipped.", "lines")
            return picked
        if not isinstance(requested, list) or not requested:
            raise ApiError(422, "invalid", "lines must be a non-empty list, or omitted for everything left", "lines")
        wanted: dict[str, int] = {}
        for i, item in enumerate(requested):
            line_id = str(item.get("line_id")) if isinstance(item, dict) else None
            if line_id not in remaining:
                raise ApiError(
                    422, "unknown_line", f"Order {order['number']} has no line {line_id!r}.", f"lines[{i}].line_id"
                )
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise ApiError(422, "invalid", "quantity must be a positive integer", f"lines[{i}].quantity")
            wanted[line_id] = wanted.get(line_id, 0) + quantity
            if wanted[line_id] > remaining[line_id]:
                raise ApiError(
                    422,
                    "quantity_exceeds_remaining",
                    f"Line {line_id}: {wanted[line_id]} to ship but only {remaining[line_id]} left.",
                    f"lines[{i}].quantity",
                )
        return [{"line_id": line_id, "quantity": quantity} for line_id, quantity in wanted.items()]

    @staticmethod
    def _refresh_shipped(order: Json) -> None:
        shipped: dict[str, int] = {}
        for shipment in order["shipments"]:
            if shipment["status"] != "cancelled":
                for line in shipment["lines"]:
                    shipped[line["line_id"]] = shipped.get(line["line_id"], 0) + line["quantity"]
        for line in order["lines"]:
            line["quantity_shipped"] = shipped.get(line["id"], 0)

    def _order(self, order_id: str) -> Json:
        order = self._orders.get(str(order_id))
        if order is None:
            raise KeyError(f"no order {order_id}")
        return order

    def _order_or_404(self, order_id: str) -> Json:
        order = self._orders.get(str(order_id))
        if order is None:
            raise ApiError(404, "not_found", f"No order with id {order_id!r}.")
        return order

    @staticmethod
    def _shipment(order: Json, shipment_id: str) -> Json:
        found = next((s for s in order["shipments"] if s["id"] == str(shipment_id)), None)
        if found is None:
            raise ApiError(404, "not_found", f"Order {order['number']} has no shipment {shipment_id!r}.")
        return found

    def _new_id(self, kind: str) -> str:
        value = self._next_id[kind]
        self._next_id[kind] += 1
        return str(value)

    def _stamp_peek(self) -> str:
        return format_time(max(datetime.now(UTC).replace(microsecond=0), self._last_stamp))

    def _stamp(self) -> str:
        """Now, but at least one second after the previous change, so (updated_at, id) orders every change."""
        self._last_stamp = max(datetime.now(UTC).replace(microsecond=0), self._last_stamp + timedelta(seconds=1))
        return format_time(self._last_stamp)

    def _touch(self, order: Json) -> str:
        order["updated_at"] = self._stamp()
        return str(order["updated_at"])


def _updated(order: Json) -> datetime:
    try:
        return parse_time(order.get("updated_at"))
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)


def _key(order: Json) -> tuple[datetime, str]:
    return _updated(order), str(order.get("id"))


def _time_field(body: Json, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return format_time(parse_time(value))
    except (TypeError, ValueError):
        raise ApiError(422, "invalid", f"{name} must be an ISO 8601 timestamp", name) from None


def _tracking_fields(body: Json) -> Json:
    number, carrier, name, url = (body.get(k) for k in ("tracking_number", "carrier", "carrier_name", "tracking_url"))
    for field, value in (("tracking_number", number), ("carrier_name", name), ("tracking_url", url)):
        if value is not None and not isinstance(value, str):
            raise ApiError(422, "invalid", f"{field} must be a string", field)
    if carrier is not None and carrier not in CARRIERS:
        known = ", ".join(sorted(CARRIERS))
        raise ApiError(422, "invalid_carrier", f"Unknown carrier {carrier!r}; use one of {known}", "carrier")
    if carrier == "other" and not name:
        raise ApiError(422, "invalid", "carrier_name is required when carrier is 'other'", "carrier_name")
    if url is not None and not url.startswith(("https://", "http://")):
        raise ApiError(422, "invalid", "tracking_url must be an http(s) URL", "tracking_url")
    return {"tracking_number": number or None, "carrier": carrier, "carrier_name": name, "tracking_url": url}
