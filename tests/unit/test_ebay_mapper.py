"""eBay mapper on the payloads in tests/fixtures/ebay (see SOURCES.json there): golden values, every status, documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.channels.ebay import SPEC
from adapters.channels.ebay.mapper import (
    carrier_code,
    channel_status,
    format_time,
    fulfillment_id_from_location,
    matching_fulfillment,
    order_from_document,
    payment_status,
    remaining_line_items,
    requested_line_items,
    to_channel_order,
    tracking_number,
)
from domain.model import Address, ChannelKind, ChannelOrderStatus, OrderLine, PaymentStatus
from domain.ports import Tracking

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ebay"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_paid_not_started_order_maps_exactly() -> None:
    order = to_channel_order(fixture("getOrders_200_lastmodifieddate.json")["orders"][0])

    assert order.external_id == "13-14786-65872"
    assert order.number == "13-14786-65872"
    assert order.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert order.payment_status is PaymentStatus.PAID
    assert order.raw_status == "NOT_STARTED/PAID"
    assert order.lines == [
        OrderLine(
            channel_line_id="10084048110913",
            title="Apple iPad 10th Gen A2757 64GB Silver Unlocked",
            quantity=19,
            sku="UO-1781808648556",
            quantity_shipped=0,
            unit_price="215.00",  # lineItemCost 4085.0 is the line total for 19 units
        )
    ]
    assert order.shipping_address == Address(
        name="Dana Whitfield",
        line1="2200 S Old Missouri Rd",
        line2="Ste N",
        city="Springdale",
        region="AR",
        postal_code="72764-8719",
        country_code="US",
        phone="4795550142",
    )
    assert order.channel_created_at == datetime(2026, 6, 19, 14, 15, 22, tzinfo=UTC)
    assert order.channel_updated_at == datetime(2026, 6, 19, 14, 16, 58, tzinfo=UTC)
    assert order.customer_name == "Dana Whitfield"
    assert order.customer_email == "7d1e4c0a9b2f3e6d5c8a@members.ebay.com"
    assert (order.currency, order.total) == ("USD", "4085.0")


def test_partly_shipped_order_keeps_line_states_and_company() -> None:
    order = to_channel_order(fixture("getOrders_200_lastmodifieddate.json")["orders"][1])

    assert order.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED
    assert order.raw_status == "IN_PROGRESS/PAID"
    assert [
        (line.channel_line_id, line.sku, line.quantity, line.quantity_shipped, line.unit_price) for line in order.lines
    ] == [
        ("10081787034725", "CS-2960CX-8PC", 2, 2, "20.99"),
        ("10081787034825", None, 1, 0, "19.99"),
    ]
    assert order.lines[1].title == 'Samsung 850 EVO 500GB 2.5" SATA III SSD MZ-75E500'
    assert order.shipping_address == Address(
        name="Marco Ibarra",
        company="Lakeside IT Services",
        line1="12315 Parc Crest Dr",
        city="Stafford",
        region="TX",
        postal_code="77477-2408",
        country_code="US",
        phone="7135550177",
    )
    assert (order.currency, order.total) == ("USD", "70.92")
    assert order.channel_updated_at == datetime(2026, 6, 30, 16, 2, 41, tzinfo=UTC)


def test_cancelled_and_refunded_order_is_cancelled() -> None:
    order = to_channel_order(fixture("getOrder_200_cancelled_refunded.json"))

    assert order.external_id == "04-11873-20419"
    assert order.channel_status is ChannelOrderStatus.CANCELLED
    assert order.payment_status is PaymentStatus.REFUNDED
    assert order.raw_status == "NOT_STARTED/FULLY_REFUNDED/cancel CANCELED"
    assert order.shipping_address is not None
    assert (order.shipping_address.region, order.shipping_address.postal_code) == ("Cumbria", "CA11 7QA")
    assert order.lines[0].unit_price == "24.50"
    assert (order.currency, order.total) == ("GBP", "27.70")


def _order(fulfillment: str = "NOT_STARTED", payment: str = "PAID", cancel: str = "NONE_REQUESTED") -> dict[str, Any]:
    return {
        "orderFulfillmentStatus": fulfillment,
        "orderPaymentStatus": payment,
        "cancelStatus": {"cancelState": cancel},
    }


@pytest.mark.parametrize(
    ("fulfillment", "payment", "cancel", "expected"),
    [
        ("NOT_STARTED", "PAID", "NONE_REQUESTED", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("IN_PROGRESS", "PAID", "NONE_REQUESTED", ChannelOrderStatus.PARTIALLY_FULFILLED),
        ("FULFILLED", "PAID", "NONE_REQUESTED", ChannelOrderStatus.FULFILLED),
        ("NOT_STARTED", "PENDING", "NONE_REQUESTED", ChannelOrderStatus.PENDING_PAYMENT),
        ("NOT_STARTED", "FAILED", "NONE_REQUESTED", ChannelOrderStatus.PENDING_PAYMENT),
        ("NOT_STARTED", "PARTIALLY_REFUNDED", "NONE_REQUESTED", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("FULFILLED", "PARTIALLY_REFUNDED", "NONE_REQUESTED", ChannelOrderStatus.FULFILLED),
        ("NOT_STARTED", "FULLY_REFUNDED", "NONE_REQUESTED", ChannelOrderStatus.REFUNDED),
        ("FULFILLED", "FULLY_REFUNDED", "NONE_REQUESTED", ChannelOrderStatus.REFUNDED),
        ("NOT_STARTED", "PAID", "CANCELED", ChannelOrderStatus.CANCELLED),
        ("FULFILLED", "FULLY_REFUNDED", "CANCELED", ChannelOrderStatus.CANCELLED),
        ("NOT_STARTED", "PAID", "IN_PROGRESS", ChannelOrderStatus.ON_HOLD),
        ("IN_PROGRESS", "PAID", "IN_PROGRESS", ChannelOrderStatus.PARTIALLY_FULFILLED),
        ("SOMETHING_NEW", "PAID", "NONE_REQUESTED", ChannelOrderStatus.UNKNOWN),
    ],
)
def test_every_documented_status(fulfillment: str, payment: str, cancel: str, expected: ChannelOrderStatus) -> None:
    assert channel_status(_order(fulfillment, payment, cancel))[0] is expected


def test_missing_cancel_status_means_none_requested() -> None:
    assert channel_status({"orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": "PAID"}) == (
        ChannelOrderStatus.AWAITING_FULFILLMENT,
        "NOT_STARTED/PAID",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PENDING", PaymentStatus.PENDING),
        ("PAID", PaymentStatus.PAID),
        ("PARTIALLY_REFUNDED", PaymentStatus.PARTIALLY_REFUNDED),
        ("FULLY_REFUNDED", PaymentStatus.REFUNDED),
        ("FAILED", PaymentStatus.FAILED),
        ("NEW_STATE", PaymentStatus.UNKNOWN),
        (None, PaymentStatus.UNKNOWN),
    ],
)
def test_payment_statuses(raw: str | None, expected: PaymentStatus) -> None:
    assert payment_status(raw) is expected


def test_order_without_ship_to_has_no_address() -> None:
    raw = fixture("getOrders_200_lastmodifieddate.json")["orders"][0]
    raw["fulfillmentStartInstructions"] = [
        {"fulfillmentInstructionsType": "DIGITAL", "ebaySupportedFulfillment": False}
    ]
    order = to_channel_order(raw)

    assert order.shipping_address is None
    assert order.customer_name == "Quarry Goods LLC"  # falls back to the buyer's registration name


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"orderId": None}, ValueError),
        ({"lastModifiedDate": "yesterday"}, ValueError),
        ({"lineItems": None}, ValueError),
        ({"lineItems": [{"title": "no id", "quantity": 1}]}, KeyError),
        ({"lineItems": [{"lineItemId": "1", "quantity": "two"}]}, TypeError),
    ],
)
def test_malformed_orders_raise(change: dict[str, Any], error: type[Exception]) -> None:
    raw = fixture("getOrders_200_lastmodifieddate.json")["orders"][0]
    raw.update(change)
    with pytest.raises(error):
        to_channel_order(raw)


def test_parse_document_accepts_list_response_single_order_and_array() -> None:
    page = fixture("getOrders_200_lastmodifieddate.json")
    single = fixture("getOrder_200_cancelled_refunded.json")

    assert [o.external_id for o in order_from_document(page)] == ["13-14786-65872", "25-14809-32185"]
    assert [o.external_id for o in order_from_document(single)] == ["04-11873-20419"]
    assert [o.external_id for o in order_from_document([single])] == ["04-11873-20419"]
    assert SPEC.parse_document is order_from_document


def test_parse_document_explains_a_notification_and_a_wrong_document() -> None:
    with pytest.raises(ValueError, match=r"only names order 13-14786-65872.*getOrder"):
        order_from_document(fixture("notification_order_confirmation.json"))
    with pytest.raises(ValueError, match=r"not an eBay order document.*top-level keys: errors"):
        order_from_document(fixture("createShippingFulfillment_400_invalid_line_item.json"))
    with pytest.raises(ValueError, match="got str"):
        order_from_document("13-14786-65872")
    with pytest.raises(ValueError, match=r"entries \[1\]"):
        order_from_document({"orders": [fixture("getOrder_200_cancelled_refunded.json"), 7]})


def test_fulfillment_helpers() -> None:
    order = fixture("getOrders_200_lastmodifieddate.json")["orders"][1]
    done = fixture("getShippingFulfillments_200.json")["fulfillments"]

    assert remaining_line_items(order, done) == [{"lineItemId": "10081787034825", "quantity": 1}]
    assert matching_fulfillment(done, None, "9405509699937003457459") == "9405509699937003457459"
    assert matching_fulfillment(done, None, "1Z999AA10123456784") is None
    assert requested_line_items([("a", 1), ("b", 2), ("a", 1)]) == [
        {"lineItemId": "a", "quantity": 2},
        {"lineItemId": "b", "quantity": 2},
    ]
    with pytest.raises(ValueError, match="must be positive"):
        requested_line_items([("a", 0)])
    assert tracking_number("1Z 999-AA1 0123456784") == "1Z999AA10123456784"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"


def test_untracked_fulfillment_matches_on_its_lines() -> None:
    done = [{"fulfillmentId": "F1", "lineItems": [{"lineItemId": "a", "quantity": 1}]}]

    assert matching_fulfillment(done, [{"lineItemId": "a", "quantity": 1}], None) == "F1"
    assert matching_fulfillment(done, [{"lineItemId": "a", "quantity": 2}], None) is None


@pytest.mark.parametrize(
    ("carrier", "code"),
    [("ups", "UPS"), ("usps", "USPS"), ("fedex", "FEDEX"), ("dhl", "DHL"), ("sandbox", "OTHER"), (None, "OTHER")],
)
def test_carrier_codes(carrier: str | None, code: str) -> None:
    assert carrier_code(Tracking(company="Any", number="X1", url=None, carrier=carrier)) == code


def test_fulfillment_id_comes_from_location() -> None:
    location = (
        "https://api.ebay.com/sell/fulfillment/v1/order/13-14786-65872/shipping_fulfillment/9405509699937003457459"
    )
    assert fulfillment_id_from_location(location) == "9405509699937003457459"
    assert fulfillment_id_from_location("https://api.ebay.com/sell/fulfillment/v1/order/13-14786-65872") is None
    assert fulfillment_id_from_location(None) is None


def test_spec_declares_what_ebay_can_do() -> None:
    from domain.model import ChannelCapability as Can

    assert SPEC.kind is ChannelKind.EBAY
    assert SPEC.capabilities == {Can.WRITE_BACK, Can.PARTIAL_LINES, Can.MULTIPLE_SHIPMENTS, Can.TOKEN_REFRESH}
    assert {f.name for f in SPEC.fields if f.secret} == {"client_secret", "refresh_token"}
    assert SPEC.defaults == {"api_url": "https://api.ebay.com"}
