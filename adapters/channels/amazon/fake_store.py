"""The in-memory seller behind FakeAmazon: orders, their items and shipped packages, with Amazon's rules.

Kept apart from the HTTP layer so tests drive it directly (add_order, set_status, cancel...).
Every change gets a LastUpdateDate at least one second after the previous one: Amazon's times have
second resolution, and an incremental sync must still see changes in order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Json = dict[str, Any]
MARKETPLACE_ID = "ATVPDKIKX0DER"
#: The carrier codes this fake accepts (a subset of Amazon's list; the real one has hundreds).
CARRIER_CODES = frozenset(
    {"UPS", "USPS", "FedEx", "DHL", "DHL eCommerce", "OnTrac", "Amazon Shipping", "Canada Post", "Royal Mail", "Other"}
)
SHIPPABLE = frozenset({"Unshipped", "PartiallyShipped"})
WITH_ADDRESS = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
ADDRESS: Json = {
    "Name": "Ana Okafor",
    "AddressLine1": "1600 Amphitheatre Pkwy",
    "AddressLine2": "Bldg 4",
    "City": "Mountain View",
    "StateOrRegion": "CA",
    "PostalCode": "94043",
    "CountryCode": "US",
    "Phone": "+1 650-555-0143",
}


class ApiError(Exception):
    """Answered with Amazon's {"errors": [{"code", "message"}]} body."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> Json:
        error: Json = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"errors": [error]}


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidInput", message)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Package:
    reference_id: str
    carrier_code: str
    carrier_name: str | None
    tracking_number: str
    shipping_method: str | None
    ship_date: str
    items: dict[str, int] = field(default_factory=dict)


class SellerStore:
    """One seller's orders. Helpers return deep copies, so callers cannot change the store behind its back."""

    def __init__(self, *, marketplace_id: str = MARKETPLACE_ID) -> None:
        self.marketplace_id = marketplace_id
        self._orders: dict[str, Json] = {}
        self._items: dict[str, list[Json]] = {}
        self._packages: dict[str, list[Package]] = {}
        self._stamps: dict[str, datetime] = {}  # the sort key, kept apart so a corrupted order still sorts
        self._last_stamp: datetime | None = None
        self._next = 1

    # --- the clock -----------------------------------------------------------------------

    def now(self) -> datetime:
        """The seller's clock: real time, or later when changes came faster than one a second."""
        wall = datetime.now(UTC).replace(microsecond=0)
        return max(wall, self._last_stamp) if self._last_stamp else wall

    def _stamp(self) -> datetime:
        wall = datetime.now(UTC).replace(microsecond=0)
        stamp = wall if self._last_stamp is None else max(wall, self._last_stamp + timedelta(seconds=1))
        self._last_stamp = stamp
        return stamp

    def _touch(self, order_id: str) -> None:
        stamp = self._stamp()
        self._stamps[order_id] = stamp
        self._orders[order_id]["LastUpdateDate"] = iso(stamp)

    # --- driving the store ---------------------------------------------------------------

    def add_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        """An MFN order; `ready`: Unshipped (paid) with an address, else Pending without one."""
        if not lines:
            raise ValueError("an Amazon order has at least one item")
        number = self._next
        self._next += 1
        order_id = f"113-{5_000_000 + number:07d}-{(number * 7_919) % 10_000_000:07d}"
        stamp = self._stamp()
        items: list[Json] = [
            {
                "ASIN": f"B0{number:04d}{index:04d}",
                "OrderItemId": f"{40_000_000_000_000 + number * 100 + index:014d}",
                "SellerSKU": sku,
                "Title": title,
                "QuantityOrdered": quantity,
                "QuantityShipped": 0,
                "ItemPrice": {"CurrencyCode": "USD", "Amount": f"{12 * quantity}.50"},
            }
            for index, (sku, title, quantity) in enumerate(lines, start=1)
        ]
        total = sum(float(item["ItemPrice"]["Amount"]) for item in items)
        self._orders[order_id] = {
            "AmazonOrderId": order_id,
            "PurchaseDate": iso(stamp),
            "LastUpdateDate": iso(stamp),
            "OrderStatus": "Unshipped" if ready else "Pending",
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": f"{total:.2f}"},
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": sum(quantity for _, _, quantity in lines),
            "MarketplaceId": self.marketplace_id,
            "OrderType": "StandardOrder",
            "BuyerInfo": {"BuyerEmail": f"buyer{number}@marketplace.amazon.com"},
        }
        self._stamps[order_id] = stamp
        self._items[order_id] = items
        self._packages[order_id] = []
        self._sync_address(order_id)
        return order_id

    def create_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        return self.add_order(lines, ready=ready)

    def order(self, order_id: str) -> Json:
        return copy.deepcopy(self._order(order_id))

    def items(self, order_id: str) -> list[Json]:
        self._order(order_id)
        return copy.deepcopy(self._items[order_id])

    def line_ids(self, external_id: str) -> list[str]:
        return [item["OrderItemId"] for item in self.items(external_id)]

    def packages(self, order_id: str) -> list[Package]:
        self._order(order_id)
        return copy.deepcopy(self._packages[order_id])

    def touch_order(self, external_id: str) -> None:
        """The buyer changed their phone number: a change that bumps LastUpdateDate."""
        order = self._order(external_id)
        address = order.get("ShippingAddress")
        if address is not None:
            address["Phone"] = f"+1 650-555-{(self._next * 37) % 10_000:04d}"
            self._next += 1
        self._touch(external_id)

    def set_status(self, order_id: str, status: str) -> None:
        self._order(order_id)["OrderStatus"] = status
        self._sync_address(order_id)
        self._touch(order_id)

    def cancel(self, order_id: str) -> None:
        self.set_status(order_id, "Canceled")

    def remove_address(self, order_id: str) -> None:
        self._order(order_id).pop("ShippingAddress", None)
        self._touch(order_id)

    def corrupt(self, order_id: str) -> None:
        """A malformed order (for unreadable-order tests): a PurchaseDate nobody can parse."""
        self._order(order_id)["PurchaseDate"] = "last Tuesday"
        self._touch(order_id)

    # --- what the API does -----------------------------------------------------------------

    def _order(self, order_id: str | int) -> Json:
        order = self._orders.get(str(order_id))
        if order is None:
            raise ApiError(404, "NotFound", f"Order {order_id} was not found.")
        return order

    def _sync_address(self, order_id: str) -> None:
        """Amazon shows ShippingAddress only once the order is paid (not for Pending or Canceled)."""
        order = self._orders[order_id]
        if order["OrderStatus"] in WITH_ADDRESS:
            order.setdefault("ShippingAddress", dict(ADDRESS))
        else:
            order.pop("ShippingAddress", None)

    def query(self, updated_after: datetime, updated_before: datetime) -> list[tuple[datetime, str]]:
        """(stamp, id) of MFN orders updated in [after, before], oldest first."""
        return sorted(
            (stamp, order_id)
            for order_id, stamp in self._stamps.items()
            if updated_after <= stamp <= updated_before and self._orders[order_id].get("FulfillmentChannel") == "MFN"
        )

    def confirm_shipment(self, order_id: str, body: Any) -> None:
        """Validated like Amazon; resubmitting a packageReferenceId replaces (edits) that package."""
        order = self._order(order_id)
        if not isinstance(body, dict) or not isinstance(body.get("packageDetail"), dict):
            raise invalid("The request body must contain packageDetail.")
        if body.get("marketplaceId") != order["MarketplaceId"]:
            raise invalid(f"Invalid marketplaceId: {body.get('marketplaceId')!r}.")
        detail = body["packageDetail"]
        for key in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems"):
            if not detail.get(key):
                raise invalid(f"Missing required field: packageDetail.{key}.")
        reference = str(detail["packageReferenceId"])
        if not reference.isdigit() or int(reference) <= 0:
            raise invalid(f"packageReferenceId must be a positive number, got {reference!r}.")
        if detail["carrierCode"] not in CARRIER_CODES:
            raise invalid(f"Invalid carrierCode: {detail['carrierCode']!r}.")
        if detail["carrierCode"] == "Other" and not detail.get("carrierName"):
            raise invalid("carrierName is required when carrierCode is Other.")
        if order["OrderStatus"] not in SHIPPABLE and not self._has_package(order_id, reference):
            raise invalid(f"Order {order_id} cannot be shipped in status {order['OrderStatus']}.")
        wanted = self._validated_items(order_id, reference, detail["orderItems"])
        package = Package(
            reference_id=reference,
            carrier_code=str(detail["carrierCode"]),
            carrier_name=detail.get("carrierName"),
            tracking_number=str(detail["trackingNumber"]),
            shipping_method=detail.get("shippingMethod"),
            ship_date=str(detail["shipDate"]),
            items=wanted,
        )
        packages = self._packages[order_id]
        index = next((i for i, p in enumerate(packages) if p.reference_id == reference), None)
        if index is None:
            packages.append(package)
        else:
            packages[index] = package
        self._apply_shipped(order_id)

    def _has_package(self, order_id: str, reference: str) -> bool:
        return any(p.reference_id == reference for p in self._packages[order_id])

    def _validated_items(self, order_id: str, reference: str, order_items: Any) -> dict[str, int]:
        if not isinstance(order_items, list):
            raise invalid("packageDetail.orderItems must be a list.")
        ordered = {item["OrderItemId"]: int(item["QuantityOrdered"]) for item in self._items[order_id]}
        elsewhere: dict[str, int] = {}
        for package in self._packages[order_id]:
            if package.reference_id != reference:
                for item_id, qty in package.items.items():
                    elsewhere[item_id] = elsewhere.get(item_id, 0) + qty
        wanted: dict[str, int] = {}
        for entry in order_items:
            item_id = str((entry or {}).get("orderItemId") or "")
            if item_id not in ordered:
                raise invalid(f"Invalid orderItemId: {item_id!r} is not an item of order {order_id}.")
            quantity = entry.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                raise invalid(f"Invalid quantity for orderItemId {item_id}: {quantity!r}.")
            wanted[item_id] = wanted.get(item_id, 0) + quantity
        for item_id, quantity in wanted.items():
            left = ordered[item_id] - elsewhere.get(item_id, 0)
            if quantity > left:
                raise invalid(f"Quantity {quantity} for orderItemId {item_id} exceeds the unshipped quantity {left}.")
        return wanted

    def _apply_shipped(self, order_id: str) -> None:
        shipped: dict[str, int] = {}
        for package in self._packages[order_id]:
            for item_id, qty in package.items.items():
                shipped[item_id] = shipped.get(item_id, 0) + qty
        total_ordered = total_shipped = 0
        for item in self._items[order_id]:
            item["QuantityShipped"] = shipped.get(item["OrderItemId"], 0)
            total_ordered += int(item["QuantityOrdered"])
            total_shipped += item["QuantityShipped"]
        order = self._orders[order_id]
        order["NumberOfItemsShipped"] = total_shipped
        order["NumberOfItemsUnshipped"] = total_ordered - total_shipped
        order["OrderStatus"] = "Shipped" if total_shipped >= total_ordered else "PartiallyShipped"
        self._touch(order_id)
