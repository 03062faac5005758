"""Golden tests of the back-office mapper on the example payloads of docs/back-office-api.md (tests/fixtures/back_office).

ControlPad publishes no API, so these payloads are Waybill's own contract: the fake serves the same shapes.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.channels.back_office import SPEC
from adapters.channels.back_office.mapper import (
    PRESET,
    Meaning,
    StatusWords,
    parse_document,
    sign_webhook,
    to_channel_order,
    verify_webhook,
)
from domain import lifecycle
from domain.model import Address, ChannelKind, ChannelOrderStatus, OrderLine, OrderStatus, PaymentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "back_office"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def unfulfilled() -> dict[str, Any]:
    return copy.deepcopy(load("orders_list.json")["orders"][0])


def test_list_response_golden() -> None:
    first, held = parse_document(load("orders_list.json"))

    assert first.external_id == "4101"
    assert first.number == "10001"
    assert first.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert first.payment_status is PaymentStatus.PAID
    assert first.raw_status == "Unfulfilled"
    assert first.lines == [
        OrderLine("88001", "Velvet Lip Color - Rose", 2, sku="LIP-ROSE-01", unit_price="18.00", grams=45),
        OrderLine("88002", "Daily Glow Serum 30 ml", 1, sku="SERUM-30", unit_price="42.50", grams=120),
    ]
    assert first.shipping_address == Address(
        name="Maria Gonzalez",
        company=None,
        line1="455 Larkspur Dr",
        line2="Apt 12",
        city="Baltimore",
        region="MD",
        postal_code="21201",
        country_code="US",
        phone="+1 410 555 0143",
    )
    assert (first.customer_name, first.customer_email) == ("Maria Gonzalez", "maria.gonzalez@example.com")
    assert (first.currency, first.total) == ("USD", "78.50")
    assert first.channel_created_at == datetime(2024, 5, 1, 14, 2, 11, tzinfo=UTC)
    assert first.channel_updated_at == datetime(2024, 5, 1, 14, 5, 40, tzinfo=UTC)

    assert (held.external_id, held.number, held.raw_status) == ("4102", "10002", "Held")
    assert held.channel_status is ChannelOrderStatus.ON_HOLD
    assert held.shipping_address == Address(
        name="Dana Whitfield",
        company="Whitfield Studio",
        line1="88 Queen St W",
        city="Toronto",
        region="ON",
        postal_code="M5H 2M9",
        country_code="CA",
    )
    assert held.lines == [OrderLine("88003", "Cedar Soy Candle", 3, sku="CANDLE-CED", unit_price="24.00", grams=380)]
    assert (held.currency, held.total) == ("CAD", "72.00")
    # -05:00 offsets become UTC instants.
    assert held.channel_created_at == datetime(2024, 5, 2, 14, 15, tzinfo=UTC)
    assert held.channel_updated_at == datetime(2024, 5, 2, 15, 30, tzinfo=UTC)
    assert held.channel_updated_at.utcoffset() is not None


def test_single_order_response_golden() -> None:
    [order] = parse_document(load("order_get_shipping.json"))

    assert (order.external_id, order.number, order.raw_status) == ("4103", "10003", "Shipping")
    assert order.channel_status is ChannelOrderStatus.FULFILLED
    assert order.lines == [
        OrderLine(
            "88004", "Herbal Tea Sampler", 1, sku="TEA-SAMPLER", quantity_shipped=1, unit_price="29.00", grams=300
        )
    ]
    assert order.shipping_address is not None and order.shipping_address.postal_code == "94114"
    assert (order.customer_name, order.total) == ("Priya Raman", "35.95")
    assert order.channel_updated_at == datetime(2024, 5, 4, 8, 1, 12, tzinfo=UTC)


def test_bare_pending_order_without_address_golden() -> None:
    [order] = parse_document(load("order_pending_without_address.json"))

    assert (order.external_id, order.number) == ("4104", "10004")
    assert order.channel_status is ChannelOrderStatus.PENDING_PAYMENT
    assert order.payment_status is PaymentStatus.PENDING
    assert order.shipping_address is None
    assert order.lines == [OrderLine("88005", "Gift Card Sleeve", 1, sku=None, unit_price="5.00", grams=None)]
    assert (order.customer_name, order.customer_email) == ("Tom Becker", "tom.becker@example.com")


def test_webhook_body_golden() -> None:
    [order] = parse_document(load("webhook_order_updated.json"))

    assert (order.external_id, order.number, order.raw_status) == ("4105", "10005", "Unfulfilled")
    # Some lines shipped while the order stays Unfulfilled (one status per order): partially fulfilled.
    assert order.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED
    assert [(line.channel_line_id, line.quantity, line.quantity_shipped) for line in order.lines] == [
        ("88006", 2, 2),
        ("88007", 1, 0),
    ]


def test_a_shipping_order_imports_as_shipped_elsewhere_with_a_warning() -> None:
    [order] = parse_document(load("order_get_shipping.json"))

    imported = lifecycle.import_order(1, 1, order)

    assert imported.status is OrderStatus.SHIPPED_ELSEWHERE
    assert imported.warning == lifecycle.SHIPPED_ELSEWHERE_WARNING
    assert imported.missing_fields == []


def test_an_order_without_address_imports_as_a_draft() -> None:
    [order] = parse_document(load("order_pending_without_address.json"))

    imported = lifecycle.import_order(1, 1, order)

    assert imported.status is OrderStatus.DRAFT
    assert imported.missing_fields == ["shippingAddress"]


@pytest.mark.parametrize(
    ("status", "payment", "expected"),
    [
        ("Unfulfilled", "paid", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("Unfulfilled", "pending", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("Pending", "paid", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("Pending", "authorized", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("Pending", "pending", ChannelOrderStatus.PENDING_PAYMENT),
        ("Pending", "unpaid", ChannelOrderStatus.PENDING_PAYMENT),
        ("Pending", "partially_paid", ChannelOrderStatus.PENDING_PAYMENT),
        ("Pending", "failed", ChannelOrderStatus.PENDING_PAYMENT),
        ("Held", "paid", ChannelOrderStatus.ON_HOLD),
        ("Hold", "paid", ChannelOrderStatus.ON_HOLD),
        ("held", "pending", ChannelOrderStatus.ON_HOLD),
        ("Shipping", "paid", ChannelOrderStatus.FULFILLED),
        ("Fulfilled", "paid", ChannelOrderStatus.FULFILLED),
        (" FULFILLED ", "paid", ChannelOrderStatus.FULFILLED),
        ("Cancelled", "refunded", ChannelOrderStatus.CANCELLED),
        ("Canceled", "paid", ChannelOrderStatus.CANCELLED),
        ("Refunded", "refunded", ChannelOrderStatus.REFUNDED),
        ("Refunded", "paid", ChannelOrderStatus.REFUNDED),
        ("Fulfilled", "refunded", ChannelOrderStatus.REFUNDED),
        ("Unfulfilled", "refunded", ChannelOrderStatus.REFUNDED),
        ("Processing", "paid", ChannelOrderStatus.UNKNOWN),
        ("Processing", "refunded", ChannelOrderStatus.UNKNOWN),
        ("Backordered", "paid", ChannelOrderStatus.UNKNOWN),
    ],
)
def test_every_preset_status_maps(status: str, payment: str, expected: ChannelOrderStatus) -> None:
    raw = {**unfulfilled(), "status": status, "payment_status": payment}

    order = to_channel_order(raw)

    assert order.channel_status is expected
    assert order.raw_status == status


def test_every_preset_word_is_covered_by_the_table() -> None:
    covered = {"Unfulfilled", "Pending", "Held", "Hold", "Shipping", "Fulfilled", "Cancelled", "Canceled", "Refunded"}
    assert {word for words in PRESET.values() for word in words} == covered


def test_an_unknown_status_imports_as_needs_attention_not_a_crash() -> None:
    order = to_channel_order({**unfulfilled(), "status": "Processing"})

    imported = lifecycle.import_order(1, 1, order)

    assert imported.status is OrderStatus.NEEDS_ATTENTION
    assert "Processing" in (imported.attention_reason or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pending", PaymentStatus.PENDING),
        ("unpaid", PaymentStatus.PENDING),
        ("authorized", PaymentStatus.AUTHORIZED),
        ("paid", PaymentStatus.PAID),
        ("PAID", PaymentStatus.PAID),
        ("partially_paid", PaymentStatus.PARTIALLY_PAID),
        ("partially_refunded", PaymentStatus.PARTIALLY_REFUNDED),
        ("refunded", PaymentStatus.REFUNDED),
        ("voided", PaymentStatus.VOIDED),
        ("failed", PaymentStatus.FAILED),
        ("store_credit", PaymentStatus.UNKNOWN),
        (None, PaymentStatus.UNKNOWN),
    ],
)
def test_payment_statuses(value: str | None, expected: PaymentStatus) -> None:
    assert to_channel_order({**unfulfilled(), "payment_status": value}).payment_status is expected


# --- a back office with its own words ----------------------------------------------------


def test_statuses_setting_overrides_the_preset_for_reading_and_writing() -> None:
    words = StatusWords.from_setting('{"held": "On Hold", "shipping": ["Shipped", "In Transit"]}')

    def status(word: str) -> ChannelOrderStatus:
        return to_channel_order({**unfulfilled(), "status": word}, words).channel_status

    assert status("On Hold") is ChannelOrderStatus.ON_HOLD
    assert status("in transit") is ChannelOrderStatus.FULFILLED
    assert status("Shipped") is ChannelOrderStatus.FULFILLED
    assert status("Held") is ChannelOrderStatus.UNKNOWN  # replaced, no longer theirs
    assert status("Unfulfilled") is ChannelOrderStatus.AWAITING_FULFILLMENT  # not named: the preset stays
    assert words.word(Meaning.SHIPPING) == "Shipped"
    assert words.word(Meaning.FULFILLED) == "Fulfilled"
    assert StatusWords.from_setting({"held": "On Hold"}) == StatusWords.from_setting('{"held": "On Hold"}')
    assert StatusWords.from_setting(None) == StatusWords.from_setting("") == StatusWords()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("{not json", "statuses must be a JSON object"),
        ('["Held"]', "statuses must be a JSON object"),
        ('{"onhold": "On Hold"}', "unknown meaning 'onhold'; use one of unfulfilled, pending, held"),
        ('{"held": ""}', "'held' must be a status word"),
        ('{"held": "Shipping"}', "'Shipping' is used for both held and shipping"),
    ],
)
def test_a_bad_statuses_setting_is_a_readable_error(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StatusWords.from_setting(setting)


def test_build_client_refuses_a_bad_statuses_setting() -> None:
    credentials = {"api_url": "https://office.example.com", "api_key": "k", "statuses": '{"hold": 1}'}

    with pytest.raises(ValueError, match="unknown meaning 'hold'"):
        SPEC.build_client(credentials, http=None, store=None)  # type: ignore[arg-type]


# --- malformed orders and documents -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"updated_at": None}, ValueError, "4101 has no 'updated_at'"),
        ({"status": None}, ValueError, "4101 has no 'status'"),
        ({"number": ""}, ValueError, "4101 has no 'number'"),
        ({"created_at": "yesterday"}, ValueError, "yesterday"),
        ({"created_at": 1714572131}, TypeError, "ISO 8601"),
        ({"lines": None}, TypeError, "'lines' must be a list"),
        ({"lines": [{"id": "1", "title": "x"}]}, ValueError, "line 1 has no quantity"),
        ({"lines": [{"title": "x", "quantity": 1}]}, ValueError, "a line has no id"),
        ({"shipping_address": "12 Main St"}, TypeError, "shipping_address must be an object"),
    ],
)
def test_malformed_orders_raise(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        to_channel_order({**unfulfilled(), **changes})


def test_empty_address_and_zero_quantity_lines() -> None:
    raw = unfulfilled()
    raw["shipping_address"] = {"name": None, "line1": ""}
    raw["lines"][1]["quantity"] = 0

    order = to_channel_order(raw)

    assert order.shipping_address is None
    assert [line.channel_line_id for line in order.lines] == ["88001"]


@pytest.mark.parametrize(
    "wrap",
    [lambda o: {"order": o}, lambda o: {"orders": [o], "next_cursor": None}, lambda o: o],
    ids=["single-order response", "list response", "bare order"],  # stable ids: pytest-xdist workers must agree
)
def test_parse_document_accepts_the_usual_shapes(wrap: Any) -> None:
    [order] = parse_document(wrap(unfulfilled()))

    assert (order.number, order.channel_status, len(order.lines)) == (
        "10001",
        ChannelOrderStatus.AWAITING_FULFILLMENT,
        2,
    )
    assert SPEC.parse_document(wrap(unfulfilled())) == [order]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], r"wrap a list of orders as \{\"orders\""),
        ("10001", "expected a JSON object with an order, got str"),
        (load("shipment_create_response.json"), "not a back-office order document.*carrier, carrier_name"),
        (load("error_401.json"), r"not a back-office order document.*top-level keys: error\)"),
        ({"orders": [1, {}]}, r"'orders' entries \[0\] are not JSON objects"),
    ],
)
def test_parse_document_rejects_other_documents(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(doc)


# --- webhooks ----------------------------------------------------------------------------


def test_webhook_signature_of_the_fixture_verifies() -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    sample = load("webhook_order_updated.headers.json")

    assert verify_webhook(sample["headers"], body, sample["secret"])
    assert verify_webhook({k.lower(): v for k, v in sample["headers"].items()}, body, sample["secret"])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b, s: (h, b.replace(b"10005", b"10006"), s),
        lambda h, b, s: (h, b, "whsec_other"),
        lambda h, b, s: (h, b, ""),
        lambda h, b, s: ({k: v for k, v in h.items() if k != "X-Waybill-Signature"}, b, s),
        lambda h, b, s: ({**h, "X-Waybill-Signature": h["X-Waybill-Signature"].removeprefix("sha256=")}, b, s),
        lambda h, b, s: ({**h, "X-Waybill-Signature": "sha256=" + "0" * 64}, b, s),
    ],
    ids=["body changed", "wrong secret", "no secret", "no header", "no prefix", "zeros"],
)
def test_webhook_signature_rejects_tampering(tamper: Any) -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    sample = load("webhook_order_updated.headers.json")

    headers, body, secret = tamper(sample["headers"], body, sample["secret"])

    assert not verify_webhook(headers, body, secret)


def test_sign_webhook_is_hex_hmac_sha256() -> None:
    # RFC 4231 test case 2 (key "Jefe").
    assert sign_webhook(b"what do ya want for nothing?", "Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_spec_declares_everything() -> None:
    assert SPEC.kind is ChannelKind.BACK_OFFICE
    assert [(f.name, f.secret, f.required) for f in SPEC.fields] == [
        ("api_url", False, True),
        ("api_key", True, True),
        ("webhook_secret", True, False),
        ("statuses", False, False),
    ]
    assert {c.value for c in SPEC.capabilities} == {
        "WRITE_BACK",
        "PARTIAL_LINES",
        "MULTIPLE_SHIPMENTS",
        "TRACKING_URL",
        "UNDO_SHIPMENT",
        "DELIVERED_STATUS",
    }
