"""What an order needs before a label can be bought; missing items make it a DRAFT."""

from __future__ import annotations

from domain.model import Address, OrderLine

#: Countries whose carriers refuse an address without a state or province.
REGION_REQUIRED = frozenset({"US", "CA", "AU", "MX", "BR", "IN"})


def missing_fields(address: Address | None, lines: list[OrderLine]) -> list[str]:
    """Dotted names of what is missing, in a stable order, for the merchant to fill in."""
    missing: list[str] = []
    if address is None:
        missing.append("shippingAddress")
    else:
        for attr, name in (
            ("name", "shippingAddress.name"),
            ("line1", "shippingAddress.line1"),
            ("city", "shippingAddress.city"),
            ("postal_code", "shippingAddress.postalCode"),
            ("country_code", "shippingAddress.countryCode"),
        ):
            if not (getattr(address, attr) or "").strip():
                missing.append(name)
        if (address.country_code or "").upper() in REGION_REQUIRED and not (address.region or "").strip():
            missing.append("shippingAddress.region")
    if not lines:
        missing.append("lines")
    return missing
