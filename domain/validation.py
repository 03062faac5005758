"""What an order's address and lines need before a label can be bought; missing items make it a DRAFT.

The per-country rules live in `domain.addresses`; the account's own rules (customs, weights) in
`domain.drafts`, which builds on this.
"""

from __future__ import annotations

from domain import addresses
from domain.model import Address, OrderLine

#: Countries whose carriers refuse an address without a state or province.
REGION_REQUIRED = frozenset(code for code, rule in addresses.COUNTRIES.items() if rule.region_required)


def missing_fields(address: Address | None, lines: list[OrderLine]) -> list[str]:
    """Dotted names of what is missing, in a stable order, for the merchant to fill in."""
    missing: list[str] = []
    if address is None:
        missing.append("shippingAddress")
    else:
        missing.extend(f"shippingAddress.{addresses.FIELD_NAMES[attr]}" for attr in addresses.missing(address))
    if not lines:
        missing.append("lines")
    return missing
