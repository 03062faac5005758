"""The in-memory store behind FakeMagento: orders, shipments, and Magento's shipping rules for them.

Kept apart from the HTTP layer so tests and the sandbox can drive it directly (add_order, hold, cancel...).
Messages are Magento's own (Magento\\Sales\\Model\\Order\\Validation\\CanShip, Shipment\\Validation\\QuantityValidator).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.channels.magento.mapper import TIME_FORMAT

Json = dict[str, Any]
NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
VALIDATION = "Shipment Document Validation Error(s):\n"
UNSHIPPABLE_STATES = frozenset({"payment_review", "holded", "canceled"})


class ApiError(Exception):
    """Raised by a store operation to answer with Magento's {"message", "parameters"} body."""

    def __init__(self, status: int, message: str, parameters: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameters = parameters

    def body(self) -> Json:
        return {"message": self.message, **({"parameters": self.parameters} if self.parameters else {})}


class MagentoStore:
    """One store's sales data. Helpers return deep copies, so callers cannot change the store behind its back."""

    def __init__(self, *, currency: str = "USD") -> None:
        self.currency = currency
        self._orders: dict[int, Json] = {}
        self._shipments: dict[int, Json] = {}
        self._next_order = 1
        self._next_item = 1
        self._next_shipment = 1
        self._next_track = 1
        self._last_stamp: datetime | None = None

    # --- the clock -----------------------------------------------------------------------

    def _stamp(self) -> str:
        """Now (UTC, whole seconds), but always at least 1 s after the previous change: second-resolution
        timestamps must still order every change."""
        now = datetime.now(UTC).replace(microsecond=0)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(seconds=1)
        self._last_stamp = now
        return now.strftime(TIME_FORMAT)

    # --- driving the store ---------------------------------------------------------------

    def add_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True, price: str = "22.00") -> str:
        """An order with simple products (sku, name, qty): `ready` = invoiced, processing, with an address."""
        stamp = self._stamp()
        order_id = self._next_order
        self._next_order += 1
        items = [self._item(order_id, sku, name, qty, price, stamp) for sku, name, qty in lines]
        self._orders[order_id] = _order(order_id, items, stamp, ready=ready, currency=self.currency)
        return str(order_id)

    def add_configurable_order(self, sku: str = "MH01-M-Black", qty: int = 1) -> str:
        """An order for a configurable product: the parent line carries the price, its simple child points back."""
        order_id = self.add_order([(sku, "Chaz Kangeroo Hoodie", qty)], price="52.00")
        order = self._order(order_id)
        parent = order["items"][0]
        parent.update(product_type="configurable", weight=1)
        child = self._item(int(order_id), sku, "Chaz Kangeroo Hoodie-M-Black", qty, "0.00", order["created_at"])
        child.update(parent_item_id=parent["item_id"], product_type="simple")
        order["items"].append(child)
        _refresh(order)
        return order_id

    def order(self, order_id: int | str) -> Json:
        return copy.deepcopy(self._order(order_id))

    def orders(self) -> list[Json]:
        return [copy.deepcopy(order) for order in self._orders.values()]

    def shipments_of(self, order_id: int | str) -> list[Json]:
        oid = self._order(order_id)["entity_id"]
        return [copy.deepcopy(s) for s in self._shipments.values() if s["order_id"] == oid]

    def all_shipments(self) -> list[Json]:
        return [copy.deepcopy(shipment) for shipment in self._shipments.values()]

    def touch(self, order_id: int | str) -> None:
        """The buyer changed their phone number: bumps updated_at."""
        order = self._order(order_id)
        address = _shipping(order)
        if address is not None:
            address["telephone"] = f"512-555-{1000 + int(order['entity_id']) % 9000:04d}"
        self._touch(order)

    def set_updated_at(self, order_id: int | str, stamp: str) -> None:
        """Backdate or align an order's updated_at ("Y-m-d H:i:s"), e.g. many orders changed in one second."""
        self._order(order_id)["updated_at"] = stamp

    def set_state(self, order_id: int | str, state: str, status: str | None = None) -> None:
        order = self._order(order_id)
        order["state"], order["status"] = state, status or state
        self._touch(order)

    def hold(self, order_id: int | str) -> None:
        order = self._order(order_id)
        order["hold_before_state"], order["hold_before_status"] = order["state"], order["status"]
        self.set_state(order_id, "holded")

    def unhold(self, order_id: int | str) -> None:
        order = self._order(order_id)
        self.set_state(order_id, order.pop("hold_before_state", "processing"), order.pop("hold_before_status", None))

    def cancel(self, order_id: int | str) -> None:
        order = self._order(order_id)
        for item in order["items"]:
            item["qty_canceled"] = item["qty_ordered"] - item["qty_shipped"]
        self.set_state(order_id, "canceled")

    def refund(self, order_id: int | str) -> None:
        """A full credit memo: the order is closed."""
        order = self._order(order_id)
        order["total_refunded"] = order.get("total_paid") or order["grand_total"]
        for item in order["items"]:
            item["qty_refunded"] = item["qty_ordered"]
        self.set_state(order_id, "closed")

    def remove_address(self, order_id: int | str) -> None:
        """Like a virtual order: no shipping assignment address."""
        order = self._order(order_id)
        order["extension_attributes"]["shipping_assignments"] = []
        self._touch(order)

    def corrupt(self, order_id: int | str) -> None:
        """A malformed order (a broken extension dropped its number); still listed and sorted."""
        order = self._order(order_id)
        order.pop("increment_id", None)
        order["items"] = "not a list"
        self._touch(order)

    # --- Magento's operations -------------------------------------------------------------

    def ship(self, order_id: int | str, body: Json) -> int:
        """POST /V1/order/{id}/ship: validated like ShipOrder, then quantities, state and updated_at move."""
        order = self._order(order_id)
        items, tracks = body.get("items") or [], body.get("tracks") or []
        if not isinstance(items, list) or not isinstance(tracks, list):
            raise ApiError(400, "Invalid request: items and tracks must be arrays.")
        by_id = {item["item_id"]: item for item in order["items"]}
        if order["state"] in UNSHIPPABLE_STATES:
            message = "A shipment cannot be created when an order has a status of %1"
            raise ApiError(400, VALIDATION + message.replace("%1", order["status"]))
        if not any(_to_ship(item) > 0 for item in _top_level(order)):
            raise ApiError(400, VALIDATION + "The order does not allow a shipment to be created.")
        wanted = (
            [(_item_id(item), _qty(item.get("qty") if isinstance(item, dict) else None)) for item in items]
            if items
            else [(item["item_id"], _to_ship(item)) for item in _top_level(order) if _to_ship(item) > 0]
        )
        messages, total = [], 0
        for item_id, qty in wanted:
            item = by_id.get(item_id)
            if item is None or item.get("parent_item_id"):
                sku = item["sku"] if item else ""
                messages.append(f'The shipment contains product SKU "{sku}" that is not part of the original order.')
            elif qty > _to_ship(item):
                messages.append(
                    f'The quantity to ship must not be greater than the unshipped quantity for product SKU "{item["sku"]}".'
                )
            else:
                total += qty
        if total <= 0:
            messages.append("You can't create a shipment without products.")
        for track in tracks:
            if not isinstance(track, dict) or not str(track.get("track_number") or "").strip():
                messages.append("Please enter a tracking number.")
            elif not track.get("carrier_code"):
                messages.append("Please enter a carrier code.")
        if messages:
            raise ApiError(400, VALIDATION + "\n".join(messages))
        return self._record_shipment(order, [(i, q) for i, q in wanted if q > 0], tracks, body.get("comment"))

    def delete_track(self, track_id: int) -> bool:
        """DELETE /V1/shipment/track/{id}: the only undo Magento has."""
        for shipment in self._shipments.values():
            for track in shipment["tracks"]:
                if track["entity_id"] == track_id:
                    shipment["tracks"].remove(track)
                    self._touch(self._order(shipment["order_id"]))
                    return True
        raise ApiError(404, NOT_FOUND)

    def shipment(self, shipment_id: int) -> Json:
        if shipment_id not in self._shipments:
            raise ApiError(404, NOT_FOUND)
        return copy.deepcopy(self._shipments[shipment_id])

    # --- internals -----------------------------------------------------------------------

    def _record_shipment(self, order: Json, wanted: list[tuple[int, int]], tracks: list[Json], comment: Any) -> int:
        stamp = self._stamp()
        shipment_id = self._next_shipment
        self._next_shipment += 1
        by_id = {item["item_id"]: item for item in order["items"]}
        shipment_items = []
        for item_id, qty in wanted:
            item = by_id[item_id]
            item["qty_shipped"] += qty
            for child in order["items"]:
                if child.get("parent_item_id") == item_id:
                    child["qty_shipped"] += qty
            shipment_items.append(
                {
                    "entity_id": self._new_item_id(),
                    "parent_id": shipment_id,
                    "order_item_id": item_id,
                    "qty": qty,
                    "sku": item["sku"],
                    "name": item["name"],
                    "price": item["price"],
                    "weight": item.get("weight"),
                    "product_id": item.get("product_id"),
                }
            )
        shipment_tracks = []
        for track in tracks:
            shipment_tracks.append(
                {
                    "entity_id": self._next_track,
                    "parent_id": shipment_id,
                    "order_id": order["entity_id"],
                    "track_number": str(track["track_number"]),
                    "title": track.get("title"),
                    "carrier_code": track["carrier_code"],
                    "created_at": stamp,
                    "updated_at": stamp,
                    "description": None,
                    "qty": None,
                    "weight": None,
                }
            )
            self._next_track += 1
        self._shipments[shipment_id] = {
            "entity_id": shipment_id,
            "increment_id": f"{shipment_id:09d}",
            "order_id": order["entity_id"],
            "store_id": 1,
            "created_at": stamp,
            "updated_at": stamp,
            "total_qty": sum(qty for _, qty in wanted),
            "email_sent": 0,
            "items": shipment_items,
            "tracks": shipment_tracks,
            "comments": [comment] if isinstance(comment, dict) else [],
            "packages": [],
        }
        if order["state"] == "new":
            order["state"] = order["status"] = "processing"
        if not any(_to_ship(item) > 0 for item in _top_level(order)):
            order["state"] = order["status"] = "complete"
        order["updated_at"] = stamp
        return shipment_id

    def _item(self, order_id: int, sku: str, name: str, qty: int, price: str, stamp: str) -> Json:
        item_id = self._new_item_id()
        return {
            "item_id": item_id,
            "order_id": order_id,
            "quote_item_id": item_id + 100,
            "product_id": 1500 + item_id,
            "product_type": "simple",
            "sku": sku,
            "name": name,
            "qty_ordered": qty,
            "qty_shipped": 0,
            "qty_invoiced": 0,
            "qty_canceled": 0,
            "qty_refunded": 0,
            "price": float(Decimal(price)),
            "base_price": float(Decimal(price)),
            "original_price": float(Decimal(price)),
            "row_total": float(Decimal(price) * qty),
            "weight": 1,
            "row_weight": qty,
            "is_virtual": 0,
            "is_qty_decimal": 0,
            "store_id": 1,
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _new_item_id(self) -> int:
        self._next_item += 1
        return self._next_item - 1

    def _order(self, order_id: int | str) -> Json:
        try:
            return self._orders[int(order_id)]
        except (KeyError, ValueError):
            raise ApiError(404, NOT_FOUND) from None

    def _touch(self, order: Json) -> None:
        order["updated_at"] = self._stamp()


def _order(order_id: int, items: list[Json], stamp: str, *, ready: bool, currency: str) -> Json:
    address = {
        "address_type": "shipping",
        "entity_id": order_id * 2,
        "parent_id": order_id,
        "firstname": "Jane",
        "lastname": "Doe",
        "company": None,
        "street": ["123 Oak Ave", "Suite 4"],
        "city": "Purchase",
        "region": "New York",
        "region_code": "NY",
        "region_id": 43,
        "postcode": "10577",
        "country_id": "US",
        "telephone": "512-555-1111",
        "email": "jdoe@example.com",
    }
    order: Json = {
        "entity_id": order_id,
        "increment_id": f"{order_id:09d}",
        "state": "processing" if ready else "new",
        "status": "processing" if ready else "pending",
        "created_at": stamp,
        "updated_at": stamp,
        "customer_email": "jdoe@example.com",
        "customer_firstname": "Jane",
        "customer_lastname": "Doe",
        "customer_is_guest": 0,
        "order_currency_code": currency,
        "base_currency_code": currency,
        "shipping_amount": 5,
        "shipping_description": "Flat Rate - Fixed",
        "is_virtual": 0,
        "store_id": 1,
        "store_name": "Main Website\nMain Website Store\nDefault Store View",
        "items": items,
        "billing_address": {**address, "address_type": "billing", "entity_id": order_id * 2 - 1},
        "payment": {"method": "checkmo", "parent_id": order_id},
        "status_histories": [],
        "extension_attributes": {
            "shipping_assignments": [{"shipping": {"address": address, "method": "flatrate_flatrate"}, "items": []}]
        },
    }
    _refresh(order, paid=ready)
    return order


def _refresh(order: Json, *, paid: bool | None = None) -> None:
    """Totals and the shipping assignment's copy of the items follow the items."""
    subtotal = sum(Decimal(str(item["price"])) * item["qty_ordered"] for item in order["items"])
    grand_total = float(subtotal + Decimal(str(order["shipping_amount"])))
    order.update(subtotal=float(subtotal), grand_total=grand_total, base_grand_total=grand_total)
    order["total_qty_ordered"] = sum(item["qty_ordered"] for item in _top_level(order))
    order["total_item_count"] = len(order["items"])
    if paid is None:
        paid = bool(order.get("total_paid"))
    order.update(total_paid=grand_total if paid else 0, total_invoiced=grand_total if paid else 0)
    order["total_due"] = 0 if paid else grand_total
    for item in order["items"]:
        item["qty_invoiced"] = item["qty_ordered"] if paid else 0
    for assignment in order["extension_attributes"]["shipping_assignments"]:
        assignment["items"] = copy.deepcopy(order["items"])


def _shipping(order: Json) -> Json | None:
    assignments = order["extension_attributes"]["shipping_assignments"]
    return assignments[0]["shipping"]["address"] if assignments else None


def _top_level(order: Json) -> list[Json]:
    items = order["items"] if isinstance(order["items"], list) else []
    return [item for item in items if not item.get("parent_item_id") and not item.get("is_virtual")]


def _to_ship(item: Json) -> int:
    """Magento's Item::getQtyToShip."""
    return int(item["qty_ordered"] - max(item["qty_shipped"], item["qty_refunded"]) - item["qty_canceled"])


def _item_id(entry: Any) -> int:
    try:
        return int(entry["order_item_id"])
    except (TypeError, KeyError, ValueError):
        raise ApiError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "order_item_id"}) from None


def _qty(value: Any) -> int:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ApiError(400, 'The "qty" value\'s type is invalid. The "float" type was expected.') from None
    if number != number.to_integral_value():
        raise ApiError(400, VALIDATION + "Decimal quantities are not allowed for this product.")
    return int(number)
