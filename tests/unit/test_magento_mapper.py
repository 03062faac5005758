"""Golden tests of the Magento mapper on real REST payloads (tests/fixtures/magento).

order_get_V1_orders_3 and order_ship_request_V1_order_3_ship: Adobe Commerce REST tutorial (order 3, step 9);
orders_search_fields_filtered: a /V1/orders search with `fields=items[entity_id,increment_id]`.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels.magento import SPEC
from adapters.channels.magento.client import error_text, render_message
from adapters.channels.magento.mapper import (
    channel_status,
    format_time,
    parse_document,
    parse_time,
    payment_status,
    to_channel_order,
)
from domain.model import Address, ChannelCapability, ChannelKind, ChannelOrderStatus, OrderLine, PaymentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magento"
JANE = Address(
    name="Jane Doe",
    company=None,
    line1="123 Oak Ave",
    line2=None,
    city="Purchase",
    region="NY",
    postal_code="10577",
    country_code="US",
    phone="512-555-1111",
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def order_3() -> dict[str, Any]:
    return fixture("order_get_V1_orders_3.json")


def with_items(items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    order = order_3()
    order["items"] = items
    order.update(fields)
    return order


def item(item_id: int, ordered: Any, shipped: Any = 0, **fields: Any) -> dict[str, Any]:
    base = {"item_id": item_id, "sku": f"SKU-{item_id}", "name": f"Item {item_id}", "price": 10}
    return {**base, "qty_ordered": ordered, "qty_shipped": shipped, **fields}


# --- golden ------------------------------------------------------------------------------


def test_tutorial_order_maps_exactly() -> None:
    order = to_channel_order(order_3())

    assert order.external_id == "3"
    assert order.number == "000000003"
    assert order.channel_status is ChannelOrderStatus.PENDING_PAYMENT  # state new: bank transfer not received
    assert order.payment_status is PaymentStatus.PENDING
    assert order.raw_status == "pending"
    assert order.lines == [
        OrderLine(
            channel_line_id="3",
            title="Radiant Tee-M-Orange",
            quantity=1,
            sku="WS12-M-Orange",
            quantity_shipped=0,
            unit_price="22.00",
            grams=None,
        )
    ]
    assert order.shipping_address == JANE
    assert order.channel_created_at == datetime(2017, 8, 21, 22, 22, 19, tzinfo=UTC)
    assert order.channel_updated_at == datetime(2017, 8, 21, 22, 22, 20, tzinfo=UTC)
    assert order.customer_name == "Jane Doe"
    assert order.customer_email == "jdoe@example.com"
    assert order.currency == "USD"
    assert order.total == "165.00"


@pytest.mark.parametrize(("unit", "grams"), [("lbs", 454), ("kgs", 1000), ("LBS", 454), (None, None), ("oz", None)])
def test_weights_become_grams_only_when_the_store_unit_is_known(unit: str | None, grams: int | None) -> None:
    assert to_channel_order(order_3(), weight_unit=unit).lines[0].grams == grams


def test_fields_filtered_search_is_refused_with_a_readable_reason() -> None:
    with pytest.raises(ValueError, match=r"order 3003 lacks state.*paste the full order"):
        parse_document(fixture("orders_search_fields_filtered.json"))


def test_the_documented_ship_request_only_names_items_the_order_has() -> None:
    # The tutorial order's other items (5: bundle parent, 11) are not in the stored payload: only 3 is.
    body = fixture("order_ship_request_V1_order_3_ship.json")
    line_ids = {line.channel_line_id for line in to_channel_order(order_3()).lines}
    assert {str(entry["order_item_id"]) for entry in body["items"]} & line_ids == {"3"}
    assert body["tracks"][0]["carrier_code"] == "ups"


# --- items -------------------------------------------------------------------------------


def test_configurable_children_and_virtual_items_are_left_out() -> None:
    parent = item(10, 2, 1, product_type="configurable", sku="MH01-M-Black", price=52)
    child = item(11, 2, 1, product_type="simple", parent_item_id=10, price=0)
    virtual = item(12, 1, 0, product_type="virtual", is_virtual=1)
    order = to_channel_order(with_items([parent, child, virtual], state="processing"))

    assert [(line.channel_line_id, line.sku, line.quantity, line.quantity_shipped) for line in order.lines] == [
        ("10", "MH01-M-Black", 2, 1)
    ]
    assert order.lines[0].unit_price == "52.00"
    assert order.channel_status is ChannelOrderStatus.PARTIALLY_FULFILLED


def test_decimal_strings_and_cancelled_quantities() -> None:
    order = to_channel_order(with_items([item(7, "3.0000", "1.0000", qty_canceled="1.0000", price="9.5")]))
    assert (order.lines[0].quantity, order.lines[0].quantity_shipped, order.lines[0].unit_price) == (2, 1, "9.50")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda o: o.pop("increment_id"), KeyError),
        (lambda o: o.update(items="nope"), TypeError),
        (lambda o: o.update(updated_at="yesterday"), ValueError),
        (lambda o: o.update(updated_at=None), TypeError),
        (lambda o: o["items"][0].update(qty_ordered="1.5"), ValueError),
        (lambda o: o["items"][0].pop("item_id"), KeyError),
        (lambda o: o.update(state=3), TypeError),
    ],
)
def test_malformed_orders_raise(change: Any, error: type[Exception]) -> None:
    order = order_3()
    change(order)
    with pytest.raises(error):
        to_channel_order(order)


def test_no_shipping_assignment_means_no_address() -> None:
    order = order_3()
    order["extension_attributes"] = {"shipping_assignments": []}
    assert to_channel_order(order).shipping_address is None
    del order["extension_attributes"]
    assert to_channel_order(order).shipping_address is None


def test_multi_line_street_company_and_guest_name() -> None:
    order = order_3()
    address = order["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]
    address.update(street=["1 Main St", "Floor 2", "Door B"], company="Acme", region_code=None)
    order.update(customer_firstname=None, customer_lastname=None, customer_is_guest=1)
    mapped = to_channel_order(order)
    assert mapped.shipping_address is not None
    assert (mapped.shipping_address.line1, mapped.shipping_address.line2) == ("1 Main St", "Floor 2, Door B")
    assert (mapped.shipping_address.company, mapped.shipping_address.region) == ("Acme", "New York")
    assert mapped.customer_name == "Jane Doe"  # from the billing address


# --- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "shipped", "expected"),
    [
        ("new", 0, ChannelOrderStatus.PENDING_PAYMENT),
        ("pending_payment", 0, ChannelOrderStatus.PENDING_PAYMENT),
        ("payment_review", 0, ChannelOrderStatus.PENDING_PAYMENT),
        ("processing", 0, ChannelOrderStatus.AWAITING_FULFILLMENT),
        ("processing", 1, ChannelOrderStatus.PARTIALLY_FULFILLED),
        ("processing", 3, ChannelOrderStatus.FULFILLED),  # shipped, not yet invoiced
        ("complete", 3, ChannelOrderStatus.FULFILLED),
        ("holded", 0, ChannelOrderStatus.ON_HOLD),
        ("canceled", 0, ChannelOrderStatus.CANCELLED),
        ("canceled", 1, ChannelOrderStatus.CANCELLED),
        ("closed", 3, ChannelOrderStatus.REFUNDED),
        ("fraud_custom_state", 0, ChannelOrderStatus.UNKNOWN),
    ],
)
def test_every_magento_state(state: str, shipped: int, expected: ChannelOrderStatus) -> None:
    order = with_items([item(1, 2, min(shipped, 2)), item(2, 1, max(0, shipped - 2))], state=state, status=state)
    mapped = to_channel_order(order)
    assert mapped.channel_status is expected
    assert mapped.raw_status == state
    assert channel_status(state, mapped.lines) is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": "new"}, PaymentStatus.PENDING),
        ({"state": "pending_payment"}, PaymentStatus.PENDING),
        ({"state": "payment_review"}, PaymentStatus.PENDING),
        ({"state": "processing", "total_paid": 165}, PaymentStatus.PAID),
        ({"state": "processing", "total_paid": 100}, PaymentStatus.PARTIALLY_PAID),
        ({"state": "processing", "payment": {"amount_authorized": 165}}, PaymentStatus.AUTHORIZED),
        ({"state": "complete", "total_paid": 165}, PaymentStatus.PAID),
        ({"state": "complete", "total_paid": 165, "total_refunded": 20}, PaymentStatus.PARTIALLY_REFUNDED),
        ({"state": "closed", "total_paid": 165, "total_refunded": 165}, PaymentStatus.REFUNDED),
        ({"state": "closed"}, PaymentStatus.REFUNDED),
        ({"state": "canceled"}, PaymentStatus.VOIDED),
        ({"state": "processing", "grand_total": 0}, PaymentStatus.PAID),
        ({"state": "mystery"}, PaymentStatus.UNKNOWN),
    ],
)
def test_payment_status_from_totals(fields: dict[str, Any], expected: PaymentStatus) -> None:
    order = order_3()
    order.update(fields)
    assert payment_status(order) is expected


# --- parse_document ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap",
    [
        lambda o: o,
        lambda o: [o],
        lambda o: {"items": [o], "search_criteria": {"filter_groups": []}, "total_count": 1},
        lambda o: {"order": o},
        lambda o: {"event": "sales_order_save_after", "data": {"value": o}},
        lambda o: {"data": {"order": o}},
    ],
)
def test_parse_document_accepts_what_merchants_paste(wrap: Any) -> None:
    [order] = parse_document(wrap(order_3()))
    assert (order.external_id, order.number) == ("3", "000000003")


def test_parse_document_reads_every_order_of_a_search() -> None:
    second = copy.deepcopy(order_3()) | {"entity_id": 4, "increment_id": "000000004"}
    doc = {"items": [order_3(), second], "total_count": 2}
    assert [order.number for order in parse_document(doc)] == ["000000003", "000000004"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"message": "The consumer isn't authorized to access %resources."}, "Magento error response"),
        ({"orders": []}, "not a Magento order: expected entity_id and increment_id, found orders"),
        ({"items": [], "total_count": 0}, "no Magento order found"),
        ("000000003", "expected a JSON object or list"),
        (
            [{"entity_id": 1, "increment_id": "1", "state": "new", "created_at": 5, "updated_at": 5, "items": []}],
            "malformed",
        ),
    ],
)
def test_parse_document_explains_a_wrong_document(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(doc)


# --- small pieces ------------------------------------------------------------------------


def test_times_are_utc_without_zone() -> None:
    assert parse_time("2024-03-05 07:08:09") == datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)
    assert format_time(datetime(2024, 3, 5, 7, 8, 9, 999, tzinfo=UTC)) == "2024-03-05 07:08:09"
    assert format_time(datetime.fromisoformat("2024-03-05T09:08:09+02:00")) == "2024-03-05 07:08:09"


def test_magento_error_parameters_are_rendered() -> None:
    assert render_message("The consumer isn't authorized to access %resources.", {"resources": "X::y"}) == (
        "The consumer isn't authorized to access X::y."
    )
    assert render_message("%1 of %2 (%10)", [*"ab", *"cdefghij"]) == "a of b (j)"
    response = httpx.Response(400, json={"message": '"%fieldName" is required.', "parameters": {"fieldName": "x"}})
    assert error_text(response) == '"x" is required.'


def test_spec_declares_what_magento_can_do() -> None:
    assert SPEC.kind is ChannelKind.MAGENTO
    assert SPEC.capabilities == frozenset(
        {ChannelCapability.WRITE_BACK, ChannelCapability.PARTIAL_LINES, ChannelCapability.MULTIPLE_SHIPMENTS}
    )
    assert not SPEC.can(ChannelCapability.UNDO_SHIPMENT)
    assert [f.name for f in SPEC.fields if f.secret] == ["access_token"]
    assert [f.name for f in SPEC.fields if f.required] == ["base_url", "access_token"]
    assert SPEC.parse_document(order_3())[0].external_id == "3"
