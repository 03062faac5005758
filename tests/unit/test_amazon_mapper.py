"""Golden tests of the Amazon mapper on real SP-API Orders v0 payloads (tests/fixtures/amazon).

The fixtures are the examples and static sandbox responses of amzn/selling-partner-api-models
models/orders-api-model/ordersV0.json (and orders_2026-01-01.json for the newer API we do not read).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.amazon import SPEC
from adapters.channels.amazon.client import error_text
from adapters.channels.amazon.mapper import (
    carrier_fields,
    package_reference_id,
    parse_document,
    payment_status,
    shipment_body,
    to_address,
    to_channel_order,
    to_lines,
    unshipped_quantities,
)
from domain.model import Address, ChannelCapability, ChannelOrder, ChannelOrderStatus, OrderLine, PaymentStatus
from domain.ports import Tracking

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
MICHIGAN = Address(
    name="Michigan address", line1="1 Cross St.", city="Canton", region="MI", postal_code="48817", country_code="US"
)
JAN_20 = datetime(2017, 1, 20, 19, 49, 35, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def example_order() -> dict[str, Any]:
    return copy.deepcopy(load("getOrder_200_example.json")["payload"])


def test_get_orders_example_golden() -> None:
    (order,) = parse_document(load("getOrders_200_example.json"))

    assert order == ChannelOrder(
        external_id="902-3159896-1390916",
        number="902-3159896-1390916",
        channel_status=ChannelOrderStatus.PENDING_PAYMENT,
        payment_status=PaymentStatus.PENDING,
        lines=[],
        shipping_address=MICHIGAN,
        channel_updated_at=JAN_20,
        channel_created_at=JAN_20,
        raw_status="Pending",
        customer_name="John Doe",
        customer_email="user@example.com",
        currency=None,
        total=None,
    )


def test_get_order_example_golden_equals_the_list_entry() -> None:
    assert parse_document(load("getOrder_200_example.json")) == parse_document(load("getOrders_200_example.json"))


def test_sandbox_unshipped_orders_without_address_and_with_their_items() -> None:
    orders = load("getOrders_200_sandbox_TEST_CASE_200.json")
    items = load("getOrderItems_200_sandbox_TEST_CASE_200.json")

    first, second = parse_document([orders, items])

    assert first == ChannelOrder(
        external_id="902-1845936-5435065",
        number="902-1845936-5435065",
        channel_status=ChannelOrderStatus.AWAITING_FULFILLMENT,
        payment_status=PaymentStatus.PAID,
        lines=[
            OrderLine(
                channel_line_id="05015851154158",
                title="B00551Q3CS [Card Book]",
                quantity=1,
                sku="NABetaASINB00551Q3CS",
                quantity_shipped=0,
                unit_price="10.00",
            )
        ],
        shipping_address=None,  # no address on the list without PII access: Waybill makes a draft
        channel_updated_at=datetime(1970, 1, 19, 3, 58, 32, tzinfo=UTC),
        channel_created_at=datetime(1970, 1, 19, 3, 58, 30, tzinfo=UTC),
        raw_status="Unshipped",
        customer_name=None,
        customer_email=None,
        currency="USD",
        total="11.01",
    )
    assert second.external_id == "902-8745147-1934268"
    assert second.lines == []  # its items were not pasted


def test_order_items_example_golden_unit_price_is_the_line_total_divided() -> None:
    items = load("getOrderItems_200_example.json")["payload"]["OrderItems"]

    assert to_lines(items) == [
        OrderLine(
            channel_line_id="68828574383266",
            title="Example item name",
            quantity=1,
            sku="CBA_OTF_1",
            quantity_shipped=1,
            unit_price="25.99",
        ),
        OrderLine(
            channel_line_id="79039765272157",
            title="Example item name",
            quantity=2,
            sku="CBA_OTF_5",
            quantity_shipped=0,  # QuantityShipped absent
            unit_price="8.975",  # ItemPrice 17.95 for two
        ),
    ]
    assert unshipped_quantities(items) == {"79039765272157": 2}


def test_next_token_sandbox_pages_and_the_address_example() -> None:
    page1 = parse_document(load("getOrders_200_sandbox_next_token_page1.json"))
    page2 = parse_document(load("getOrders_200_sandbox_next_token_page2.json"))
    address = to_address(load("getOrderAddress_200_example.json")["payload"]["ShippingAddress"])

    assert [o.external_id for o in page1 + page2] == ["902-3159896-1390916"] * 2
    assert page1[0].shipping_address is None and page1[0].customer_email is None
    assert address == Address(
        name="Michigan address", line1="1 cross st", city="Canton", region="MI", postal_code="48817", country_code="US"
    )


def test_address_lines_two_and_three_company_and_phone() -> None:
    raw = {
        "Name": "Ana",
        "CompanyName": "Okafor Design",
        "AddressLine1": "1600 Amphitheatre Pkwy",
        "AddressLine2": "Bldg 4",
        "AddressLine3": "Floor 2",
        "City": "Mountain View",
        "StateOrRegion": "CA",
        "PostalCode": "94043",
        "CountryCode": "US",
        "Phone": " +1 650-555-0143 ",
    }
    address = to_address(raw)
    assert address is not None
    assert (address.company, address.line2, address.phone) == ("Okafor Design", "Bldg 4 Floor 2", "+1 650-555-0143")


@pytest.mark.parametrize(
    ("amazon_status", "fulfillment_channel", "expected"),
    [
        ("Pending", "MFN", ChannelOrderStatus.PENDING_PAYMENT),
        ("PendingAvailability", "MFN", ChannelOrderStatus.PENDING_PAYMENT),
        ("Unshipped", "MFN", ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("PartiallyShipped", "MFN", ChannelOrderStatus.PARTIALLY_FULFILLED),
        ("Shipped", "MFN", ChannelOrderStatus.FULFILLED),
        ("InvoiceUnconfirmed", "MFN", ChannelOrderStatus.FULFILLED),
        ("Canceled", "MFN", ChannelOrderStatus.CANCELLED),
        ("Unfulfillable", "MFN", ChannelOrderStatus.CANCELLED),
        ("SomethingNew", "MFN", ChannelOrderStatus.UNKNOWN),
        ("Unshipped", "AFN", ChannelOrderStatus.FULFILLED),  # Amazon ships FBA orders itself
        ("Canceled", "AFN", ChannelOrderStatus.CANCELLED),
    ],
)
def test_every_documented_status(amazon_status: str, fulfillment_channel: str, expected: ChannelOrderStatus) -> None:
    raw = example_order() | {"OrderStatus": amazon_status, "FulfillmentChannel": fulfillment_channel}

    order = to_channel_order(raw)

    assert order.channel_status is expected
    assert order.raw_status == amazon_status


@pytest.mark.parametrize(
    ("amazon_status", "expected"),
    [
        ("Pending", PaymentStatus.PENDING),
        ("PendingAvailability", PaymentStatus.PENDING),
        ("Unshipped", PaymentStatus.PAID),
        ("PartiallyShipped", PaymentStatus.PAID),
        ("Shipped", PaymentStatus.PAID),
        ("InvoiceUnconfirmed", PaymentStatus.PAID),
        ("Canceled", PaymentStatus.VOIDED),
        ("Unfulfillable", PaymentStatus.UNKNOWN),
        (None, PaymentStatus.UNKNOWN),
    ],
)
def test_payment_status_follows_the_order_status(amazon_status: str | None, expected: PaymentStatus) -> None:
    assert payment_status(amazon_status) is expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AmazonOrderId": None}, "has no 'AmazonOrderId'"),
        ({"OrderStatus": ""}, "has no 'OrderStatus'"),
        ({"PurchaseDate": "last Tuesday"}, "Invalid isoformat"),
        ({"LastUpdateDate": 1484941775}, "not an ISO 8601 time"),
    ],
)
def test_a_malformed_order_raises_value_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_channel_order(example_order() | change)


def test_malformed_items_raise_for_the_client_to_report() -> None:
    with pytest.raises(KeyError):
        to_lines([{"OrderItemId": "1", "Title": "no quantity"}])
    with pytest.raises(ValueError, match="ItemPrice 'twelve'"):
        to_lines([{"OrderItemId": "1", "QuantityOrdered": 1, "ItemPrice": {"Amount": "twelve"}}])


def test_parse_document_accepts_a_bare_order_and_an_order_with_items() -> None:
    bare = example_order()
    with_items = example_order() | {"OrderItems": load("getOrderItems_200_example.json")["payload"]["OrderItems"]}

    assert parse_document(bare)[0].external_id == "902-3159896-1390916"
    assert [line.channel_line_id for line in parse_document(with_items)[0].lines] == [
        "68828574383266",
        "79039765272157",
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("902-3159896-1390916", "expected a JSON object with an Amazon order, got str"),
        ({"foo": 1, "bar": 2}, r"not an Amazon order document.*top-level keys: bar, foo"),
        (load("getOrders_400_sandbox_error.json"), "Amazon error response, not an order"),
        (load("orders_2026-01-01_getOrder_200_example.json"), "Orders API 2026-01-01 document"),
        (load("orders_2026-01-01_searchOrders_200_example.json"), "Orders API 2026-01-01 document"),
        (load("getOrderItems_200_example.json"), "only order items were given"),
        ({"NotificationType": "ORDER_CHANGE", "Payload": {}}, "notification holds only a summary"),
        ([example_order(), 7], "entry 1: expected a JSON object"),
    ],
)
def test_parse_document_explains_a_wrong_document(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(doc)


def test_spec_parses_documents_and_declares_no_undo() -> None:
    assert SPEC.parse_document is parse_document
    assert SPEC.can(ChannelCapability.PARTIAL_LINES) and SPEC.can(ChannelCapability.TOKEN_REFRESH)
    assert not SPEC.can(ChannelCapability.UNDO_SHIPMENT) and not SPEC.can(ChannelCapability.DELIVERED_STATUS)
    assert {f.name for f in SPEC.fields if f.secret} == {"refresh_token", "client_secret"}


# --- shipment confirmation ----------------------------------------------------------------


def test_package_reference_id_is_numeric_and_deterministic() -> None:
    ups = Tracking(company="UPS", number="1Z999AA10123456784", url=None, carrier="ups")
    again = Tracking(company="United Parcel", number="1Z999AA10123456784", url="https://x", carrier="ups")
    other = Tracking(company="UPS", number="1Z999AA10123456785", url=None, carrier="ups")

    ids = {package_reference_id(t, None) for t in (ups, again)}

    assert len(ids) == 1 and ids.pop().isdigit()
    assert package_reference_id(ups, None) != package_reference_id(other, None)
    assert package_reference_id(None, {"a": 1}) != package_reference_id(None, {"a": 2})
    assert int(package_reference_id(None, None)) > 0


@pytest.mark.parametrize(
    ("carrier", "company", "expected"),
    [
        ("ups", "UPS", {"carrierCode": "UPS"}),
        ("usps", "USPS", {"carrierCode": "USPS"}),
        ("fedex", "FedEx", {"carrierCode": "FedEx"}),
        ("DHL", "DHL Express", {"carrierCode": "DHL"}),
        ("sandbox", "Sandbox Post", {"carrierCode": "Other", "carrierName": "Sandbox Post"}),
        (None, "Local Courier", {"carrierCode": "Other", "carrierName": "Local Courier"}),
    ],
)
def test_carrier_codes(carrier: str | None, company: str, expected: dict[str, str]) -> None:
    assert carrier_fields(Tracking(company=company, number="1", url=None, carrier=carrier)) == expected


def test_shipment_body_and_hand_delivery() -> None:
    tracking = Tracking(company="UPS", number="1Z1", url=None, carrier="ups", service="Ground")
    shipped_at = datetime(2026, 3, 1, 12, 30, 5, 123, tzinfo=UTC)

    body = shipment_body("ATVPDKIKX0DER", "42", {"111": 2}, tracking, shipped_at)
    hand = shipment_body("ATVPDKIKX0DER", "43", {"111": 1}, None, shipped_at)

    assert body == {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": "42",
            "carrierCode": "UPS",
            "trackingNumber": "1Z1",
            "shipDate": "2026-03-01T12:30:05Z",
            "orderItems": [{"orderItemId": "111", "quantity": 2}],
            "shippingMethod": "Ground",
        },
    }
    assert hand["packageDetail"] | {"orderItems": None} == {
        "packageReferenceId": "43",
        "carrierCode": "Other",
        "carrierName": "Hand delivery",
        "trackingNumber": "HAND-43",
        "shipDate": "2026-03-01T12:30:05Z",
        "orderItems": None,
    }


def test_error_text_reads_amazon_and_lwa_errors() -> None:
    sandbox = httpx.Response(400, json=load("getOrders_400_sandbox_error.json"))
    expired = httpx.Response(
        403,
        json={
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token you provided has expired.",
                }
            ]
        },
    )
    lwa = httpx.Response(400, json={"error": "invalid_grant", "error_description": "The request has an invalid grant"})

    assert error_text(sandbox) == "InvalidInput: Invalid Input"
    assert error_text(expired) == (
        "Unauthorized: Access to requested resource is denied. (The access token you provided has expired.)"
    )
    assert error_text(lwa) == "The request has an invalid grant (invalid_grant)"
