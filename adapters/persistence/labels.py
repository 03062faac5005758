"""Label storage: one rendered label per (shipment, format), read back only within its account."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from adapters.persistence.models import Label


class LabelRepository:
    """Tortoise implementation of the ``domain.ports.LabelRepository`` port.

    Every query runs on ``connection`` when one is given, so a unit of work's
    transaction covers it; with ``None`` Tortoise picks the default connection.
    """

    def __init__(self, connection: BaseDBAsyncClient | None = None) -> None:
        self._connection = connection

    async def add(self, account_id: int, shipment_id: int, label_format: str, content: bytes) -> None:
        """Store ``content``, replacing any label already kept for this shipment and format.

        A single ``INSERT ... ON CONFLICT (shipment_id, format) DO UPDATE`` so a
        concurrent or repeated add never trips the unique constraint (which would
        abort the surrounding transaction on PostgreSQL).
        """
        await Label.bulk_create(
            [Label(account_id=account_id, shipment_id=shipment_id, format=label_format, content=content)],
            on_conflict=["shipment_id", "format"],
            update_fields=["content"],
            using_db=self._connection,
        )

    async def get(self, account_id: int, shipment_id: int, label_format: str) -> bytes | None:
        """The label's bytes, or ``None`` if absent or owned by another account."""
        rows = await (
            Label.filter(account_id=account_id, shipment_id=shipment_id, format=label_format)
            .using_db(self._connection)
            .limit(1)
            .values_list("content", flat=True)
        )
        if not rows:
            return None
        return bytes(rows[0])
