"""Why an order cannot ship as it stands (a DRAFT), under the account's own draft rules.

An order is international when the account's origin country (`draftRules.originCountry`) differs
from the ship-to country. Without an origin country Waybill cannot tell, so the customs and invoice
rules wait until the merchant sets one. Missing data never fails a sync: it makes a draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from domain import addresses
from domain.model import ChannelOrderStatus, Order, OrderLine, OrderStatus
from domain.validation import missing_fields as address_missing_fields

CUSTOMS_CONTENTS = ("MERCHANDISE", "GIFT", "DOCUMENTS", "SAMPLE", "RETURN")


@dataclass(frozen=True)
class DraftRules:
    """Per account, stored in `accounts.settings["draft_rules"]`. An address is always required."""

    origin_country: str | None = None
    customs: bool = True  # international: contents, and per line a value and an HS code or description
    invoice_number: bool = True  # international: an invoice number
    line_weight: bool = False  # every line needs a weight, unless a default weight is set
    default_line_weight_grams: int | None = None
    default_customs_contents: str | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> DraftRules:
        raw = (settings or {}).get("draft_rules") or {}
        if not isinstance(raw, dict):
            return cls()
        known = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
        return cls(**known)

    def to_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def is_international(self, order: Order) -> bool:
        destination = ((order.shipping_address.country_code if order.shipping_address else None) or "").upper()
        origin = (self.origin_country or "").upper()
        return bool(origin and destination and origin != destination)


def check_rules(rules: DraftRules) -> list[tuple[str, str]]:
    """(field, message) for every rule value that makes no sense; empty when the rules can be stored."""
    found: list[tuple[str, str]] = []
    if rules.origin_country is not None and not re.fullmatch(r"[A-Z]{2}", rules.origin_country):
        found.append(("originCountry", "Must be an ISO 3166-1 alpha-2 country code, e.g. GB"))
    grams = rules.default_line_weight_grams
    if grams is not None and not 0 < grams <= 1_000_000:
        found.append(("defaultLineWeightGrams", "Must be between 1 and 1000000 grams"))
    if rules.default_customs_contents is not None and rules.default_customs_contents not in CUSTOMS_CONTENTS:
        found.append(("defaultCustomsContents", "Must be one of " + ", ".join(CUSTOMS_CONTENTS)))
    return found


def missing_for(order: Order, rules: DraftRules) -> list[str]:
    """Dotted names of what the order lacks, in a stable order; line fields name the channel's line id."""
    missing = address_missing_fields(order.shipping_address, order.lines)
    if rules.is_international(order):
        if rules.invoice_number and addresses.blank(order.invoice_number):
            missing.append("invoiceNumber")
        if rules.customs:
            if addresses.blank(order.customs_contents) and rules.default_customs_contents is None:
                missing.append("customs.contents")
            for line in order.lines:
                if addresses.blank(customs_value(line)):
                    missing.append(f"lines.{line.channel_line_id}.customsValue")
                if addresses.blank(line.hs_code) and addresses.blank(line.customs_description):
                    missing.append(f"lines.{line.channel_line_id}.hsCode")
    if rules.line_weight and rules.default_line_weight_grams is None:
        no_weight = (
            line for line in order.lines if not line.grams and (order.package is None or not order.package.weight_grams)
        )
        missing.extend(f"lines.{line.channel_line_id}.weightGrams" for line in no_weight)
    return missing


def status_for(channel_status: ChannelOrderStatus, missing: list[str]) -> OrderStatus:
    """Rows 1-4 of the lifecycle table: what the channel says, then DRAFT while anything is missing."""
    match channel_status:
        case ChannelOrderStatus.CANCELLED | ChannelOrderStatus.REFUNDED:
            return OrderStatus.CANCELLED
        case ChannelOrderStatus.FULFILLED | ChannelOrderStatus.PARTIALLY_FULFILLED:
            return OrderStatus.SHIPPED_ELSEWHERE
        case ChannelOrderStatus.ON_HOLD:
            return OrderStatus.BACK_ORDERED
    if missing:
        return OrderStatus.DRAFT
    if channel_status is ChannelOrderStatus.UNKNOWN:
        return OrderStatus.NEEDS_ATTENTION
    return OrderStatus.READY_TO_SHIP


def customs_value(line: OrderLine) -> str | None:
    """What one unit is declared at: the merchant's value, else the price it sold for."""
    return line.customs_value or line.unit_price


def reasons(missing: list[str], lines: list[OrderLine], rules: DraftRules | None = None) -> list[tuple[str, str]]:
    """(field, message) a merchant can read, one per missing field."""
    by_channel_id = {line.channel_line_id: line for line in lines}
    found: list[tuple[str, str]] = []
    for name in missing:
        if name.startswith("lines.") and name.count(".") >= 2:
            channel_line_id, what = name[len("lines.") :].rsplit(".", 1)
            line = by_channel_id.get(channel_line_id)
            label = f"Line {line.sku or line.title}" if line else f"Line {channel_line_id}"
            found.append((name, f"{label}: {_LINE_MESSAGES.get(what, what + ' is missing')}"))
        else:
            found.append((name, _MESSAGES.get(name, f"{name} is missing")))
    return found


_MESSAGES = {
    "shippingAddress": "The order has no shipping address.",
    "shippingAddress.name": "The shipping address has no recipient name.",
    "shippingAddress.line1": "The shipping address has no street address.",
    "shippingAddress.city": "The shipping address has no city.",
    "shippingAddress.postalCode": "The shipping address has no postal code.",
    "shippingAddress.countryCode": "The shipping address has no country.",
    "shippingAddress.region": "The carrier needs a state or province for this country.",
    "lines": "The order has no lines to ship.",
    "invoiceNumber": "An international shipment needs an invoice number for customs.",
    "customs.contents": "Customs needs to know what the parcel contains (" + ", ".join(CUSTOMS_CONTENTS) + ").",
}
_LINE_MESSAGES = {
    "customsValue": "customs needs a declared value.",
    "hsCode": "customs needs an HS code or a description of the goods.",
    "weightGrams": "no weight, and the account has no default line weight.",
}
