"""The in-memory store behind FakeWooCommerce: orders, notes, Shipment Tracking items and Woo's rules for them.

Kept apart from the HTTP layer so tests can drive it directly (add_order, set_status, remove_address...).
Payloads follow the REST v3 fixtures (tests/fixtures/woocommerce); the site runs at UTC-3 like them.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from adapters.channels.base import FakeShipment
from adapters.channels.woocommerce import mapper

Json = dict[str, Any]
STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
    "checkout-draft",
)
#: What `status=any` (and no status at all) lists: Woo leaves drafts and the trash out.
ANY_STATUSES = frozenset(STATUSES) - {"trash", "checkout-draft"}
#: A few of Shipment Tracking's predefined providers (name -> link format).
PROVIDERS = {
    "United States": {
        "UPS": "https://www.ups.com/track?tracknum=%1$s",
        "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
        "FedEx": "https://www.fedex.com/apps/fedextrack/?tracknumbers=%1$s",
        "DHL US": "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id=%1$s",
        "OnTrac": "https://www.ontrac.com/tracking/?number=%1$s",
    },
    "Canada": {"Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=%1$s"},
}
ADDRESS = {
    "first_name": "John",
    "last_name": "Doe",
    "company": "",
    "address_1": "969 Market",
    "address_2": "",
    "city": "San Francisco",
    "state": "CA",
    "postcode": "94103",
    "country": "US",
}


class WooError(Exception):
    """Raised by a store operation to answer with Woo's {"code", "message", "data": {"status"}} body."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> Json:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def invalid_param(name: str, why: str) -> WooError:
    return WooError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: why})


def missing_param(name: str) -> WooError:
    return WooError(400, "rest_missing_callback_param", f"Missing parameter(s): {name}", params=[name])


@dataclass
class _Shipped:
    """What the store shows as shipped, for `shipments()`: a tracking item or a shipment note."""

    ref: str  # tracking_id, or "note:<id>"
    number: str | None
    carrier: str | None
    cancelled: bool = False


class WooStore:
    """One store's data. Helpers return deep copies, so callers cannot change the store behind its back."""

    def __init__(self, *, site_offset_hours: int = -3) -> None:
        self._tz = timezone(timedelta(hours=site_offset_hours))
        self._orders: dict[int, Json] = {}
        self._notes: dict[int, list[Json]] = {}
        self._trackings: dict[int, list[Json]] = {}
        self._shipped: dict[int, list[_Shipped]] = {}
        self._next_id = 726
        self._next_line_id = 314
        self._last_stamp: datetime | None = None

    # --- driving the store ---------------------------------------------------------------

    def add_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        """A new order (sku, title, quantity per line); `ready`: paid, processing, full shipping address."""
        stamp = self._stamp()
        order_id = self._new_id()
        items = [
            self._line_item(sku, title, quantity, 12 + 3 * index) for index, (sku, title, quantity) in enumerate(lines)
        ]
        subtotal = sum(Decimal(item["subtotal"]) for item in items)
        order: Json = {
            "id": order_id,
            "parent_id": 0,
            "number": str(order_id),
            "order_key": f"wc_order_{uuid.uuid4().hex[:13]}",
            "created_via": "checkout",
            "version": "8.9.1",
            "status": "processing" if ready else "pending",
            "currency": "USD",
            "discount_total": "0.00",
            "shipping_total": "10.00",
            "total": f"{subtotal + 10:.2f}",
            "total_tax": "0.00",
            "prices_include_tax": False,
            "customer_id": 0,
            "customer_note": "",
            "billing": {**ADDRESS, "email": "john.doe@example.com", "phone": "(555) 555-5555"},
            "shipping": {**ADDRESS, "phone": ""},
            "payment_method": "bacs",
            "payment_method_title": "Direct Bank Transfer",
            "transaction_id": "",
            "date_paid": None,
            "date_paid_gmt": None,
            "date_completed": None,
            "date_completed_gmt": None,
            "meta_data": [],
            "line_items": items,
            "tax_lines": [],
            "shipping_lines": [{"id": self._new_line_id(), "method_title": "Flat Rate", "method_id": "flat_rate"}],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
        }
        self._set_dates(order, "date_created", stamp)
        self._set_dates(order, "date_modified", stamp)
        if ready:
            self._set_dates(order, "date_paid", stamp)
        self._orders[order_id] = order
        self._notes[order_id], self._trackings[order_id], self._shipped[order_id] = [], [], []
        return str(order_id)

    create_order = add_order  # the name the brief uses

    def order(self, order_id: int | str) -> Json:
        return copy.deepcopy(self._order(order_id))

    def notes(self, order_id: int | str) -> list[Json]:
        return copy.deepcopy(self._notes[self._order(order_id)["id"]])

    def touch_order(self, external_id: str) -> None:
        """The buyer changed their phone number: same order, later date_modified."""
        order = self._order(external_id)
        order["billing"]["phone"] = f"(555) 555-{len(self._orders) + int(order['id']) % 10_000:04d}"
        self._touch(order)

    def bulk_touch(self, order_ids: list[str]) -> None:
        """A bulk action in the admin: every order saved within one second (one date_modified for all)."""
        stamp = self._stamp()
        for order_id in order_ids:
            self._set_dates(self._order(order_id), "date_modified", stamp)

    def set_status(self, order_id: int | str, status: str) -> None:
        self._apply_status(self._order(order_id), status)

    def cancel(self, order_id: int | str) -> None:
        self.set_status(order_id, "cancelled")

    def hold(self, order_id: int | str) -> None:
        self.set_status(order_id, "on-hold")

    def refund(self, order_id: int | str, amount: str | None = None) -> None:
        """A refund of `amount` (partial: status unchanged) or of everything (status refunded)."""
        order = self._order(order_id)
        order["refunds"].append({"id": self._new_id(), "reason": "", "total": f"-{amount or order['total']}"})
        if amount is None:
            self._apply_status(order, "refunded")
        else:
            self._touch(order)

    def remove_address(self, order_id: int | str) -> None:
        """Virtual products: Woo sends the shipping block with every field empty."""
        order = self._order(order_id)
        order["shipping"] = {key: "" for key in order["shipping"]}
        self._touch(order)

    def corrupt(self, order_id: int | str) -> None:
        """A plugin wrote garbage into the order (an unreadable creation date), but it still lists."""
        order = self._order(order_id)
        order["date_created_gmt"] = "0000-00-00 00:00:00"
        self._touch(order)

    def line_ids(self, external_id: str) -> list[str]:
        return [str(item["id"]) for item in self._order(external_id)["line_items"]]

    def shipments(self, external_id: str) -> list[FakeShipment]:
        """Woo records no lines on a shipment, so `lines` is always None."""
        return [
            FakeShipment(tracking_number=s.number, carrier=s.carrier, lines=None, cancelled=s.cancelled)
            for s in self._shipped[self._order(external_id)["id"]]
        ]

    def is_shipped(self, external_id: str) -> bool:
        return bool(self._order(external_id)["status"] == "completed")

    # --- operations behind the endpoints ---------------------------------------------------

    def order_or_404(self, order_id: int) -> Json:
        order = self._orders.get(order_id)
        if order is None:
            raise WooError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return order

    def create_api_order(self, body: Json) -> Json:
        """POST /orders (forwarded marketplace orders): lines without a product keep their name and total; the
        SKU a product would give is empty, so it travels as line meta. Validated like Woo's 400s."""
        items = body.get("line_items")
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise invalid_param("line_items", "line_items must contain at least one item.")
        for item in items:
            if not isinstance(item.get("quantity"), int) or item["quantity"] < 1:
                raise invalid_param("line_items", "quantity must be a positive integer.")
        status = body.get("status", "pending")
        if status not in STATUSES:
            raise invalid_param("status", f"status is not one of {', '.join(STATUSES)}.")
        order = self._orders[int(self.add_order([("", str(i.get("name") or ""), i["quantity"]) for i in items]))]
        order["created_via"] = "rest-api"
        for line, item in zip(order["line_items"], items, strict=True):
            total = str(item.get("total") or "0.00")
            line.update(total=total, subtotal=total, product_id=0, meta_data=list(item.get("meta_data") or []))
        order["total"] = f"{sum(Decimal(line['total']) for line in order['line_items']):.2f}"
        for part in ("billing", "shipping"):
            if isinstance(body.get(part), dict):
                order[part].update({k: v for k, v in body[part].items() if k in order[part]})
        order["meta_data"] = [
            {"id": self._new_line_id(), "key": m.get("key"), "value": m.get("value")}
            for m in body.get("meta_data") or []
            if isinstance(m, dict)
        ]
        order["shipping_lines"] = [
            {
                "id": self._new_line_id(),
                "method_title": line.get("method_title", ""),
                "method_id": line.get("method_id"),
            }
            for line in body.get("shipping_lines") or []
            if isinstance(line, dict)
        ]
        order["customer_note"] = str(body.get("customer_note") or "")
        self._apply_status(order, "processing" if body.get("set_paid") else status)
        return copy.deepcopy(order)

    def search(self, rows: list[Json], term: str) -> list[Json]:
        """Woo's order search: billing/shipping names and e-mail, and the names of the order's items."""
        needle = term.lower()

        def texts(order: Json) -> list[str]:
            names = [item.get("name", "") for item in order["line_items"]]
            names += [line.get("method_title", "") for line in order["shipping_lines"]]
            people = [
                order[part].get(key, "") for part in ("billing", "shipping") for key in ("first_name", "last_name")
            ]
            return [str(text).lower() for text in [*names, *people, order["billing"].get("email", "")]]

        return [order for order in rows if any(needle in text for text in texts(order))]

    def update_order(self, order_id: int, body: Json) -> Json:
        order = self.order_or_404(order_id)
        if "status" in body:
            if body["status"] not in STATUSES:
                raise invalid_param("status", f"status is not one of {', '.join(STATUSES)}.")
            self._apply_status(order, body["status"])
        return copy.deepcopy(order)

    def list_notes(self, order_id: int, kind: str) -> list[Json]:
        if kind not in ("any", "customer", "internal"):
            raise invalid_param("type", "type is not one of any, customer, and internal.")
        notes = self._notes[self.order_or_404(order_id)["id"]]
        wanted = [n for n in notes if kind == "any" or n["customer_note"] == (kind == "customer")]
        return copy.deepcopy(sorted(wanted, key=lambda n: -n["id"]))  # newest first, as Woo lists them

    def add_note(self, order_id: int, body: Json) -> Json:
        order = self.order_or_404(order_id)
        text = body.get("note")
        if not isinstance(text, str) or not text:
            raise missing_param("note")
        stamp = self._stamp()
        note = {
            "id": self._new_id(),
            "author": "WooCommerce",
            "date_created": self._local(stamp),
            "date_created_gmt": mapper.format_gmt(stamp),
            "note": text,
            "customer_note": bool(body.get("customer_note")),
            "added_by_user": False,
        }
        self._notes[order["id"]].append(note)
        self._record_note(order["id"], note)
        return copy.deepcopy(note)

    def list_trackings(self, order_id: int) -> list[Json]:
        return [self._formatted(item) for item in self._trackings[self.order_or_404(order_id)["id"]]]

    def tracking_or_404(self, order_id: int, tracking_id: str) -> Json:
        for item in self._trackings[self.order_or_404(order_id)["id"]]:
            if item["tracking_id"] == tracking_id:
                return item
        raise WooError(404, "woocommerce_rest_shop_order_shipment_tracking_invalid_id", "Invalid tracking ID.")

    def add_tracking(self, order_id: int, body: Json) -> Json:
        order = self.order_or_404(order_id)
        number = body.get("tracking_number")
        if not isinstance(number, str) or not number.strip():
            raise missing_param("tracking_number")
        provider, custom = body.get("tracking_provider") or "", body.get("custom_tracking_provider") or ""
        if not provider and not custom:
            raise missing_param("tracking_provider")
        item = {
            "tracking_provider": self._provider_name(provider) if provider else "",
            "custom_tracking_provider": custom if not provider else "",
            "custom_tracking_link": (body.get("custom_tracking_link") or "") if not provider else "",
            "tracking_number": number.strip(),
            "date_shipped": body.get("date_shipped") or datetime.now(UTC).strftime("%Y-%m-%d"),
            "tracking_id": uuid.uuid4().hex,
        }
        self._trackings[order["id"]].append(item)
        carrier = item["tracking_provider"] or item["custom_tracking_provider"]
        self._shipped[order["id"]].append(_Shipped(item["tracking_id"], item["tracking_number"], carrier))
        self._sync_tracking_meta(order)
        return self._formatted(item)

    def delete_tracking(self, order_id: int, tracking_id: str) -> Json:
        item = self.tracking_or_404(order_id, tracking_id)
        self._trackings[order_id].remove(item)
        for shipped in self._shipped[order_id]:
            if shipped.ref == tracking_id:
                shipped.cancelled = True
        self._sync_tracking_meta(self._orders[order_id])
        return self._formatted(item)

    def query(self, statuses: frozenset[str], bounds: dict[str, datetime]) -> list[Json]:
        """Orders with these statuses whose date passes every exclusive bound (modified_after, before...)."""
        rows = [o for o in self._orders.values() if o["status"] in statuses]
        for name, bound in bounds.items():
            field = "date_modified_gmt" if name.startswith("modified") else "date_created_gmt"
            if name.endswith("after"):
                rows = [o for o in rows if _sort_time(o[field]) > bound]
            else:
                rows = [o for o in rows if _sort_time(o[field]) < bound]
        return rows

    def site_zone(self) -> timezone:
        return self._tz

    # --- store internals -----------------------------------------------------------------

    def _line_item(self, sku: str, title: str, quantity: int, price: int) -> Json:
        subtotal = f"{price * quantity:.2f}"
        return {
            "id": self._new_line_id(),
            "name": title,
            "product_id": 90 + self._next_line_id % 50,
            "variation_id": 0,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": subtotal,
            "subtotal_tax": "0.00",
            "total": subtotal,
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
            "sku": sku,
            "price": price,
        }

    def _apply_status(self, order: Json, status: str) -> None:
        stamp = self._stamp()
        order["status"] = status
        if status in mapper.PAID_STATUSES and not order["date_paid_gmt"]:
            self._set_dates(order, "date_paid", stamp)
        if status == "completed":
            self._set_dates(order, "date_completed", stamp)
        else:
            order["date_completed"] = order["date_completed_gmt"] = None
        self._set_dates(order, "date_modified", stamp)

    def _record_note(self, order_id: int, note: Json) -> None:
        shipment = mapper.parse_shipment_note(note)
        if shipment is not None:
            self._shipped[order_id].append(_Shipped(f"note:{note['id']}", shipment.number, shipment.company))
            return
        target = mapper.cancellation_target(note)
        for shipped in self._shipped[order_id] if target else []:
            kind, value = target or ("", "")
            if shipped.ref.startswith("note:") and (
                (kind == "note" and shipped.ref == f"note:{value}") or (kind == "number" and shipped.number == value)
            ):
                shipped.cancelled = True

    def _sync_tracking_meta(self, order: Json) -> None:
        """The extension keeps items in order meta and saves the order, which bumps date_modified."""
        order["meta_data"] = [m for m in order["meta_data"] if m["key"] != mapper.TRACKING_META_KEY]
        items = self._trackings[order["id"]]
        if items:
            order["meta_data"].append(
                {"id": self._new_id(), "key": mapper.TRACKING_META_KEY, "value": copy.deepcopy(items)}
            )
        self._touch(order)

    @staticmethod
    def _provider_name(provider: str) -> str:
        for group in PROVIDERS.values():
            for name in group:
                if name.lower() == provider.lower():
                    return name
        return provider  # the extension stores unknown names as given (with no link)

    @staticmethod
    def _formatted(item: Json) -> Json:
        """The REST shape: provider name and expanded link, not the stored meta."""
        name = item["tracking_provider"] or item["custom_tracking_provider"]
        link_format = next((g[name] for g in PROVIDERS.values() if name in g), item["custom_tracking_link"])
        return {
            "tracking_id": item["tracking_id"],
            "tracking_provider": name,
            "tracking_link": link_format.replace("%1$s", item["tracking_number"]) if link_format else "",
            "tracking_number": item["tracking_number"],
            "date_shipped": item["date_shipped"],
        }

    def _order(self, order_id: int | str) -> Json:
        try:
            return self._orders[int(order_id)]
        except (KeyError, ValueError):
            raise KeyError(f"no order {order_id} in the fake store") from None

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _new_line_id(self) -> int:
        self._next_line_id += 1
        return self._next_line_id

    def _stamp(self) -> datetime:
        """Now, but at least a second after the previous change (Woo's dates have second precision)."""
        now = datetime.now(UTC).replace(microsecond=0)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(seconds=1)
        self._last_stamp = now
        return now

    def _local(self, stamp: datetime) -> str:
        return stamp.astimezone(self._tz).strftime("%Y-%m-%dT%H:%M:%S")

    def _set_dates(self, order: Json, field: str, stamp: datetime) -> None:
        order[field], order[f"{field}_gmt"] = self._local(stamp), mapper.format_gmt(stamp)

    def _touch(self, order: Json) -> None:
        self._set_dates(order, "date_modified", self._stamp())


def _sort_time(value: str) -> datetime:
    try:
        return mapper.parse_gmt(value)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
