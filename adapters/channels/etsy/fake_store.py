"""The state behind FakeEtsy: one shop's receipts, its OAuth grant, and the helpers tests drive it with.

Receipts are shaped like the live getShopReceipts payload (tests/fixtures/etsy): title-case statuses,
money as {amount, divisor, currency_code}, both spellings of the timestamps, transactions and shipments
embedded. Every change gets a modified time at least one second after the previous one, because Etsy's
filter (min_last_modified) only has second resolution.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Sequence
from typing import Any

from adapters.channels.base import FakeShipment

Json = dict[str, Any]
ACCESS_TOKEN_SECONDS = 3600


class ApiError(Exception):
    """An Etsy error answer: `{"error": text}` (plus `error_description` for OAuth errors)."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.body: Json = {"error": error}
        if description is not None:
            self.body["error_description"] = description


def money(cents: int, currency: str = "USD") -> Json:
    return {"amount": cents, "divisor": 100, "currency_code": currency}


class EtsyShop:
    """One Etsy shop and the OAuth grant its owner gave Waybill."""

    def __init__(
        self,
        *,
        shop_id: int = 31415926,
        shop_name: str = "WaybillTestShop",
        user_id: int = 12345678,
        keystring: str = "fakekeystring1234567890ab",
        shared_secret: str = "fakesharedsecret",
        clock_step: int = 1,
    ) -> None:
        self.shop_id = shop_id
        self.shop_name = shop_name
        self.user_id = user_id
        self.keystring = keystring
        self.shared_secret = shared_secret
        self.clock_step = clock_step  # 0: every change in the same second (ties, as bulk imports make)
        self.refreshes = 0
        self.revoked = False
        self._access: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self._refresh_token: str | None = None
        self._receipts: dict[int, Json] = {}
        self._modified: dict[int, int] = {}  # kept apart from the JSON so a broken receipt still sorts
        self._created: dict[int, int] = {}
        self._ship_log: dict[int, list[FakeShipment]] = {}
        self._last_tick = 0
        self._next_receipt = 3_100_000_001
        self._next_transaction = 4_100_000_001
        self._next_shipment = 1_300_000_000_001
        self.issue_tokens()

    # --- OAuth ---------------------------------------------------------------------------------

    def issue_tokens(self) -> Json:
        """A new access token and a new refresh token; the previous refresh token stops working at once."""
        access = f"{self.user_id}.{secrets.token_urlsafe(24)}"
        self._access[access] = time.time() + ACCESS_TOKEN_SECONDS
        self._refresh_token = f"{self.user_id}.{secrets.token_urlsafe(24)}"
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": self._refresh_token,
        }

    def current_tokens(self) -> tuple[str, str, int]:
        access = max(self._access, key=self._access.__getitem__)
        return access, self._refresh_token or "", int(self._access[access])

    def access_token_state(self, token: str) -> str:
        """ "valid", "expired" or "unknown"."""
        expiry = self._access.get(token)
        if expiry is None or self.revoked:
            return "unknown"
        return "valid" if expiry > time.time() else "expired"

    def refresh(self, client_id: str | None, refresh_token: str | None) -> Json:
        if client_id != self.keystring:
            raise ApiError(400, "invalid_client", "The client_id is not a valid API key")
        if self.revoked or not refresh_token or refresh_token != self._refresh_token:
            raise ApiError(400, "invalid_grant", "The refresh token is invalid, expired or already used")
        self.refreshes += 1
        return self.issue_tokens()

    def expire_access_token(self) -> None:
        for token in self._access:
            self._access[token] = 0.0

    def revoke(self) -> None:
        self.revoked = True
        self._access.clear()
        self._refresh_token = None

    # --- the clock -------------------------------------------------------------------------------

    def tick(self) -> int:
        """Epoch seconds for a change: now, but never before (or, with clock_step > 0, at) the last change."""
        if self._last_tick and self.clock_step == 0:
            return self._last_tick
        now = int(time.time())
        self._last_tick = max(now, self._last_tick + self.clock_step) if self._last_tick else now
        return self._last_tick

    def _stamp(self, receipt_id: int) -> None:
        now = self.tick()
        self._modified[receipt_id] = now
        receipt = self._receipts[receipt_id]
        receipt["updated_timestamp"] = receipt["update_timestamp"] = now

    # --- what tests drive ------------------------------------------------------------------------

    def add_order(self, lines: Sequence[tuple[str, str, int]] | None = None, *, ready: bool = True) -> str:
        """A receipt with one transaction per (sku, title, quantity); `ready`: paid, unshipped, full address."""
        lines = list(lines) if lines is not None else [("MUG-BLUE", "Speckled Blue Mug", 1)]
        receipt_id = self._next_receipt
        self._next_receipt += 1
        now = self.tick()
        transactions: list[Json] = []
        for index, (sku, title, quantity) in enumerate(lines):
            transactions.append(
                {
                    "transaction_id": self._next_transaction,
                    "title": title,
                    "seller_user_id": self.user_id,
                    "buyer_user_id": 55500011,
                    "create_timestamp": now,
                    "created_timestamp": now,
                    "paid_timestamp": now if ready else None,
                    "shipped_timestamp": None,
                    "quantity": quantity,
                    "receipt_id": receipt_id,
                    "is_digital": False,
                    "listing_id": 1500000000 + index,
                    "sku": sku,
                    "product_id": 17000000000 + index,
                    "transaction_type": "listing",
                    "price": money(1250 + 100 * index),
                    "shipping_cost": money(0),
                    "variations": [],
                    "shipping_profile_id": 208189665822,
                    "expected_ship_date": now + 3 * 86400,
                }
            )
            self._next_transaction += 1
        total = sum(t["price"]["amount"] * t["quantity"] for t in transactions)
        self._receipts[receipt_id] = {
            "receipt_id": receipt_id,
            "receipt_type": 0,
            "seller_user_id": self.user_id,
            "seller_email": "seller@example.com",
            "buyer_user_id": 55500011,
            "buyer_email": "buyer@example.com",
            "name": "Rosa Buyer",
            "first_line": "12 Orchard Lane",
            "second_line": "Flat 3",
            "city": "Portland",
            "state": "OR",
            "zip": "97201",
            "status": "Paid" if ready else "Open",
            "formatted_address": "Rosa Buyer\n12 Orchard Lane\nFlat 3\nPORTLAND, OR 97201\nUnited States",
            "country_iso": "US",
            "payment_method": "cc",
            "message_from_buyer": "",
            "is_shipped": False,
            "is_paid": ready,
            "create_timestamp": now,
            "created_timestamp": now,
            "update_timestamp": now,
            "updated_timestamp": now,
            "is_gift": False,
            "grandtotal": money(total),
            "subtotal": money(total),
            "total_price": money(total),
            "total_shipping_cost": money(0),
            "shipments": [],
            "transactions": transactions,
            "refunds": [],
        }
        self._modified[receipt_id] = self._created[receipt_id] = now
        self._ship_log[receipt_id] = []
        return str(receipt_id)

    create_order = add_order  # the brief's name for the same thing

    def receipt(self, receipt_id: int | str) -> Json:
        """A copy of the receipt as the API would return it (404 ApiError when there is none)."""
        return copy.deepcopy(self._get(receipt_id))

    def touch_order(self, external_id: str) -> None:
        self._get(external_id)["message_from_buyer"] = f"note {self.tick()}"
        self._stamp(int(external_id))

    def line_ids(self, external_id: str) -> list[str]:
        return [str(t["transaction_id"]) for t in self._get(external_id)["transactions"]]

    def shipments(self, external_id: str) -> list[FakeShipment]:
        self._get(external_id)
        return list(self._ship_log[int(external_id)])

    def is_shipped(self, external_id: str) -> bool:
        return self._get(external_id)["is_shipped"] is True

    def set_status(self, external_id: str, status: str, *, is_paid: bool | None = None) -> None:
        receipt = self._get(external_id)
        receipt["status"] = status
        if is_paid is not None:
            receipt["is_paid"] = is_paid
        self._stamp(int(external_id))

    def cancel(self, external_id: str) -> None:
        self.set_status(external_id, "Canceled")

    def remove_address(self, external_id: str) -> None:
        """As Etsy answers where address access needs a partnership: the fields come back null."""
        receipt = self._get(external_id)
        for key in ("first_line", "second_line", "city", "state", "zip", "country_iso", "formatted_address"):
            receipt[key] = None
        self._stamp(int(external_id))

    def break_order(self, external_id: str) -> None:
        """Corrupt the receipt's JSON (a money field the mapper cannot read) for the `unreadable` path."""
        self._get(external_id)["grandtotal"] = "12.50 USD"
        self._stamp(int(external_id))

    # --- what the endpoints use ------------------------------------------------------------------

    def _get(self, receipt_id: int | str) -> Json:
        try:
            return self._receipts[int(receipt_id)]
        except (KeyError, ValueError):
            raise ApiError(404, f"Receipt with receipt_id {receipt_id} not found") from None

    def query(
        self,
        *,
        min_last_modified: int | None,
        max_last_modified: int | None,
        sort_on: str,
        descending: bool,
        flags: dict[str, bool],
    ) -> list[Json]:
        keys = {"created": self._created, "updated": self._modified}
        chosen = keys.get(sort_on)
        rows = []
        for receipt_id, receipt in self._receipts.items():
            modified = self._modified[receipt_id]
            if min_last_modified is not None and modified < min_last_modified:
                continue
            if max_last_modified is not None and modified > max_last_modified:
                continue
            if "was_paid" in flags and (receipt.get("is_paid") is True) != flags["was_paid"]:
                continue
            if "was_shipped" in flags and (receipt.get("is_shipped") is True) != flags["was_shipped"]:
                continue
            canceled = str(receipt.get("status", "")).lower() == "canceled"
            if "was_canceled" in flags and canceled != flags["was_canceled"]:
                continue
            rows.append(receipt_id)
        rows.sort(key=lambda rid: (chosen[rid] if chosen is not None else rid, rid), reverse=descending)
        return [copy.deepcopy(self._receipts[rid]) for rid in rows]

    def ship(self, receipt_id: int, tracking_code: str | None, carrier_name: str | None, note: str | None) -> Json:
        """createReceiptShipment: with tracking, adds a shipment; without, only marks the receipt shipped."""
        receipt = self._get(receipt_id)
        status = str(receipt.get("status", "")).lower()
        if status in ("canceled", "fully refunded"):
            raise ApiError(400, f"Cannot submit tracking for a receipt with status {receipt['status']}")
        if receipt.get("is_paid") is not True:
            raise ApiError(400, "Cannot submit tracking for a receipt that has not been paid")
        if bool(tracking_code) != bool(carrier_name):
            raise ApiError(400, "tracking_code and carrier_name must be provided together")
        now = self.tick()
        if tracking_code:
            receipt["shipments"].append(
                {
                    "receipt_shipping_id": self._next_shipment,
                    "shipment_notification_timestamp": now,
                    "carrier_name": carrier_name,
                    "tracking_code": tracking_code,
                }
            )
            self._next_shipment += 1
        self._ship_log[receipt_id].append(FakeShipment(tracking_code or None, carrier_name or None, None))
        receipt["is_shipped"] = True
        if status == "paid":
            receipt["status"] = "Completed"
        if note:
            receipt["message_from_seller"] = note
        for transaction in receipt["transactions"]:
            transaction["shipped_timestamp"] = transaction.get("shipped_timestamp") or now
        self._modified[receipt_id] = now
        receipt["updated_timestamp"] = receipt["update_timestamp"] = now
        return copy.deepcopy(receipt)
