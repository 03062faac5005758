"""CsvUploadClient: the ChannelClient port for a channel with no remote API (orders arrive by upload).

Nothing is ever sent anywhere: the SPEC declares no capabilities, so Waybill keeps shipments to itself.
The methods still answer, without I/O, so generic code (sync, outbox, contract tests) can treat it like any channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.ports import OrderPage, Tracking

NAME = "CSV upload"


class CsvUploadClient:
    """Stateless: there is no store to call, no credential to hold and nothing to close."""

    async def check_connection(self) -> str:
        return NAME

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        """Always empty and final: a sync finds nothing new, orders come in through `importOrdersCsv`."""
        return OrderPage(orders=[], next_page=None)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """A local id derived from the tracking number, so a repeat returns the same id."""
        return f"csv:{tracking.number}" if tracking is not None else "csv:hand"

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        return None

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        """Nothing was written anywhere, so there is nothing to take back."""
        return None

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return "CsvUploadClient()"
