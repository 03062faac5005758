"""What an order needs before a label can be bought: the merchant sees exactly these names on a draft."""

from __future__ import annotations

import pytest

from domain.model import Address, OrderLine
from domain.validation import missing_fields
from tests.support.builders import address as complete_address


def lines() -> list[OrderLine]:
    return [OrderLine(channel_line_id="cl-1", title="Tea towel", quantity=1, id=1)]


def test_complete_address_and_lines_miss_nothing() -> None:
    assert missing_fields(complete_address(), lines()) == []


def test_no_address_at_all_is_named_once() -> None:
    assert missing_fields(None, lines()) == ["shippingAddress"]


@pytest.mark.parametrize(
    ("attr", "name"),
    [
        ("name", "shippingAddress.name"),
        ("line1", "shippingAddress.line1"),
        ("city", "shippingAddress.city"),
        ("postal_code", "shippingAddress.postalCode"),
        ("country_code", "shippingAddress.countryCode"),
    ],
)
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_each_missing_field_is_named(attr: str, name: str, empty: str | None) -> None:
    assert missing_fields(complete_address(**{attr: empty}), lines()) == [name]


def test_several_missing_fields_come_in_a_stable_order() -> None:
    address = Address(country_code="US")
    assert missing_fields(address, []) == [
        "shippingAddress.name",
        "shippingAddress.line1",
        "shippingAddress.city",
        "shippingAddress.postalCode",
        "shippingAddress.region",
        "lines",
    ]


@pytest.mark.parametrize("country", ["US", "CA", "us", "ca"])
@pytest.mark.parametrize("empty", [None, "", " "])
def test_region_is_required_for_us_and_canada(country: str, empty: str | None) -> None:
    address = complete_address(country_code=country, region=empty)
    assert missing_fields(address, lines()) == ["shippingAddress.region"]


def test_region_is_not_required_for_great_britain() -> None:
    address = complete_address(country_code="GB", region=None, city="London", postal_code="SW1A 1AA")
    assert missing_fields(address, lines()) == []


def test_an_order_without_lines_misses_its_lines() -> None:
    assert missing_fields(complete_address(), []) == ["lines"]
