"""The order lifecycle of DESIGN.md, one function per row; refusals raise DomainError with a code.

Each transition mutates the order and appends the events and channel writes it causes to
`order.events` / `order.writes`, which the unit of work commits together with the order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass, replace
from typing import Any

from domain import drafts, edits
from domain.drafts import DraftRules
from domain.errors import DomainError, ErrorCode
from domain.model import (
    Address,
    ChannelOrder,
    ChannelOrderStatus,
    ChannelWrite,
    DomainEvent,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingStatus,
    WriteKind,
)

#: Statuses in which no label of ours holds any line: the channel's word decides the status.
PRE_LABEL = frozenset(
    {
        OrderStatus.DRAFT,
        OrderStatus.READY_TO_SHIP,
        OrderStatus.BACK_ORDERED,
        OrderStatus.SHIPPED_ELSEWHERE,
        OrderStatus.CANCELLED,
    }
)
WITH_LABEL = frozenset({OrderStatus.SHIPPING, OrderStatus.PARTIALLY_SHIPPED})

SHIPPED_ELSEWHERE_WARNING = (
    "The channel already reports this order as shipped; Waybill will not buy a label or write anything back for it."
)


def status_from_channel(channel_order: ChannelOrder, missing: list[str]) -> OrderStatus:
    """Rows 1-4 of the lifecycle table: the status an order takes from what its channel says."""
    return _status_for(channel_order.channel_status, missing)


_status_for = drafts.status_for


def content_hash(channel_order: ChannelOrder) -> str:
    """Fingerprint of everything imported: an unchanged order on re-sync causes no write."""
    data = _plain(channel_order)
    data.pop("channel_updated_at")
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_LEAVES: set[type] = {str, int, float, bool, type(None)}  # grows with the other non-container types seen


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` returns, without its deep copy of every value (the hash only reads them):
    the same JSON, so stored hashes stay valid, at a fraction of the cost on every order of every sync."""
    cls = type(value)
    if cls in _LEAVES:
        return value
    names = _FIELD_NAMES.get(cls)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[cls] = tuple(item.name for item in fields(value))
    if names is not None:
        plain = {}
        for name in names:
            item = getattr(value, name)
            plain[name] = item if type(item) in _LEAVES else _plain(item)
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if not isinstance(value, list | tuple | dict):
        _LEAVES.add(cls)
    return value


def import_order(
    account_id: int, channel_id: int, channel_order: ChannelOrder, rules: DraftRules | None = None
) -> Order:
    """A first sighting of an order: status from the channel, drafts for missing data (never a failed sync)."""
    order = Order(
        id=None,
        account_id=account_id,
        channel_id=channel_id,
        external_id=channel_order.external_id,
        number=channel_order.number,
        status=OrderStatus.DRAFT,
        channel_status=channel_order.channel_status,
        payment_status=channel_order.payment_status,
        raw_status=channel_order.raw_status,
        lines=[_copy_line(line) for line in channel_order.lines],
        shipping_address=channel_order.shipping_address,
        channel_updated_at=channel_order.channel_updated_at,
        channel_created_at=channel_order.channel_created_at,
        customer_name=channel_order.customer_name,
        customer_email=channel_order.customer_email,
        currency=channel_order.currency,
        total=channel_order.total,
    )
    order.missing_fields = drafts.missing_for(order, rules or DraftRules())
    order.status = status = status_from_channel(channel_order, order.missing_fields)
    if status is OrderStatus.SHIPPED_ELSEWHERE:
        order.warning = SHIPPED_ELSEWHERE_WARNING
    if status is OrderStatus.NEEDS_ATTENTION:
        order.attention_reason = f"The channel reports an unknown status '{channel_order.raw_status}'."
    order.events.append(DomainEvent("ORDER_IMPORTED", {"status": status.value}))
    return order


def apply_channel_update(
    order: Order,
    channel_order: ChannelOrder,
    has_pending_writes: bool,
    label_in_flight: bool = False,
    rules: DraftRules | None = None,
) -> None:
    """Rows 5-7: a later sync of an order Waybill already has.

    Before a label exists the channel decides (hold released, address changed, cancelled).
    After a label exists the order still takes the channel's address and lines (so nothing
    is lost once the label is voided), but a cancellation or a change of address or lines
    flags it NEEDS_ATTENTION, naming what the label was made for: the label is the
    merchant's money and is never voided silently. While our own writes are still in
    flight, the channel's fulfillment state is our echo, not news. The merchant's own edits are put
    back over the channel's content (domain/edits.py), so they count as the order's address.
    """
    before = order.status
    label_address = order.shipping_address
    lines_changed = _line_quantities(order.lines) != _line_quantities(channel_order.lines)
    _copy_content(order, channel_order)
    conflicts = edits.reapply(order)
    address_changed = _address_changed(label_address, order.shipping_address)
    rules = rules or DraftRules()

    cancelled = channel_order.channel_status in (ChannelOrderStatus.CANCELLED, ChannelOrderStatus.REFUNDED)
    if order.status in PRE_LABEL and label_in_flight and (cancelled or address_changed or lines_changed):
        # The carrier is selling a label for what the order was a moment ago.
        what = "cancelled the order" if cancelled else "changed the order"
        _needs_attention(order, f"The channel {what} while a label was being bought for {_one_line(label_address)}.")
    elif order.status in PRE_LABEL:
        _resync_pre_label(order, channel_order, has_pending_writes, rules)
    elif _label_holds_lines(order) and order.status is not OrderStatus.DELIVERED:
        if cancelled:
            _needs_attention(order, "The channel cancelled this order after a label was bought.")
        elif address_changed:
            _needs_attention(
                order,
                "The channel changed the shipping address after a label was bought; "
                f"the label is for {_one_line(label_address)}.",
            )
        elif lines_changed:
            _needs_attention(order, "The channel changed the order's items after a label was bought.")
    elif order.status is OrderStatus.NEEDS_ATTENTION and not _label_holds_lines(order):
        _resync_pre_label(order, channel_order, has_pending_writes, rules)  # e.g. an unknown status became a known one
    order.events.append(
        DomainEvent("ORDER_UPDATED", {"from": before.value, "status": order.status.value, "source": "channel"})
    )
    if conflicts:
        order.events.append(DomainEvent("ORDER_CONFLICT", {"fields": conflicts, "status": order.status.value}))


def begin_label(order: Order, wanted: dict[int, int] | None) -> list[ShipmentLine]:
    """Row `buyLabel`, first half: check the order can ship and pick the lines the label carries.

    `wanted` maps order line id to quantity; None means every line still to ship.
    """
    _refuse_unless_shippable(order)
    if wanted is None:
        wanted = {
            line.id: line.quantity_remaining
            for line in order.lines
            if line.id is not None and line.quantity_remaining > 0
        }
    chosen: list[ShipmentLine] = []
    for line_id, quantity in wanted.items():
        line = order.line(line_id)
        if line is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"Order line {line_id} not found", ["lines"])
        if quantity <= 0:
            raise DomainError(ErrorCode.INVALID, "Quantity must be at least 1", ["lines", "quantity"])
        if quantity > line.quantity_remaining:
            raise DomainError(
                ErrorCode.QUANTITY_EXCEEDS_REMAINING,
                f"Line {line.sku or line.title}: {quantity} asked, {line.quantity_remaining} left to ship",
                ["lines", "quantity"],
            )
        chosen.append(ShipmentLine(line_id, line.channel_line_id, quantity))
    chosen = [c for c in chosen if c.quantity > 0]
    if not chosen:
        raise DomainError(ErrorCode.NOTHING_TO_SHIP, "Every line of this order has shipped", ["lines"])
    return chosen


def label_purchased(order: Order, shipment: Shipment) -> None:
    """Row `buyLabel`, second half: the carrier sold the label; Shipping + tracking at once."""
    if shipment.status is not ShipmentStatus.PURCHASED:
        raise DomainError(ErrorCode.LABEL_NOT_PURCHASED, "The label has not been purchased")
    for shipped in shipment.lines:
        line = order.line(shipped.order_line_id)
        if line is not None:
            line.quantity_shipped += shipped.quantity
    before = order.status
    if before not in (OrderStatus.READY_TO_SHIP, OrderStatus.PARTIALLY_SHIPPED):
        # The channel cancelled, held or changed the order while the carrier was selling the
        # label: the merchant decides (ship anyway or void); nothing is written to the channel.
        if before is not OrderStatus.NEEDS_ATTENTION or order.attention_reason is None:
            _needs_attention(order, f"The order became {before.value} while its label was being bought.")
        order.events.append(
            DomainEvent(
                "LABEL_PURCHASED", {"from": before.value, "status": order.status.value, "shipment_id": shipment.id}
            )
        )
        return
    order.status = OrderStatus.SHIPPING if order.fully_shipped else OrderStatus.PARTIALLY_SHIPPED
    order.writes.append(
        ChannelWrite(
            WriteKind.SHIPMENT_CREATED,
            {
                "shipment_id": shipment.id,
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
                "lines": [[s.channel_line_id, s.quantity] for s in shipment.lines],
                # Channels that track shipping per order (WooCommerce, a back office) complete it only now.
                "completes_order": order.fully_shipped,
                "service": shipment.service,
                "location": shipment.location,
                "carrier_name": shipment.carrier_name,
            },
        )
    )
    order.events.append(
        DomainEvent(
            "LABEL_PURCHASED",
            {"from": before.value, "status": order.status.value, "shipment_id": shipment.id},
        )
    )


def skip_shipping(order: Order) -> None:
    """Row `skipShipping`: handed over in person, so delivered; the channel hears Fulfilled."""
    _refuse_unless_shippable(order)
    if order.status is OrderStatus.PARTIALLY_SHIPPED:
        raise DomainError(
            ErrorCode.ORDER_ALREADY_SHIPPED,
            "Part of this order already has a label; skip shipping applies to whole orders",
        )
    lines = [[line.channel_line_id, line.quantity_remaining] for line in order.lines if line.quantity_remaining > 0]
    for line in order.lines:
        line.quantity_shipped = line.quantity
    before = order.status
    order.status = OrderStatus.DELIVERED
    order.writes.append(ChannelWrite(WriteKind.ORDER_FULFILLED, {"lines": lines}))
    order.events.append(DomainEvent("SHIPPING_SKIPPED", {"from": before.value, "status": order.status.value}))


def tracking_updated(order: Order, shipment: Shipment, status: TrackingStatus) -> None:
    """Carrier news. Row `carrier reports delivered`: DELIVERED once every line is delivered."""
    if shipment.status in (ShipmentStatus.VOIDED, ShipmentStatus.FAILED, ShipmentStatus.PURCHASING):
        return  # late news about a label that no longer counts
    if shipment.tracking_status is status:
        return
    shipment.tracking_status = status
    order.events.append(DomainEvent("TRACKING_UPDATED", {"shipment_id": shipment.id, "tracking_status": status.value}))
    if status is TrackingStatus.DELIVERED and shipment.status is not ShipmentStatus.DELIVERED:
        shipment.status = ShipmentStatus.DELIVERED
        order.writes.append(ChannelWrite(WriteKind.SHIPMENT_DELIVERED, {"shipment_id": shipment.id}))
    elif (
        status in (TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY)
        and shipment.status is ShipmentStatus.PURCHASED
    ):
        shipment.status = ShipmentStatus.IN_TRANSIT
    elif status in PARCEL_IN_TROUBLE:
        # The merchant must act (re-ship, refund, call the buyer): the order says so instead of looking shipped.
        _needs_attention(order, f"Parcel {shipment.tracking_number}: {PARCEL_IN_TROUBLE[status]}")
        order.events.append(DomainEvent("ORDER_NEEDS_ATTENTION", {"shipment_id": shipment.id, "reason": status.value}))


#: Carrier news that needs the merchant, with the reason the order shows.
PARCEL_IN_TROUBLE = {
    TrackingStatus.RETURN_TO_SENDER: "the carrier is returning it to the sender.",
    TrackingStatus.DELIVERY_FAILED: "the carrier could not deliver it.",
}


def tracking_stalled(order: Order, shipment: Shipment, days: int) -> None:
    """No carrier news for `days` on a parcel under way: flag the order once (a scan clears nothing by itself)."""
    if shipment.status not in (ShipmentStatus.PURCHASED, ShipmentStatus.IN_TRANSIT):
        return
    if order.status is OrderStatus.NEEDS_ATTENTION:
        return
    _needs_attention(order, f"Parcel {shipment.tracking_number}: no news from the carrier for {days} days.")
    order.events.append(DomainEvent("ORDER_NEEDS_ATTENTION", {"shipment_id": shipment.id, "reason": "STALLED"}))


def order_delivered_if_complete(order: Order, shipments: list[Shipment]) -> None:
    """Every line shipped and every live shipment delivered: the order is delivered."""
    active = [s for s in shipments if s.is_active]
    if order.status is OrderStatus.SHIPPING and active and all(s.status is ShipmentStatus.DELIVERED for s in active):
        order.status = OrderStatus.DELIVERED
        order.events.append(DomainEvent("ORDER_DELIVERED", {"from": OrderStatus.SHIPPING.value, "status": "DELIVERED"}))


def check_cancel_label(order: Order, shipment: Shipment) -> None:
    """Row `cancelLabel`, first half: refusals before asking the carrier to void."""
    if shipment.status is ShipmentStatus.VOIDED:
        raise DomainError(ErrorCode.LABEL_ALREADY_VOIDED, "This label is already voided")
    if shipment.status in (ShipmentStatus.PURCHASING, ShipmentStatus.FAILED):
        raise DomainError(ErrorCode.LABEL_NOT_PURCHASED, "This label was never purchased")
    if order.status is OrderStatus.DELIVERED:
        raise DomainError(ErrorCode.ORDER_DELIVERED, "The order was delivered; its labels can no longer be voided")
    if shipment.status is ShipmentStatus.DELIVERED:
        raise DomainError(ErrorCode.LABEL_DELIVERED, "The parcel was delivered; its label can no longer be voided")
    if order.status is OrderStatus.ARCHIVED:
        raise DomainError(ErrorCode.ORDER_ARCHIVED, "The order is archived")


def label_voided(order: Order, shipment: Shipment, shipments: list[Shipment]) -> None:
    """Row `cancelLabel`, second half: the carrier voided it; lines return, channel goes Unfulfilled."""
    check_cancel_label(order, shipment)
    shipment.status = ShipmentStatus.VOIDED
    for shipped in shipment.lines:
        line = order.line(shipped.order_line_id)
        if line is not None:
            line.quantity_shipped = max(0, line.quantity_shipped - shipped.quantity)
    before = order.status
    still_active = any(s.is_active for s in shipments if s.id != shipment.id)
    if before in WITH_LABEL:
        order.status = OrderStatus.PARTIALLY_SHIPPED if still_active else OrderStatus.READY_TO_SHIP
    elif before is OrderStatus.NEEDS_ATTENTION and not still_active:
        # The flag was about the label; with it gone the channel's word decides again.
        order.missing_fields = drafts.missing_for(order, DraftRules())
        order.status = _status_for(order.channel_status, order.missing_fields)
        order.attention_reason = None
    order.writes.append(ChannelWrite(WriteKind.SHIPMENT_CANCELLED, {"shipment_id": shipment.id}))
    order.events.append(
        DomainEvent("LABEL_VOIDED", {"from": before.value, "status": order.status.value, "shipment_id": shipment.id})
    )


def archive(order: Order) -> None:
    """Row `archiveOrder`: out of every work list; refused while a label is live."""
    if order.status is not OrderStatus.DELIVERED and _label_holds_lines(order):  # a parcel still on its way
        raise DomainError(ErrorCode.ORDER_ALREADY_SHIPPED, "Cancel the label before archiving this order")
    if order.status is OrderStatus.ARCHIVED:
        raise DomainError(ErrorCode.ORDER_ARCHIVED, "The order is already archived")
    before = order.status
    order.status = OrderStatus.ARCHIVED
    order.events.append(DomainEvent("ORDER_ARCHIVED", {"from": before.value, "status": order.status.value}))


def _refuse_unless_shippable(order: Order) -> None:
    refusals = {
        OrderStatus.CANCELLED: (ErrorCode.ORDER_CANCELLED, "The order was cancelled"),
        OrderStatus.BACK_ORDERED: (ErrorCode.ORDER_ON_HOLD, "The order is on hold in the channel"),
        OrderStatus.DRAFT: (
            ErrorCode.ORDER_INCOMPLETE,
            "The order is missing: " + ", ".join(order.missing_fields),
        ),
        OrderStatus.ARCHIVED: (ErrorCode.ORDER_ARCHIVED, "The order is archived"),
        OrderStatus.NEEDS_ATTENTION: (
            ErrorCode.ORDER_NEEDS_ATTENTION,
            f"The order needs attention: {order.attention_reason}",
        ),
        OrderStatus.SHIPPED_ELSEWHERE: (ErrorCode.ORDER_ALREADY_SHIPPED, "The order was shipped outside Waybill"),
        OrderStatus.SHIPPING: (ErrorCode.ORDER_ALREADY_SHIPPED, "Every line of this order has a label"),
        OrderStatus.DELIVERED: (ErrorCode.ORDER_DELIVERED, "The order was delivered"),
    }
    if order.status in refusals:
        code, message = refusals[order.status]
        raise DomainError(code, message)


def _resync_pre_label(order: Order, channel_order: ChannelOrder, has_pending_writes: bool, rules: DraftRules) -> None:
    order.missing_fields = drafts.missing_for(order, rules)
    status = status_from_channel(channel_order, order.missing_fields)
    if status is OrderStatus.SHIPPED_ELSEWHERE and has_pending_writes:
        return  # our own un-delivered write echoing back, not a shipment elsewhere
    order.status = status
    order.warning = SHIPPED_ELSEWHERE_WARNING if status is OrderStatus.SHIPPED_ELSEWHERE else None
    order.attention_reason = None
    if status is OrderStatus.NEEDS_ATTENTION:
        order.attention_reason = f"The channel reports an unknown status '{channel_order.raw_status}'."


def _needs_attention(order: Order, reason: str) -> None:
    order.status = OrderStatus.NEEDS_ATTENTION
    order.attention_reason = reason


def _copy_content(order: Order, channel_order: ChannelOrder) -> None:
    order.number = channel_order.number
    order.channel_status = channel_order.channel_status
    order.payment_status = channel_order.payment_status
    order.raw_status = channel_order.raw_status
    order.channel_updated_at = channel_order.channel_updated_at
    order.customer_name = channel_order.customer_name
    order.customer_email = channel_order.customer_email
    order.currency = channel_order.currency
    order.total = channel_order.total
    if order.status is OrderStatus.DELIVERED:
        return  # where the parcel went, and what was in it, is history now
    # A copy: the merchant's edits are written into it, never into the channel's data.
    order.shipping_address = replace(channel_order.shipping_address) if channel_order.shipping_address else None
    shipped = {line.channel_line_id: line.quantity_shipped for line in order.lines}
    ids = {line.channel_line_id: line.id for line in order.lines}
    incoming = {line.channel_line_id for line in channel_order.lines}
    # A line the channel dropped stays while a label carries it: the label still counts it.
    kept = [line for line in order.lines if line.channel_line_id not in incoming and line.quantity_shipped > 0]
    order.lines = [
        _copy_line(line, line_id=ids.get(line.channel_line_id), shipped=shipped.get(line.channel_line_id, 0))
        for line in channel_order.lines
    ] + kept


def _line_quantities(lines: list[OrderLine]) -> dict[str, int]:
    return {line.channel_line_id: line.quantity for line in lines}


def _one_line(address: Address | None) -> str:
    if address is None:
        return "no address"
    parts = [address.name, address.line1, address.city, address.postal_code, address.country_code]
    return ", ".join(part for part in parts if part)


def _label_holds_lines(order: Order) -> bool:
    """A live label of ours carries some of the order's lines."""
    if order.status in WITH_LABEL or order.status is OrderStatus.DELIVERED:
        return True
    return order.status is OrderStatus.NEEDS_ATTENTION and any(line.quantity_shipped > 0 for line in order.lines)


def _copy_line(line: OrderLine, line_id: int | None = None, shipped: int = 0) -> OrderLine:
    return OrderLine(
        channel_line_id=line.channel_line_id,
        title=line.title,
        quantity=line.quantity,
        sku=line.sku,
        quantity_shipped=shipped,
        unit_price=line.unit_price,
        grams=line.grams,
        id=line_id,
    )


def _address_changed(old: Address | None, new: Address | None) -> bool:
    return (asdict(old) if old else None) != (asdict(new) if new else None)
