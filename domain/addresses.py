"""Per-country address rules: which fields a carrier needs and what a postal code looks like.

Pure data and functions. A country not listed accepts any non-empty postal code; a country
without postal codes (Hong Kong, the Emirates) needs none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from domain.model import Address


@dataclass(frozen=True)
class CountryRule:
    postal_pattern: str | None  # None: any non-empty value
    postal_example: str = ""
    region_required: bool = False
    postal_required: bool = True


COUNTRIES: dict[str, CountryRule] = {
    "US": CountryRule(r"\d{5}(-\d{4})?", "94043 or 94043-1351", region_required=True),
    "CA": CountryRule(
        r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d", "H3B 1A2", region_required=True
    ),
    "GB": CountryRule(r"GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "SW1A 1AA"),
    "DE": CountryRule(r"\d{5}", "10119"),
    "FR": CountryRule(r"\d{5}", "75008"),
    "NL": CountryRule(r"\d{4} ?[A-Z]{2}", "1012 AB"),
    "AU": CountryRule(r"\d{4}", "2000", region_required=True),
    "IE": CountryRule(r"([AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}", "D02 X285"),
    "ES": CountryRule(r"(0[1-9]|[1-4]\d|5[0-2])\d{3}", "28013"),
    "IT": CountryRule(r"\d{5}", "00184"),
    "JP": CountryRule(r"\d{3}-?\d{4}", "100-0001"),
    "BE": CountryRule(r"\d{4}", "1000"),
    "AT": CountryRule(r"\d{4}", "1010"),
    "CH": CountryRule(r"\d{4}", "8001"),
    "DK": CountryRule(r"\d{4}", "1050"),
    "SE": CountryRule(r"\d{3} ?\d{2}", "114 55"),
    "NO": CountryRule(r"\d{4}", "0150"),
    "PL": CountryRule(r"\d{2}-\d{3}", "00-950"),
    "PT": CountryRule(r"\d{4}-\d{3}", "1100-148"),
    "NZ": CountryRule(r"\d{4}", "6011"),
    "MX": CountryRule(r"\d{5}", "06600", region_required=True),
    "BR": CountryRule(r"\d{5}-?\d{3}", "01310-100", region_required=True),
    "IN": CountryRule(r"\d{6}", "110001", region_required=True),
    "HK": CountryRule(None, postal_required=False),
    "AE": CountryRule(None, postal_required=False),
}
ANY_COUNTRY = CountryRule(None)

#: Address attribute -> the field name clients see (GraphQL, missing fields, userErrors).
FIELD_NAMES = {
    "name": "name",
    "company": "company",
    "line1": "line1",
    "line2": "line2",
    "city": "city",
    "region": "region",
    "postal_code": "postalCode",
    "country_code": "countryCode",
    "phone": "phone",
}
ALWAYS_REQUIRED = ("name", "line1", "city")
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
PHONE = re.compile(r"\+?[0-9 ()./-]{6,25}")


def rule_for(country_code: str | None) -> CountryRule:
    return COUNTRIES.get((country_code or "").strip().upper(), ANY_COUNTRY)


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def missing(address: Address) -> list[str]:
    """Address attributes a carrier needs that are empty, in a stable order (name, line1, city, postal code,
    country, region)."""
    rule = rule_for(address.country_code)
    gaps = [attr for attr in ALWAYS_REQUIRED if blank(getattr(address, attr))]
    if rule.postal_required and blank(address.postal_code):
        gaps.append("postal_code")
    if blank(address.country_code):
        gaps.append("country_code")
    if rule.region_required and blank(address.region):
        gaps.append("region")
    return gaps


def normalized(address: Address) -> Address:
    """Trimmed, country code and postal code upper-cased, empty strings as None."""

    def clean(value: str | None) -> str | None:
        text = (value or "").strip()
        return text or None

    values = {attr: clean(getattr(address, attr)) for attr in FIELD_NAMES}
    for attr in ("country_code", "postal_code"):
        if values[attr]:
            values[attr] = str(values[attr]).upper()
    return replace(address, **values)


def problems(address: Address) -> list[tuple[str, str]]:
    """Everything wrong with an address a merchant typed: (attribute, message), empty when it can ship."""
    found: list[tuple[str, str]] = []
    country = (address.country_code or "").strip().upper()
    if country and not _COUNTRY_CODE.fullmatch(country):
        return [("country_code", f"'{address.country_code}' is not an ISO 3166-1 alpha-2 country code, e.g. GB")]
    where = country or "this country"
    for attr in missing(address):
        found.append((attr, f"{_label(attr)} is required for an address in {where}"))
    rule = rule_for(country)
    postal = (address.postal_code or "").strip().upper()
    if postal and rule.postal_pattern and not re.fullmatch(rule.postal_pattern, postal):
        found.append(
            (
                "postal_code",
                f"'{address.postal_code}' is not a valid postal code in {country}, e.g. {rule.postal_example}",
            )
        )
    if address.phone and address.phone.strip() and not PHONE.fullmatch(address.phone.strip()):
        found.append(("phone", f"'{address.phone}' is not a phone number"))
    return found


def _label(attr: str) -> str:
    return {
        "name": "The recipient's name",
        "line1": "The street address",
        "city": "The city",
        "postal_code": "The postal code",
        "country_code": "The country",
        "region": "The state or province",
    }.get(attr, attr)
