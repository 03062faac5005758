"""Forwarding marketplace orders into the merchant's store platform: the pure rules (docs/forwarding.md).

Which orders go (mode, when, source, managed products), how the copy on the store is recognised
(`waybill-<orderId>`), and what a cancellation after the push means. No I/O here: jobs/forwarding.py
asks these functions and does the talking.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from domain.errors import DomainError, ErrorCode
from domain.model import Address, ChannelKind, ChannelOrder, ChannelOrderStatus, Order, OrderStatus, PaymentStatus


class ForwardMode(StrEnum):
    """Automatic forwarding of a sales channel's orders."""

    ALWAYS = "ALWAYS"
    MANAGED = "MANAGED"  # only orders whose every line is a product the merchant manages in Waybill (by SKU)
    OFF = "OFF"


class ForwardWhen(StrEnum):
    PAID = "PAID"  # only once the marketplace says paid (Codisto's "only when paid": combined purchases settle first)
    COMMITTED = "COMMITTED"  # as soon as the buyer committed to buy (paid or not)


class PushStatus(StrEnum):
    NOT_SENT = "NOT_SENT"
    SENT = "SENT"
    ERROR = "ERROR"


#: Where orders are bought by buyers who never see the merchant's store: the ones that can be forwarded.
MARKETPLACES = frozenset({ChannelKind.AMAZON, ChannelKind.EBAY, ChannelKind.ETSY})
#: The tag (Shopify) / meta value (WooCommerce) that marks a forwarded copy on the store platform.
REFERENCE_PREFIX = "waybill-"
CANCELLED_AFTER_PUSH = (
    "Cancelled on the marketplace after it was forwarded: cancel the copy on the store platform "
    "(eBay replaces orders it combines into one purchase)."
)
#: Waybill statuses an automatically forwarded order may be in: ready, not shipped, not a draft.
_AUTO_STATUSES = frozenset({OrderStatus.READY_TO_SHIP, OrderStatus.BACK_ORDERED})
#: Statuses a hand push (`pushOrder`) refuses: nothing left to fulfil, or data the store needs is missing.
_NEVER_STATUSES = {
    OrderStatus.CANCELLED: "The order is cancelled",
    OrderStatus.ARCHIVED: "The order is archived",
    OrderStatus.DRAFT: "The order is a draft: complete its missing fields first",
    OrderStatus.SHIPPED_ELSEWHERE: "The order was already shipped elsewhere",
    OrderStatus.SHIPPING: "The order is already shipped",
    OrderStatus.PARTIALLY_SHIPPED: "The order is already partly shipped by Waybill",
    OrderStatus.DELIVERED: "The order is already delivered",
}


@dataclass(frozen=True)
class ForwardingSettings:
    """A sales channel's `settings["forwarding"]`."""

    mode: ForwardMode = ForwardMode.OFF
    when: ForwardWhen = ForwardWhen.PAID
    to_channel_id: int | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> ForwardingSettings:
        raw = (settings or {}).get("forwarding") or {}
        try:
            return cls(
                mode=ForwardMode(raw.get("mode", ForwardMode.OFF.value)),
                when=ForwardWhen(raw.get("when", ForwardWhen.PAID.value)),
                to_channel_id=int(raw["to_channel_id"]) if raw.get("to_channel_id") is not None else None,
            )
        except (ValueError, TypeError):
            return cls()  # unreadable settings forward nothing rather than something by mistake

    def as_settings(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "when": self.when.value, "to_channel_id": self.to_channel_id}


@dataclass(frozen=True)
class Decision:
    forward: bool
    reason: str


def reference(order_id: int) -> str:
    """How the store's copy names the Waybill order it came from."""
    return f"{REFERENCE_PREFIX}{order_id}"


def order_id_of(tags_or_value: str | None) -> int | None:
    """The Waybill order id in a Shopify tags string ("a, waybill-12") or a WooCommerce meta value."""
    for part in (tags_or_value or "").split(","):
        part = part.strip()
        if part.startswith(REFERENCE_PREFIX) and part[len(REFERENCE_PREFIX) :].isdigit():
            return int(part[len(REFERENCE_PREFIX) :])
    return None


def is_from_own_checkout(channel_kind: ChannelKind) -> bool:
    """An order that did not come from a marketplace was bought at the store's own checkout (or the back office,
    a CSV file): the store already has it. Google/Facebook orders reach Waybill through the store, so they are
    orders of the store channel and are never forwarded."""
    return channel_kind not in MARKETPLACES


def check_target(source_channel_id: int, source_kind: ChannelKind, target_id: int, target_can_forward: bool) -> None:
    """`forwarding.toChannelId` must be another channel of the account that can take orders (a store platform)."""
    if source_kind not in MARKETPLACES:
        raise DomainError(
            ErrorCode.UNSUPPORTED,
            "Only marketplace channels (Amazon, eBay, Etsy) forward orders; this channel's orders are the store's own",
            ["forwarding", "mode"],
        )
    if target_id == source_channel_id or not target_can_forward:
        raise DomainError(
            ErrorCode.INVALID,
            "forwarding.toChannelId must be a store platform channel of this account (Shopify or WooCommerce)",
            ["forwarding", "toChannelId"],
        )


def auto_decision(
    order: Order, channel_kind: ChannelKind, settings: ForwardingSettings, managed_skus: Collection[str]
) -> Decision:
    """Whether an order imported or updated just now is forwarded without the merchant asking."""
    if is_from_own_checkout(channel_kind):
        return Decision(False, "orders from the store's own checkout are never forwarded")
    if settings.mode is ForwardMode.OFF or settings.to_channel_id is None:
        return Decision(False, "forwarding is off for this channel")
    if order.channel_status in (ChannelOrderStatus.CANCELLED, ChannelOrderStatus.REFUNDED):
        return Decision(False, "cancelled on the marketplace")
    if order.status not in _AUTO_STATUSES:
        return Decision(False, f"the order is {order.status.value}")
    if settings.when is ForwardWhen.PAID and order.payment_status is not PaymentStatus.PAID:
        return Decision(False, "not paid yet")
    if settings.mode is ForwardMode.MANAGED:
        unmanaged = [line.sku or line.title for line in order.lines if not line.sku or line.sku not in managed_skus]
        if unmanaged or not order.lines:
            return Decision(False, f"not every line is a managed product ({', '.join(unmanaged[:3])})")
    return Decision(True, "eligible")


def check_manual(order: Order, channel_kind: ChannelKind, settings: ForwardingSettings, field: list[str]) -> int:
    """`pushOrder` forwards whatever the mode, but never what the store cannot fulfil. Returns the target id."""
    if is_from_own_checkout(channel_kind):
        raise DomainError(
            ErrorCode.UNSUPPORTED, "This order came from the store's own checkout: it is never forwarded", field
        )
    if settings.to_channel_id is None:
        raise DomainError(
            ErrorCode.INVALID,
            "The order's channel has no store to forward to: set its forwarding.toChannelId first",
            field,
        )
    if order.channel_status in (ChannelOrderStatus.CANCELLED, ChannelOrderStatus.REFUNDED):
        raise DomainError(ErrorCode.ORDER_CANCELLED, "The order is cancelled on the marketplace", field)
    refusal = _NEVER_STATUSES.get(order.status)
    if refusal is not None:
        code = ErrorCode.ORDER_CANCELLED if order.status is OrderStatus.CANCELLED else ErrorCode.INVALID
        raise DomainError(code, f"{refusal}: it cannot be forwarded", field)
    if not order.lines:
        raise DomainError(ErrorCode.INVALID, "The order has no lines to forward", field)
    return settings.to_channel_id


def flag_after_update(order: Order, push_status: PushStatus) -> str | None:
    """A forwarded order the marketplace cancelled afterwards (eBay combining purchases): the flag to show."""
    cancelled = order.channel_status in (ChannelOrderStatus.CANCELLED, ChannelOrderStatus.REFUNDED)
    if cancelled and push_status is PushStatus.SENT:
        return CANCELLED_AFTER_PUSH
    return None


@dataclass(frozen=True)
class ForwardLine:
    sku: str | None
    title: str
    quantity: int
    unit_price: str | None = None


@dataclass(frozen=True)
class ForwardRequest:
    """What the store platform is asked to create: the marketplace order, referenced so it is found again."""

    reference: str
    order_id: int
    number: str  # the marketplace's number, kept on the copy so the merchant recognises it
    source: str  # "Amazon"
    lines: list[ForwardLine]
    shipping_address: Address | None
    customer_name: str | None
    customer_email: str | None
    currency: str | None
    paid: bool


def request_for(order: Order, source_title: str) -> ForwardRequest:
    assert order.id is not None
    return ForwardRequest(
        reference=reference(order.id),
        order_id=order.id,
        number=order.number,
        source=source_title,
        lines=[ForwardLine(line.sku, line.title, line.quantity, line.unit_price) for line in order.lines],
        shipping_address=order.shipping_address,
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        currency=order.currency,
        paid=order.payment_status is PaymentStatus.PAID,
    )


@dataclass(frozen=True)
class StoreFulfillment:
    """A parcel the store platform shipped for a forwarded copy."""

    fulfillment_id: str
    tracking_number: str | None
    company: str | None
    url: str | None
    #: (sku, quantity) shipped; empty: the whole order.
    lines: list[tuple[str | None, int]] = field(default_factory=list)


@dataclass
class ForwardedCopy(ChannelOrder):
    """A store order that is Waybill's own forwarded copy of a marketplace order: never imported as an order of
    its own, but read for its fulfillments, whose tracking goes back to the marketplace."""

    waybill_order_id: int = 0
    fulfillments: list[StoreFulfillment] = field(default_factory=list)


class ForwardTarget(Protocol):
    """What a store platform's client offers for forwarding (Shopify, WooCommerce)."""

    async def find_forwarded(self, reference: str) -> str | None:
        """The platform's id of the copy carrying `reference`, if one exists."""
        ...

    async def create_forwarded(self, request: ForwardRequest) -> str:
        """Creates the copy (after `find_forwarded` found none); returns the platform's order id."""
        ...


def lines_shipped(order: Order, fulfillment: StoreFulfillment) -> list[tuple[int, str, int]]:
    """(order line id, channel line id, quantity) a store parcel carries, matched by SKU; the whole rest when the
    platform names no lines or none match."""
    remaining = {line.id: line.quantity_remaining for line in order.lines if line.id is not None}
    picked: list[tuple[int, str, int]] = []
    for sku, quantity in fulfillment.lines:
        for line in order.lines:
            if line.id is None or line.sku != sku or remaining[line.id] <= 0 or quantity <= 0:
                continue
            take = min(quantity, remaining[line.id])
            picked.append((line.id, line.channel_line_id, take))
            remaining[line.id] -= take
            quantity -= take
    if picked:
        return picked
    return [
        (line.id, line.channel_line_id, line.quantity_remaining)
        for line in order.lines
        if line.id is not None and line.quantity_remaining > 0
    ]
