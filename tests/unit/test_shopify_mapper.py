"""Golden tests of the Shopify mapper on real Admin REST payloads (tests/fixtures/shopify).

order_authorized / orders_list_without_lines: Shopify/shopify_python_api test fixtures (old and newer REST shapes);
order_partially_refunded / orders_list / fulfillment_orders_open / fulfillment_create_*: Shopify/shopify-app-js
REST 2026-07 mocks. fulfillment_orders_on_hold and fulfillment_orders_split are adapted from fulfillment_orders_open.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.channels.shopify.mapper import (
    fo_line_items_for,
    order_from_document,
    to_channel_order,
)
from domain.model import Address, ChannelOrderStatus, OrderLine, PaymentStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"

BOB = Address(
    name="Bob Norman",
    company=None,
    line1="Chestnut Street 92",
    line2=None,
    city="Louisville",
    region="KY",
    postal_code="40202",
    country_code="US",
    phone="+1(502)-459-2181",
)
CREATED = datetime(2008, 1, 10, 16, 0, tzinfo=UTC)  # 11:00 -05:00


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def refunded_order() -> dict[str, Any]:
    return copy.deepcopy(load("order_partially_refunded.json")["order"])


def test_authorized_order_golden() -> None:
    order = to_channel_order(load("order_authorized.json")["order"])

    assert order.external_id == "450789469"
    assert order.number == "#1001"
    assert order.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert order.payment_status is PaymentStatus.AUTHORIZED
    assert order.raw_status == "authorized/unfulfilled"
    assert order.lines == [
        OrderLine(channel_line_id=line_id, title="IPod Nano - 8gb", quantity=1, sku=sku, unit_price="199.00", grams=200)
        for line_id, sku in (
            ("466157049", "IPOD2008GREEN"),
            ("518995019", "IPOD2008RED"),
            ("703073504", "IPOD2008BLACK"),
        )
    ]
    assert order.shipping_address == Address(**{**BOB.__dict__, "phone": "555-625-1199"})
    assert order.customer_name == "Bob Norman"
    assert order.customer_email == "bob.norman@hostmail.com"
    assert (order.currency, order.total) == ("USD", "409.94")
    assert order.channel_created_at == order.channel_updated_at == CREATED
    assert order.channel_created_at.utcoffset() is not None


def test_partially_refunded_order_keeps_only_lines_still_on_the_order() -> None:
    order = to_channel_order(refunded_order())

    assert order.number == "#1001"
    assert order.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert order.payment_status is PaymentStatus.PARTIALLY_REFUNDED
    assert order.lines == [
        OrderLine(
            channel_line_id="518995019",
            title="IPod Nano - 8gb",
            quantity=1,
            sku="IPOD2008RED",
            unit_price="199.00",
            grams=200,
        )
    ]
    assert order.shipping_address == BOB
    assert order.customer_email == "bob.norman@mail.example.com"
    assert order.total == "598.94"


def test_orders_list_maps_every_order() -> None:
    orders = order_from_document(load("orders_list.json"))

    assert [(o.external_id, o.number, [line.channel_line_id for line in o.lines]) for o in orders] == [
        ("450789469", "#1001", ["518995019"])
    ]


def test_order_without_line_items_maps_to_no_lines() -> None:
    [order] = order_from_document(load("orders_list_without_lines.json"))

    assert order.lines == []
    assert order.payment_status is PaymentStatus.PARTIALLY_REFUNDED
    assert order.shipping_address is not None and order.shipping_address.region == "KY"


def test_open_fulfillment_orders_leave_the_order_awaiting_fulfillment() -> None:
    order = to_channel_order(refunded_order(), load("fulfillment_orders_open.json")["fulfillment_orders"])

    assert order.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT


def test_held_fulfillment_orders_put_the_order_on_hold() -> None:
    held = load("fulfillment_orders_on_hold.json")["fulfillment_orders"]
    assert {fo["status"] for fo in held} == {"on_hold", "closed"}  # the closed FO must not hide the hold

    order = to_channel_order(refunded_order(), held)

    assert order.channel_status is ChannelOrderStatus.ON_HOLD
    assert order.raw_status == "on_hold"


def test_a_partly_held_order_is_on_hold_until_every_hold_is_released() -> None:
    split = load("fulfillment_orders_split.json")["fulfillment_orders"]  # open + in_progress + closed + on_hold

    assert to_channel_order(refunded_order(), split).channel_status is ChannelOrderStatus.ON_HOLD
    released = [{**fo, "status": "open"} if fo["status"] == "on_hold" else fo for fo in split]
    assert to_channel_order(refunded_order(), released).channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT


@pytest.mark.parametrize(
    ("changes", "status", "status_when_held", "payment"),
    [
        (
            {"cancelled_at": "2008-01-11T09:00:00-05:00", "financial_status": "refunded"},
            "CANCELLED",
            "CANCELLED",
            "REFUNDED",
        ),
        ({"financial_status": "refunded", "fulfillment_status": "fulfilled"}, "REFUNDED", "REFUNDED", "REFUNDED"),
        ({"financial_status": "paid", "fulfillment_status": "fulfilled"}, "FULFILLED", "FULFILLED", "PAID"),
        (
            {"financial_status": "paid", "fulfillment_status": "partial"},
            "PARTIALLY_FULFILLED",
            "PARTIALLY_FULFILLED",
            "PAID",
        ),
        ({"financial_status": "pending"}, "PENDING_PAYMENT", "ON_HOLD", "PENDING"),
        ({"financial_status": "expired"}, "PENDING_PAYMENT", "ON_HOLD", "FAILED"),
        ({"financial_status": "paid"}, "AWAITING_FULFILLMENT", "ON_HOLD", "PAID"),
        ({"financial_status": "voided"}, "AWAITING_FULFILLMENT", "ON_HOLD", "VOIDED"),
        ({"financial_status": "partially_paid"}, "AWAITING_FULFILLMENT", "ON_HOLD", "PARTIALLY_PAID"),
        ({"financial_status": "something_new"}, "AWAITING_FULFILLMENT", "ON_HOLD", "UNKNOWN"),
    ],
)
def test_status_mapping(changes: dict[str, Any], status: str, status_when_held: str, payment: str) -> None:
    """Cancel/refund/fulfillment outrank a hold; a hold outranks payment (CHANNELS.md section 8)."""
    raw = {**refunded_order(), **changes}
    held = load("fulfillment_orders_on_hold.json")["fulfillment_orders"]

    assert to_channel_order(raw).channel_status is ChannelOrderStatus(status)
    assert to_channel_order(raw, held).channel_status is ChannelOrderStatus(status_when_held)
    assert to_channel_order(raw).payment_status is PaymentStatus(payment)


def test_raw_status_says_what_shopify_said() -> None:
    cancelled = to_channel_order({**refunded_order(), "cancelled_at": "2008-01-11T09:00:00-05:00"})
    partial = to_channel_order({**refunded_order(), "financial_status": "paid", "fulfillment_status": "partial"})

    assert cancelled.raw_status == "cancelled (partially_refunded/unfulfilled)"
    assert partial.raw_status == "paid/partial"


def test_missing_shipping_address_and_names_fall_back() -> None:
    raw = {**refunded_order(), "shipping_address": None, "email": "", "contact_email": "c@example.com"}

    order = to_channel_order(raw)

    assert order.shipping_address is None
    assert order.customer_name == "Bob Norman"  # from the customer record
    assert order.customer_email == "c@example.com"


def test_empty_sku_becomes_none() -> None:
    raw = refunded_order()
    raw["line_items"][1]["sku"] = ""

    assert to_channel_order(raw).lines[0].sku is None


def test_missing_required_field_is_a_clear_error() -> None:
    raw = refunded_order()
    del raw["updated_at"]

    with pytest.raises(ValueError, match="450789469 has no 'updated_at'"):
        to_channel_order(raw)


@pytest.mark.parametrize("wrap", [lambda o: {"order": o}, lambda o: {"orders": [o]}, lambda o: o])
def test_order_from_document_accepts_the_usual_wrappers(wrap: Any) -> None:
    [order] = order_from_document(wrap(load("order_authorized.json")["order"]))

    assert (order.number, order.channel_status, len(order.lines)) == (
        "#1001",
        ChannelOrderStatus.AWAITING_FULFILLMENT,
        3,
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "expected a JSON object"),
        ({"fulfillment": {"id": 1}}, "not a Shopify order document.*fulfillment"),
        ({"orders": [1]}, r"'orders' entries \[0\]"),
    ],
)
def test_order_from_document_rejects_other_documents(doc: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        order_from_document(doc)


# --- fo_line_items_for -------------------------------------------------------------------


def split_fos() -> list[dict[str, Any]]:
    return load("fulfillment_orders_split.json")["fulfillment_orders"]


def test_order_line_ids_become_fulfillment_order_line_ids() -> None:
    fos = load("fulfillment_orders_open.json")["fulfillment_orders"]

    assert fo_line_items_for(fos, [("518995019", 1)]) == [
        {"fulfillment_order_id": 1046000780, "fulfillment_order_line_items": [{"id": 1072503277, "quantity": 1}]}
    ]


def test_a_line_split_across_locations_draws_from_each_open_fulfillment_order() -> None:
    # 466157049: 2 fulfillable in FO 2001, 1 in FO 2002 (in_progress).
    assert fo_line_items_for(split_fos(), [("466157049", 3), ("703073504", 1)]) == [
        {"fulfillment_order_id": 2001, "fulfillment_order_line_items": [{"id": 3001, "quantity": 2}]},
        {
            "fulfillment_order_id": 2002,
            "fulfillment_order_line_items": [{"id": 3003, "quantity": 1}, {"id": 3004, "quantity": 1}],
        },
    ]


def test_none_means_everything_fulfillable_in_open_fulfillment_orders_only() -> None:
    assert fo_line_items_for(split_fos(), None) == [
        {
            "fulfillment_order_id": 2001,
            "fulfillment_order_line_items": [{"id": 3001, "quantity": 2}, {"id": 3002, "quantity": 1}],
        },
        {
            "fulfillment_order_id": 2002,
            "fulfillment_order_line_items": [{"id": 3003, "quantity": 1}, {"id": 3004, "quantity": 1}],
        },
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("466157049", 4)], "line 466157049: 4 requested but only 3 fulfillable"),
        ([("900000001", 1)], "line 900000001: 1 requested but only 0 fulfillable"),  # its FO is on hold
        ([("999", 1)], "line 999: 1 requested but only 0"),
        ([("518995019", 0)], "line 518995019: quantity must be positive"),
        ([("518995019", 1), ("518995019", 1)], "line 518995019: 2 requested but only 1"),
        ([], "no lines to fulfill"),
    ],
)
def test_impossible_requests_name_the_line(lines: list[tuple[str, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fo_line_items_for(split_fos(), lines)


def test_nothing_left_to_fulfill_is_an_error() -> None:
    closed = [{**fo, "status": "closed"} for fo in split_fos()]

    with pytest.raises(ValueError, match="nothing left to fulfill"):
        fo_line_items_for(closed, None)


def test_built_payload_has_the_shape_of_shopifys_request() -> None:
    real = load("fulfillment_create_request.json")["fulfillment"]["line_items_by_fulfillment_order"][0]
    built = fo_line_items_for(load("fulfillment_orders_open.json")["fulfillment_orders"], None)[0]

    assert set(real) <= set(built)
    assert isinstance(built["fulfillment_order_id"], type(real["fulfillment_order_id"]))
