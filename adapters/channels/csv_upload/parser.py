"""Reads a merchant's CSV of order lines (docs/csv-import.md) into ChannelOrders, row errors and warnings.

Pure and deterministic: the same bytes always give equal results (no upload time in the orders), so
re-uploading a file changes nothing in Waybill. An order with any bad row is left out whole.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.model import Address, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
#: Order dates further ahead than this are typos (2052 for 2025); a day of slack covers time zones.
FUTURE_SLACK = timedelta(days=1)
MAX_QUANTITY = 100_000  # more is a typo (a SKU in the quantity column), not an order

REQUIRED_COLUMNS = ("order_number", "order_date", "title", "quantity")
#: Values that belong to the order: every row of one order must agree (blank means "same as above").
ORDER_COLUMNS = tuple(
    """order_number order_date updated_at status payment_status customer_name customer_email ship_name ship_company
    ship_line1 ship_line2 ship_city ship_region ship_postal_code ship_country ship_phone currency total""".split()
)
LINE_COLUMNS = ("line_id", "sku", "title", "quantity", "unit_price", "weight_grams")
COLUMNS = frozenset(ORDER_COLUMNS + LINE_COLUMNS)

STATUSES = {
    "unfulfilled": ChannelOrderStatus.AWAITING_FULFILLMENT,
    "pending": ChannelOrderStatus.PENDING_PAYMENT,
    "held": ChannelOrderStatus.ON_HOLD,
    "shipped": ChannelOrderStatus.FULFILLED,
    "cancelled": ChannelOrderStatus.CANCELLED,
    "refunded": ChannelOrderStatus.REFUNDED,
}
STATUS_ALIASES = {"canceled": "cancelled"}
PAYMENT_STATUSES = {"paid": PaymentStatus.PAID, "pending": PaymentStatus.PENDING, "refunded": PaymentStatus.REFUNDED}
#: Without a payment_status the order's status decides: a pending order is unpaid, a refunded one refunded.
DEFAULT_PAYMENT = {"pending": PaymentStatus.PENDING, "refunded": PaymentStatus.REFUNDED}

#: ISO 3166-1 alpha-2, the officially assigned codes, plus XK (Kosovo), which carriers accept.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
    BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS
    IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM
    MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS
    PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK
    TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK""".split()
)
COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}
#: ISO 4217 currencies in use (and a few recently replaced, for old files); no funds or metals.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
    CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
    HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL""".split()
)

#: Address attribute -> its column.
_ADDRESS_COLUMNS = {name: f"ship_{name}" for name in ("name", "company", "line1", "line2", "city", "region", "phone")}
_ADDRESS_COLUMNS |= {"postal_code": "ship_postal_code", "country_code": "ship_country"}
_INTEGER = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d+(\.\d+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


@dataclass(frozen=True)
class RowError:
    """One problem, where the merchant finds it: the file line (header = 1; 0 = the whole file) and column."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass(frozen=True)
class CsvResult:
    orders: list[ChannelOrder]
    errors: list[RowError]
    warnings: list[str]
    #: Order numbers left out because one of their rows is bad, in file order.
    rejected: list[str] = field(default_factory=list)


class _CellError(ValueError):
    """A bad value; the row and column are added where it is caught."""


class _FileError(ValueError):
    """The file as a whole cannot be read: nothing is imported."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class _Row:
    line: int
    values: dict[str, str] = field(default_factory=dict)  # known column -> trimmed text, blanks left out
    parsed: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    unnamed: bool = False  # has a value under a header cell left blank


@dataclass
class _Draft:
    """The rows of one order_number so far, and the order-level values its first rows set."""

    number: str
    rows: list[_Row] = field(default_factory=list)
    values: dict[str, tuple[Any, str, int]] = field(default_factory=dict)  # column -> (parsed, text, line)
    bad: bool = False


def parse_csv(
    data: bytes, *, now: datetime | None = None, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS
) -> CsvResult:
    """Every good order of the file, every bad cell by line and column; `now` only bounds dates in the future."""
    if len(data) > max_bytes:
        size, limit = _megabytes(len(data)), _megabytes(max_bytes)
        return _failed(0, f"The file is {size}; the limit is {limit}. Split it into smaller files.")
    try:
        text = _decode(data)
    except _FileError as exc:
        return _failed(exc.line, str(exc))
    if not text.strip():
        return _failed(1, "The file is empty: the first line must be a header row naming the columns.")
    delimiter = _delimiter(next(line for line in text.splitlines() if line.strip()))
    try:
        records = _records(text, delimiter, max_rows)
    except _FileError as exc:
        return _failed(exc.line, str(exc))
    if not records:
        return _failed(1, "The file is empty: the first line must be a header row naming the columns.")
    warnings: list[str] = []
    header_line, header = records[0]
    columns, header_errors = _columns(header, header_line, warnings)
    if header_errors:
        return CsvResult(orders=[], errors=header_errors, warnings=warnings)
    rows = [_row(line, cells, columns, delimiter == ";") for line, cells in records[1:]]
    if not rows:
        warnings.append("The file has a header row but no order rows: nothing to import.")
    _warn_unnamed(rows, warnings)
    return _build(rows, now or datetime.now(UTC), warnings)


def parse_document(doc: Any) -> list[ChannelOrder]:
    """`inspect-order` for CSV: the file's orders, or ValueError naming the first problems."""
    if isinstance(doc, str):
        doc = doc.encode("utf-8")
    if not isinstance(doc, bytes | bytearray):
        raise ValueError(f"expected the text of a CSV file, got {type(doc).__name__}")
    result = parse_csv(bytes(doc))
    if result.errors:
        shown = "; ".join(str(error) for error in result.errors[:5])
        more = f" (and {len(result.errors) - 5} more)" if len(result.errors) > 5 else ""
        raise ValueError(f"the CSV file has {len(result.errors)} problem(s): {shown}{more}")
    if not result.orders:
        raise ValueError("the CSV file has a header row but no order rows")
    return result.orders


# --- the file -----------------------------------------------------------------------------


def _failed(line: int, message: str) -> CsvResult:
    return CsvResult(orders=[], errors=[RowError(line, None, message)], warnings=[])


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _FileError(0, "The file is UTF-16 text; save it as 'CSV UTF-8 (comma delimited)' and upload it again.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _FileError(
            line,
            f"The file is not UTF-8 text (byte 0x{data[exc.start]:02X} on line {line}); "
            "save it as 'CSV UTF-8 (comma delimited)' and upload it again.",
        ) from None


def _delimiter(header_line: str) -> str:
    """`,` unless the header line is clearly `;`-separated (Excel in much of Europe)."""
    try:
        return csv.Sniffer().sniff(header_line, delimiters=",;").delimiter
    except csv.Error:
        return ";" if header_line.count(";") > header_line.count(",") else ","


def _records(text: str, delimiter: str, max_rows: int) -> list[tuple[int, list[str]]]:
    """(first file line, cells) of every non-blank record, the header first; a quoted value may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
            if len(records) > max_rows + 1:
                raise _FileError(0, f"The file has more than {max_rows:,} order rows; split it into smaller files.")
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _FileError(line, f"The file is not valid CSV from here on ({exc}); is a closing quote missing?") from None
    return records


def _columns(header: list[str], line: int, warnings: list[str]) -> tuple[list[str], list[RowError]]:
    """The normalised column name of each position, with errors for duplicate or missing required columns."""
    errors: list[RowError] = []
    columns: list[str] = []
    seen: set[str] = set()
    for cell in header:
        name = cell.strip().lower()
        if name in seen:
            errors.append(RowError(line, name, f"The column '{name}' appears twice in the header."))
        elif name and name not in COLUMNS:
            warnings.append(f"Column '{cell.strip()}' is not a Waybill column and was ignored.")
        if name:
            seen.add(name)
        columns.append(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            errors.append(RowError(line, name, f"The header has no '{name}' column, which is required."))
    return columns, errors


def _warn_unnamed(rows: list[_Row], warnings: list[str]) -> None:
    if any(row.unnamed for row in rows):
        warnings.append("Values in columns without a header name were ignored.")


# --- one row ------------------------------------------------------------------------------


def _row(line: int, cells: list[str], columns: list[str], decimal_comma: bool) -> _Row:
    row = _Row(line)
    for position, cell in enumerate(cells):
        value = cell.strip()
        if not value:
            continue
        if position >= len(columns):
            row.errors.append(
                RowError(line, None, f"The row has a value in column {position + 1}; the header names {len(columns)}.")
            )
            break
        name = columns[position]
        if name in COLUMNS:
            row.values[name] = value
        row.unnamed = row.unnamed or not name
    for name in REQUIRED_COLUMNS:
        if name != "order_date" and name not in row.values:  # an order's date may be on its first row only
            row.errors.append(RowError(line, name, f"{name} is required."))
    for name, text in row.values.items():
        try:
            row.parsed[name] = _cell(name, text, decimal_comma)
        except _CellError as exc:
            row.errors.append(RowError(line, name, str(exc)))
    return row


def _cell(name: str, text: str, decimal_comma: bool) -> Any:
    match name:
        case "order_date" | "updated_at":
            return _datetime(name, text)
        case "status":
            status = STATUS_ALIASES.get(text.lower(), text.lower())
            if status not in STATUSES:
                raise _CellError(f"status '{text}' is not one of {', '.join(STATUSES)}.")
            return status
        case "payment_status":
            if text.lower() not in PAYMENT_STATUSES:
                raise _CellError(f"payment_status '{text}' is not one of {', '.join(PAYMENT_STATUSES)}.")
            return text.lower()
        case "customer_email":
            if not _EMAIL.fullmatch(text):
                raise _CellError(f"customer_email '{text}' is not an email address.")
            return text
        case "ship_country":
            return _country(text)
        case "currency":
            if text.upper() not in CURRENCIES:
                raise _CellError(f"currency '{text}' is not an ISO 4217 code such as USD, EUR or GBP.")
            return text.upper()
        case "quantity" | "weight_grams":
            if not _INTEGER.fullmatch(text) or not (name != "quantity" or 1 <= int(text) <= MAX_QUANTITY):
                wanted = (
                    f"a whole number from 1 to {MAX_QUANTITY:,}" if name == "quantity" else "a whole number of grams"
                )
                raise _CellError(f"{name} '{text}' is not {wanted}.")
            return int(text)
        case "unit_price" | "total":
            return _decimal(name, text, decimal_comma)
        case _:
            return text


def _datetime(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _CellError(
            f"{name} '{text}' is not a date like 2025-03-01, 2025-03-01 14:30 or 2025-03-01T14:30:00+01:00."
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _country(text: str) -> str:
    code = text.upper()
    if code in COUNTRIES:
        return code
    hint = f" (did you mean {COUNTRY_HINTS[code]}?)" if code in COUNTRY_HINTS else ", such as US, GB or DE"
    raise _CellError(f"ship_country '{text}' is not a two-letter ISO 3166-1 country code{hint}.")


def _decimal(name: str, text: str, decimal_comma: bool) -> str:
    """The amount as written, with a decimal comma (semicolon files) turned into a point."""
    value = text.replace(",", ".") if decimal_comma and "." not in text and text.count(",") == 1 else text
    if not _DECIMAL.fullmatch(value):
        raise _CellError(f"{name} '{text}' is not an amount like 12.50 (no currency sign or thousands separator).")
    return value


# --- rows into orders ---------------------------------------------------------------------


def _build(rows: list[_Row], now: datetime, warnings: list[str]) -> CsvResult:
    errors: list[RowError] = []
    drafts: dict[str, _Draft] = {}
    for row in rows:
        errors.extend(row.errors)
        number = row.values.get("order_number")
        if number is None:
            continue
        draft = drafts.setdefault(number, _Draft(number))
        draft.rows.append(row)
        draft.bad = draft.bad or bool(row.errors)
        errors.extend(_merge(draft, row))
    orders: list[ChannelOrder] = []
    rejected: list[str] = []
    for draft in drafts.values():
        order_errors = _check(draft, now)
        errors.extend(order_errors)
        if draft.bad or order_errors:
            rejected.append(draft.number)
        else:
            orders.append(_order(draft))
    errors.sort(key=lambda error: error.line)
    return CsvResult(orders=orders, errors=errors, warnings=warnings, rejected=rejected)


def _merge(draft: _Draft, row: _Row) -> list[RowError]:
    """Order-level values of a later row must match the earlier ones; blanks inherit them."""
    errors: list[RowError] = []
    for name in ORDER_COLUMNS:
        if name not in row.parsed:
            continue
        value, text = row.parsed[name], row.values[name]
        earlier = draft.values.get(name)
        if earlier is None:
            draft.values[name] = (value, text, row.line)
        elif earlier[0] != value:
            draft.bad = True
            errors.append(
                RowError(
                    row.line,
                    name,
                    f"{name} '{text}' differs from '{earlier[1]}' on line {earlier[2]}; "
                    f"every row of order {draft.number} must agree (or leave it blank).",
                )
            )
    return errors


def _check(draft: _Draft, now: datetime) -> list[RowError]:
    """What only the whole order shows: a date somewhere, sane dates, distinct line ids."""
    first = draft.rows[0].line
    errors: list[RowError] = []
    order_date = draft.values.get("order_date")
    updated_at = draft.values.get("updated_at")
    if order_date is None:
        if not any(row.values.get("order_date") for row in draft.rows):  # a bad date is reported already
            errors.append(RowError(first, "order_date", f"order_date is required (order {draft.number})."))
    else:
        for name, (value, text, line) in draft.values.items():
            if name in ("order_date", "updated_at") and value > now + FUTURE_SLACK:
                errors.append(RowError(line, name, f"{name} '{text}' is in the future."))
        if updated_at is not None and updated_at[0] < order_date[0]:
            errors.append(RowError(updated_at[2], "updated_at", f"updated_at '{updated_at[1]}' is before order_date."))
    seen: dict[str, int] = {}
    for line_id, row in zip(_line_ids(draft), draft.rows, strict=True):
        if line_id in seen:
            errors.append(
                RowError(row.line, "line_id", f"line_id '{line_id}' is used on line {seen[line_id]} already.")
            )
        seen.setdefault(line_id, row.line)
    return errors


def _line_ids(draft: _Draft) -> list[str]:
    return [row.values.get("line_id") or f"{draft.number}-{position}" for position, row in enumerate(draft.rows, 1)]


def _order(draft: _Draft) -> ChannelOrder:
    value = {name: parsed for name, (parsed, _text, _line) in draft.values.items()}
    raw_status = value.get("status", "unfulfilled")
    shipped = raw_status == "shipped"
    lines = [
        OrderLine(
            channel_line_id=line_id,
            title=row.parsed["title"],
            quantity=row.parsed["quantity"],
            sku=row.parsed.get("sku"),
            quantity_shipped=row.parsed["quantity"] if shipped else 0,
            unit_price=row.parsed.get("unit_price"),
            grams=row.parsed.get("weight_grams"),
        )
        for line_id, row in zip(_line_ids(draft), draft.rows, strict=True)
    ]
    address = Address(**{attr: value.get(column) for attr, column in _ADDRESS_COLUMNS.items()})
    payment = value.get("payment_status")
    return ChannelOrder(
        external_id=draft.number,
        number=draft.number,
        channel_status=STATUSES[raw_status],
        payment_status=PAYMENT_STATUSES[payment] if payment else DEFAULT_PAYMENT.get(raw_status, PaymentStatus.PAID),
        lines=lines,
        shipping_address=address if any(column in value for column in _ADDRESS_COLUMNS.values()) else None,
        channel_updated_at=value.get("updated_at", value["order_date"]),
        channel_created_at=value["order_date"],
        raw_status=raw_status,
        customer_name=value.get("customer_name"),
        customer_email=value.get("customer_email"),
        currency=value.get("currency"),
        total=value.get("total"),
    )
