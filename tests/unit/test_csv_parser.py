"""The CSV upload parser on merchant files (tests/fixtures/csv, the docs example), plus the no-op client and SPEC.

The fixtures are written to the format of docs/csv-import.md: orders.csv is the docs' example, orders_semicolon.csv
is what Excel in Germany saves (BOM, `;`, CRLF, decimal commas), orders_bad_rows.csv has one bad cell per order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.channels.base import MemoryCredentialStore
from adapters.channels.csv_upload import SPEC, build_client
from adapters.channels.csv_upload.parser import MAX_BYTES, CsvResult, RowError, parse_csv, parse_document
from domain.lifecycle import content_hash, import_order
from domain.model import (
    Address,
    ChannelKind,
    ChannelOrder,
    ChannelOrderStatus,
    OrderLine,
    OrderStatus,
    PaymentStatus,
)
from domain.ports import Tracking

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "csv"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
HEADER = "order_number,order_date,title,quantity"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(text: str | bytes, **options: int) -> CsvResult:
    data = text.encode() if isinstance(text, str) else text
    return parse_csv(data, now=NOW, **options)


def where(result: CsvResult) -> list[tuple[int, str | None]]:
    return [(error.line, error.column) for error in result.errors]


def one_order(text: str) -> ChannelOrder:
    result = parse(text)
    assert result.errors == []
    assert len(result.orders) == 1
    return result.orders[0]


ADA = ChannelOrder(
    external_id="1001",
    number="1001",
    channel_status=ChannelOrderStatus.AWAITING_FULFILLMENT,
    payment_status=PaymentStatus.PAID,
    lines=[
        OrderLine("1001-1", "Mug, blue", 2, sku="MUG-BLUE", unit_price="12.50", grams=350),
        OrderLine("1001-2", "Earl Grey tea 100g", 1, sku="TEA-EARL", unit_price="6.00", grams=120),
    ],
    shipping_address=Address(
        name="Ada Lovelace",
        line1="12 Analytical Way",
        line2="Flat 2",
        city="London",
        postal_code="N1 9GU",
        country_code="GB",
        phone="+44 20 7946 0958",
    ),
    channel_updated_at=datetime(2025, 3, 1, 14, 30, tzinfo=UTC),
    channel_created_at=datetime(2025, 3, 1, 14, 30, tzinfo=UTC),
    raw_status="unfulfilled",
    customer_name="Ada Lovelace",
    customer_email="ada@example.com",
    currency="GBP",
)
GRACE = ChannelOrder(
    external_id="1002",
    number="1002",
    channel_status=ChannelOrderStatus.FULFILLED,
    payment_status=PaymentStatus.PAID,
    lines=[
        OrderLine("1002-1", 'Poster "Bugs" A2', 1, sku="POSTER-A2", quantity_shipped=1, unit_price="18.00", grams=200)
    ],
    shipping_address=Address(
        name="Grace Hopper",
        company="Navy Yard",
        line1="1 Cobol Street",
        city="Arlington",
        region="VA",
        postal_code="22202",
        country_code="US",
    ),
    channel_updated_at=datetime(2025, 3, 2, 14, 15, tzinfo=UTC),  # 09:15 -05:00
    channel_created_at=datetime(2025, 3, 2, 14, 15, tzinfo=UTC),
    raw_status="shipped",
    customer_name="Grace Hopper",
    customer_email="grace@example.org",
    currency="USD",
)
ALAN = ChannelOrder(
    external_id="1003",
    number="1003",
    channel_status=ChannelOrderStatus.PENDING_PAYMENT,
    payment_status=PaymentStatus.PENDING,
    lines=[OrderLine("1003-1", "Computable Numbers", 1, sku="BOOK-01", unit_price="30")],
    shipping_address=None,
    channel_updated_at=datetime(2025, 3, 3, tzinfo=UTC),
    channel_created_at=datetime(2025, 3, 3, tzinfo=UTC),
    raw_status="pending",
    customer_name="Alan Turing",
    currency="EUR",
)


# --- good files ---------------------------------------------------------------------------


def test_the_example_file_gives_exactly_these_orders() -> None:
    result = parse(fixture("orders.csv"))

    assert result == CsvResult(orders=[ADA, GRACE, ALAN], errors=[], warnings=[], rejected=[])


def test_the_docs_show_the_example_file_verbatim() -> None:
    docs = (ROOT / "docs" / "csv-import.md").read_text(encoding="utf-8")
    example = re.search(r"```csv\n(.*?)```", docs, re.DOTALL)

    assert example is not None
    assert example.group(1) == fixture("orders.csv").decode()


def test_a_european_excel_file_with_bom_semicolons_crlf_and_decimal_commas() -> None:
    result = parse(fixture("orders_semicolon.csv"))

    assert result.errors == [] and result.warnings == []
    lena, jan = result.orders
    assert lena.lines == [
        OrderLine("A", "Kaffeebecher", 1, unit_price="9.90"),
        OrderLine("B", "Untersetzer", 4, unit_price="2.50"),
    ]
    assert lena.shipping_address == Address(
        name="Lena Müller", line1="Hauptstraße 5", city="Berlin", postal_code="10115", country_code="DE"
    )
    assert lena.channel_created_at == datetime(2025, 4, 1, 10, 0, tzinfo=UTC)
    assert jan.external_id == "2002"
    assert jan.lines == [OrderLine("2002-1", "Teekanne", 1, unit_price="24.00")]  # an empty line_id gets the default
    assert jan.currency == "EUR"


def test_a_byte_order_mark_changes_nothing() -> None:
    assert parse(b"\xef\xbb\xbf" + fixture("orders.csv")) == parse(fixture("orders.csv"))


def test_the_same_bytes_give_equal_orders_whenever_they_are_uploaded() -> None:
    first = parse_csv(fixture("orders.csv"), now=NOW)
    later = parse_csv(fixture("orders.csv"), now=datetime(2031, 1, 1, tzinfo=UTC))

    assert first == later
    assert [content_hash(order) for order in first.orders] == [content_hash(order) for order in later.orders]


def test_rows_of_one_order_need_not_be_adjacent_and_keep_their_positions_as_line_ids() -> None:
    text = f"{HEADER},sku\n7,2025-01-01,Mug,1,M\n8,2025-01-02,Cup,1,C\n7,,Plate,2,P\n"

    seven, eight = parse(text).orders

    assert [(line.channel_line_id, line.sku, line.quantity) for line in seven.lines] == [
        ("7-1", "M", 1),
        ("7-2", "P", 2),
    ]
    assert [line.channel_line_id for line in eight.lines] == ["8-1"]


def test_header_names_are_case_insensitive_and_trimmed_and_columns_in_any_order() -> None:
    order = one_order(" QUANTITY ,Title, Order_Date,ORDER_NUMBER \n3,Mug,2025-01-01,55\n")

    assert (order.number, order.lines) == ("55", [OrderLine("55-1", "Mug", 3)])


def test_blank_lines_and_spaces_around_values_are_ignored() -> None:
    order = one_order(f"\n{HEADER}\n\n  9 , 2025-01-01 ,  Mug  , 2 \n,,,\n")

    assert (order.number, order.lines) == ("9", [OrderLine("9-1", "Mug", 2)])


def test_an_order_without_address_is_imported_and_becomes_a_draft() -> None:
    order = one_order(f"{HEADER}\n9,2025-01-01,Mug,1\n")

    assert order.shipping_address is None
    assert import_order(1, 1, order).status is OrderStatus.DRAFT


def test_explicit_line_ids_are_kept_and_a_repeated_one_is_an_error() -> None:
    good = one_order(f"{HEADER},line_id\n9,2025-01-01,Mug,1,sku-9-a\n9,,Cup,1,\n")
    bad = parse(f"{HEADER},line_id\n9,2025-01-01,Mug,1,9-2\n9,,Cup,1,\n")  # the second row's default is 9-2 too

    assert [line.channel_line_id for line in good.lines] == ["sku-9-a", "9-2"]
    assert bad.orders == [] and where(bad) == [(3, "line_id")]
    assert "used on line 2" in bad.errors[0].message


# --- statuses and dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "channel_status", "payment_status", "raw"),
    [
        ("", ChannelOrderStatus.AWAITING_FULFILLMENT, PaymentStatus.PAID, "unfulfilled"),
        ("unfulfilled", ChannelOrderStatus.AWAITING_FULFILLMENT, PaymentStatus.PAID, "unfulfilled"),
        ("pending", ChannelOrderStatus.PENDING_PAYMENT, PaymentStatus.PENDING, "pending"),
        ("held", ChannelOrderStatus.ON_HOLD, PaymentStatus.PAID, "held"),
        ("shipped", ChannelOrderStatus.FULFILLED, PaymentStatus.PAID, "shipped"),
        ("cancelled", ChannelOrderStatus.CANCELLED, PaymentStatus.PAID, "cancelled"),
        ("Canceled", ChannelOrderStatus.CANCELLED, PaymentStatus.PAID, "cancelled"),
        ("REFUNDED", ChannelOrderStatus.REFUNDED, PaymentStatus.REFUNDED, "refunded"),
    ],
)
def test_every_documented_status(
    status: str, channel_status: ChannelOrderStatus, payment_status: PaymentStatus, raw: str
) -> None:
    order = one_order(f"{HEADER},status\n9,2025-01-01,Mug,2,{status}\n")

    assert (order.channel_status, order.payment_status, order.raw_status) == (channel_status, payment_status, raw)
    assert order.lines[0].quantity_shipped == (2 if raw == "shipped" else 0)


@pytest.mark.parametrize(
    ("payment", "expected"),
    [("paid", PaymentStatus.PAID), ("Pending", PaymentStatus.PENDING), ("refunded", PaymentStatus.REFUNDED)],
)
def test_every_documented_payment_status_wins_over_the_default(payment: str, expected: PaymentStatus) -> None:
    order = one_order(f"{HEADER},status,payment_status\n9,2025-01-01,Mug,1,pending,{payment}\n")

    assert order.payment_status is expected


@pytest.mark.parametrize(("column", "value"), [("status", "done"), ("payment_status", "partially_paid")])
def test_an_undocumented_status_is_an_error_naming_the_choices(column: str, value: str) -> None:
    result = parse(f"{HEADER},{column}\n9,2025-01-01,Mug,1,{value}\n")

    assert where(result) == [(2, column)]
    assert f"'{value}' is not one of" in result.errors[0].message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01 14:30", datetime(2025, 3, 1, 14, 30, tzinfo=UTC)),
        ("2025-03-01T14:30:15", datetime(2025, 3, 1, 14, 30, 15, tzinfo=UTC)),
        ("2025-03-01T14:30:00Z", datetime(2025, 3, 1, 14, 30, tzinfo=UTC)),
        ("2025-03-01T14:30:00+01:00", datetime(2025, 3, 1, 13, 30, tzinfo=UTC)),
    ],
)
def test_order_dates_in_iso_forms_become_aware_utc(text: str, expected: datetime) -> None:
    order = one_order(f"{HEADER}\n9,{text},Mug,1\n")

    assert order.channel_created_at == order.channel_updated_at == expected
    assert order.channel_created_at.tzinfo is UTC


def test_an_updated_at_column_moves_the_update_time_but_not_the_order_date() -> None:
    order = one_order(f"{HEADER},updated_at\n9,2025-01-01,Mug,1,2025-01-05 08:00\n9,,Cup,1,\n")

    assert order.channel_created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert order.channel_updated_at == datetime(2025, 1, 5, 8, 0, tzinfo=UTC)


def test_impossible_dates_are_errors() -> None:
    result = parse(
        f"{HEADER},updated_at\n1,2025-01-05,Mug,1,2025-01-01\n2,2025-06-03,Cup,1,\n3,2025-06-01 20:00,Pen,1,\n"
    )

    assert where(result) == [(2, "updated_at"), (3, "order_date")]
    assert "before order_date" in result.errors[0].message
    assert "in the future" in result.errors[1].message
    assert [order.number for order in result.orders] == ["3"]  # within a day of `now`: time zones


# --- bad rows -----------------------------------------------------------------------------


def test_bad_rows_are_reported_by_line_and_column_and_good_orders_survive() -> None:
    result = parse(fixture("orders_bad_rows.csv"))

    assert where(result) == [
        (3, "title"),  # missing required value
        (4, "quantity"),  # "two"
        (5, "order_date"),  # 05/04/2025
        (6, "ship_country"),  # France
        (7, "customer_email"),  # not-an-email
        (10, "quantity"),  # 0, on the second line of order 3008
        (12, "order_date"),  # order 3009's second row disagrees
        (12, "ship_line1"),
    ]
    assert [order.number for order in result.orders] == ["3001", "3007"]
    assert result.rejected == ["3002", "3003", "3004", "3005", "3006", "3008", "3009"]
    assert result.warnings == ["Column 'gift_note' is not a Waybill column and was ignored."]
    assert str(result.errors[1]) == "line 4, quantity: quantity 'two' is not a whole number from 1 to 100,000."
    assert "'France' is not a two-letter ISO 3166-1 country code" in result.errors[3].message


def test_conflicting_order_values_are_an_error_on_the_later_row_naming_the_column() -> None:
    result = parse(
        f"{HEADER},ship_city,ship_line1\n"
        "9,2025-01-01,Mug,1,Leeds,1 High St\n"
        "9,2025-01-01T00:00:00Z,Cup,1,,1 High St\n"  # the same date written otherwise, a blank city: both fine
        "9,,Pen,1,York,\n"
    )

    assert result.orders == [] and result.rejected == ["9"]
    assert result.errors == [
        RowError(
            4,
            "ship_city",
            "ship_city 'York' differs from 'Leeds' on line 2; every row of order 9 must agree (or leave it blank).",
        )
    ]


def test_a_missing_order_date_is_reported_on_the_orders_first_row() -> None:
    result = parse(f"{HEADER}\n9,,Mug,1\n9,,Cup,1\n10,2025-01-01,Pen,1\n")

    assert where(result) == [(2, "order_date")]
    assert [order.number for order in result.orders] == ["10"]


def test_a_row_without_order_number_is_reported_and_others_are_imported() -> None:
    result = parse(f"{HEADER}\n,2025-01-01,Mug,1\n10,2025-01-01,Pen,1\n")

    assert where(result) == [(2, "order_number")]
    assert [order.number for order in result.orders] == ["10"]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("quantity", "1.5", "quantity '1.5' is not a whole number"),
        ("quantity", "1_000", "quantity '1_000' is not a whole number"),
        ("quantity", "100001", "quantity '100001' is not a whole number from 1 to 100,000"),
        ("unit_price", "$12.00", "unit_price '$12.00' is not an amount like 12.50"),
        ("unit_price", '"12,50"', "unit_price '12,50' is not an amount"),  # a decimal comma only in `;` files
        ("weight_grams", "0.3kg", "weight_grams '0.3kg' is not a whole number of grams"),
        ("currency", "EURO", "currency 'EURO' is not an ISO 4217 code"),
        ("ship_country", "UK", "(did you mean GB?)"),
        ("customer_email", "ada@localhost", "customer_email 'ada@localhost' is not an email address"),
    ],
)
def test_bad_values_say_what_is_wrong(column: str, value: str, message: str) -> None:
    text = f"order_number,order_date,title,{column}" + (",quantity" if column != "quantity" else "")
    result = parse(f"{text}\n9,2025-01-01,Mug,{value}" + (",1" if column != "quantity" else "") + "\n")

    assert where(result) == [(2, column)]
    assert message in result.errors[0].message


def test_lowercase_codes_are_accepted_and_normalised() -> None:
    order = one_order(f"{HEADER},ship_country,currency\n9,2025-01-01,Mug,1,de,eur\n")

    assert (order.shipping_address, order.currency) == (Address(country_code="DE"), "EUR")


def test_a_value_beyond_the_headers_columns_is_an_error_but_trailing_empty_cells_are_not() -> None:
    result = parse(f"{HEADER}\n9,2025-01-01,Mug,1,,\n10,2025-01-01,Pen,1,oops\n")

    assert where(result) == [(3, None)]
    assert [order.number for order in result.orders] == ["9"]


def test_line_numbers_count_the_file_lines_of_a_value_spanning_lines() -> None:
    result = parse(f'{HEADER}\n9,2025-01-01,"Mug\nwith a note",1\n10,2025-01-01,Pen,none\n')

    assert result.orders[0].lines[0].title == "Mug\nwith a note"
    assert where(result) == [(4, "quantity")]


# --- the file as a whole ------------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_one_clear_error() -> None:
    latin1 = f"{HEADER},ship_city\n9,2025-01-01,Mug,1,Köln\n".encode("latin-1")

    result = parse(latin1)

    assert result.orders == [] and where(result) == [(2, None)]
    assert "not UTF-8" in result.errors[0].message and "CSV UTF-8" in result.errors[0].message


def test_a_utf16_file_is_one_clear_error() -> None:
    result = parse(f"{HEADER}\n9,2025-01-01,Mug,1\n".encode("utf-16"))

    assert result.orders == [] and len(result.errors) == 1 and "UTF-16" in result.errors[0].message


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n \n", b",,,\n"])
def test_an_empty_file_is_one_error(data: bytes) -> None:
    result = parse(data)

    assert result.orders == [] and where(result) == [(1, None)]
    assert "empty" in result.errors[0].message


def test_a_header_without_rows_imports_nothing_with_a_warning() -> None:
    result = parse(f"{HEADER}\n")

    assert (result.orders, result.errors) == ([], [])
    assert result.warnings == ["The file has a header row but no order rows: nothing to import."]


def test_a_header_missing_a_required_column_or_naming_one_twice_is_refused() -> None:
    missing = parse("order_number,order_date,title\n9,2025-01-01,Mug\n")
    twice = parse(f"{HEADER},SKU,sku\n9,2025-01-01,Mug,1,a,b\n")

    assert missing.orders == [] and where(missing) == [(1, "quantity")]
    assert twice.orders == [] and where(twice) == [(1, "sku")]


def test_an_unknown_column_is_warned_about_once_and_unnamed_columns_with_values_once() -> None:
    result = parse(f"{HEADER},Gift Note,\n9,2025-01-01,Mug,1,hi,x\n10,2025-01-01,Pen,1,hello,y\n")

    assert len(result.orders) == 2 and result.errors == []
    assert result.warnings == [
        "Column 'Gift Note' is not a Waybill column and was ignored.",
        "Values in columns without a header name were ignored.",
    ]


def test_an_unterminated_quote_is_refused_at_the_line_where_it_starts() -> None:
    result = parse(f'{HEADER}\n9,2025-01-01,Mug,1\n10,2025-01-01,"Pen,1\n11,2025-01-01,Cup,1\n')

    assert result.orders == [] and where(result) == [(3, None)]
    assert "closing quote" in result.errors[0].message


def test_an_oversize_file_is_refused() -> None:
    big = (HEADER + "\n").encode() + b"9,2025-01-01,Mug,1\n" * (MAX_BYTES // 19 + 1)

    result = parse(big)

    assert result.orders == [] and where(result) == [(0, None)]
    assert "the limit is 5.0 MB" in result.errors[0].message


def test_too_many_rows_are_refused_whole_and_the_limit_itself_is_fine() -> None:
    rows = "".join(f"{n},2025-01-01,Mug,1\n" for n in range(3))

    assert len(parse(f"{HEADER}\n{rows}", max_rows=3).orders) == 3
    result = parse(f"{HEADER}\n{rows}3,2025-01-01,Mug,1\n", max_rows=3)
    assert result.orders == [] and where(result) == [(0, None)]
    assert "more than 3 order rows" in result.errors[0].message


# --- parse_document (inspect-order) -------------------------------------------------------


def test_parse_document_reads_csv_text_and_bytes() -> None:
    assert parse_document(fixture("orders.csv").decode()) == [ADA, GRACE, ALAN]
    assert parse_document(fixture("orders_semicolon.csv"))[0].number == "2001"


def test_parse_document_lists_the_first_problems_readably() -> None:
    with pytest.raises(ValueError, match=r"^the CSV file has 8 problem\(s\): line 3, title: title is required\.;.*"):
        parse_document(fixture("orders_bad_rows.csv").decode())
    with pytest.raises(ValueError, match="and 3 more"):
        parse_document(fixture("orders_bad_rows.csv").decode())
    with pytest.raises(ValueError, match="header row but no order rows"):
        parse_document(HEADER + "\n")


def test_parse_document_refuses_what_is_not_csv_text() -> None:
    with pytest.raises(ValueError, match="expected the text of a CSV file, got dict"):
        parse_document({"order": {"id": 1}})


# --- SPEC and client ----------------------------------------------------------------------


def test_the_spec_promises_nothing_it_cannot_do() -> None:
    assert SPEC.kind is ChannelKind.CSV
    assert (SPEC.fields, SPEC.capabilities, dict(SPEC.defaults)) == ((), frozenset(), {})
    assert any("stay in Waybill" in text and "exported" in text for text in SPEC.limitations)
    assert SPEC.parse_document(f"{HEADER}\n9,2025-01-01,Mug,1\n")[0].number == "9"


async def test_the_client_answers_without_any_io() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(599))) as http:
        client = build_client({}, http=http, store=MemoryCredentialStore({}), page_size=10)
        ups = Tracking(company="UPS", number="1Z999", url=None, carrier="ups")

        assert await client.check_connection() == "CSV upload"
        page = await client.list_orders(None)
        assert (page.orders, page.next_page, page.unreadable) == ([], None, [])
        assert (await client.list_orders(NOW, "anything")).next_page is None
        first = await client.create_fulfillment("1001", [("1001-1", 1)], ups, order_complete=False)
        assert first == await client.create_fulfillment("1001", [("1001-1", 1)], ups) == "csv:1Z999"
        assert await client.create_fulfillment("1001", None, None) == "csv:hand"
        await client.mark_delivered("1001", first)
        await client.cancel_fulfillment("1001", first)
        await client.cancel_fulfillment("1001", first)
        await client.aclose()
        assert not http.is_closed
