"""The in-memory seller account behind FakeEbay: orders, shipping fulfillments and eBay's rules for them.

Kept apart from the HTTP layer so tests and the sandbox can drive it directly (add, cancel, refund...).
Order bodies follow the getOrder shape of tests/fixtures/ebay (a production response, personal data replaced).
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.channels.ebay.mapper import format_time, parse_time, shipped_quantities

Json = dict[str, Any]

#: Codes the fake accepts (case-insensitive); eBay's list (GeteBayDetails ShippingCarrierDetails) is longer.
CARRIER_CODES = frozenset(
    {"UPS", "USPS", "FEDEX", "DHL", "DHLEKB", "ROYALMAIL", "PARCELFORCE", "CANADAPOST", "AUSTRALIAPOST", "OTHER"}
)
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9]{4,40}$")
MAX_TRACKED_FULFILLMENTS = 10  # ⚠ eBay documents error 34100 but not its limit

ADDRESSES: list[Json] = [
    {
        "fullName": "Dana Whitfield",
        "contactAddress": {
            "addressLine1": "2200 S Old Missouri Rd",
            "addressLine2": "Ste N",
            "city": "Springdale",
            "stateOrProvince": "AR",
            "postalCode": "72764-8719",
            "countryCode": "US",
        },
        "primaryPhone": {"phoneNumber": "4795550142"},
        "email": "a1b2c3d4e5f60718293a@members.ebay.com",
    },
    {
        "fullName": "Priya Raman",
        "contactAddress": {
            "addressLine1": "410 Terry Ave N",
            "city": "Seattle",
            "stateOrProvince": "WA",
            "postalCode": "98109",
            "countryCode": "US",
        },
        "primaryPhone": {"phoneNumber": "2065550199"},
        "email": "0f9e8d7c6b5a49382716@members.ebay.com",
    },
]


class ApiError(Exception):
    """Raised by a store operation to answer with eBay's {"errors": [...]} body."""

    def __init__(
        self, status: int, error_id: int, message: str, *, long_message: str | None = None, category: str = "REQUEST"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "errors": [
                {
                    "errorId": error_id,
                    "domain": "API_FULFILLMENT",
                    "category": category,
                    "message": message,
                    **({"longMessage": long_message} if long_message else {}),
                }
            ]
        }


class EbayStore:
    """One seller's orders. Helpers return deep copies so callers cannot change the store behind its back."""

    def __init__(self, *, seller_id: str = "waybill-test-seller", max_tracked: int = MAX_TRACKED_FULFILLMENTS) -> None:
        self.seller_id = seller_id
        self.max_tracked = max_tracked
        self._orders: dict[str, Json] = {}
        self._fulfillments: dict[str, list[Json]] = {}
        self._ids = itertools.count(1)
        self._last_stamp: datetime | None = None

    # --- clock ---------------------------------------------------------------------------

    def _stamp(self) -> str:
        """Every change at least one second after the previous one, so even second-resolution cursors order them."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last_stamp is not None and now < self._last_stamp + timedelta(seconds=1):
            now = self._last_stamp + timedelta(seconds=1)
        self._last_stamp = now
        return format_time(now)

    def now(self) -> datetime:
        return self._last_stamp or datetime.now(UTC)

    # --- driving the store ---------------------------------------------------------------

    def new_order(self, lines: list[tuple[str, str, int]], *, price: str = "10.00", **overrides: Any) -> Json:
        """A paid order awaiting shipment with a full US address; `overrides` replace top-level fields."""
        n = next(self._ids)
        order_id = f"{10 + n % 90:02d}-{14000 + n:05d}-{65000 + n:05d}"
        stamp = self._stamp()
        items = [
            _line_item(f"{10084048110000 + n * 100 + i}", sku, title, qty, price)
            for i, (sku, title, qty) in enumerate(lines)
        ]
        subtotal = sum((Decimal(item["lineItemCost"]["value"]) for item in items), Decimal("0"))
        address = copy.deepcopy(ADDRESSES[n % len(ADDRESSES)])
        order: Json = {
            "orderId": order_id,
            "legacyOrderId": order_id,
            "creationDate": stamp,
            "lastModifiedDate": stamp,
            "orderFulfillmentStatus": "NOT_STARTED",
            "orderPaymentStatus": "PAID",
            "sellerId": self.seller_id,
            "buyer": {"username": f"buyer{n:04d}", "buyerRegistrationAddress": copy.deepcopy(address)},
            "pricingSummary": {
                "priceSubtotal": _money(subtotal),
                "deliveryCost": _money(Decimal("0")),
                "total": _money(subtotal),
            },
            "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
            "paymentSummary": {
                "totalDueSeller": _money(subtotal),
                "refunds": [],
                "payments": [
                    {"paymentMethod": "EBAY", "paymentDate": stamp, "amount": _money(subtotal), "paymentStatus": "PAID"}
                ],
            },
            "fulfillmentStartInstructions": [
                {
                    "fulfillmentInstructionsType": "SHIP_TO",
                    "ebaySupportedFulfillment": False,
                    "shippingStep": {
                        "shipTo": address,
                        "shippingCarrierCode": "UPS",
                        "shippingServiceCode": "UPSGround",
                    },
                }
            ],
            "fulfillmentHrefs": [],
            "lineItems": items,
            "salesRecordReference": str(17600 + n),
        }
        order.update(overrides)
        self._orders[order_id] = order
        self._fulfillments[order_id] = []
        return copy.deepcopy(order)

    def order(self, order_id: str) -> Json:
        return copy.deepcopy(self._order(order_id))

    def fulfillments(self, order_id: str) -> list[Json]:
        self._order(order_id)
        return copy.deepcopy(self._fulfillments[order_id])

    def update_order(self, order_id: str, **fields: Any) -> Json:
        """Replace top-level fields (a malformed order in tests, a status change) and bump lastModifiedDate."""
        order = self._order(order_id)
        order.update(copy.deepcopy(fields))
        order["lastModifiedDate"] = self._stamp()
        return copy.deepcopy(order)

    def set_phone(self, order_id: str, phone: str) -> None:
        order = self._order(order_id)
        for instruction in order.get("fulfillmentStartInstructions") or []:
            instruction["shippingStep"]["shipTo"]["primaryPhone"] = {"phoneNumber": phone}
        order["lastModifiedDate"] = self._stamp()

    def set_payment_status(self, order_id: str, status: str) -> None:
        self.update_order(order_id, orderPaymentStatus=status)

    def cancel(self, order_id: str, state: str = "CANCELED") -> None:
        """The buyer's cancellation: CANCELED, or IN_PROGRESS while the seller has not answered it."""
        self.update_order(order_id, cancelStatus={"cancelState": state, "cancelRequests": []})

    def remove_address(self, order_id: str) -> None:
        self.update_order(order_id, fulfillmentStartInstructions=[])

    # --- eBay's rules --------------------------------------------------------------------

    def _order(self, order_id: str) -> Json:
        try:
            return self._orders[order_id]
        except KeyError:
            raise ApiError(404, 32100, f"Invalid order ID: {order_id}") from None

    def query(self, since: datetime | None, field: str, statuses: set[str] | None) -> list[Json]:
        """Orders changed (or created) at/after `since`, in eBay's order: by creation date."""
        rows = [
            order
            for order in self._orders.values()
            if (since is None or parse_time(order[field]) >= since)
            and (statuses is None or order.get("orderFulfillmentStatus") in statuses)
        ]
        return sorted(rows, key=lambda order: (order["creationDate"], order["orderId"]))

    def create_fulfillment(self, order_id: str, body: Any) -> str:
        """createShippingFulfillment with eBay's checks; returns the new fulfillmentId."""
        order = self._order(order_id)
        if not isinstance(body, dict):
            raise ApiError(400, 34902, "Request can't be empty.")
        items = body.get("lineItems")
        if not isinstance(items, list) or not items:
            raise ApiError(400, 32600, "Invalid input data", long_message="lineItems must name at least one line item")
        by_id = {item["lineItemId"]: item for item in order["lineItems"]}
        shipped = shipped_quantities(self._fulfillments[order_id])
        seen: set[str] = set()
        for item in items:
            line_id = item.get("lineItemId") if isinstance(item, dict) else None
            if not isinstance(line_id, str) or line_id not in by_id:
                raise ApiError(400, 32200, f"Invalid line item id: {line_id}")
            if line_id in seen:
                raise ApiError(400, 32210, "Duplicate line item in the request")
            seen.add(line_id)
            quantity = item.get("quantity")
            remaining = by_id[line_id]["quantity"] - shipped.get(line_id, 0)
            if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= remaining:
                raise ApiError(
                    400,
                    32600,
                    "Invalid input data",
                    long_message=f"quantity {quantity!r} for line item {line_id}: {remaining} not yet shipped",
                )
        number, carrier = body.get("trackingNumber"), body.get("shippingCarrierCode")
        if (number is None) != (carrier is None):
            raise ApiError(400, 32300, "Invalid shipment tracking number or carrier")
        if number is not None:
            if not isinstance(number, str) or not TRACKING_NUMBER.match(number):
                raise ApiError(400, 32300, "Invalid shipment tracking number or carrier")
            if not isinstance(carrier, str) or carrier.upper() not in CARRIER_CODES:
                raise ApiError(400, 32300, "Invalid shipment tracking number or carrier")
            tracked = [f for f in self._fulfillments[order_id] if f.get("shipmentTrackingNumber")]
            if len(tracked) >= self.max_tracked:
                raise ApiError(400, 34100, "Maximum tracking number for order is exceeded")
        shipped_date = body.get("shippedDate")
        if shipped_date is not None:
            try:
                parse_time(shipped_date)
            except (ValueError, TypeError):
                raise ApiError(400, 32500, "Invalid shipped date") from None
        fulfillment_id = f"{9405509699937000000000 + next(self._ids)}"
        fulfillment: Json = {
            "fulfillmentId": fulfillment_id,
            "lineItems": [{"lineItemId": item["lineItemId"], "quantity": item["quantity"]} for item in items],
            "shippedDate": shipped_date or self._stamp(),
        }
        if number is not None:
            fulfillment["shipmentTrackingNumber"] = number
            fulfillment["shippingCarrierCode"] = carrier
        self._fulfillments[order_id].append(fulfillment)
        self._refresh_statuses(order)
        order["fulfillmentHrefs"].append(f"/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment/{fulfillment_id}")
        order["lastModifiedDate"] = self._stamp()
        return fulfillment_id

    def _refresh_statuses(self, order: Json) -> None:
        shipped = shipped_quantities(self._fulfillments[order["orderId"]])
        for item in order["lineItems"]:
            done = shipped.get(item["lineItemId"], 0)
            item["lineItemFulfillmentStatus"] = (
                "FULFILLED" if done >= item["quantity"] else "IN_PROGRESS" if done else "NOT_STARTED"
            )
        statuses = {item["lineItemFulfillmentStatus"] for item in order["lineItems"]}
        order["orderFulfillmentStatus"] = (
            "FULFILLED"
            if statuses == {"FULFILLED"}
            else "NOT_STARTED"
            if statuses == {"NOT_STARTED"}
            else "IN_PROGRESS"
        )


def _money(value: Decimal) -> Json:
    return {"value": f"{value:.2f}", "currency": "USD"}


def _line_item(line_id: str, sku: str, title: str, quantity: int, price: str) -> Json:
    cost = Decimal(price) * quantity
    return {
        "lineItemId": line_id,
        "legacyItemId": f"2874{line_id[-8:]}",
        "sku": sku,
        "title": title,
        "lineItemCost": _money(cost),
        "quantity": quantity,
        "soldFormat": "FIXED_PRICE",
        "listingMarketplaceId": "EBAY_US",
        "purchaseMarketplaceId": "EBAY_US",
        "lineItemFulfillmentStatus": "NOT_STARTED",
        "total": _money(cost),
        "deliveryCost": {"shippingCost": _money(Decimal("0"))},
        "appliedPromotions": [],
        "taxes": [],
    }
