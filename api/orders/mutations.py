"""updateDraft, updateOrder, archiveOrder, unarchiveOrder, updateDraftRules.

Edits are checked as a whole: one userError per bad field (paths like ["input", "shippingAddress",
"postalCode"]) and nothing saved, or everything saved with one audit event naming the changed fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from tortoise.transactions import in_transaction

from adapters.persistence import models
from api import ids
from api.context import Info
from api.errors import UserError, refusals
from api.orders.draft_types import DraftRules
from api.orders.inputs import ArchiveOrderInput, UpdateDraftInput, UpdateDraftRulesInput, UpdateOrderInput, to_edit
from api.orders.types import Order
from domain import drafts, edits, model, order_commands
from domain.edits import InvalidEdit
from domain.errors import DomainError, ErrorCode
from domain.ports import UnitOfWork

WRITE_SCOPE = "write_shipments"
RULES_SCOPE = "manage_channels"

T = TypeVar("T")


@strawberry.type(description="Result of updateDraft.")
class UpdateDraftPayload:
    order: Order | None = strawberry.field(description="The order: READY_TO_SHIP once nothing is missing.")
    user_errors: list[UserError] = strawberry.field(description="Every field still wrong; nothing was saved then.")


@strawberry.type(description="Result of updateOrder.")
class UpdateOrderPayload:
    order: Order | None = strawberry.field(description="The corrected order.")
    user_errors: list[UserError] = strawberry.field(description="Every field still wrong; nothing was saved then.")


@strawberry.type(description="Result of archiveOrder.")
class ArchiveOrderPayload:
    order: Order | None = strawberry.field(description="The order, now ARCHIVED.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of unarchiveOrder.")
class UnarchiveOrderPayload:
    order: Order | None = strawberry.field(
        description="The order, back to what its data says (DRAFT, READY_TO_SHIP...)."
    )
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of updateDraftRules.")
class UpdateDraftRulesPayload:
    draft_rules: DraftRules | None = strawberry.field(description="The rules now.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input; nothing was saved then.")


async def _field_refusals(action: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """`refusals`, plus an invalid edit as one userError per field."""
    try:
        return await refusals(action)
    except InvalidEdit as exc:
        return None, [UserError(field=path, message=message, code=ErrorCode.INVALID) for path, message in exc.errors]


def _decode_order(value: strawberry.ID) -> int:
    try:
        return ids.decode("Order", value, "orderId")
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, ["input", "orderId"]) from exc


async def _edit(
    info: Info, data: UpdateDraftInput | UpdateOrderInput, *, draft_only: bool
) -> tuple[Order | None, list[UserError]]:
    context = info.context

    async def run() -> Order:
        context.require(WRITE_SCOPE)
        order_id = _decode_order(data.order_id)
        edit = to_edit(data)
        uow = context.runtime.uow(context.actor)
        order = await order_commands.update_order(uow, context.account_id, order_id, edit, draft_only=draft_only)
        return Order.from_domain(order)

    return await _field_refusals(run)


async def update_draft(info: Info, input: UpdateDraftInput) -> UpdateDraftPayload:
    order, errors = await _edit(info, input, draft_only=True)
    return UpdateDraftPayload(order=order, user_errors=errors)


async def update_order(info: Info, input: UpdateOrderInput) -> UpdateOrderPayload:
    order, errors = await _edit(info, input, draft_only=False)
    return UpdateOrderPayload(order=order, user_errors=errors)


async def archive_order(info: Info, input: ArchiveOrderInput) -> ArchiveOrderPayload:
    order, errors = await _archiving(info, input, order_commands.archive_order)
    return ArchiveOrderPayload(order=order, user_errors=errors)


async def unarchive_order(info: Info, input: ArchiveOrderInput) -> UnarchiveOrderPayload:
    order, errors = await _archiving(info, input, order_commands.unarchive_order)
    return UnarchiveOrderPayload(order=order, user_errors=errors)


async def _archiving(
    info: Info, input: ArchiveOrderInput, command: Callable[[UnitOfWork, int, int], Awaitable[model.Order]]
) -> tuple[Order | None, list[UserError]]:
    context = info.context

    async def run() -> Order:
        context.require(WRITE_SCOPE)
        uow = context.runtime.uow(context.actor)
        return Order.from_domain(await command(uow, context.account_id, _decode_order(input.order_id)))

    return await refusals(run)


async def update_draft_rules(info: Info, input: UpdateDraftRulesInput) -> UpdateDraftRulesPayload:
    """Applies to every import and edit from now on, and re-checks the open orders that have no label yet."""
    context = info.context

    async def run() -> DraftRules:
        context.require(RULES_SCOPE)
        async with in_transaction("default") as db:
            account = await models.Account.get(id=context.account_id, using_db=db)
            current = drafts.DraftRules.from_settings(account.settings).to_settings()
            rules = drafts.DraftRules(**{**current, **_rule_changes(input)})
            problems = drafts.check_rules(rules)
            if problems:
                raise InvalidEdit([(["input", name], message) for name, message in problems])
            account.settings = {**(account.settings or {}), "draft_rules": rules.to_settings()}
            await account.save(using_db=db, update_fields=["settings"])
        await _recheck_open_orders(info)
        return DraftRules.from_domain(rules)

    rules, errors = await _field_refusals(run)
    return UpdateDraftRulesPayload(draft_rules=rules, user_errors=errors)


RECHECK_CHUNK = 200


async def _recheck_open_orders(info: Info) -> None:
    """Open orders without a label take the new rules, a chunk per transaction (keyset by id)."""
    context = info.context
    statuses = [status.value for status in edits.RECOMPUTED]
    last = 0
    while True:
        chunk = await (
            models.Order.filter(account_id=context.account_id, status__in=statuses, id__gt=last)
            .order_by("id")
            .limit(RECHECK_CHUNK)
            .values_list("id", flat=True)
        )
        if not chunk:
            return
        await order_commands.recheck_orders(context.runtime.uow(context.actor), context.account_id, list(chunk))
        last = int(chunk[-1])


def _rule_changes(data: UpdateDraftRulesInput) -> dict[str, object]:
    changes: dict[str, object] = {}
    if data.origin_country is not None:
        changes["origin_country"] = data.origin_country.strip().upper() or None
    for name in ("customs", "invoice_number", "line_weight"):
        if getattr(data, name) is not None:
            changes[name] = bool(getattr(data, name))
    if data.default_line_weight_grams is not None:
        changes["default_line_weight_grams"] = data.default_line_weight_grams or None
    if data.default_customs_contents is not None:
        changes["default_customs_contents"] = data.default_customs_contents.value
    return changes


async def draft_rules(info: Info) -> DraftRules:
    account = await models.Account.get(id=info.context.account_id)
    return DraftRules.from_domain(drafts.DraftRules.from_settings(account.settings))


@strawberry.type
class OrderMutations:
    update_draft: UpdateDraftPayload = strawberry.mutation(
        resolver=update_draft,
        description="Fill in what a DRAFT order lacks; it becomes READY_TO_SHIP by itself once complete.",
    )
    update_order: UpdateOrderPayload = strawberry.mutation(
        resolver=update_order,
        description="Correct an order's address, contact, parcel or customs before its label; kept over later syncs.",
    )
    archive_order: ArchiveOrderPayload = strawberry.mutation(
        resolver=archive_order, description="Take an order that will never ship out of every work list."
    )
    unarchive_order: UnarchiveOrderPayload = strawberry.mutation(
        resolver=unarchive_order, description="Bring an archived order back, to what its data says."
    )
    update_draft_rules: UpdateDraftRulesPayload = strawberry.mutation(
        resolver=update_draft_rules,
        description="Change when orders become drafts (per account); open orders without a label are re-checked.",
    )
