"""Drafts under the account's rules, the merchant's edits, and how later syncs treat them (pure domain)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain import edits, lifecycle
from domain.drafts import DraftRules, reasons
from domain.edits import InvalidEdit, LineEdit, OrderEdit
from domain.model import Address, ChannelOrder, ChannelOrderStatus, Order, OrderLine, OrderStatus, PaymentStatus
from tests.support.builders import address

CREATED = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
GB_TO_US = DraftRules(origin_country="GB")


def channel_order(
    shipping_address: Address | None = None, *, updated: int = 1, grams: int | None = 300
) -> ChannelOrder:
    return ChannelOrder(
        external_id="ext-1",
        number="#1",
        channel_status=ChannelOrderStatus.AWAITING_FULFILLMENT,
        payment_status=PaymentStatus.PAID,
        lines=[
            OrderLine(channel_line_id="cl-1", title="Tea towel", quantity=2, sku="TT-1", unit_price="9.50", grams=grams)
        ],
        shipping_address=replace(shipping_address) if shipping_address else None,
        channel_updated_at=CREATED + timedelta(hours=updated),
        channel_created_at=CREATED,
        raw_status="open",
    )


def imported(shipping_address: Address | None = None, rules: DraftRules | None = None, **kw: object) -> Order:
    order = lifecycle.import_order(1, 1, channel_order(shipping_address, **kw), rules)  # type: ignore[arg-type]
    order.id = 7
    for position, line in enumerate(order.lines, start=1):
        line.id = position
    order.events.clear()
    return order


def sync(order: Order, shipping_address: Address | None, rules: DraftRules | None = None, updated: int = 2) -> None:
    lifecycle.apply_channel_update(order, channel_order(shipping_address, updated=updated), False, rules=rules)


# --- rules ------------------------------------------------------------------------------------


def test_no_address_is_a_draft_with_a_readable_reason() -> None:
    order = imported(None)
    assert order.status is OrderStatus.DRAFT
    assert order.missing_fields == ["shippingAddress"]
    assert reasons(order.missing_fields, order.lines) == [("shippingAddress", "The order has no shipping address.")]


def test_without_an_origin_country_no_order_is_international() -> None:
    assert imported(address()).status is OrderStatus.READY_TO_SHIP


def test_an_international_order_needs_invoice_contents_and_hs_code_or_description() -> None:
    order = imported(address(), GB_TO_US)
    assert order.status is OrderStatus.DRAFT
    assert order.missing_fields == ["invoiceNumber", "customs.contents", "lines.cl-1.hsCode"]
    messages = dict(reasons(order.missing_fields, order.lines))
    assert messages["lines.cl-1.hsCode"].startswith("Line TT-1: ")


def test_a_domestic_order_needs_no_customs() -> None:
    assert imported(address(), DraftRules(origin_country="US")).status is OrderStatus.READY_TO_SHIP


def test_customs_and_invoice_rules_can_be_switched_off_and_defaulted() -> None:
    assert imported(address(), replace(GB_TO_US, customs=False, invoice_number=False)).missing_fields == []
    defaulted = replace(GB_TO_US, invoice_number=False, default_customs_contents="MERCHANDISE")
    assert imported(address(), defaulted).missing_fields == ["lines.cl-1.hsCode"]


def test_a_line_without_weight_is_a_draft_only_when_the_rule_is_on_and_no_default_exists() -> None:
    assert imported(address(), grams=None).status is OrderStatus.READY_TO_SHIP
    weighed = DraftRules(line_weight=True)
    assert imported(address(), weighed, grams=None).missing_fields == ["lines.cl-1.weightGrams"]
    assert imported(address(), replace(weighed, default_line_weight_grams=250), grams=None).missing_fields == []


def test_rules_read_from_account_settings_ignore_unknown_keys() -> None:
    rules = DraftRules.from_settings({"draft_rules": {"origin_country": "GB", "line_weight": True, "old": 1}})
    assert rules == DraftRules(origin_country="GB", line_weight=True)
    assert DraftRules.from_settings(None) == DraftRules()


# --- the merchant's edits ---------------------------------------------------------------------


def test_filling_in_the_address_makes_the_draft_ready_and_audits_field_names_only() -> None:
    order = imported(None)
    typed = {
        "name": "Ada",
        "line1": "1 Main St",
        "city": "Springfield",
        "region": "IL",
        "postal_code": "62701",
        "country_code": "us",
    }
    changed = edits.apply_edit(order, OrderEdit(shipping_address=typed), DraftRules())
    assert order.status is OrderStatus.READY_TO_SHIP
    assert order.missing_fields == []
    assert order.shipping_address is not None and order.shipping_address.country_code == "US"
    assert "shippingAddress.postalCode" in changed
    [event] = order.events
    assert event.type == "ORDER_EDITED" and event.data["from"] == "DRAFT" and event.data["status"] == "READY_TO_SHIP"
    assert "62701" not in str(event.data) and "Main" not in str(event.data)


def test_an_invalid_edit_names_every_bad_field_and_changes_nothing() -> None:
    order = imported(address())
    before = replace(order.shipping_address) if order.shipping_address else None
    edit = OrderEdit(
        shipping_address={"postal_code": "ABC", "city": ""},
        contact_email="not-mail",
        lines=[LineEdit(line_id=1, weight_grams=-1, hs_code="12"), LineEdit(line_id=99, weight_grams=5)],
    )
    with pytest.raises(InvalidEdit) as raised:
        edits.apply_edit(order, edit, DraftRules())
    assert [path for path, _ in raised.value.errors] == [
        ["input", "shippingAddress", "city"],
        ["input", "shippingAddress", "postalCode"],
        ["input", "contact", "email"],
        ["input", "lines", "0", "weightGrams"],
        ["input", "lines", "0", "hsCode"],
        ["input", "lines", "1", "lineId"],
    ]
    assert order.shipping_address == before and order.merchant_edits == {} and order.events == []


def test_customs_data_completes_an_international_draft() -> None:
    order = imported(address(), GB_TO_US)
    edit = OrderEdit(
        invoice_number="INV-1", customs_contents="MERCHANDISE", lines=[LineEdit(line_id=1, hs_code="6302.60")]
    )
    edits.apply_edit(order, edit, GB_TO_US)
    assert order.status is OrderStatus.READY_TO_SHIP
    assert order.lines[0].hs_code == "630260"


# --- later syncs ------------------------------------------------------------------------------


def edited_postal_code() -> Order:
    order = imported(address())
    edits.apply_edit(order, OrderEdit(shipping_address={"postal_code": "62704"}), DraftRules())
    order.events.clear()
    return order


def test_a_sync_that_leaves_the_field_alone_keeps_the_merchants_value() -> None:
    order = edited_postal_code()
    sync(order, address(phone="+1 555 0100"))
    assert order.shipping_address is not None and order.shipping_address.postal_code == "62704"
    assert order.shipping_address.phone == "+1 555 0100" and order.conflicts == []


def test_an_empty_channel_value_never_overwrites_the_merchants() -> None:
    order = edited_postal_code()
    sync(order, address(postal_code=None))
    assert order.shipping_address is not None and order.shipping_address.postal_code == "62704"
    assert order.status is OrderStatus.READY_TO_SHIP and order.conflicts == []


def test_the_channel_changing_the_same_field_keeps_the_merchants_value_and_shows_a_conflict() -> None:
    order = edited_postal_code()
    sync(order, address(postal_code="62711"))
    assert order.shipping_address is not None and order.shipping_address.postal_code == "62704"
    [conflict] = order.conflicts
    assert (conflict.field, conflict.merchant_value, conflict.channel_value) == (
        "shippingAddress.postalCode",
        "62704",
        "62711",
    )
    assert [e.type for e in order.events] == ["ORDER_UPDATED", "ORDER_CONFLICT"]


@pytest.mark.parametrize(("keep", "postal"), [("MERCHANT", "62704"), ("CHANNEL", "62711")])
def test_a_conflict_is_resolved_by_choosing_a_side(keep: str, postal: str) -> None:
    order = edited_postal_code()
    sync(order, address(postal_code="62711"))
    edits.apply_edit(order, OrderEdit(resolve=[("shippingAddress.postalCode", keep)]), DraftRules())
    assert order.conflicts == []
    assert order.shipping_address is not None and order.shipping_address.postal_code == postal
    sync(order, address(postal_code="62711", phone="+1 555 0199"), updated=3)  # the same channel value again
    assert order.conflicts == [] and order.shipping_address.postal_code == postal


def test_the_channel_catching_up_with_the_merchant_ends_the_edit() -> None:
    order = edited_postal_code()
    sync(order, address(postal_code="62704"))
    assert order.merchant_edits == {} and order.conflicts == []


def test_a_later_sync_bringing_the_missing_address_completes_the_draft() -> None:
    order = imported(None)
    sync(order, address())
    assert order.status is OrderStatus.READY_TO_SHIP and order.missing_fields == []


def test_a_merchant_address_on_a_draft_survives_a_sync_that_still_has_none() -> None:
    order = imported(None)
    typed = {
        "name": "Ada",
        "line1": "1 Main St",
        "city": "Springfield",
        "region": "IL",
        "postal_code": "62701",
        "country_code": "US",
    }
    edits.apply_edit(order, OrderEdit(shipping_address=typed), DraftRules())
    sync(order, None)
    assert order.status is OrderStatus.READY_TO_SHIP
    assert order.shipping_address is not None and order.shipping_address.city == "Springfield"


def test_merchant_line_data_survives_a_sync() -> None:
    order = imported(address(), GB_TO_US)
    edit = OrderEdit(
        invoice_number="INV-1", customs_contents="GIFT", lines=[LineEdit(line_id=1, customs_description="Cotton towel")]
    )
    edits.apply_edit(order, edit, GB_TO_US)
    sync(order, address(phone="+1 555 0100"), GB_TO_US)
    assert order.lines[0].customs_description == "Cotton towel" and order.status is OrderStatus.READY_TO_SHIP


def test_a_label_for_the_merchants_address_is_not_flagged_when_the_channel_leaves_it_alone() -> None:
    order = edited_postal_code()
    order.status = OrderStatus.SHIPPING
    for line in order.lines:
        line.quantity_shipped = line.quantity
    sync(order, address())
    assert order.status is OrderStatus.SHIPPING and order.attention_reason is None
    sync(order, address(city="Shelbyville"), updated=3)
    assert order.status is OrderStatus.NEEDS_ATTENTION and "62704" in (order.attention_reason or "")


# --- archive --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shipping_address", "expected"), [(None, OrderStatus.DRAFT), (address(), OrderStatus.READY_TO_SHIP)]
)
def test_unarchive_returns_to_what_the_data_says(shipping_address: Address | None, expected: OrderStatus) -> None:
    order = imported(shipping_address)
    lifecycle.archive(order)
    edits.unarchive(order, DraftRules())
    assert order.status is expected


def test_unarchive_of_a_delivered_order_is_delivered_again() -> None:
    order = imported(address())
    lifecycle.skip_shipping(order)
    lifecycle.archive(order)
    edits.unarchive(order, DraftRules())
    assert order.status is OrderStatus.DELIVERED
