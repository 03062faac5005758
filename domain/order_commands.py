"""Command handlers for the merchant's own changes to an order: updateDraft, updateOrder, archive, unarchive.

I/O only through the ports, like domain/services.py; each command is one unit of work, so an edit,
its audit event and the new status commit together or not at all.
"""

from __future__ import annotations

from domain import edits, lifecycle
from domain.errors import DomainError, ErrorCode, NotFound
from domain.model import DomainEvent, Order, OrderStatus, ShipmentStatus
from domain.ports import UnitOfWork

_REFUSED = {
    OrderStatus.CANCELLED: (ErrorCode.ORDER_CANCELLED, "The order was cancelled"),
    OrderStatus.ARCHIVED: (ErrorCode.ORDER_ARCHIVED, "The order is archived; unarchive it first"),
    OrderStatus.SHIPPED_ELSEWHERE: (ErrorCode.ORDER_ALREADY_SHIPPED, "The order was shipped outside Waybill"),
    OrderStatus.DELIVERED: (ErrorCode.ORDER_DELIVERED, "The order was delivered"),
}


async def update_order(
    uow: UnitOfWork, account_id: int, order_id: int, edit: edits.OrderEdit, *, draft_only: bool = False
) -> Order:
    """Applies the merchant's edit before any label exists; InvalidEdit (nothing applied) lists every bad field."""
    async with uow:
        order = await _order(uow, account_id, order_id)
        if draft_only and order.status is not OrderStatus.DRAFT:
            raise DomainError(
                ErrorCode.ORDER_NOT_DRAFT,
                f"The order is {order.status.value}, not a draft: use updateOrder to change it",
                ["input", "orderId"],
            )
        if order.status in _REFUSED:
            code, message = _REFUSED[order.status]
            raise DomainError(code, message, ["input", "orderId"])
        shipments = await uow.shipments.for_order(order_id)
        if order.status not in edits.EDITABLE or any(s.is_active for s in shipments):
            raise DomainError(
                ErrorCode.ORDER_HAS_LABEL,
                "The order already has a label: cancel the label before changing the address or parcel",
                ["input", "orderId"],
            )
        rules = await uow.orders.draft_rules(account_id)
        if edits.apply_edit(order, edit, rules):
            order = await uow.orders.save(order)
        return order


async def archive_order(uow: UnitOfWork, account_id: int, order_id: int) -> Order:
    async with uow:
        order = await _order(uow, account_id, order_id)
        if any(s.status is ShipmentStatus.PURCHASING for s in await uow.shipments.for_order(order_id)):
            raise DomainError(ErrorCode.LABEL_PURCHASE_IN_PROGRESS, "A label is being bought for this order")
        lifecycle.archive(order)
        return await uow.orders.save(order)


async def unarchive_order(uow: UnitOfWork, account_id: int, order_id: int) -> Order:
    async with uow:
        order = await _order(uow, account_id, order_id)
        edits.unarchive(order, await uow.orders.draft_rules(account_id))
        return await uow.orders.save(order)


async def recheck_orders(uow: UnitOfWork, account_id: int, order_ids: list[int]) -> int:
    """After the draft rules changed: open orders without a label take the new rules (a READY order may
    become a DRAFT, a draft may become ready). Returns how many changed."""
    changed = 0
    async with uow:
        rules = await uow.orders.draft_rules(account_id)
        for order_id in order_ids:
            order = await uow.orders.get(account_id, order_id, for_update=True)
            if order is None or order.status not in edits.RECOMPUTED:
                continue
            if any(s.status is ShipmentStatus.PURCHASING for s in await uow.shipments.for_order(order_id)):
                continue  # the carrier is selling a label for the order as it is
            before, missing = order.status, list(order.missing_fields)
            edits.refresh(order, rules)
            if (order.status, order.missing_fields) == (before, missing):
                continue
            order.events.append(
                DomainEvent("ORDER_RECHECKED", {"from": before.value, "status": order.status.value, "source": "rules"})
            )
            await uow.orders.save(order)
            changed += 1
    return changed


async def _order(uow: UnitOfWork, account_id: int, order_id: int) -> Order:
    order = await uow.orders.get(account_id, order_id, for_update=True)
    if order is None:
        raise NotFound("Order", ["input", "orderId"])
    return order
