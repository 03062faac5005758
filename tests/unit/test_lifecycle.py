"""The order lifecycle table of DESIGN.md, row by row, and every refusal with its code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain import lifecycle
from domain.errors import DomainError, ErrorCode
from domain.model import (
    Address,
    ChannelOrder,
    ChannelOrderStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingStatus,
    WriteKind,
)
from tests.support.builders import address

CREATED = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
UPDATED = CREATED + timedelta(hours=1)
LATER = CREATED + timedelta(hours=2)

# --- builders ---------------------------------------------------------------------------------


MOVED = address(line1="1 New Street", city="Shelbyville", postal_code="62565")


def order_lines(*specs: tuple[int, int] | tuple[int, int, int]) -> list[OrderLine]:
    """(id, quantity[, shipped]) -> lines whose channel line id is `cl-<id>`."""
    built = []
    for spec in specs:
        line_id, quantity = spec[0], spec[1]
        shipped = spec[2] if len(spec) == 3 else 0
        built.append(
            OrderLine(
                channel_line_id=f"cl-{line_id}",
                title=f"Item {line_id}",
                quantity=quantity,
                sku=f"SKU-{line_id}",
                quantity_shipped=shipped,
                id=line_id,
            )
        )
    return built


def channel_lines(*specs: tuple[int, int]) -> list[OrderLine]:
    """Lines as a mapper reports them: channel ids only, no Waybill id."""
    return [replace(line, id=None) for line in order_lines(*specs)]


_DEFAULT_ADDRESS = address()


def channel_order(
    status: ChannelOrderStatus = ChannelOrderStatus.AWAITING_FULFILLMENT,
    *,
    shipping_address: Address | None = _DEFAULT_ADDRESS,
    lines: list[OrderLine] | None = None,
    raw_status: str = "open",
    updated_at: datetime = UPDATED,
) -> ChannelOrder:
    return ChannelOrder(
        external_id="ext-1001",
        number="#1001",
        channel_status=status,
        payment_status=PaymentStatus.PAID,
        lines=channel_lines((1, 2), (2, 1)) if lines is None else lines,
        shipping_address=replace(shipping_address) if shipping_address is not None else None,
        channel_updated_at=updated_at,
        channel_created_at=CREATED,
        raw_status=raw_status,
        customer_name="Ada Lovelace",
        customer_email="ada@example.com",
        currency="USD",
        total="42.00",
    )


def order(
    status: OrderStatus = OrderStatus.READY_TO_SHIP,
    *,
    lines: list[OrderLine] | None = None,
    shipping_address: Address | None = _DEFAULT_ADDRESS,
    channel_status: ChannelOrderStatus = ChannelOrderStatus.AWAITING_FULFILLMENT,
    missing: list[str] | None = None,
    attention_reason: str | None = None,
) -> Order:
    """An order already stored by Waybill: line 1 (quantity 2) and line 2 (quantity 1) by default."""
    return Order(
        id=10,
        account_id=1,
        channel_id=3,
        external_id="ext-1001",
        number="#1001",
        status=status,
        channel_status=channel_status,
        payment_status=PaymentStatus.PAID,
        lines=order_lines((1, 2), (2, 1)) if lines is None else lines,
        shipping_address=replace(shipping_address) if shipping_address is not None else None,
        channel_updated_at=CREATED,
        channel_created_at=CREATED,
        customer_name="Ada Lovelace",
        customer_email="ada@example.com",
        currency="USD",
        total="42.00",
        missing_fields=missing or [],
        attention_reason=attention_reason,
    )


def shipment(
    shipment_id: int,
    carried: list[tuple[int, int]],
    status: ShipmentStatus = ShipmentStatus.PURCHASED,
) -> Shipment:
    """A label carrying (order line id, quantity) pairs."""
    return Shipment(
        id=shipment_id,
        account_id=1,
        order_id=10,
        carrier="sandbox",
        service="ground",
        idempotency_key=f"key-{shipment_id}",
        lines=[ShipmentLine(line_id, f"cl-{line_id}", quantity) for line_id, quantity in carried],
        status=status,
        tracking_number=f"1Z{shipment_id:08d}",
        tracking_url=f"https://track.example/1Z{shipment_id:08d}",
    )


def shipped(o: Order) -> dict[int | None, int]:
    return {line.id: line.quantity_shipped for line in o.lines}


def buy(o: Order, shipment_id: int, wanted: dict[int, int] | None = None) -> Shipment:
    """Both halves of `buyLabel`, the carrier selling the label in between."""
    chosen = lifecycle.begin_label(o, wanted)
    label = shipment(shipment_id, [(c.order_line_id, c.quantity) for c in chosen])
    lifecycle.label_purchased(o, label)
    return label


def event_types(o: Order) -> list[str]:
    return [event.type for event in o.events]


def write_kinds(o: Order) -> list[WriteKind]:
    return [write.kind for write in o.writes]


def assert_refused(code: ErrorCode, action: object, *args: object) -> DomainError:
    assert callable(action)
    with pytest.raises(DomainError) as raised:
        action(*args)
    assert raised.value.code is code, raised.value.message
    return raised.value


# --- import: rows 1-4 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel_status", "expected"),
    [
        (ChannelOrderStatus.AWAITING_FULFILLMENT, OrderStatus.READY_TO_SHIP),
        (ChannelOrderStatus.PENDING_PAYMENT, OrderStatus.READY_TO_SHIP),
        (ChannelOrderStatus.ON_HOLD, OrderStatus.BACK_ORDERED),
        (ChannelOrderStatus.FULFILLED, OrderStatus.SHIPPED_ELSEWHERE),
        (ChannelOrderStatus.PARTIALLY_FULFILLED, OrderStatus.SHIPPED_ELSEWHERE),
        (ChannelOrderStatus.CANCELLED, OrderStatus.CANCELLED),
        (ChannelOrderStatus.REFUNDED, OrderStatus.CANCELLED),
        (ChannelOrderStatus.UNKNOWN, OrderStatus.NEEDS_ATTENTION),
    ],
)
def test_import_takes_its_status_from_the_channel(channel_status: ChannelOrderStatus, expected: OrderStatus) -> None:
    imported = lifecycle.import_order(1, 3, channel_order(channel_status))

    assert imported.status is expected
    assert imported.missing_fields == []
    assert imported.writes == []


def test_every_channel_status_is_covered_by_the_import_table() -> None:
    covered = {
        ChannelOrderStatus.AWAITING_FULFILLMENT,
        ChannelOrderStatus.PENDING_PAYMENT,
        ChannelOrderStatus.ON_HOLD,
        ChannelOrderStatus.FULFILLED,
        ChannelOrderStatus.PARTIALLY_FULFILLED,
        ChannelOrderStatus.CANCELLED,
        ChannelOrderStatus.REFUNDED,
        ChannelOrderStatus.UNKNOWN,
    }
    assert covered == set(ChannelOrderStatus)


def test_import_copies_the_order_content() -> None:
    imported = lifecycle.import_order(1, 3, channel_order())

    assert (imported.account_id, imported.channel_id, imported.external_id) == (1, 3, "ext-1001")
    assert imported.number == "#1001"
    assert imported.shipping_address == address()
    assert [(line.channel_line_id, line.quantity, line.quantity_shipped) for line in imported.lines] == [
        ("cl-1", 2, 0),
        ("cl-2", 1, 0),
    ]
    assert imported.warning is None
    assert imported.attention_reason is None


@pytest.mark.parametrize("channel_status", [ChannelOrderStatus.FULFILLED, ChannelOrderStatus.PARTIALLY_FULFILLED])
def test_import_of_an_order_shipped_elsewhere_carries_a_warning(channel_status: ChannelOrderStatus) -> None:
    imported = lifecycle.import_order(1, 3, channel_order(channel_status))

    assert imported.status is OrderStatus.SHIPPED_ELSEWHERE
    assert imported.warning
    assert "shipped" in imported.warning
    assert all(line.quantity_shipped == 0 for line in imported.lines), "never silently corrupted"
    assert imported.writes == []


def test_import_without_an_address_is_a_draft_listing_the_address() -> None:
    imported = lifecycle.import_order(1, 3, channel_order(shipping_address=None))

    assert imported.status is OrderStatus.DRAFT
    assert imported.missing_fields == ["shippingAddress"]


def test_import_with_an_incomplete_address_is_a_draft_listing_each_missing_field() -> None:
    incomplete = address(line1=None, postal_code="", region=None)
    imported = lifecycle.import_order(1, 3, channel_order(shipping_address=incomplete))

    assert imported.status is OrderStatus.DRAFT
    assert imported.missing_fields == [
        "shippingAddress.line1",
        "shippingAddress.postalCode",
        "shippingAddress.region",
    ]


def test_import_of_an_unknown_status_needs_attention_with_a_reason() -> None:
    imported = lifecycle.import_order(1, 3, channel_order(ChannelOrderStatus.UNKNOWN, raw_status="weird-state"))

    assert imported.status is OrderStatus.NEEDS_ATTENTION
    assert imported.attention_reason
    assert "weird-state" in imported.attention_reason


def test_import_emits_an_order_imported_event() -> None:
    imported = lifecycle.import_order(1, 3, channel_order(ChannelOrderStatus.ON_HOLD))

    assert [(e.type, e.data) for e in imported.events] == [("ORDER_IMPORTED", {"status": "BACK_ORDERED"})]


def test_content_hash_ignores_only_the_update_timestamp() -> None:
    first = lifecycle.content_hash(channel_order(updated_at=UPDATED))

    assert lifecycle.content_hash(channel_order(updated_at=LATER)) == first
    assert lifecycle.content_hash(channel_order(shipping_address=MOVED)) != first
    assert lifecycle.content_hash(channel_order(ChannelOrderStatus.CANCELLED)) != first


# --- channel re-sync: rows 5-7 ----------------------------------------------------------------


def test_hold_released_by_the_channel_makes_the_order_ready() -> None:
    o = order(OrderStatus.BACK_ORDERED, channel_status=ChannelOrderStatus.ON_HOLD)

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.AWAITING_FULFILLMENT), False)

    assert o.status is OrderStatus.READY_TO_SHIP
    assert o.channel_status is ChannelOrderStatus.AWAITING_FULFILLMENT
    assert o.writes == []
    assert [(e.type, e.data) for e in o.events] == [
        ("ORDER_UPDATED", {"from": "BACK_ORDERED", "status": "READY_TO_SHIP", "source": "channel"})
    ]


def test_hold_placed_by_the_channel_before_a_label_backorders_the_order() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.ON_HOLD), False)

    assert o.status is OrderStatus.BACK_ORDERED


def test_address_change_before_a_label_updates_the_order() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(shipping_address=MOVED), False)

    assert o.shipping_address == MOVED
    assert o.status is OrderStatus.READY_TO_SHIP
    assert o.attention_reason is None
    assert o.writes == []


def test_address_change_before_a_label_that_drops_a_field_makes_a_draft() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(shipping_address=address(city=None)), False)

    assert o.status is OrderStatus.DRAFT
    assert o.missing_fields == ["shippingAddress.city"]


def test_line_changes_before_a_label_update_the_lines_and_keep_their_ids() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(lines=channel_lines((1, 3), (4, 1))), False)

    assert [(line.id, line.channel_line_id, line.quantity) for line in o.lines] == [
        (1, "cl-1", 3),
        (None, "cl-4", 1),
    ]


@pytest.mark.parametrize("before", [OrderStatus.READY_TO_SHIP, OrderStatus.BACK_ORDERED, OrderStatus.DRAFT])
@pytest.mark.parametrize("cancel", [ChannelOrderStatus.CANCELLED, ChannelOrderStatus.REFUNDED])
def test_cancellation_before_a_label_cancels_the_order(before: OrderStatus, cancel: ChannelOrderStatus) -> None:
    o = order(before)

    lifecycle.apply_channel_update(o, channel_order(cancel), False)

    assert o.status is OrderStatus.CANCELLED
    assert o.writes == []


def test_a_draft_completed_by_the_channel_becomes_ready() -> None:
    o = order(OrderStatus.DRAFT, shipping_address=None, missing=["shippingAddress"])

    lifecycle.apply_channel_update(o, channel_order(shipping_address=address()), False)

    assert o.status is OrderStatus.READY_TO_SHIP
    assert o.missing_fields == []
    assert o.shipping_address == address()


def test_an_unknown_status_on_resync_before_a_label_needs_attention() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.UNKNOWN, raw_status="limbo"), False)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason
    assert "limbo" in o.attention_reason


@pytest.mark.parametrize(
    ("before", "lines"),
    [
        (OrderStatus.SHIPPING, order_lines((1, 2, 2), (2, 1, 1))),
        (OrderStatus.PARTIALLY_SHIPPED, order_lines((1, 2, 1), (2, 1, 0))),
    ],
)
@pytest.mark.parametrize("cancel", [ChannelOrderStatus.CANCELLED, ChannelOrderStatus.REFUNDED])
def test_cancellation_after_a_label_flags_the_order_and_does_not_void(
    before: OrderStatus, lines: list[OrderLine], cancel: ChannelOrderStatus
) -> None:
    o = order(before, lines=[replace(line) for line in lines])
    shipped_before = shipped(o)

    lifecycle.apply_channel_update(o, channel_order(cancel), True)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason
    assert "cancelled" in o.attention_reason
    assert o.writes == [], "no write to the channel: the label is not voided silently"
    assert shipped(o) == shipped_before


def test_a_later_resync_keeps_a_cancellation_after_a_label_flagged() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.CANCELLED), False)
    reason = o.attention_reason

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.CANCELLED, updated_at=LATER), False)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason == reason
    assert o.writes == []


@pytest.mark.parametrize(
    ("before", "lines"),
    [
        (OrderStatus.SHIPPING, order_lines((1, 2, 2), (2, 1, 1))),
        (OrderStatus.PARTIALLY_SHIPPED, order_lines((1, 2, 1), (2, 1, 0))),
    ],
)
def test_address_change_after_a_label_flags_the_order_and_keeps_the_stored_address(
    before: OrderStatus, lines: list[OrderLine]
) -> None:
    o = order(before, lines=[replace(line) for line in lines])

    lifecycle.apply_channel_update(o, channel_order(shipping_address=MOVED), False)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason
    assert "address" in o.attention_reason
    assert address().line1 in o.attention_reason, "the reason names the address the label was made for"
    assert o.shipping_address == MOVED, "the channel's address is kept, so a new label goes there"
    assert o.writes == []


def test_after_an_address_change_and_a_void_the_next_label_goes_to_the_new_address() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)])
    lifecycle.apply_channel_update(o, channel_order(shipping_address=MOVED), False)
    # The channel keeps reporting the new address at every poll: still flagged.
    lifecycle.apply_channel_update(o, channel_order(shipping_address=MOVED, updated_at=LATER), False)
    assert o.status is OrderStatus.NEEDS_ATTENTION

    lifecycle.label_voided(o, label, [label])

    assert o.status is OrderStatus.READY_TO_SHIP
    assert o.shipping_address == MOVED


def test_items_added_on_the_channel_after_a_label_flag_the_order_and_are_kept() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))

    lifecycle.apply_channel_update(o, channel_order(lines=channel_lines((1, 2), (2, 1), (3, 4))), False)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason is not None and "items" in o.attention_reason
    assert shipped(o) == {1: 2, 2: 1, None: 0}, "the new line is there, not yet shipped"


def test_unchanged_resync_after_a_label_keeps_the_order_shipping() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.AWAITING_FULFILLMENT), False)

    assert o.status is OrderStatus.SHIPPING
    assert o.attention_reason is None


@pytest.mark.parametrize(
    ("before", "lines"),
    [
        (OrderStatus.SHIPPING, order_lines((1, 2, 2), (2, 1, 1))),
        (OrderStatus.PARTIALLY_SHIPPED, order_lines((1, 2, 2), (2, 1, 0))),
        # A label was just voided: our SHIPMENT_CANCELLED write has not reached the channel yet.
        (OrderStatus.READY_TO_SHIP, order_lines((1, 2), (2, 1))),
    ],
)
@pytest.mark.parametrize("echo", [ChannelOrderStatus.FULFILLED, ChannelOrderStatus.PARTIALLY_FULFILLED])
def test_fulfilled_echo_while_our_writes_are_pending_is_not_shipped_elsewhere(
    before: OrderStatus, lines: list[OrderLine], echo: ChannelOrderStatus
) -> None:
    o = order(before, lines=[replace(line) for line in lines])

    lifecycle.apply_channel_update(o, channel_order(echo), True)

    assert o.status is before
    assert o.warning is None


def test_fulfilled_without_pending_writes_before_a_label_is_shipped_elsewhere() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.FULFILLED), False)

    assert o.status is OrderStatus.SHIPPED_ELSEWHERE
    assert o.warning == lifecycle.SHIPPED_ELSEWHERE_WARNING


@pytest.mark.parametrize("kept", [OrderStatus.DELIVERED, OrderStatus.ARCHIVED])
@pytest.mark.parametrize(
    "channel_status",
    [
        ChannelOrderStatus.AWAITING_FULFILLMENT,
        ChannelOrderStatus.ON_HOLD,
        ChannelOrderStatus.FULFILLED,
        ChannelOrderStatus.CANCELLED,
        ChannelOrderStatus.REFUNDED,
        ChannelOrderStatus.UNKNOWN,
    ],
)
def test_delivered_and_archived_orders_keep_their_status(kept: OrderStatus, channel_status: ChannelOrderStatus) -> None:
    o = order(kept, lines=order_lines((1, 2, 2), (2, 1, 1)))

    lifecycle.apply_channel_update(o, channel_order(channel_status, shipping_address=MOVED), False)

    assert o.status is kept
    assert o.writes == []
    assert shipped(o) == {1: 2, 2: 1}


# --- buyLabel ---------------------------------------------------------------------------------


def test_a_label_for_every_line_makes_the_order_shipping() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    chosen = lifecycle.begin_label(o, None)

    assert chosen == [ShipmentLine(1, "cl-1", 2), ShipmentLine(2, "cl-2", 1)]
    assert shipped(o) == {1: 0, 2: 0}, "nothing counts as shipped before the carrier sells the label"
    lifecycle.label_purchased(o, shipment(50, [(1, 2), (2, 1)]))

    assert o.status is OrderStatus.SHIPPING
    assert shipped(o) == {1: 2, 2: 1}
    assert [(e.type, e.data) for e in o.events] == [
        ("LABEL_PURCHASED", {"from": "READY_TO_SHIP", "status": "SHIPPING", "shipment_id": 50})
    ]


def test_a_label_for_some_quantities_is_partial_and_the_rest_completes_the_order() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    buy(o, 50, {1: 1})
    assert o.status is OrderStatus.PARTIALLY_SHIPPED
    assert shipped(o) == {1: 1, 2: 0}

    rest = lifecycle.begin_label(o, None)
    assert rest == [ShipmentLine(1, "cl-1", 1), ShipmentLine(2, "cl-2", 1)]
    lifecycle.label_purchased(o, shipment(51, [(1, 1), (2, 1)]))
    assert o.status is OrderStatus.SHIPPING
    assert shipped(o) == {1: 2, 2: 1}


def test_the_rest_after_a_label_for_some_lines_leaves_out_the_shipped_lines() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    buy(o, 50, {1: 2})
    assert o.status is OrderStatus.PARTIALLY_SHIPPED

    assert lifecycle.begin_label(o, None) == [ShipmentLine(2, "cl-2", 1)]
    lifecycle.label_purchased(o, shipment(51, [(2, 1)]))
    assert o.status is OrderStatus.SHIPPING


def test_a_purchased_label_writes_shipping_and_tracking_to_the_channel_at_once() -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    label = shipment(50, [(1, 1), (2, 1)])

    lifecycle.label_purchased(o, label)

    assert len(o.writes) == 1
    write = o.writes[0]
    assert write.kind is WriteKind.SHIPMENT_CREATED
    assert write.payload["shipment_id"] == 50
    assert write.payload["carrier"] == "sandbox"
    assert write.payload["tracking_number"] == "1Z00000050"
    assert write.payload["tracking_url"] == "https://track.example/1Z00000050"
    assert [list(pair) for pair in write.payload["lines"]] == [["cl-1", 1], ["cl-2", 1]]


def test_quantity_over_what_remains_is_refused() -> None:
    o = order(OrderStatus.PARTIALLY_SHIPPED, lines=order_lines((1, 2, 1), (2, 1)))

    error = assert_refused(ErrorCode.QUANTITY_EXCEEDS_REMAINING, lifecycle.begin_label, o, {1: 2})

    assert error.field == ["lines", "quantity"]
    assert "1 left" in error.message


@pytest.mark.parametrize("quantity", [0, -1])
def test_zero_or_negative_quantity_is_invalid(quantity: int) -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    error = assert_refused(ErrorCode.INVALID, lifecycle.begin_label, o, {1: quantity})

    assert error.field == ["lines", "quantity"]


def test_an_unknown_line_is_not_found() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    error = assert_refused(ErrorCode.NOT_FOUND, lifecycle.begin_label, o, {99: 1})

    assert "99" in error.message
    assert error.field == ["lines"]


def test_a_ready_order_with_nothing_left_to_ship_is_refused() -> None:
    o = order(OrderStatus.READY_TO_SHIP, lines=order_lines((1, 2, 2), (2, 1, 1)))

    assert_refused(ErrorCode.NOTHING_TO_SHIP, lifecycle.begin_label, o, None)


def test_an_empty_line_selection_is_nothing_to_ship() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    assert_refused(ErrorCode.NOTHING_TO_SHIP, lifecycle.begin_label, o, {})


def test_a_second_label_for_a_fully_labelled_order_is_refused() -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    buy(o, 50)

    assert_refused(ErrorCode.ORDER_ALREADY_SHIPPED, lifecycle.begin_label, o, None)


#: What buyLabel answers in each status; None means a label may be bought.
BUY_LABEL_REFUSALS: dict[OrderStatus, ErrorCode | None] = {
    OrderStatus.READY_TO_SHIP: None,
    OrderStatus.PARTIALLY_SHIPPED: None,
    OrderStatus.CANCELLED: ErrorCode.ORDER_CANCELLED,
    OrderStatus.BACK_ORDERED: ErrorCode.ORDER_ON_HOLD,
    OrderStatus.DRAFT: ErrorCode.ORDER_INCOMPLETE,
    OrderStatus.ARCHIVED: ErrorCode.ORDER_ARCHIVED,
    OrderStatus.NEEDS_ATTENTION: ErrorCode.ORDER_NEEDS_ATTENTION,
    OrderStatus.SHIPPED_ELSEWHERE: ErrorCode.ORDER_ALREADY_SHIPPED,
    OrderStatus.SHIPPING: ErrorCode.ORDER_ALREADY_SHIPPED,
    OrderStatus.DELIVERED: ErrorCode.ORDER_DELIVERED,
}


def test_the_buy_label_table_covers_every_status() -> None:
    assert set(BUY_LABEL_REFUSALS) == set(OrderStatus)


@pytest.mark.parametrize(("status", "code"), [(s, c) for s, c in BUY_LABEL_REFUSALS.items() if c is not None], ids=str)
def test_buy_label_is_refused_with_a_code_per_status(status: OrderStatus, code: ErrorCode) -> None:
    o = order(status, lines=order_lines((1, 2, 1), (2, 1)))

    assert_refused(code, lifecycle.begin_label, o, None)
    assert_refused(code, lifecycle.begin_label, o, {2: 1})

    assert o.status is status
    assert shipped(o) == {1: 1, 2: 0}
    assert o.writes == []
    assert o.events == []


@pytest.mark.parametrize("status", [s for s, c in BUY_LABEL_REFUSALS.items() if c is None], ids=str)
def test_buy_label_is_allowed_while_lines_remain(status: OrderStatus) -> None:
    o = order(status, lines=order_lines((1, 2, 1), (2, 1)))

    assert lifecycle.begin_label(o, {2: 1}) == [ShipmentLine(2, "cl-2", 1)]


def test_buy_label_on_a_draft_lists_the_missing_fields() -> None:
    o = order(
        OrderStatus.DRAFT,
        shipping_address=address(line1=None, postal_code=None),
        missing=["shippingAddress.line1", "shippingAddress.postalCode"],
    )

    error = assert_refused(ErrorCode.ORDER_INCOMPLETE, lifecycle.begin_label, o, None)

    assert "shippingAddress.line1" in error.message
    assert "shippingAddress.postalCode" in error.message


def test_buy_label_on_an_order_needing_attention_gives_the_reason() -> None:
    o = order(OrderStatus.NEEDS_ATTENTION, attention_reason="The channel cancelled this order.")

    error = assert_refused(ErrorCode.ORDER_NEEDS_ATTENTION, lifecycle.begin_label, o, None)

    assert "The channel cancelled this order." in error.message


@pytest.mark.parametrize("status", [s for s in ShipmentStatus if s is not ShipmentStatus.PURCHASED], ids=str)
def test_label_purchased_requires_a_purchased_label(status: ShipmentStatus) -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    assert_refused(ErrorCode.LABEL_NOT_PURCHASED, lifecycle.label_purchased, o, shipment(50, [(1, 2)], status))

    assert o.status is OrderStatus.READY_TO_SHIP
    assert shipped(o) == {1: 0, 2: 0}
    assert o.writes == []


# --- skipShipping -----------------------------------------------------------------------------


def test_skip_shipping_delivers_the_order_and_fulfills_every_line() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.skip_shipping(o)

    assert o.status is OrderStatus.DELIVERED
    assert shipped(o) == {1: 2, 2: 1}
    assert write_kinds(o) == [WriteKind.ORDER_FULFILLED]
    assert [list(pair) for pair in o.writes[0].payload["lines"]] == [["cl-1", 2], ["cl-2", 1]]
    assert event_types(o) == ["SHIPPING_SKIPPED"]


SKIP_SHIPPING_REFUSALS: dict[OrderStatus, ErrorCode | None] = {
    **BUY_LABEL_REFUSALS,
    OrderStatus.PARTIALLY_SHIPPED: ErrorCode.ORDER_ALREADY_SHIPPED,
}


@pytest.mark.parametrize(
    ("status", "code"), [(s, c) for s, c in SKIP_SHIPPING_REFUSALS.items() if c is not None], ids=str
)
def test_skip_shipping_is_refused_with_a_code_per_status(status: OrderStatus, code: ErrorCode) -> None:
    o = order(status, lines=order_lines((1, 2, 1), (2, 1)))

    assert_refused(code, lifecycle.skip_shipping, o)

    assert o.status is status
    assert shipped(o) == {1: 1, 2: 0}
    assert o.writes == []
    assert o.events == []


def test_skip_shipping_is_only_allowed_when_ready() -> None:
    assert [s for s, c in SKIP_SHIPPING_REFUSALS.items() if c is None] == [OrderStatus.READY_TO_SHIP]


# --- carrier tracking -------------------------------------------------------------------------


@pytest.mark.parametrize("news", [TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY])
def test_in_transit_news_moves_the_shipment_in_transit(news: TrackingStatus) -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)])

    lifecycle.tracking_updated(o, label, news)
    lifecycle.order_delivered_if_complete(o, [label])

    assert label.status is ShipmentStatus.IN_TRANSIT
    assert label.tracking_status is news
    assert o.status is OrderStatus.SHIPPING
    assert o.writes == []
    assert [(e.type, e.data) for e in o.events] == [
        ("TRACKING_UPDATED", {"shipment_id": 50, "tracking_status": news.value})
    ]


@pytest.mark.parametrize("from_status", [ShipmentStatus.PURCHASED, ShipmentStatus.IN_TRANSIT])
def test_delivered_news_delivers_the_shipment_and_the_complete_order(from_status: ShipmentStatus) -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)], from_status)

    lifecycle.tracking_updated(o, label, TrackingStatus.DELIVERED)
    lifecycle.order_delivered_if_complete(o, [label])

    assert label.status is ShipmentStatus.DELIVERED
    assert [(w.kind, w.payload) for w in o.writes] == [(WriteKind.SHIPMENT_DELIVERED, {"shipment_id": 50})]
    assert o.status is OrderStatus.DELIVERED
    assert event_types(o) == ["TRACKING_UPDATED", "ORDER_DELIVERED"]


def test_the_order_is_delivered_only_when_every_live_shipment_is() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    first = shipment(50, [(1, 2)], ShipmentStatus.IN_TRANSIT)
    second = shipment(51, [(2, 1)], ShipmentStatus.IN_TRANSIT)

    lifecycle.tracking_updated(o, first, TrackingStatus.DELIVERED)
    lifecycle.order_delivered_if_complete(o, [first, second])
    assert o.status is OrderStatus.SHIPPING

    lifecycle.tracking_updated(o, second, TrackingStatus.DELIVERED)
    lifecycle.order_delivered_if_complete(o, [first, second])
    assert o.status is OrderStatus.DELIVERED
    assert write_kinds(o) == [WriteKind.SHIPMENT_DELIVERED, WriteKind.SHIPMENT_DELIVERED]


def test_a_voided_label_does_not_hold_back_delivery() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    voided = shipment(49, [(1, 2), (2, 1)], ShipmentStatus.VOIDED)
    label = shipment(50, [(1, 2), (2, 1)], ShipmentStatus.IN_TRANSIT)

    lifecycle.tracking_updated(o, label, TrackingStatus.DELIVERED)
    lifecycle.order_delivered_if_complete(o, [voided, label])

    assert o.status is OrderStatus.DELIVERED


def test_a_partially_shipped_order_with_its_label_delivered_stays_partially_shipped() -> None:
    o = order(OrderStatus.PARTIALLY_SHIPPED, lines=order_lines((1, 2, 2), (2, 1, 0)))
    label = shipment(50, [(1, 2)], ShipmentStatus.IN_TRANSIT)

    lifecycle.tracking_updated(o, label, TrackingStatus.DELIVERED)
    lifecycle.order_delivered_if_complete(o, [label])

    assert label.status is ShipmentStatus.DELIVERED
    assert write_kinds(o) == [WriteKind.SHIPMENT_DELIVERED]
    assert o.status is OrderStatus.PARTIALLY_SHIPPED


def test_order_delivered_if_complete_without_live_shipments_changes_nothing() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))

    lifecycle.order_delivered_if_complete(o, [shipment(49, [(1, 2), (2, 1)], ShipmentStatus.VOIDED)])

    assert o.status is OrderStatus.SHIPPING
    assert o.events == []


@pytest.mark.parametrize("dead", [ShipmentStatus.VOIDED, ShipmentStatus.FAILED, ShipmentStatus.PURCHASING])
@pytest.mark.parametrize("news", [TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED])
def test_news_for_a_label_that_does_not_count_is_ignored(dead: ShipmentStatus, news: TrackingStatus) -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    label = shipment(49, [(1, 2), (2, 1)], dead)

    lifecycle.tracking_updated(o, label, news)
    lifecycle.order_delivered_if_complete(o, [label])

    assert label.status is dead
    assert label.tracking_status is None
    assert o.status is OrderStatus.READY_TO_SHIP
    assert o.events == []
    assert o.writes == []


@pytest.mark.parametrize("news", [TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED])
def test_a_repeated_tracking_status_emits_nothing(news: TrackingStatus) -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)])
    lifecycle.tracking_updated(o, label, news)
    events, writes = len(o.events), len(o.writes)

    lifecycle.tracking_updated(o, label, news)

    assert (len(o.events), len(o.writes)) == (events, writes)
    assert events == 1


@pytest.mark.parametrize(
    ("news", "words"),
    [
        (TrackingStatus.RETURN_TO_SENDER, "returning it to the sender"),
        (TrackingStatus.DELIVERY_FAILED, "could not deliver"),
    ],
)
def test_a_parcel_in_trouble_puts_the_order_in_needs_attention(news: TrackingStatus, words: str) -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)], ShipmentStatus.IN_TRANSIT)
    label.tracking_number = "1ZTROUBLE"

    lifecycle.tracking_updated(o, label, news)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason is not None and "1ZTROUBLE" in o.attention_reason and words in o.attention_reason
    assert "ORDER_NEEDS_ATTENTION" in [e.type for e in o.events]
    assert o.writes == [], "nothing is written to the channel: the merchant decides"


def test_a_stalled_parcel_flags_the_order_once() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)], ShipmentStatus.IN_TRANSIT)
    label.tracking_number = "1ZSTALL"

    lifecycle.tracking_stalled(o, label, 7)
    lifecycle.tracking_stalled(o, label, 8)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason == "Parcel 1ZSTALL: no news from the carrier for 7 days."
    assert [e.type for e in o.events] == ["ORDER_NEEDS_ATTENTION"]


def test_a_delivered_parcel_never_stalls() -> None:
    o = order(OrderStatus.DELIVERED, lines=order_lines((1, 2, 2)))
    label = shipment(50, [(1, 2)], ShipmentStatus.DELIVERED)

    lifecycle.tracking_stalled(o, label, 30)

    assert o.status is OrderStatus.DELIVERED and o.events == []


# --- cancelLabel ------------------------------------------------------------------------------


@pytest.mark.parametrize("live", [ShipmentStatus.PURCHASED, ShipmentStatus.IN_TRANSIT])
def test_voiding_the_only_label_returns_the_lines_and_the_order_is_ready(live: ShipmentStatus) -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)], live)

    lifecycle.check_cancel_label(o, label)
    lifecycle.label_voided(o, label, [label])

    assert label.status is ShipmentStatus.VOIDED
    assert shipped(o) == {1: 0, 2: 0}
    assert o.status is OrderStatus.READY_TO_SHIP
    assert [(w.kind, w.payload) for w in o.writes] == [(WriteKind.SHIPMENT_CANCELLED, {"shipment_id": 50})]
    assert [(e.type, e.data) for e in o.events] == [
        ("LABEL_VOIDED", {"from": "SHIPPING", "status": "READY_TO_SHIP", "shipment_id": 50})
    ]


def test_voiding_one_of_two_labels_leaves_the_order_partially_shipped() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    first = shipment(50, [(1, 2)])
    second = shipment(51, [(2, 1)])

    lifecycle.label_voided(o, first, [first, second])

    assert shipped(o) == {1: 0, 2: 1}
    assert o.status is OrderStatus.PARTIALLY_SHIPPED
    assert write_kinds(o) == [WriteKind.SHIPMENT_CANCELLED]


def test_voiding_the_last_live_label_beside_a_voided_one_makes_the_order_ready() -> None:
    o = order(OrderStatus.PARTIALLY_SHIPPED, lines=order_lines((1, 2, 0), (2, 1, 1)))
    old = shipment(50, [(1, 2)], ShipmentStatus.VOIDED)
    label = shipment(51, [(2, 1)])

    lifecycle.label_voided(o, label, [old, label])

    assert shipped(o) == {1: 0, 2: 0}
    assert o.status is OrderStatus.READY_TO_SHIP


def test_a_voided_order_can_be_labelled_again() -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    label = buy(o, 50)
    lifecycle.label_voided(o, label, [label])

    buy(o, 51)

    assert o.status is OrderStatus.SHIPPING
    assert shipped(o) == {1: 2, 2: 1}


@pytest.mark.parametrize(
    ("order_status", "shipment_status", "code"),
    [
        (OrderStatus.READY_TO_SHIP, ShipmentStatus.VOIDED, ErrorCode.LABEL_ALREADY_VOIDED),
        (OrderStatus.SHIPPING, ShipmentStatus.PURCHASING, ErrorCode.LABEL_NOT_PURCHASED),
        (OrderStatus.READY_TO_SHIP, ShipmentStatus.FAILED, ErrorCode.LABEL_NOT_PURCHASED),
        (OrderStatus.PARTIALLY_SHIPPED, ShipmentStatus.DELIVERED, ErrorCode.LABEL_DELIVERED),
        (OrderStatus.DELIVERED, ShipmentStatus.DELIVERED, ErrorCode.ORDER_DELIVERED),
        (OrderStatus.DELIVERED, ShipmentStatus.IN_TRANSIT, ErrorCode.ORDER_DELIVERED),
        (OrderStatus.ARCHIVED, ShipmentStatus.PURCHASED, ErrorCode.ORDER_ARCHIVED),
    ],
    ids=str,
)
def test_cancel_label_is_refused(order_status: OrderStatus, shipment_status: ShipmentStatus, code: ErrorCode) -> None:
    o = order(order_status, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)], shipment_status)

    assert_refused(code, lifecycle.check_cancel_label, o, label)
    assert_refused(code, lifecycle.label_voided, o, label, [label])

    assert label.status is shipment_status
    assert o.status is order_status
    assert shipped(o) == {1: 2, 2: 1}
    assert o.writes == []
    assert o.events == []


def test_cancelling_a_label_on_a_delivered_order_says_it_was_delivered() -> None:
    o = order(OrderStatus.DELIVERED, lines=order_lines((1, 2, 2), (2, 1, 1)))

    error = assert_refused(
        ErrorCode.ORDER_DELIVERED, lifecycle.check_cancel_label, o, shipment(50, [(1, 2)], ShipmentStatus.DELIVERED)
    )

    assert "delivered" in error.message


# --- archiveOrder -----------------------------------------------------------------------------

#: What archiveOrder answers in each status; None means the order is archived.
ARCHIVE_REFUSALS: dict[OrderStatus, ErrorCode | None] = {
    OrderStatus.READY_TO_SHIP: None,
    OrderStatus.DRAFT: None,
    OrderStatus.CANCELLED: None,
    OrderStatus.BACK_ORDERED: None,
    OrderStatus.SHIPPED_ELSEWHERE: None,
    OrderStatus.DELIVERED: None,
    OrderStatus.NEEDS_ATTENTION: None,
    OrderStatus.SHIPPING: ErrorCode.ORDER_ALREADY_SHIPPED,
    OrderStatus.PARTIALLY_SHIPPED: ErrorCode.ORDER_ALREADY_SHIPPED,
    OrderStatus.ARCHIVED: ErrorCode.ORDER_ARCHIVED,
}


def test_the_archive_table_covers_every_status() -> None:
    assert set(ARCHIVE_REFUSALS) == set(OrderStatus)


@pytest.mark.parametrize("status", [s for s, c in ARCHIVE_REFUSALS.items() if c is None], ids=str)
def test_archive(status: OrderStatus) -> None:
    o = order(status)

    lifecycle.archive(o)

    assert o.status is OrderStatus.ARCHIVED
    assert [(e.type, e.data) for e in o.events] == [("ORDER_ARCHIVED", {"from": status.value, "status": "ARCHIVED"})]
    assert o.writes == []


@pytest.mark.parametrize(("status", "code"), [(s, c) for s, c in ARCHIVE_REFUSALS.items() if c is not None], ids=str)
def test_archive_is_refused_with_a_live_label_or_when_archived(status: OrderStatus, code: ErrorCode) -> None:
    o = order(status, lines=order_lines((1, 2, 2), (2, 1, 0)))

    assert_refused(code, lifecycle.archive, o)

    assert o.status is status
    assert o.events == []


def test_archiving_twice_is_refused_the_second_time() -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    lifecycle.archive(o)

    assert_refused(ErrorCode.ORDER_ARCHIVED, lifecycle.archive, o)
    assert event_types(o) == ["ORDER_ARCHIVED"]


def test_an_archived_order_can_no_longer_be_shipped() -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    lifecycle.archive(o)

    assert_refused(ErrorCode.ORDER_ARCHIVED, lifecycle.begin_label, o, None)
    assert_refused(ErrorCode.ORDER_ARCHIVED, lifecycle.skip_shipping, o)


# --- review follow-ups: flags that must clear, labels bought into a changed order -----------


def test_an_unknown_status_order_recovers_when_the_channel_reports_a_known_one() -> None:
    o = lifecycle.import_order(1, 3, channel_order(ChannelOrderStatus.UNKNOWN, raw_status="weird"))
    assert o.status is OrderStatus.NEEDS_ATTENTION

    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.AWAITING_FULFILLMENT), has_pending_writes=False)

    assert o.status is OrderStatus.READY_TO_SHIP
    assert o.attention_reason is None


def test_voiding_the_label_of_an_order_the_channel_cancelled_makes_it_cancelled() -> None:
    o = order(OrderStatus.SHIPPING, lines=order_lines((1, 2, 2), (2, 1, 1)))
    label = shipment(50, [(1, 2), (2, 1)])
    lifecycle.apply_channel_update(o, channel_order(ChannelOrderStatus.CANCELLED), has_pending_writes=False)
    assert o.status is OrderStatus.NEEDS_ATTENTION

    lifecycle.label_voided(o, label, [label])

    assert o.status is OrderStatus.CANCELLED
    assert o.attention_reason is None
    assert [w.kind for w in o.writes] == [WriteKind.SHIPMENT_CANCELLED]


def test_a_flagged_order_with_a_live_label_cannot_be_archived() -> None:
    o = order(OrderStatus.NEEDS_ATTENTION, lines=order_lines((1, 2, 2), (2, 1, 1)), attention_reason="cancelled")

    assert_refused(ErrorCode.ORDER_ALREADY_SHIPPED, lifecycle.archive, o)


@pytest.mark.parametrize("changed_to", [OrderStatus.CANCELLED, OrderStatus.BACK_ORDERED])
def test_a_label_bought_while_the_channel_cancelled_or_held_the_order_is_flagged_not_written(
    changed_to: OrderStatus,
) -> None:
    o = order(changed_to)
    label = shipment(50, [(1, 2), (2, 1)])

    lifecycle.label_purchased(o, label)

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason is not None and changed_to.value in o.attention_reason
    assert o.writes == [], "nothing goes to the channel until the merchant decides"
    assert shipped(o) == {1: 2, 2: 1}, "the label's lines count as shipped until it is voided"


def test_a_delivered_order_keeps_the_address_its_parcel_went_to() -> None:
    o = order(OrderStatus.DELIVERED, lines=order_lines((1, 2, 2), (2, 1, 1)))

    lifecycle.apply_channel_update(
        o, channel_order(ChannelOrderStatus.FULFILLED, shipping_address=MOVED), has_pending_writes=False
    )

    assert o.status is OrderStatus.DELIVERED
    assert o.shipping_address == address()


def test_an_address_change_while_a_label_is_being_bought_flags_the_order_and_the_label() -> None:
    o = order(OrderStatus.READY_TO_SHIP)
    label = shipment(50, [(1, 2), (2, 1)])

    lifecycle.apply_channel_update(o, channel_order(shipping_address=MOVED), False, label_in_flight=True)
    assert o.status is OrderStatus.NEEDS_ATTENTION
    reason = o.attention_reason
    assert reason is not None and "being bought" in reason and address().line1 in reason

    lifecycle.label_purchased(o, label)  # the carrier answers afterwards

    assert o.status is OrderStatus.NEEDS_ATTENTION
    assert o.attention_reason == reason, "the specific reason is kept"
    assert o.writes == [], "no tracking goes to the channel for a label the order no longer matches"


def test_an_unchanged_resync_while_a_label_is_being_bought_changes_nothing() -> None:
    o = order(OrderStatus.READY_TO_SHIP)

    lifecycle.apply_channel_update(o, channel_order(), False, label_in_flight=True)

    assert o.status is OrderStatus.READY_TO_SHIP
