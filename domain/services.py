"""Command handlers shared by the API and the workers; I/O only through the ports.

Carrier calls never happen inside a transaction: a label purchase is recorded first
(PURCHASING, unique idempotency key), bought, then completed in a second transaction, so
a crash in between leaves a row a retry can reconcile instead of a forgotten charge.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from domain import lifecycle
from domain.errors import DomainError, ErrorCode, NotFound
from domain.model import (
    ChannelOrder,
    Order,
    OrderStatus,
    RefundStatus,
    Shipment,
    ShipmentStatus,
)
from domain.ports import PurchasedLabel, TrackingInfo, UnitOfWork

UowFactory = Callable[[], UnitOfWork]


@dataclass
class ImportCounts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


async def import_orders(
    uow: UnitOfWork, account_id: int, channel_id: int, channel_orders: list[ChannelOrder]
) -> ImportCounts:
    """One page, one transaction: the sync cursor moves only after this commits."""
    latest: dict[str, ChannelOrder] = {}
    for channel_order in channel_orders:
        seen = latest.get(channel_order.external_id)
        if seen is None or seen.channel_updated_at <= channel_order.channel_updated_at:
            latest[channel_order.external_id] = channel_order
    counts = ImportCounts(fetched=len(channel_orders))
    async with uow:
        # Only hashes first: an unchanged page reads one narrow row per order and loads no order.
        stored = await uow.orders.fingerprints(channel_id, list(latest))
        new: list[tuple[ChannelOrder, str]] = []
        changed: dict[str, tuple[ChannelOrder, str]] = {}
        for external_id, channel_order in latest.items():
            digest = lifecycle.content_hash(channel_order)
            fingerprint = stored.get(external_id)
            if fingerprint is None:
                new.append((channel_order, digest))
            elif fingerprint[0] == digest or channel_order.channel_updated_at < fingerprint[1]:
                # Same content, or an older copy (a late webhook, an overlapping page): nothing new.
                counts.unchanged += 1
            else:
                changed[external_id] = (channel_order, digest)
        if not new and not changed:
            counts.unchanged += len(channel_orders) - len(latest)
            return counts
        rules = await uow.orders.draft_rules(account_id)  # missing data makes a draft, never a failed page
        existing = await uow.orders.by_external_ids(channel_id, list(changed)) if changed else {}
        new.extend(changed[external_id] for external_id in changed if external_id not in existing)
        await uow.orders.add_many(
            [(lifecycle.import_order(account_id, channel_id, channel_order, rules), d) for channel_order, d in new]
        )
        counts.created += len(new)
        for external_id, (channel_order, digest) in changed.items():
            if external_id not in existing:
                continue
            order, _ = existing[external_id]
            assert order.id is not None
            pending = await uow.orders.has_pending_writes(order.id)
            in_flight = any(s.status is ShipmentStatus.PURCHASING for s in await uow.shipments.for_order(order.id))
            lifecycle.apply_channel_update(order, channel_order, pending, label_in_flight=in_flight, rules=rules)
            await uow.orders.save(order, digest)
            counts.updated += 1
    counts.unchanged += len(channel_orders) - len(latest)
    return counts


async def begin_label_purchase(
    uow: UnitOfWork,
    account_id: int,
    order_id: int,
    wanted: dict[int, int] | None,
    carrier: str,
    service: str,
    idempotency_key: str,
    location: str | None = None,
) -> tuple[Shipment, bool]:
    """Records the purchase before any money moves. Returns (shipment, created).

    A repeat of the same idempotency key returns the first shipment and creates nothing.
    """
    async with uow:
        # Lock the order first: a concurrent request with the same key then sees the winner's row.
        order = await _order(uow, account_id, order_id, for_update=True)
        existing = await uow.shipments.by_idempotency_key(account_id, idempotency_key)
        if existing is not None:
            if existing.order_id != order_id:
                raise DomainError(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "This idempotency key was already used for another order",
                    ["idempotencyKey"],
                )
            return existing, False
        shipments = await uow.shipments.for_order(order_id)
        try:
            lines = lifecycle.begin_label(_with_reservations(copy.deepcopy(order), shipments), wanted)
        except DomainError as exc:
            in_flight = any(s.status is ShipmentStatus.PURCHASING for s in shipments)
            if in_flight and exc.code in (ErrorCode.NOTHING_TO_SHIP, ErrorCode.QUANTITY_EXCEEDS_REMAINING):
                raise DomainError(
                    ErrorCode.LABEL_PURCHASE_IN_PROGRESS,
                    "A label is still being bought for these lines; wait for it or use its idempotency key",
                    ["lines"],
                ) from exc
            raise
        shipment = await uow.shipments.add(
            Shipment(
                id=None,
                account_id=account_id,
                order_id=order_id,
                carrier=carrier,
                service=service,
                idempotency_key=idempotency_key,
                lines=lines,
                location=location,
            )
        )
        # Bumps the version so a concurrent purchase for the same lines fails its commit.
        await uow.orders.save(order)
        uow.add_event(
            account_id,
            "LABEL_PURCHASE_STARTED",
            {"shipment_id": shipment.id, "status": order.status.value},
            order_id=order_id,
            shipment_id=shipment.id,
        )
    return shipment, True


async def complete_label_purchase(
    uow: UnitOfWork, account_id: int, shipment_id: int, label: PurchasedLabel
) -> Shipment:
    """Second half of buyLabel; safe to run twice (a PURCHASED shipment is returned as is)."""
    async with uow:
        order, shipment = await _locked(uow, account_id, shipment_id)
        if shipment.status is not ShipmentStatus.PURCHASING:
            return shipment
        shipment.status = ShipmentStatus.PURCHASED
        shipment.carrier_label_id = label.carrier_label_id
        shipment.tracking_number = label.tracking_number
        shipment.tracking_url = label.tracking_url
        shipment.cost = str(label.amount)
        shipment.currency = label.currency
        shipment.error = None
        shipment.carrier_name = label.carrier_name
        for label_format, content in (("PDF", label.pdf), ("ZPL", label.zpl)):
            if content:  # a carrier selling one format per label leaves the other empty
                await uow.labels.add(account_id, shipment_id, label_format, content)
        lifecycle.label_purchased(order, shipment)
        await uow.shipments.save(shipment)
        await uow.orders.save(order)
    return shipment


async def fail_label_purchase(uow: UnitOfWork, account_id: int, shipment_id: int, reason: str) -> Shipment:
    """The carrier refused for good: the lines are free again and the reason is kept."""
    async with uow:
        _, shipment = await _locked(uow, account_id, shipment_id)
        if shipment.status is not ShipmentStatus.PURCHASING:
            return shipment
        shipment.status = ShipmentStatus.FAILED
        await _record_trouble(uow, shipment, "LABEL_PURCHASE_FAILED", reason)
    return shipment


async def record_purchase_delay(uow: UnitOfWork, account_id: int, shipment_id: int, reason: str) -> Shipment:
    """The carrier did not answer: the purchase stays open under its key and is asked again later."""
    async with uow:
        _, shipment = await _locked(uow, account_id, shipment_id)
        if shipment.status is not ShipmentStatus.PURCHASING:
            return shipment
        await _record_trouble(uow, shipment, "LABEL_PURCHASE_DELAYED", reason)
    return shipment


async def skip_shipping(uow: UnitOfWork, account_id: int, order_id: int) -> Order:
    async with uow:
        order = await _order(uow, account_id, order_id, for_update=True)
        shipments = await uow.shipments.for_order(order_id)
        if any(s.status is ShipmentStatus.PURCHASING for s in shipments):
            raise DomainError(ErrorCode.LABEL_PURCHASE_IN_PROGRESS, "A label is being bought for this order")
        lifecycle.skip_shipping(order)
        return await uow.orders.save(order)


async def check_cancel_label(uow: UnitOfWork, account_id: int, shipment_id: int) -> Shipment:
    """Refusals that need no carrier call, before the void is attempted."""
    async with uow:
        shipment = await _shipment(uow, account_id, shipment_id)
        order = await _order(uow, account_id, shipment.order_id)
        lifecycle.check_cancel_label(order, shipment)
        return shipment


async def complete_void(
    uow: UnitOfWork, account_id: int, shipment_id: int, refund_status: RefundStatus
) -> tuple[Order, Shipment]:
    """The carrier voided the label: lines return to the order, the channel goes Unfulfilled."""
    async with uow:
        order, shipment = await _locked(uow, account_id, shipment_id)
        if shipment.status is ShipmentStatus.VOIDED:
            return order, shipment
        shipments = await uow.shipments.for_order(order.id or 0)
        lifecycle.label_voided(order, shipment, shipments)
        shipment.refund_status = refund_status
        await uow.shipments.save(shipment)
        order = await uow.orders.save(order)
    return order, shipment


async def record_void_rejected(uow: UnitOfWork, account_id: int, shipment_id: int, reason: str) -> Shipment:
    async with uow:
        _, shipment = await _locked(uow, account_id, shipment_id)
        shipment.refund_status = RefundStatus.REJECTED
        await _record_trouble(uow, shipment, "LABEL_VOID_REJECTED", reason)
    return shipment


async def record_tracking(uow: UnitOfWork, account_id: int, shipment_id: int, info: TrackingInfo) -> Order:
    """Carrier news; DELIVERED once every live shipment of a fully shipped order is delivered."""
    async with uow:
        order, shipment = await _locked(uow, account_id, shipment_id)
        before = (shipment.status, shipment.tracking_status, order.status, len(shipment.tracking_events))
        lifecycle.tracking_updated(order, shipment, info.status)
        if info.events:
            shipment.tracking_events = list(info.events)
        shipments = [shipment if s.id == shipment.id else s for s in await uow.shipments.for_order(order.id or 0)]
        lifecycle.order_delivered_if_complete(order, shipments)
        if (shipment.status, shipment.tracking_status, order.status, len(shipment.tracking_events)) != before:
            await uow.shipments.save(shipment)
            order = await uow.orders.save(order)
    return order


async def record_stall(uow: UnitOfWork, account_id: int, shipment_id: int, days: int) -> Order:
    """A parcel with no carrier news for `days`: the order needs the merchant."""
    async with uow:
        order, shipment = await _locked(uow, account_id, shipment_id)
        before = order.status
        lifecycle.tracking_stalled(order, shipment, days)
        if order.status is not before:
            order = await uow.orders.save(order)
    return order


async def _record_trouble(uow: UnitOfWork, shipment: Shipment, event_type: str, reason: str) -> None:
    """Keeps the carrier's words on the shipment and tells subscribers."""
    shipment.error = reason
    await uow.shipments.save(shipment)
    uow.add_event(
        shipment.account_id,
        event_type,
        {"shipment_id": shipment.id, "error": reason},
        order_id=shipment.order_id,
        shipment_id=shipment.id,
    )


def _with_reservations(order: Order, shipments: list[Shipment]) -> Order:
    """Lines held by purchases still in flight count as shipped while choosing what to ship.

    Mutates and returns `order`: pass a copy, the reservation is never stored.
    """
    in_flight = [s for s in shipments if s.status is ShipmentStatus.PURCHASING]
    if not in_flight:
        return order
    if order.status is OrderStatus.READY_TO_SHIP or order.status is OrderStatus.PARTIALLY_SHIPPED:
        for shipment in in_flight:
            for held in shipment.lines:
                line = order.line(held.order_line_id)
                if line is not None:
                    line.quantity_shipped += held.quantity
    return order


async def _order(uow: UnitOfWork, account_id: int, order_id: int, *, for_update: bool = False) -> Order:
    order = await uow.orders.get(account_id, order_id, for_update=for_update)
    if order is None:
        raise NotFound("Order", ["orderId"])
    return order


async def _locked(uow: UnitOfWork, account_id: int, shipment_id: int) -> tuple[Order, Shipment]:
    """The shipment and its order, read after locking the order: every change to a shipment
    goes through its order's lock, so two jobs racing on one shipment see each other's commit."""
    shipment = await _shipment(uow, account_id, shipment_id)
    order = await _order(uow, account_id, shipment.order_id, for_update=True)
    return order, await _shipment(uow, account_id, shipment_id)


async def _shipment(uow: UnitOfWork, account_id: int, shipment_id: int) -> Shipment:
    shipment = await uow.shipments.get(account_id, shipment_id)
    if shipment is None:
        raise NotFound("Shipment", ["shipmentId"])
    return shipment
