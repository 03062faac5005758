"""Golden tests of the Etsy mapper on real Open API v3 payloads (tests/fixtures/etsy).

receipts_list_live_2023.json: a live getShopReceipts response published in minimal-ui-kit/material-kit-react
(src/sections/products-v2/view/mock_shop_listings.ts @ de3beaffd6e35eb1d2fa37bc16c8f2646612ec7e), trimmed to
its first two receipts; the buyers' names/streets/formatted_address and the seller e-mail were replaced
(private data) and each transaction `description` cut to its first sentence; every other value is as published.
Etsy's own spec has no receipt examples (etsy/open-api openapi.json has schemas only).
standard_webhooks_vector.json: the Standard Webhooks reference vector (svix/svix-webhooks PHP tests,
testSignFunctionWorks). webhook_order_paid.json: Etsy's order.paid webhook body shape (api-evangelist/etsy
examples/webhooks-order-paid-payload-example.json, placeholders as published).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.channels.etsy import SPEC
from adapters.channels.etsy.mapper import (
    STATUSES,
    channel_status,
    money,
    parse_document,
    payment_status,
    sign_webhook,
    to_channel_order,
    verify_webhook,
)
from domain.model import Address, ChannelKind, ChannelOrderStatus, OrderLine, PaymentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "etsy"
BAG = "Mini Intrecciato Top Handle Leather Bag | BV Mini Jodie | Braided Knot Design | Designer Luxury Bag | Handcrafted Affordable Leather Bag"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def receipts() -> list[dict[str, Any]]:
    return copy.deepcopy(load("receipts_list_live_2023.json")["results"])


def test_fully_refunded_receipt_golden() -> None:
    order = to_channel_order(receipts()[0])

    assert order.external_id == order.number == "3021745515"
    assert order.channel_status is ChannelOrderStatus.REFUNDED
    assert order.payment_status is PaymentStatus.REFUNDED
    assert order.raw_status == "Fully Refunded"
    assert order.lines == [
        OrderLine(
            channel_line_id="3735908460", title=BAG, quantity=1, sku=None, quantity_shipped=1, unit_price="150.00"
        )
    ]
    assert order.shipping_address == Address(
        name="Buyer One",
        line1="Via Esempio 1",
        line2=None,
        city="Capezzano Pianore",
        region="Lucca",
        postal_code="55041",
        country_code="IT",
    )
    assert (order.customer_name, order.customer_email) == ("Buyer One", None)
    assert (order.currency, order.total) == ("USD", "112.50")
    assert order.channel_created_at == datetime(2023, 9, 25, 16, 39, 22, tzinfo=UTC)
    assert order.channel_updated_at == datetime(2023, 9, 29, 12, 9, 58, tzinfo=UTC)


def test_completed_receipt_with_two_transactions_golden() -> None:
    order = to_channel_order(receipts()[1])

    assert order.external_id == "3028255336"
    assert order.channel_status is ChannelOrderStatus.FULFILLED
    assert order.payment_status is PaymentStatus.PAID
    assert order.raw_status == "Completed"
    assert [(line.channel_line_id, line.quantity, line.quantity_shipped, line.unit_price) for line in order.lines] == [
        ("3736941861", 1, 1, "113.00"),
        ("3735626118", 1, 1, "113.00"),
    ]
    assert order.shipping_address == Address(
        name="Buyer Two", line1="Beispielweg 1", line2=None, city="Stuttgart", postal_code="70186", country_code="DE"
    )
    assert (order.currency, order.total) == ("USD", "180.80")
    assert order.channel_updated_at == datetime(2023, 10, 3, 20, 48, 34, tzinfo=UTC)


def test_older_timestamp_spellings_are_accepted() -> None:
    receipt = receipts()[1]
    del receipt["created_timestamp"], receipt["updated_timestamp"]

    order = to_channel_order(receipt)

    assert order.channel_created_at == datetime.fromtimestamp(1695645376, tz=UTC)
    assert order.channel_updated_at == datetime.fromtimestamp(1696366114, tz=UTC)


# (status as Etsy sends it, is_paid, is_shipped) -> (channel status, payment status)
STATUS_TABLE = [
    ("open", False, False, ChannelOrderStatus.PENDING_PAYMENT, PaymentStatus.PENDING),
    ("Open", False, False, ChannelOrderStatus.PENDING_PAYMENT, PaymentStatus.PENDING),
    ("payment processing", False, False, ChannelOrderStatus.PENDING_PAYMENT, PaymentStatus.PENDING),
    ("Payment Processing", False, False, ChannelOrderStatus.PENDING_PAYMENT, PaymentStatus.PENDING),
    ("paid", True, False, ChannelOrderStatus.AWAITING_FULFILLMENT, PaymentStatus.PAID),
    ("Paid", True, False, ChannelOrderStatus.AWAITING_FULFILLMENT, PaymentStatus.PAID),
    ("paid", True, True, ChannelOrderStatus.FULFILLED, PaymentStatus.PAID),
    ("completed", True, True, ChannelOrderStatus.FULFILLED, PaymentStatus.PAID),
    ("Completed", True, False, ChannelOrderStatus.FULFILLED, PaymentStatus.PAID),
    ("canceled", True, False, ChannelOrderStatus.CANCELLED, PaymentStatus.REFUNDED),
    ("Canceled", False, False, ChannelOrderStatus.CANCELLED, PaymentStatus.VOIDED),
    ("canceled", True, True, ChannelOrderStatus.CANCELLED, PaymentStatus.REFUNDED),
    ("fully refunded", True, False, ChannelOrderStatus.REFUNDED, PaymentStatus.REFUNDED),
    ("Fully Refunded", True, True, ChannelOrderStatus.REFUNDED, PaymentStatus.REFUNDED),
    ("partially refunded", True, False, ChannelOrderStatus.AWAITING_FULFILLMENT, PaymentStatus.PARTIALLY_REFUNDED),
    ("Partially Refunded", True, True, ChannelOrderStatus.FULFILLED, PaymentStatus.PARTIALLY_REFUNDED),
    ("something new", True, False, ChannelOrderStatus.UNKNOWN, PaymentStatus.PAID),
    ("something new", False, False, ChannelOrderStatus.UNKNOWN, PaymentStatus.UNKNOWN),
]


@pytest.mark.parametrize(("status", "is_paid", "is_shipped", "expected", "payment"), STATUS_TABLE)
def test_every_documented_status_maps(
    status: str, is_paid: bool, is_shipped: bool, expected: ChannelOrderStatus, payment: PaymentStatus
) -> None:
    receipt = {**receipts()[1], "status": status, "is_paid": is_paid, "is_shipped": is_shipped}

    assert channel_status(receipt) is expected
    assert payment_status(receipt) is payment
    assert to_channel_order(receipt).raw_status == status


def test_the_table_covers_every_status_etsy_documents() -> None:
    assert {row[0].lower() for row in STATUS_TABLE} >= set(STATUSES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"amount": 11250, "divisor": 100, "currency_code": "USD"}, ("112.50", "USD")),
        ({"amount": 5, "divisor": 100, "currency_code": "EUR"}, ("0.05", "EUR")),
        ({"amount": 1500, "divisor": 1, "currency_code": "JPY"}, ("1500", "JPY")),
        ({"amount": 12345, "divisor": 1000, "currency_code": "KWD"}, ("12.345", "KWD")),
    ],
)
def test_money_keeps_the_divisors_decimals(value: dict[str, Any], expected: tuple[str, str]) -> None:
    assert money(value) == expected


def test_withheld_address_means_no_address() -> None:
    receipt = receipts()[0]
    for key in ("first_line", "second_line", "city", "state", "zip", "country_iso", "formatted_address"):
        receipt[key] = None

    order = to_channel_order(receipt)

    assert order.shipping_address is None
    assert order.customer_name == "Buyer One"


def test_unshipped_transactions_are_not_counted_as_shipped() -> None:
    receipt = {**receipts()[1], "status": "Paid", "is_shipped": False}
    receipt["transactions"][1]["shipped_timestamp"] = None

    assert [line.quantity_shipped for line in to_channel_order(receipt).lines] == [1, 0]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"receipt_id": None}, ValueError),
        ({"grandtotal": "112.50"}, TypeError),
        ({"updated_timestamp": "yesterday"}, TypeError),
        ({"transactions": "none"}, TypeError),
    ],
)
def test_malformed_receipts_raise(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        to_channel_order({**receipts()[0], **change})


def test_missing_timestamps_raise_key_error() -> None:
    receipt = receipts()[0]
    for key in ("updated_timestamp", "update_timestamp"):
        del receipt[key]
    with pytest.raises(KeyError, match="updated_timestamp"):
        to_channel_order(receipt)


# --- parse_document ----------------------------------------------------------------------------


def test_parse_document_accepts_a_list_response_a_receipt_and_a_bare_list() -> None:
    listing = load("receipts_list_live_2023.json")

    assert [o.external_id for o in parse_document(listing)] == ["3021745515", "3028255336"]
    assert [o.external_id for o in parse_document(listing["results"][1])] == ["3028255336"]
    assert [o.external_id for o in parse_document(listing["results"])] == ["3021745515", "3028255336"]


def test_parse_document_explains_a_webhook_body() -> None:
    with pytest.raises(ValueError, match=r"Etsy webhook \(order\.paid\).*paste the receipt itself"):
        parse_document(load("webhook_order_paid.json"))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"orders": []}, r"not an Etsy receipt document.*top-level keys: orders"),
        ("hello", "expected a JSON object with an Etsy receipt, got str"),
        ([{"receipt_id": 1}, 5], r"list entries \[1\] are not Etsy receipts"),
    ],
)
def test_parse_document_rejects_other_documents_readably(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(doc)


def test_spec_reads_documents_and_declares_what_etsy_can_do() -> None:
    assert SPEC.kind is ChannelKind.ETSY
    assert SPEC.parse_document is parse_document
    assert {f.name for f in SPEC.fields if f.secret} == {
        "shared_secret",
        "access_token",
        "refresh_token",
        "webhook_secret",
    }
    assert SPEC.defaults == {
        "api_url": "https://api.etsy.com",
        "token_url": "https://api.etsy.com/v3/public/oauth/token",
    }


# --- webhook signatures --------------------------------------------------------------------------


def vector() -> tuple[dict[str, str], bytes, str, int]:
    v = load("standard_webhooks_vector.json")
    headers = {k: v[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    return headers, v["body"].encode(), v["secret"], int(v["webhook-timestamp"])


def test_the_standard_webhooks_vector_verifies() -> None:
    headers, body, secret, sent = vector()

    assert (
        sign_webhook(secret, headers["webhook-id"], headers["webhook-timestamp"], body) == headers["webhook-signature"]
    )
    assert verify_webhook(headers, body, secret, now=sent + 10)
    assert verify_webhook({k.title(): v for k, v in headers.items()}, body, secret, now=sent)  # any header case
    assert verify_webhook(headers, body, secret.removeprefix("whsec_"), now=sent)


def test_one_of_several_signatures_is_enough() -> None:
    headers, body, secret, sent = vector()
    headers["webhook-signature"] = f"v1,bm9wZQ== {headers['webhook-signature']} v2,whatever"

    assert verify_webhook(headers, body, secret, now=sent)


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "id", "signature", "old", "future", "no-signature", "not-base64-secret", "no-version"],
)
def test_webhook_signature_rejections(tamper: str) -> None:
    headers, body, secret, now = vector()
    if tamper == "body":
        body = body.replace(b"2432232314", b"2432232315")
    elif tamper == "secret":
        secret = "whsec_" + "A" * 32
    elif tamper == "id":
        headers["webhook-id"] = "msg_other"
    elif tamper == "signature":
        headers["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="
    elif tamper == "old":
        now += 301
    elif tamper == "future":
        now -= 301
    elif tamper == "no-signature":
        del headers["webhook-signature"]
    elif tamper == "not-base64-secret":
        secret = "whsec_%%%"
    elif tamper == "no-version":
        headers["webhook-signature"] = headers["webhook-signature"].removeprefix("v1,")

    assert not verify_webhook(headers, body, secret, now=now)
