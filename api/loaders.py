"""DataLoaders, one set per request and account: a page of orders costs a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from adapters.persistence import mapping, models
from domain.model import Channel, OrderLine, Shipment

if TYPE_CHECKING:
    from api.orders.types import ChannelWrite


class Loaders:
    def __init__(self, account_id: int | None) -> None:
        self.account_id = account_id
        self.lines_by_order = DataLoader(self._lines_by_order)
        self.shipments_by_order = DataLoader(self._shipments_by_order)
        self.channel_by_id = DataLoader(self._channel_by_id)
        self.open_writes_by_order = DataLoader(self._open_writes_by_order)

    async def _lines_by_order(self, order_ids: Sequence[int]) -> list[list[OrderLine]]:
        # Order ids reaching here were already read within the caller's account.
        rows = await models.OrderLine.filter(order_id__in=order_ids).order_by("order_id", "position", "id")
        grouped: dict[int, list[OrderLine]] = defaultdict(list)
        for row in rows:
            grouped[row.order_id].append(mapping.order_line(row))  # type: ignore[attr-defined]
        return [grouped[order_id] for order_id in order_ids]

    async def _shipments_by_order(self, order_ids: Sequence[int]) -> list[list[Shipment]]:
        rows = await models.Shipment.filter(order_id__in=order_ids, account_id=self.account_id).order_by("id")
        grouped: dict[int, list[Shipment]] = defaultdict(list)
        for row in rows:
            grouped[row.order_id].append(mapping.shipment(row))  # type: ignore[attr-defined]
        return [grouped[order_id] for order_id in order_ids]

    async def _channel_by_id(self, channel_ids: Sequence[int]) -> list[Channel]:
        rows = await models.Channel.filter(id__in=channel_ids, account_id=self.account_id)
        by_id = {row.id: mapping.channel(row) for row in rows}
        return [by_id[channel_id] for channel_id in channel_ids]

    async def _open_writes_by_order(self, order_ids: Sequence[int]) -> list[list[ChannelWrite]]:
        from api.orders.types import ChannelWrite

        rows: list[Any] = await models.OutboxWrite.filter(
            order_id__in=order_ids, account_id=self.account_id, status__in=["PENDING", "FAILED"]
        ).order_by("id")
        grouped: dict[int, list[ChannelWrite]] = defaultdict(list)
        for row in rows:
            grouped[row.order_id].append(
                ChannelWrite(kind=row.kind, status=row.status, attempts=row.attempts, last_error=row.last_error)
            )
        return [grouped[order_id] for order_id in order_ids]
