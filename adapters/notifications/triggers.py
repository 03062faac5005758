"""When a customer e-mail becomes owed, and how its job is enqueued (after commit, and by the tick's sweep).

Kept free of the runtime and jobs modules so `adapters/runtime.py` can import it without a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from redis.exceptions import RedisError

from adapters.notifications import NotificationKind

log = logging.getLogger(__name__)

JOB = "send_shipment_notifications"


class _Enqueues(Protocol):
    async def enqueue(
        self, function: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> Any: ...


class _Event(Protocol):
    type: str
    shipment_id: int | None
    data: dict[str, Any]


def job_id(shipment_id: int, kind: NotificationKind) -> str:
    """One job per shipment and e-mail: the after-commit trigger and the sweep collapse into it."""
    return f"notify:{shipment_id}:{kind.value}"


def owed_by(events: Iterable[_Event]) -> list[tuple[int, NotificationKind]]:
    """Committed events that make an e-mail owed: a label bought (SHIPPED), a parcel delivered (DELIVERED)."""
    owed: dict[tuple[int, NotificationKind], None] = {}
    for event in events:
        if event.shipment_id is None:
            continue
        if event.type == "LABEL_PURCHASED":
            owed[(event.shipment_id, NotificationKind.SHIPPED)] = None
        elif event.type == "TRACKING_UPDATED" and event.data.get("tracking_status") == "DELIVERED":
            owed[(event.shipment_id, NotificationKind.DELIVERED)] = None
    return list(owed)


async def enqueue_notification(runtime: _Enqueues, shipment_id: int, kind: NotificationKind) -> None:
    """Right after the commit; a lost enqueue (Redis down) is picked up by the sweep."""
    try:
        await runtime.enqueue(JOB, shipment_id, job_id=job_id(shipment_id, kind))
    except (RedisError, OSError) as exc:
        log.warning("could not enqueue the %s e-mail of shipment %s (%s); the tick will", kind, shipment_id, exc)


async def enqueue_after_commit(runtime: _Enqueues, events: Iterable[_Event]) -> None:
    """The one call for `Runtime.after_commit`: every e-mail the committed events made owed, enqueued."""
    for shipment_id, kind in owed_by(events):
        await enqueue_notification(runtime, shipment_id, kind)
