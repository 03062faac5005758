"""Small domain builders shared by the unit tests."""

from __future__ import annotations

from dataclasses import replace

from domain.model import Address


def address(**overrides: str | None) -> Address:
    """A complete US address; override any field (None or "" to make it missing)."""
    base = Address(
        name="Ada Lovelace",
        line1="12 Analytical Row",
        city="Springfield",
        region="IL",
        postal_code="62701",
        country_code="US",
    )
    return replace(base, **overrides)
