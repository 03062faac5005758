"""Forwarding rules (domain/forwarding.py): which orders go, by mode, when, source and managed products."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import forwarding as rules
from domain.errors import DomainError, ErrorCode
from domain.forwarding import ForwardingSettings, ForwardMode, ForwardWhen, PushStatus, StoreFulfillment
from domain.model import ChannelKind, ChannelOrderStatus, Order, OrderLine, OrderStatus, PaymentStatus

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def order(
    status: OrderStatus = OrderStatus.READY_TO_SHIP,
    payment: PaymentStatus = PaymentStatus.PAID,
    channel_status: ChannelOrderStatus = ChannelOrderStatus.AWAITING_FULFILLMENT,
    skus: tuple[str | None, ...] = ("TOTE", "MUG"),
) -> Order:
    lines = [OrderLine(f"L{n}", f"Item {n}", 2, sku=sku, id=n + 1) for n, sku in enumerate(skus)]
    return Order(7, 1, 2, "A-1", "A-1", status, channel_status, payment, lines, None, NOW, NOW)


ON = ForwardingSettings(ForwardMode.ALWAYS, ForwardWhen.PAID, to_channel_id=3)


@pytest.mark.parametrize(
    ("settings", "given", "kind", "expected"),
    [
        (ON, order(), ChannelKind.AMAZON, True),
        (ON, order(), ChannelKind.SHOPIFY, False),  # the store's own checkout
        (ON, order(), ChannelKind.BACK_OFFICE, False),
        (ForwardingSettings(ForwardMode.OFF, to_channel_id=3), order(), ChannelKind.AMAZON, False),
        (ForwardingSettings(ForwardMode.ALWAYS), order(), ChannelKind.AMAZON, False),  # no target
        (ON, order(payment=PaymentStatus.PENDING), ChannelKind.EBAY, False),
        (
            ForwardingSettings(ForwardMode.ALWAYS, ForwardWhen.COMMITTED, 3),
            order(payment=PaymentStatus.PENDING),
            ChannelKind.EBAY,
            True,
        ),
        (ON, order(channel_status=ChannelOrderStatus.CANCELLED), ChannelKind.EBAY, False),
        (ON, order(status=OrderStatus.DRAFT), ChannelKind.AMAZON, False),
        (ON, order(status=OrderStatus.SHIPPED_ELSEWHERE), ChannelKind.AMAZON, False),
        (ON, order(status=OrderStatus.BACK_ORDERED), ChannelKind.ETSY, True),
    ],
    ids=[
        "paid",
        "store",
        "back-office",
        "off",
        "no-target",
        "unpaid",
        "committed",
        "cancelled",
        "draft",
        "shipped-elsewhere",
        "back-ordered",
    ],
)
def test_auto_decision(settings: ForwardingSettings, given: Order, kind: ChannelKind, expected: bool) -> None:
    assert rules.auto_decision(given, kind, settings, set()).forward is expected


def test_managed_mode_needs_every_line_managed_by_sku() -> None:
    managed = ForwardingSettings(ForwardMode.MANAGED, ForwardWhen.PAID, 3)
    assert rules.auto_decision(order(), ChannelKind.AMAZON, managed, {"TOTE", "MUG"}).forward
    partial = rules.auto_decision(order(), ChannelKind.AMAZON, managed, {"TOTE"})
    assert not partial.forward and "MUG" in partial.reason
    assert not rules.auto_decision(order(skus=("TOTE", None)), ChannelKind.AMAZON, managed, {"TOTE"}).forward


def test_manual_push_refusals_name_the_field() -> None:
    field = ["orderIds", "0"]
    assert rules.check_manual(order(), ChannelKind.AMAZON, ON, field) == 3
    with pytest.raises(DomainError) as own:
        rules.check_manual(order(), ChannelKind.WOOCOMMERCE, ON, field)
    assert own.value.code is ErrorCode.UNSUPPORTED and own.value.field == field
    with pytest.raises(DomainError) as cancelled:
        rules.check_manual(order(status=OrderStatus.CANCELLED), ChannelKind.AMAZON, ON, field)
    assert cancelled.value.code is ErrorCode.ORDER_CANCELLED
    with pytest.raises(DomainError) as no_target:
        rules.check_manual(order(), ChannelKind.AMAZON, ForwardingSettings(ForwardMode.OFF), field)
    assert "toChannelId" in no_target.value.message


def test_cancel_after_push_is_flagged_only_when_sent() -> None:
    cancelled = order(channel_status=ChannelOrderStatus.CANCELLED, status=OrderStatus.CANCELLED)
    assert rules.flag_after_update(cancelled, PushStatus.SENT) == rules.CANCELLED_AFTER_PUSH
    assert rules.flag_after_update(cancelled, PushStatus.ERROR) is None
    assert rules.flag_after_update(order(), PushStatus.SENT) is None


def test_reference_round_trip_is_exact() -> None:
    assert rules.order_id_of(f"vip, {rules.reference(12)}, Amazon") == 12
    assert rules.order_id_of("waybill-12x, waybill-") is None
    assert rules.order_id_of(None) is None


def test_settings_round_trip_and_garbage_means_off() -> None:
    settings = ForwardingSettings(ForwardMode.MANAGED, ForwardWhen.COMMITTED, 9)
    assert ForwardingSettings.from_settings({"forwarding": settings.as_settings()}) == settings
    assert ForwardingSettings.from_settings({"forwarding": {"mode": "SOMETIMES"}}).mode is ForwardMode.OFF


def test_store_parcel_lines_match_by_sku_else_everything_left() -> None:
    given = order()
    by_sku = rules.lines_shipped(given, StoreFulfillment("f1", "1Z", "UPS", None, [("MUG", 1)]))
    assert by_sku == [(2, "L1", 1)]
    whole = rules.lines_shipped(given, StoreFulfillment("f1", "1Z", "UPS", None, []))
    assert whole == [(1, "L0", 2), (2, "L1", 2)]
