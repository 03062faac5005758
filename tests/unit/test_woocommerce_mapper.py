"""Golden tests of the WooCommerce mapper on real REST v3 payloads (tests/fixtures/woocommerce).

The fixtures come from woocommerce/woocommerce-rest-api-docs @13d6196 (order, order update, orders list,
webhook resource); an order.* webhook delivers the same JSON as GET /orders/{id}.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.channels.woocommerce import SPEC
from adapters.channels.woocommerce.mapper import (
    TRACKING_META_KEY,
    active_shipment_notes,
    cancelled_tracking_note,
    cancelled_untracked_note,
    parse_document,
    shipped_note,
    to_channel_order,
    untracked_note,
    verify_webhook,
    webhook_signature,
)
from domain.model import Address, ChannelCapability, ChannelKind, ChannelOrderStatus, OrderLine, PaymentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"

JOHN = Address(
    name="John Doe",
    company=None,
    line1="969 Market",
    line2=None,
    city="San Francisco",
    region="CA",
    postal_code="94103",
    country_code="US",
    phone="(555) 555-5555",  # shipping has no phone: the billing one
)
LINES_727 = [
    OrderLine(channel_line_id="315", title="Woo Single #1", quantity=2, sku=None, unit_price="3.00"),
    OrderLine(
        channel_line_id="316",
        title="Ship Your Idea \u2013 Color: Black, Size: M Test",  # &ndash; unescaped
        quantity=1,
        sku="Bar3",
        unit_price="12.00",
    ),
]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def order_727() -> dict[str, Any]:
    return copy.deepcopy(load("order.json"))


def test_processing_order_golden() -> None:
    order = to_channel_order(load("order.json"))

    assert order.external_id == "727"
    assert order.number == "727"
    assert order.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert order.payment_status is PaymentStatus.PAID
    assert order.raw_status == "processing"
    assert order.lines == LINES_727
    assert order.shipping_address == JOHN
    assert (order.customer_name, order.customer_email) == ("John Doe", "john.doe@example.com")
    assert (order.currency, order.total) == ("USD", "29.35")
    assert order.channel_created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)  # the _gmt field, not local 16:28
    assert order.channel_updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)


def test_completed_update_response_golden() -> None:
    order = to_channel_order(load("order_update_response.json"))

    assert order.channel_status is ChannelOrderStatus.FULFILLED
    assert order.payment_status is PaymentStatus.PAID
    assert order.raw_status == "completed"
    assert order.lines == LINES_727
    assert order.channel_updated_at == datetime(2017, 3, 22, 19, 30, 35, tzinfo=UTC)


def test_orders_list_golden() -> None:
    first, second = parse_document(load("orders_list.json"))

    assert first == to_channel_order(load("order.json"))
    assert (second.external_id, second.number, second.raw_status) == ("723", "723", "completed")
    assert second.channel_status is ChannelOrderStatus.FULFILLED
    assert second.payment_status is PaymentStatus.PARTIALLY_REFUNDED  # refunds of -10.00 and -9.00 on 39.00
    assert second.lines == [
        OrderLine(channel_line_id="311", title="Woo Album #2", quantity=1, sku=None, unit_price="9.00"),
        OrderLine(channel_line_id="313", title="Woo Ninja", quantity=1, sku=None, unit_price="20.00"),
    ]
    assert second.shipping_address == Address(
        name="João Silva",
        line1="Av. Brasil, 432",
        city="Rio de Janeiro",
        region="RJ",
        postal_code="12345-000",
        country_code="BR",
        phone="(11) 1111-1111",
    )
    assert second.customer_email == "joao.silva@example.com"
    assert (second.currency, second.total) == ("USD", "39.00")
    assert second.channel_created_at == datetime(2017, 3, 21, 19, 16, 0, tzinfo=UTC)
    assert second.channel_updated_at == datetime(2017, 3, 21, 19, 54, 51, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", ChannelOrderStatus.PENDING_PAYMENT),
        ("failed", ChannelOrderStatus.PENDING_PAYMENT),
        ("checkout-draft", ChannelOrderStatus.PENDING_PAYMENT),
        ("processing", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("on-hold", ChannelOrderStatus.ON_HOLD),
        ("completed", ChannelOrderStatus.FULFILLED),
        ("cancelled", ChannelOrderStatus.CANCELLED),
        ("refunded", ChannelOrderStatus.REFUNDED),
        ("trash", ChannelOrderStatus.CANCELLED),
        ("wc-custom-plugin-status", ChannelOrderStatus.UNKNOWN),
    ],
)
def test_every_documented_status(status: str, expected: ChannelOrderStatus) -> None:
    raw = {**order_727(), "status": status}

    order = to_channel_order(raw)

    assert order.channel_status is expected
    assert order.raw_status == status


def test_processing_with_tracking_items_is_partially_fulfilled() -> None:
    raw = order_727()
    item = {"tracking_provider": "ups", "tracking_number": "1Z999", "date_shipped": "1490212800", "tracking_id": "a1"}
    raw["meta_data"].append({"id": 1, "key": TRACKING_META_KEY, "value": [item]})

    assert to_channel_order(raw).channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED
    assert to_channel_order({**raw, "status": "completed"}).channel_status is ChannelOrderStatus.FULFILLED
    assert to_channel_order({**raw, "status": "cancelled"}).channel_status is ChannelOrderStatus.CANCELLED


@pytest.mark.parametrize(
    ("status", "date_paid", "refunds", "expected"),
    [
        ("pending", None, [], PaymentStatus.PENDING),
        ("on-hold", None, [], PaymentStatus.PENDING),  # bank transfer not yet received
        ("on-hold", "2017-03-22T19:28:08", [], PaymentStatus.PAID),
        ("checkout-draft", None, [], PaymentStatus.PENDING),
        ("processing", None, [], PaymentStatus.PAID),  # Woo's own is_paid statuses
        ("completed", None, [], PaymentStatus.PAID),
        ("failed", None, [], PaymentStatus.FAILED),
        ("cancelled", None, [], PaymentStatus.VOIDED),
        ("cancelled", "2017-03-22T19:28:08", [], PaymentStatus.PAID),
        ("refunded", "2017-03-22T19:28:08", [{"id": 9, "total": "-29.35"}], PaymentStatus.REFUNDED),
        ("completed", "2017-03-22T19:28:08", [{"id": 9, "total": "-5.00"}], PaymentStatus.PARTIALLY_REFUNDED),
        ("trash", None, [], PaymentStatus.UNKNOWN),
    ],
)
def test_payment_status(status: str, date_paid: str | None, refunds: list[Any], expected: PaymentStatus) -> None:
    raw = {**order_727(), "status": status, "date_paid_gmt": date_paid, "refunds": refunds}

    assert to_channel_order(raw).payment_status is expected


def test_order_without_shipping_address_maps_to_none() -> None:
    raw = order_727()
    raw["shipping"] = {key: "" for key in raw["shipping"]}

    order = to_channel_order(raw)

    assert order.shipping_address is None
    assert order.customer_name == "John Doe"  # from billing


def test_lines_with_no_quantity_are_dropped_and_prices_keep_the_store_decimals() -> None:
    raw = order_727()
    raw["line_items"][0]["quantity"] = 0
    raw["line_items"][1].update({"quantity": 3, "subtotal": "10.000"})

    [line] = to_channel_order(raw).lines

    assert (line.channel_line_id, line.quantity, line.unit_price) == ("316", 3, "3.333")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"date_modified_gmt": None}, ValueError),
        ({"date_created_gmt": "0000-00-00 00:00:00"}, ValueError),
        ({"id": None}, ValueError),
        ({"line_items": "nope"}, TypeError),
        ({"line_items": [{"name": "no id", "quantity": 1}]}, KeyError),
    ],
)
def test_malformed_orders_raise(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        to_channel_order({**order_727(), **change})


# --- parse_document --------------------------------------------------------------------


def test_parse_document_accepts_what_merchants_paste() -> None:
    single = load("order.json")

    assert [o.external_id for o in parse_document(single)] == ["727"]  # GET /orders/727 or an order.updated webhook
    assert [o.external_id for o in parse_document(load("orders_list.json"))] == ["727", "723"]
    assert [o.external_id for o in parse_document({"order": single})] == ["727"]  # legacy API wrapper
    assert [o.external_id for o in parse_document({"orders": [single]})] == ["727"]
    assert parse_document([]) == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (load("webhook_subscription.json"), "webhook subscription, not an order"),
        ({"webhook_id": 142}, "webhook ping"),
        ({"foo": 1, "bar": 2}, r"not a WooCommerce order document.*top-level keys: bar, foo"),
        ("727", "got str"),
        ([load("order.json"), 3], r"entries \[1\] of the list"),
    ],
)
def test_parse_document_explains_a_wrong_document(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(doc)


# --- webhooks ------------------------------------------------------------------------------


def test_webhook_signature_valid_and_invalid() -> None:
    body = (FIXTURES / "order.json").read_bytes()
    secret = "whsec-for-waybill"
    signature = webhook_signature(body, secret)

    assert verify_webhook({"X-WC-Webhook-Signature": signature}, body, secret)
    assert verify_webhook({"x-wc-webhook-signature": signature}, body, secret)  # any header case
    assert not verify_webhook({"X-WC-Webhook-Signature": signature}, body + b" ", secret)
    assert not verify_webhook({"X-WC-Webhook-Signature": signature}, body, "another secret")
    assert not verify_webhook({}, body, secret)
    assert not verify_webhook({"X-WC-Webhook-Signature": signature}, body, "")


def test_webhook_signature_matches_wc_webhook_generate_signature() -> None:
    # base64_encode(hash_hmac('sha256', $payload, $secret, true)); value from `openssl dgst -sha256 -hmac secret -binary`
    assert webhook_signature(b'{"id":1}', "secret") == "A971iWIMgT8Zj9A9eWfikrFj7wQ16/Qwcc4OlRl2PLc="


# --- the notes Waybill writes ----------------------------------------------------------------


def test_active_shipment_notes_follow_cancellations() -> None:
    notes = [
        {"id": 10, "note": shipped_note("UPS", "1Z1", "https://ups.example/1Z1")},
        {"id": 11, "note": "Order status changed from Processing to Completed."},
        {"id": 12, "note": untracked_note([("315", 2)])},
        {"id": 13, "note": shipped_note("USPS", "9400", None)},
        {"id": 14, "note": cancelled_tracking_note("1Z1")},
        {"id": 15, "note": cancelled_untracked_note(12)},
    ]

    active = active_shipment_notes(reversed(notes))  # Woo lists newest first

    assert [(s.note_id, s.number, s.company) for s, _ in active] == [(13, "9400", "USPS")]
    assert active[0][1] == "Your order has been shipped with USPS.\nTracking number: 9400"


def test_spec_describes_the_channel() -> None:
    assert SPEC.kind is ChannelKind.WOOCOMMERCE
    assert [(f.name, f.secret, f.url) for f in SPEC.fields] == [
        ("site_url", False, True),
        ("consumer_key", False, False),
        ("consumer_secret", True, False),
        ("webhook_secret", True, False),
    ]
    assert SPEC.can(ChannelCapability.UNDO_SHIPMENT)
    assert not SPEC.can(ChannelCapability.PARTIAL_LINES)  # a shipment cannot name its lines in Woo
    assert not SPEC.can(ChannelCapability.DELIVERED_STATUS)
    assert not SPEC.can(ChannelCapability.TOKEN_REFRESH)
    assert SPEC.parse_document is parse_document
