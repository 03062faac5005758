"""Push records (one per forwarded marketplace order) and the managed-products list, scoped per account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from adapters.persistence import mapping, models
from domain.forwarding import PushStatus
from domain.model import Order


@dataclass(frozen=True)
class Push:
    id: int
    account_id: int
    order_id: int
    target_channel_id: int
    status: PushStatus
    error: str | None
    platform_order_id: str | None
    attempts: int
    flag: str | None
    trigger: str


@dataclass(frozen=True)
class Product:
    sku: str
    title: str


def push(row: models.OrderPush) -> Push:
    return Push(
        id=row.id,
        account_id=row.account_id,  # type: ignore[attr-defined]
        order_id=row.order_id,  # type: ignore[attr-defined]
        target_channel_id=row.target_channel_id,  # type: ignore[attr-defined]
        status=PushStatus(row.status),
        error=row.error,
        platform_order_id=row.platform_order_id,
        attempts=row.attempts,
        flag=row.flag,
        trigger=row.trigger,
    )


async def pushes_for(account_id: int, order_ids: Sequence[int]) -> dict[int, Push]:
    rows = await models.OrderPush.filter(account_id=account_id, order_id__in=list(order_ids))
    return {row.order_id: push(row) for row in rows}  # type: ignore[attr-defined]


async def get_push(order_id: int) -> Push | None:
    row = await models.OrderPush.get_or_none(order_id=order_id)
    return push(row) if row else None


class PushRaced(Exception):
    """Another process created the order's push at the same moment: it is queued already."""


async def queue_push(account_id: int, order_id: int, target_channel_id: int, trigger: str) -> tuple[Push, bool]:
    """A push row in NOT_SENT, ready for the job. Returns (push, queued): a SENT one is left alone (forwarding
    twice never creates two copies), an ERROR or waiting one is queued again for the new target."""
    async with in_transaction():
        row = await models.OrderPush.filter(order_id=order_id, account_id=account_id).select_for_update().first()
        if row is None:
            try:
                row = await models.OrderPush.create(
                    account_id=account_id, order_id=order_id, target_channel_id=target_channel_id, trigger=trigger
                )
            except IntegrityError:
                raise PushRaced from None
            return push(row), True
        if row.status == PushStatus.SENT.value:
            return push(row), False
        await models.OrderPush.filter(id=row.id).update(
            status=PushStatus.NOT_SENT.value, target_channel_id=target_channel_id, trigger=trigger
        )
        return push(await models.OrderPush.get(id=row.id)), True


async def mark_sent(push_id: int, platform_order_id: str) -> None:
    await models.OrderPush.filter(id=push_id).update(
        status=PushStatus.SENT.value,
        platform_order_id=platform_order_id,
        error=None,
        attempts=F("attempts") + 1,
        sent_at=datetime.now(UTC),
    )


async def mark_error(push_id: int, error: str, *, final: bool) -> None:
    """`final`: shown as ERROR until pushOrder retries; otherwise the job tries again and the text explains why."""
    status = PushStatus.ERROR if final else PushStatus.NOT_SENT
    await models.OrderPush.filter(id=push_id).update(status=status.value, error=error, attempts=F("attempts") + 1)


async def mark_skipped(push_id: int, reason: str) -> None:
    """Not forwarded after all (cancelled before the job ran): stays NOT_SENT, with the reason."""
    await models.OrderPush.filter(id=push_id).update(status=PushStatus.NOT_SENT.value, error=reason)


async def flag(push_id: int, text: str) -> bool:
    """Flags a SENT push once; True when the flag is new."""
    return bool(await models.OrderPush.filter(id=push_id, flag__isnull=True).update(flag=text))


async def push_for_copy(account_id: int, target_channel_id: int, order_id: int) -> Push | None:
    """The push a store order tagged `waybill-<order_id>` belongs to: same account, same store channel."""
    row = await models.OrderPush.get_or_none(
        account_id=account_id, target_channel_id=target_channel_id, order_id=order_id
    )
    return push(row) if row else None


async def orders(account_id: int, order_ids: Sequence[int]) -> list[Order]:
    """Domain orders (with lines) in two queries."""
    rows = await models.Order.filter(account_id=account_id, id__in=list(order_ids))
    lines: dict[int, list[models.OrderLine]] = {row.id: [] for row in rows}
    for line in await models.OrderLine.filter(order_id__in=list(lines)).order_by("position", "id"):
        lines[line.order_id].append(line)  # type: ignore[attr-defined]
    return [mapping.order(row, lines[row.id]) for row in rows]


async def stranded(before: datetime, limit: int = 200) -> list[int]:
    """Order ids whose push is queued (NOT_SENT, never errored for good) but untouched since `before`."""
    rows = (
        await models.OrderPush.filter(status=PushStatus.NOT_SENT.value, updated_at__lte=before, error__isnull=True)
        .order_by("id")
        .limit(limit)
        .values_list("order_id", flat=True)
    )
    return [int(order_id) for order_id in rows]  # type: ignore[call-overload]


# --- managed products ---------------------------------------------------------------------


async def managed_skus(account_id: int, skus: Sequence[str]) -> set[str]:
    wanted = sorted({sku for sku in skus if sku})
    if not wanted:
        return set()
    rows = await models.ManagedProduct.filter(account_id=account_id, sku__in=wanted).values_list("sku", flat=True)
    return {str(sku) for sku in rows}


async def products(account_id: int, after_sku: str | None, limit: int) -> list[Product]:
    query = models.ManagedProduct.filter(account_id=account_id)
    if after_sku is not None:
        query = query.filter(sku__gt=after_sku)
    rows = await query.order_by("sku").limit(limit)
    return [Product(row.sku, row.title) for row in rows]


async def upsert_products(account_id: int, items: Sequence[Product]) -> list[Product]:
    """All or nothing: one transaction."""
    async with in_transaction():
        existing = {
            row.sku: row
            for row in await models.ManagedProduct.filter(account_id=account_id, sku__in=[p.sku for p in items])
        }
        for item in items:
            row = existing.get(item.sku)
            if row is None:
                await models.ManagedProduct.create(account_id=account_id, sku=item.sku, title=item.title)
            elif row.title != item.title:
                await models.ManagedProduct.filter(id=row.id).update(title=item.title)
    return list(items)


async def delete_products(account_id: int, skus: Sequence[str]) -> int:
    return int(await models.ManagedProduct.filter(account_id=account_id, sku__in=list(skus)).delete())
