"""Sandbox labels must print: a 4x6 PDF and valid ZPL, both carrying a scannable tracking barcode."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from adapters.carriers.sandbox.labels import (
    PAGE_WIDTH,
    LabelData,
    barcode_for,
    render_pdf,
    render_zpl,
    zpl_field,
)
from domain.model import Address

TRACKING = "SBX0123456789012345"


def _label(name: str = "Ada Lovelace", **changes: object) -> LabelData:
    ship_to = Address(
        name=name,
        line1="12 Analytical Way",
        line2="Flat 3",
        city="London",
        postal_code="N1 9GU",
        country_code="GB",
    )
    ship_from = Address(
        name="Waybill Test Shop",
        line1="1 Warehouse Rd",
        city="Portland",
        region="OR",
        postal_code="97201",
        country_code="US",
    )
    fields: dict[str, object] = {
        "tracking_number": TRACKING,
        "service_name": "Sandbox Ground",
        "ship_from": ship_from,
        "ship_to": ship_to,
        "weight_grams": 1250,
        "created_at": datetime(2025, 3, 4, 12, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return LabelData(**fields)  # type: ignore[arg-type]


def _pdf_strings(pdf: bytes) -> str:
    """The text shown by Tj operators, unescaped enough for ASCII assertions."""
    return " ".join(match.decode("latin-1") for match in re.findall(rb"\((.*?)(?<!\\)\) Tj", pdf))


# --- PDF ---------------------------------------------------------------------------------


def test_pdf_is_a_single_4x6_inch_page() -> None:
    pdf = render_pdf(_label())
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert re.findall(rb"/MediaBox \[ ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) \]", pdf) == [(b"0", b"0", b"288", b"432")]
    assert len(re.findall(rb"/Type /Page(?![s\w])", pdf)) == 1


def test_pdf_prints_addresses_service_weight_tracking_number_and_sandbox_warning() -> None:
    text = _pdf_strings(render_pdf(_label()))
    for expected in (
        "Ada Lovelace",
        "12 Analytical Way",
        "London, N1 9GU",
        "GB",
        "Waybill Test Shop",
        "Portland, OR 97201",
        "SANDBOX GROUND",
        "1.25 kg",
        TRACKING,
        "NOT A REAL LABEL",
    ):
        assert expected in text, expected


def test_pdf_is_reproducible_for_the_same_label() -> None:
    assert render_pdf(_label()) == render_pdf(_label())
    assert render_pdf(_label()) != render_pdf(_label(tracking_number="SBX9999999999999999"))


def test_pdf_survives_text_the_standard_fonts_cannot_show() -> None:
    pdf = render_pdf(_label(name="Zoë 東京 ^~ " + "very long name " * 10))
    assert pdf.startswith(b"%PDF-")
    assert "..." in _pdf_strings(pdf)  # the long line was cut to fit, not run off the page


def test_barcode_encodes_the_tracking_number_and_fits_the_label() -> None:
    barcode = barcode_for(TRACKING)
    assert barcode.value == TRACKING
    barcode.validate()
    assert barcode.valid
    assert barcode.validated == TRACKING
    assert PAGE_WIDTH * 0.6 < barcode.width <= PAGE_WIDTH - 28  # big enough to scan, inside the margins
    assert barcode.barWidth >= 0.0075 * 72  # never below the Code 128 minimum X-dimension


# --- ZPL ---------------------------------------------------------------------------------


def _fields(zpl: str) -> list[str]:
    return re.findall(r"\^FD(.*?)\^FS", zpl, flags=re.S)


def test_zpl_is_one_4x6_label_with_a_code128_barcode_of_the_tracking_number() -> None:
    zpl = render_zpl(_label()).decode("utf-8")
    assert zpl.startswith("^XA")
    assert zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == zpl.count("^XZ") == 1
    assert "^PW812" in zpl and "^LL1218" in zpl
    barcode = re.search(r"\^BC[^\^]*\^FD([^\^]*)\^FS", zpl)
    assert barcode is not None and barcode.group(1) == TRACKING
    assert f"^FD{TRACKING}^FS" in zpl
    fields = _fields(zpl)
    assert "Ada Lovelace" in fields
    assert "London, N1 9GU" in fields
    assert "SANDBOX GROUND" in fields


def _unhex(field: str) -> str:
    return re.sub(r"_([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), field)


def test_zpl_name_with_control_characters_stays_inside_its_field() -> None:
    name = "Evil ^XZ~JA Name_1\r\n"
    zpl = render_zpl(_label(name=name)).decode("utf-8")
    assert zpl.count("^XZ") == 1 and zpl.rstrip().endswith("^XZ")
    assert "~JA" not in zpl  # a raw tilde command would cancel the print job
    every_fd = zpl.count("^FD")
    assert every_fd == zpl.count("^FS") - zpl.count("^GB")  # every field is closed, none split
    name_field = next(field for field in _fields(zpl) if "Evil" in field)
    assert "^" not in name_field and "~" not in name_field
    assert _unhex(name_field) == "Evil ^XZ~JA Name_1"


def test_zpl_field_escaping() -> None:
    assert zpl_field("plain text") == "plain text"
    assert zpl_field("a^b~c_d") == "a_5Eb_7Ec_5Fd"
    assert zpl_field("tab\there\x00") == "tabhere"
    assert zpl_field("Zoë") == "Zoë"  # UTF-8 is fine under ^CI28
