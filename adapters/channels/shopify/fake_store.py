"""The in-memory shop behind FakeShopify: orders, fulfillment orders, fulfillments, and Shopify's rules for them.

Kept apart from the HTTP layer so tests and the demo can drive it directly (add_order, hold, cancel...).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from adapters.channels.shopify import fake_data
from adapters.channels.shopify.mapper import parse_time

Json = dict[str, Any]
ORDER_STATUSES = frozenset({"any", "open", "closed", "cancelled"})


class ApiError(Exception):
    """Raised by a store operation to answer with Shopify's {"errors": ...} body."""

    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors


class ShopStore:
    """One shop's data. Helpers return deep copies, so callers cannot change the store behind its back."""

    def __init__(self, *, seed: int = 1, shop_offset_hours: int = -5) -> None:
        self._random = random.Random(seed)
        self._shop_tz = timezone(timedelta(hours=shop_offset_hours))
        self._orders: dict[int, Json] = {}
        self._fulfillment_orders: dict[int, list[Json]] = {}  # order id -> its FOs
        self._fo_by_id: dict[int, Json] = {}
        self._fulfillment_by_id: dict[int, Json] = {}
        self._fulfilled_fo_lines: dict[int, list[tuple[int, int, int]]] = {}  # fid -> (fo id, fo line id, qty)
        self._events: dict[int, list[Json]] = {}
        self._next_id = 5_100_000_001
        self._next_number = 1001
        self._last_stamp: datetime | None = None

    # --- driving the store ---------------------------------------------------------------

    def add_order(
        self, *, line_items: list[Json] | None = None, split_locations: bool = False, **overrides: Any
    ) -> Json:
        """A realistic paid, unfulfilled order with its fulfillment order(s); `line_items` entries may be partial."""
        stamp = self._stamp()
        order_id, number = self._new_id(), self._next_number
        self._next_number += 1
        specs = line_items or self._random.sample(fake_data.PRODUCTS, self._random.randint(1, 3))
        items = [fake_data.line_item(self._new_id(), spec) for spec in specs]
        address = fake_data.address(self._random.choice(fake_data.ADDRESSES))
        order = fake_data.order(order_id, number, items, address, self._format(stamp))
        order.update(overrides)
        self._orders[order_id] = order
        groups = [items[::2], items[1::2]] if split_locations and len(items) > 1 else [items]
        fos = []
        for location_id, group in zip(fake_data.LOCATION_IDS, groups, strict=False):
            fo = fake_data.fulfillment_order(self._new_id(), order, location_id, group, [self._new_id() for _ in group])
            self._fo_by_id[fo["id"]] = fo
            fos.append(fo)
        self._fulfillment_orders[order_id] = fos
        return copy.deepcopy(order)

    def add_random_order(self) -> Json:
        """For the demo generator: mostly paid, sometimes pending or authorized."""
        status = self._random.choices(["paid", "pending", "authorized"], weights=[8, 1, 1])[0]
        return self.add_order(financial_status=status)

    def order(self, order_id: int | str) -> Json:
        return copy.deepcopy(self._order(order_id))

    def order_ids(self) -> list[int]:
        return list(self._orders)

    def fulfillment_orders(self, order_id: int | str) -> list[Json]:
        self._order(order_id)
        return copy.deepcopy(self._fulfillment_orders[int(order_id)])

    def fulfillments(self, order_id: int | str) -> list[Json]:
        return copy.deepcopy(self._order(order_id)["fulfillments"])

    def locations(self) -> list[Json]:
        """The shop's locations, in id order like GET locations.json; FOs are assigned to these."""
        return [fake_data.location(location_id) for location_id in fake_data.LOCATION_IDS]

    def events(self, fulfillment_id: int | str) -> list[Json]:
        return copy.deepcopy(self._events.get(int(fulfillment_id), []))

    def update_order(self, order_id: int | str, **fields: Any) -> Json:
        order = self._order(order_id)
        order.update(fields)
        self._touch(order)
        return copy.deepcopy(order)

    def hold(self, order_id: int | str, reason: str = "other") -> None:
        order = self._order(order_id)
        for fo in self._fulfillment_orders[order["id"]]:
            if fo["status"] in ("open", "in_progress"):
                fo["status"] = "on_hold"
                fo["fulfillment_holds"] = [{"reason": reason, "reason_notes": "Held by the merchant"}]
                fo["supported_actions"] = ["release_hold"]
        self._touch(order)

    def release_hold(self, order_id: int | str) -> None:
        order = self._order(order_id)
        for fo in self._fulfillment_orders[order["id"]]:
            if fo["status"] == "on_hold":
                fo["status"], fo["fulfillment_holds"] = "open", []
                fo["supported_actions"] = ["create_fulfillment", "hold"]
                _refresh_fo_status(fo)
        self._touch(order)

    def cancel(self, order_id: int | str, reason: str = "customer") -> None:
        order = self._order(order_id)
        stamp = self._touch(order)
        order["cancelled_at"], order["cancel_reason"], order["closed_at"] = stamp, reason, stamp
        for item in order["line_items"]:
            item["fulfillable_quantity"] = 0
        for fo in self._fulfillment_orders[order["id"]]:
            if fo["status"] != "closed":
                fo["status"], fo["supported_actions"] = "closed", []

    def set_address(self, order_id: int | str, **fields: Any) -> None:
        """Fields use Shopify's names (address1, city, zip, province_code...)."""
        order = self._order(order_id)
        order["shipping_address"].update(fields)
        for fo in self._fulfillment_orders[order["id"]]:
            fo["destination"].update({k: v for k, v in fields.items() if k in fo["destination"]})
        self._touch(order)

    # --- operations behind the endpoints ---------------------------------------------------

    def create_api_order(self, spec: Any) -> Json:
        """POST orders.json (how forwarded marketplace orders arrive): validated like Shopify's 422s."""
        if not isinstance(spec, dict):
            raise ApiError(400, {"order": "Required parameter missing or invalid"})
        items = spec.get("line_items")
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise ApiError(422, {"line_items": ["must have at least one line item"]})
        for item in items:
            quantity = to_int(item.get("quantity"))
            if quantity is None or quantity < 1:
                raise ApiError(422, {"line_items": ["quantity must be greater than 0"]})
        status = spec.get("financial_status", "paid")
        if status not in ("paid", "pending", "authorized"):
            raise ApiError(422, {"financial_status": ["is not included in the list"]})
        overrides = {
            key: spec[key]
            for key in ("tags", "source_name", "note", "note_attributes", "email", "currency")
            if spec.get(key) is not None
        }
        if isinstance(spec.get("shipping_address"), dict):
            address = fake_data.address(self._random.choice(fake_data.ADDRESSES))
            address.update({k: v for k, v in spec["shipping_address"].items() if v is not None})
            address["name"] = " ".join(str(address[k]) for k in ("first_name", "last_name") if address.get(k))
            overrides["shipping_address"] = address
        lines = [
            {
                "sku": item.get("sku") or "",
                "title": item.get("title") or "Item",
                "quantity": int(item["quantity"]),
                "price": str(item.get("price") or "0.00"),
            }
            for item in items
        ]
        return self.add_order(line_items=lines, financial_status=status, **overrides)

    def ship(self, order_id: int | str, tracking_number: str, company: str = "UPS", url: str | None = None) -> Json:
        """The merchant fulfils everything still open on the order in the Shopify admin, with tracking."""
        groups = [
            {"fulfillment_order_id": fo["id"]}
            for fo in self._fulfillment_orders[self._order(order_id)["id"]]
            if fo["status"] in ("open", "in_progress")
        ]
        tracking = {"number": tracking_number, "company": company, **({"url": url} if url else {})}
        return self.create_fulfillment({"line_items_by_fulfillment_order": groups, "tracking_info": tracking})

    def tagged(self, tag: str) -> list[Json]:
        """Orders carrying `tag` (forwarded copies carry waybill-<order id>)."""
        return [
            copy.deepcopy(order)
            for order in self._orders.values()
            if tag in [part.strip() for part in str(order.get("tags") or "").split(",")]
        ]

    def add_event(self, order_id: int, fulfillment_id: int, spec: Any) -> Json:
        fulfillment = self.fulfillment_of_order(order_id, fulfillment_id)
        status = spec.get("status") if isinstance(spec, dict) else None
        if status not in fake_data.EVENT_STATUSES:
            raise ApiError(422, {"status": ["is not included in the list"]})
        stamp = self._touch(self._orders[fulfillment["order_id"]])
        event = fake_data.event(self._new_id(), fulfillment, status, spec.get("message"), stamp)
        self._events.setdefault(fulfillment["id"], []).append(event)
        fulfillment["shipment_status"], fulfillment["updated_at"] = status, stamp
        return copy.deepcopy(event)

    def create_fulfillment(self, spec: Any) -> Json:
        """POST fulfillments.json: ships FO lines, moves FO/order statuses, bumps the order."""
        groups = spec.get("line_items_by_fulfillment_order") if isinstance(spec, dict) else None
        if not isinstance(groups, list) or not groups:
            raise ApiError(400, {"fulfillment": "Required parameter missing or invalid"})
        plan = self._plan_fulfillment(groups)
        order = self._orders[self._fo_by_id[plan[0][0]]["order_id"]]
        stamp = self._touch(order)
        fulfillment_id = self._new_id()
        for fo_id, fo_line_id, quantity in plan:
            fo = self._fo_by_id[fo_id]
            fo_line = next(line for line in fo["line_items"] if line["id"] == fo_line_id)
            fo_line["fulfillable_quantity"] -= quantity
            _refresh_fo_status(fo)
            fo["updated_at"] = stamp
        self._fulfilled_fo_lines[fulfillment_id] = plan
        tracking = spec.get("tracking_info") or {}
        fulfillment = fake_data.fulfillment(fulfillment_id, order, self._shipped_lines(order, plan), tracking, stamp)
        fulfillment["location_id"] = self._fo_by_id[plan[0][0]]["assigned_location_id"]
        order["fulfillments"].append(fulfillment)
        self._fulfillment_by_id[fulfillment_id] = fulfillment
        self._refresh_order(order)
        return copy.deepcopy(fulfillment)

    def cancel_fulfillment(self, fulfillment_id: int) -> Json:
        """Puts the quantities back on their FO lines; the order returns to unfulfilled/partial."""
        fulfillment = self.fulfillment_or_404(fulfillment_id)
        if fulfillment["status"] != "success":
            raise ApiError(422, {"base": [f"Cannot cancel a fulfillment with status {fulfillment['status']}."]})
        order = self._orders[fulfillment["order_id"]]
        stamp = self._touch(order)
        for fo_id, fo_line_id, quantity in self._fulfilled_fo_lines.pop(fulfillment["id"], []):
            fo = self._fo_by_id[fo_id]
            next(line for line in fo["line_items"] if line["id"] == fo_line_id)["fulfillable_quantity"] += quantity
            _refresh_fo_status(fo)
            fo["updated_at"] = stamp
        fulfillment["status"], fulfillment["updated_at"] = "cancelled", stamp
        self._refresh_order(order)
        return copy.deepcopy(fulfillment)

    def update_tracking(self, fulfillment_id: int, spec: Any) -> Json:
        fulfillment = self.fulfillment_or_404(fulfillment_id)
        info = spec.get("tracking_info") if isinstance(spec, dict) else None
        if not isinstance(info, dict):
            raise ApiError(400, {"fulfillment": "Required parameter missing or invalid"})
        fake_data.apply_tracking(fulfillment, info)
        fulfillment["updated_at"] = self._touch(self._orders[fulfillment["order_id"]])
        return copy.deepcopy(fulfillment)

    # --- store internals -----------------------------------------------------------------

    def _plan_fulfillment(self, groups: list[Any]) -> list[tuple[int, int, int]]:
        """Validate like Shopify and return (FO id, FO line id, quantity) to ship; ApiError(422) otherwise."""
        plan: dict[tuple[int, int], int] = {}
        order_ids = set()
        for group in groups:
            fo_id = to_int(group.get("fulfillment_order_id")) if isinstance(group, dict) else None
            fo = self._fo_by_id.get(fo_id) if fo_id is not None else None
            if fo is None:
                raise ApiError(422, ["Fulfillment order does not exist."])
            order_ids.add(fo["order_id"])
            if fo["status"] not in ("open", "in_progress"):
                raise ApiError(422, [f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status']}."])
            requested = group.get("fulfillment_order_line_items")
            if requested is not None and not (
                isinstance(requested, list) and all(isinstance(item, dict) for item in requested)
            ):
                raise ApiError(400, {"fulfillment_order_line_items": "Required parameter missing or invalid"})
            if requested is None:
                requested = [
                    {"id": li["id"], "quantity": li["fulfillable_quantity"]}
                    for li in fo["line_items"]
                    if li["fulfillable_quantity"] > 0
                ]
            for item in requested:
                fo_line = next((li for li in fo["line_items"] if li["id"] == to_int(item.get("id"))), None)
                if fo_line is None:
                    raise ApiError(422, [f"Fulfillment order line item {item.get('id')} does not exist."])
                quantity = to_int(item.get("quantity"))
                total = plan.get((fo["id"], fo_line["id"]), 0) + (quantity or 0)
                if quantity is None or quantity < 1 or total > fo_line["fulfillable_quantity"]:
                    raise ApiError(422, ["Invalid fulfillment order line item quantity requested."])
                plan[(fo["id"], fo_line["id"])] = total
        if len(order_ids) > 1:
            raise ApiError(422, ["All fulfillment orders must belong to the same order."])
        if not plan:
            raise ApiError(422, ["Fulfillment must include at least one line item."])
        return [(fo_id, line_id, quantity) for (fo_id, line_id), quantity in plan.items()]

    def _shipped_lines(self, order: Json, plan: list[tuple[int, int, int]]) -> list[Json]:
        per_line: dict[int, int] = {}
        for fo_id, fo_line_id, quantity in plan:
            fo_line = next(li for li in self._fo_by_id[fo_id]["line_items"] if li["id"] == fo_line_id)
            per_line[fo_line["line_item_id"]] = per_line.get(fo_line["line_item_id"], 0) + quantity
        return [{**item, "quantity": per_line[item["id"]]} for item in order["line_items"] if item["id"] in per_line]

    def _refresh_order(self, order: Json) -> None:
        """Order line fulfillable quantities and fulfillment_status follow the FO lines."""
        remaining: dict[int, int] = {}
        for fo in self._fulfillment_orders[order["id"]]:
            for fo_line in fo["line_items"]:
                remaining[fo_line["line_item_id"]] = (
                    remaining.get(fo_line["line_item_id"], 0) + fo_line["fulfillable_quantity"]
                )
        live = [item for item in order["line_items"] if item["current_quantity"] > 0]
        for item in live:
            item["fulfillable_quantity"] = remaining.get(item["id"], 0)
            shipped = item["current_quantity"] - item["fulfillable_quantity"]
            item["fulfillment_status"] = (
                None if shipped <= 0 else "fulfilled" if shipped >= item["current_quantity"] else "partial"
            )
        shipped_any = any(item["fulfillment_status"] for item in live)
        done = bool(live) and all(item["fulfillment_status"] == "fulfilled" for item in live)
        order["fulfillment_status"] = "fulfilled" if done else "partial" if shipped_any else None

    def query(self, filters: dict[str, str]) -> list[Json]:
        status = filters.get("status", "open")
        if status not in ORDER_STATUSES:
            raise ApiError(400, {"status": ["is not a valid status"]})
        rows = list(self._orders.values())
        if status == "open":
            rows = [o for o in rows if not o["cancelled_at"] and not o["closed_at"]]
        elif status == "closed":
            rows = [o for o in rows if o["closed_at"]]
        elif status == "cancelled":
            rows = [o for o in rows if o["cancelled_at"]]
        if filters.get("ids"):
            wanted = {to_int(part) for part in filters["ids"].split(",")}
            rows = [o for o in rows if o["id"] in wanted]
        for param in ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max"):
            if filters.get(param):
                field, bound = param[:-4], _time_param(param, filters[param])
                if param.endswith("_min"):
                    rows = [o for o in rows if parse_time(o[field]) >= bound]
                else:
                    rows = [o for o in rows if parse_time(o[field]) <= bound]
        return sorted(rows, key=lambda row: self.sort_key(row, filters))

    @staticmethod
    def sort_key(order: Json, filters: dict[str, str]) -> tuple[float, int]:
        """Keyset for cursors: (sort field, id); descending orders negate so `>` always means "later page"."""
        field, _, direction = (filters.get("order") or "id asc").partition(" ")
        value = float(order["id"]) if field == "id" else parse_time(order.get(field) or order["created_at"]).timestamp()
        sign = -1 if direction.strip().lower() == "desc" else 1
        return (sign * value, sign * order["id"])

    def _order(self, order_id: int | str) -> Json:
        order = self._orders.get(to_int(order_id) or 0)
        if order is None:
            raise KeyError(f"no order {order_id} in the fake shop")
        return order

    def order_or_404(self, order_id: int) -> Json:
        order = self._orders.get(order_id)
        if order is None:
            raise ApiError(404, "Not Found")
        return order

    def fulfillment_or_404(self, fulfillment_id: int) -> Json:
        fulfillment = self._fulfillment_by_id.get(fulfillment_id)
        if fulfillment is None:
            raise ApiError(404, "Not Found")
        return fulfillment

    def fulfillment_of_order(self, order_id: int, fulfillment_id: int) -> Json:
        order = self.order_or_404(order_id)
        fulfillment = self.fulfillment_or_404(fulfillment_id)
        if fulfillment["order_id"] != order["id"]:
            raise ApiError(404, "Not Found")
        return fulfillment

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _stamp(self) -> datetime:
        """Now, but strictly after the previous change (second precision, like Shopify), so cursors see it."""
        now = datetime.now(UTC).replace(microsecond=0)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(seconds=1)
        self._last_stamp = now
        return now

    def _format(self, stamp: datetime) -> str:
        return stamp.astimezone(self._shop_tz).isoformat(timespec="seconds")

    def _touch(self, order: Json) -> str:
        order["updated_at"] = self._format(self._stamp())
        return str(order["updated_at"])


def _refresh_fo_status(fo: Json) -> None:
    if fo["status"] in ("on_hold", "cancelled"):
        return
    lines = fo["line_items"]
    if all(li["fulfillable_quantity"] == 0 for li in lines):
        fo["status"], fo["supported_actions"] = "closed", []
    elif all(li["fulfillable_quantity"] == li["quantity"] for li in lines):
        fo["status"], fo["supported_actions"] = "open", ["create_fulfillment", "hold"]
    else:
        fo["status"], fo["supported_actions"] = "in_progress", ["create_fulfillment", "hold"]


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time_param(name: str, value: str) -> datetime:
    try:
        return parse_time(value.replace(" ", "+"))  # an unescaped "+" in a query arrives as a space
    except ValueError:
        raise ApiError(400, {name: ["is not a valid date-time"]}) from None
