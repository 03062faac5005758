"""Per-country address rules: required fields and postal code formats, with the field each problem names."""

from __future__ import annotations

import pytest

from domain import addresses
from domain.model import Address


def full(country: str, postal: str | None, region: str | None = None) -> Address:
    return Address(name="Ada", line1="1 Main St", city="Town", region=region, postal_code=postal, country_code=country)


@pytest.mark.parametrize(
    ("country", "postal", "region"),
    [
        ("US", "94043", "CA"),
        ("US", "94043-1351", "CA"),
        ("CA", "H3B 1A2", "QC"),
        ("CA", "h3b1a2", "QC"),
        ("GB", "SW1A 1AA", None),
        ("GB", "m1 1ae", None),
        ("DE", "10119", None),
        ("FR", "75008", None),
        ("NL", "1012 AB", None),
        ("AU", "2000", "NSW"),
        ("IE", "D02 X285", None),
        ("ES", "28013", None),
        ("IT", "00184", None),
        ("JP", "100-0001", None),
        ("ZZ", "anything 12", None),  # unknown countries accept any non-empty value
        ("HK", None, None),  # no postal codes in Hong Kong
    ],
)
def test_valid_addresses_have_no_problems(country: str, postal: str | None, region: str | None) -> None:
    assert addresses.problems(full(country, postal, region)) == []


@pytest.mark.parametrize(
    ("country", "postal"),
    [("US", "9404"), ("US", "ABCDE"), ("CA", "12345"), ("GB", "12345"), ("DE", "1011"), ("FR", "750080"),
     ("NL", "1012"), ("AU", "20000"), ("IE", "12345"), ("ES", "99999"), ("IT", "0018"), ("JP", "1000")],
)  # fmt: skip
def test_a_malformed_postal_code_is_named_with_an_example(country: str, postal: str) -> None:
    region = "XX" if addresses.rule_for(country).region_required else None
    found = addresses.problems(full(country, postal, region))
    assert [attr for attr, _ in found] == ["postal_code"]
    assert postal in found[0][1] and "e.g." in found[0][1]


def test_unknown_countries_still_need_a_postal_code() -> None:
    assert [attr for attr, _ in addresses.problems(full("ZZ", "  "))] == ["postal_code"]


@pytest.mark.parametrize("country", ["US", "CA", "AU", "MX", "BR", "IN"])
def test_region_is_required_where_carriers_need_it(country: str) -> None:
    postal = {"US": "94043", "CA": "H3B 1A2", "AU": "2000", "MX": "06600", "BR": "01310-100", "IN": "110001"}
    found = addresses.problems(full(country, postal[country]))
    assert [attr for attr, _ in found] == ["region"]
    assert country in found[0][1]


def test_every_missing_field_is_reported_at_once() -> None:
    found = addresses.problems(Address(country_code="US"))
    assert [attr for attr, _ in found] == ["name", "line1", "city", "postal_code", "region"]


def test_a_country_code_must_be_two_letters() -> None:
    assert [attr for attr, _ in addresses.problems(full("Germany", "10119"))] == ["country_code"]


def test_a_bad_phone_is_named() -> None:
    address = full("DE", "10119")
    address.phone = "call me"
    assert [attr for attr, _ in addresses.problems(address)] == ["phone"]


def test_normalized_trims_and_upper_cases() -> None:
    address = addresses.normalized(Address(name=" Ada ", postal_code=" sw1a 1aa", country_code="gb", line2="  "))
    assert (address.name, address.postal_code, address.country_code, address.line2) == ("Ada", "SW1A 1AA", "GB", None)
