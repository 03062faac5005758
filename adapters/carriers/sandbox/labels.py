"""Renders sandbox shipping labels as a 4x6 inch PDF and as ZPL II, so test orders print like real ones.

Pure functions: no I/O, no clock. The fake carrier serves what these return.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from reportlab.graphics.barcode.code128 import Code128
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from domain.model import Address

PAGE_WIDTH = 288.0  # 4 in at 72 pt/in
PAGE_HEIGHT = 432.0  # 6 in
MARGIN = 14.0
BANNER = "SANDBOX \u2014 NOT A REAL LABEL"

ZPL_DOTS_WIDE = 812  # 4 in at 203 dpi
ZPL_DOTS_HIGH = 1218  # 6 in at 203 dpi


@dataclass(frozen=True)
class LabelData:
    tracking_number: str
    service_name: str
    ship_from: Address
    ship_to: Address
    weight_grams: int
    created_at: datetime


def address_lines(address: Address) -> list[str]:
    """The address as printed, top to bottom, skipping empty parts."""
    locality = " ".join(part for part in (address.region, address.postal_code) if part)
    city_line = ", ".join(part for part in (address.city, locality) if part)
    lines = [address.name, address.company, address.line1, address.line2, city_line, address.country_code]
    return [line.strip() for line in lines if line and line.strip()]


def format_weight(weight_grams: int) -> str:
    if weight_grams < 1000:
        return f"{weight_grams} g"
    return f"{weight_grams / 1000:.2f} kg"


# --- PDF ---------------------------------------------------------------------------------


def barcode_for(tracking_number: str, max_width: float = PAGE_WIDTH - 2 * MARGIN, height: float = 90.0) -> Code128:
    """A Code 128 barcode of the tracking number, bars as wide as fit in `max_width` (capped for scanners)."""
    modules = Code128(tracking_number, barWidth=1.0, quiet=0).width
    bar_width = min(max_width / modules, 3.0)
    return Code128(tracking_number, barWidth=bar_width, barHeight=height, quiet=0)


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Truncates with '...' so long address lines never run off the label."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "...", font, size) > width:
        text = text[:-1]
    return text + "..."


def _text_block(canvas: Canvas, title: str, lines: list[str], top: float, size: float) -> float:
    """Draws a titled block of lines from `top` downwards; returns the y below it."""
    width = PAGE_WIDTH - 2 * MARGIN
    canvas.setFont("Helvetica-Bold", 7)
    canvas.drawString(MARGIN, top, title)
    y = top - size - 3
    for index, line in enumerate(lines):
        font = "Helvetica-Bold" if index == 0 else "Helvetica"
        canvas.setFont(font, size)
        canvas.drawString(MARGIN, y, _fit(line, font, size, width))
        y -= size + 2
    return y


def render_pdf(label: LabelData) -> bytes:
    """A one-page 4x6 PDF; uncompressed and invariant so it is reproducible and searchable in tests."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), pageCompression=0, invariant=1)
    canvas.setTitle(f"Sandbox label {label.tracking_number}")
    canvas.setAuthor("Waybill sandbox carrier")
    inner = PAGE_WIDTH - 2 * MARGIN

    # Banner across the top: nobody should mistake this for postage.
    canvas.rect(0, PAGE_HEIGHT - 26, PAGE_WIDTH, 26, stroke=0, fill=1)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.setFont("Helvetica-Bold", 13)
    canvas.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT - 18, BANNER)
    canvas.setFillColorRGB(0, 0, 0)

    y = _text_block(canvas, "FROM", address_lines(label.ship_from), PAGE_HEIGHT - 40, 8)

    # Service and weight, boxed, the way carriers print the service band.
    band_top = y - 2
    canvas.line(MARGIN, band_top, PAGE_WIDTH - MARGIN, band_top)
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawString(MARGIN, band_top - 20, _fit(label.service_name.upper(), "Helvetica-Bold", 16, inner * 0.62))
    canvas.setFont("Helvetica", 10)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, band_top - 14, format_weight(label.weight_grams))
    canvas.setFont("Helvetica", 7)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, band_top - 24, label.created_at.strftime("%Y-%m-%d"))
    canvas.line(MARGIN, band_top - 30, PAGE_WIDTH - MARGIN, band_top - 30)

    _text_block(canvas, "SHIP TO", address_lines(label.ship_to), band_top - 44, 12)

    barcode = barcode_for(label.tracking_number)
    barcode_y = 62.0
    canvas.line(MARGIN, barcode_y + barcode.height + 12, PAGE_WIDTH - MARGIN, barcode_y + barcode.height + 12)
    barcode.drawOn(canvas, (PAGE_WIDTH - barcode.width) / 2, barcode_y)
    canvas.setFont("Courier-Bold", 13)
    canvas.drawCentredString(PAGE_WIDTH / 2, barcode_y - 15, label.tracking_number)

    canvas.setFont("Helvetica-Bold", 8)
    canvas.drawCentredString(PAGE_WIDTH / 2, 16, BANNER)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- ZPL ---------------------------------------------------------------------------------


def zpl_field(text: str) -> str:
    """Field data safe inside ^FH_^FD...^FS: ^ ~ _ become hex escapes, control characters go.

    ^ and ~ would start a new command mid-field; _ is the ^FH escape character itself.
    Non-ASCII text stays UTF-8 (the label selects it with ^CI28).
    """
    out: list[str] = []
    for char in text:
        if char in "^~_":
            out.append(f"_{ord(char):02X}")
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            continue
        else:
            out.append(char)
    return "".join(out)


def _zpl_text(x: int, y: int, height: int, text: str, max_chars: int) -> str:
    if len(text) > max_chars:
        text = text[: max_chars - 3] + "..."
    return f"^FO{x},{y}^A0N,{height},{height}^FH_^FD{zpl_field(text)}^FS"


def render_zpl(label: LabelData) -> bytes:
    """ZPL II for a 4x6 label at 203 dpi, mirroring the PDF layout."""
    left = 40
    commands = [
        "^XA",
        "^CI28",  # UTF-8 field data
        f"^PW{ZPL_DOTS_WIDE}",
        f"^LL{ZPL_DOTS_HIGH}",
        "^LH0,0",
        # Reverse-printed banner: black box, white text.
        f"^FO0,0^GB{ZPL_DOTS_WIDE},70,70^FS",
        f"^FO0,18^FR^A0N,40,40^FB{ZPL_DOTS_WIDE},1,0,C^FH_^FD{zpl_field(BANNER)}^FS",
        _zpl_text(left, 90, 22, "FROM", 60),
    ]
    y = 118
    for line in address_lines(label.ship_from):
        commands.append(_zpl_text(left, y, 24, line, 56))
        y += 28
    y += 10
    commands.append(f"^FO{left},{y}^GB{ZPL_DOTS_WIDE - 2 * left},3,3^FS")
    commands.append(_zpl_text(left, y + 20, 48, label.service_name.upper(), 24))
    commands.append(_zpl_text(560, y + 24, 32, format_weight(label.weight_grams), 12))
    commands.append(_zpl_text(560, y + 60, 20, label.created_at.strftime("%Y-%m-%d"), 12))
    y += 100
    commands.append(f"^FO{left},{y}^GB{ZPL_DOTS_WIDE - 2 * left},3,3^FS")
    commands.append(_zpl_text(left, y + 20, 24, "SHIP TO", 60))
    y += 52
    for index, line in enumerate(address_lines(label.ship_to)):
        commands.append(_zpl_text(left, y, 40 if index == 0 else 34, line, 36))
        y += 44
    commands += [
        f"^FO{left},860^GB{ZPL_DOTS_WIDE - 2 * left},3,3^FS",
        # Code 128 (~500 dots wide, centred); mode A switches to subset C to pack the digits.
        f"^FO155,900^BY3^BCN,200,Y,N,N,A^FD{zpl_field(label.tracking_number)}^FS",
        f"^FO0,1170^A0N,26,26^FB{ZPL_DOTS_WIDE},1,0,C^FH_^FD{zpl_field(BANNER)}^FS",
        "^XZ",
    ]
    return ("\n".join(commands) + "\n").encode("utf-8")
