"""Customer e-mails on shipped and delivered: claimed before they are sent, so never twice.

`send_shipment_notifications` (arq) works out what a shipment is owed, records it in
`notifications_sent` under its unique (shipment, kind) *before* talking to SMTP, and marks the
row SENT or FAILED. A second worker or a retried job finds the row and stops. The row is also
the retry lease: FAILED (released) or SENDING for longer than `STALE_SENDING` (a worker died
mid-send) is taken again with a compare-and-set on `attempts`, reusing the stored Message-ID.
`sent_at` holds the start of the latest attempt until the row is SENT, then the send time.
`due_notifications` is the tick's sweep for lost enqueues and for FAILED rows due a retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from arq import Retry
from jinja2 import TemplateError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from adapters.carriers.catalog import carrier_title
from adapters.notifications import NotificationKind, NotificationStatus
from adapters.notifications.mailer import (
    MailError,
    SmtpServer,
    build_message,
    message_id,
    sender_address,
)
from adapters.notifications.preferences import account_preferences, skip_reason
from adapters.notifications.templates import MessageFacts, ShippedLine, TemplateSource, render
from adapters.notifications.triggers import JOB, job_id
from adapters.persistence import models
from adapters.runtime import Runtime
from domain.model import OrderStatus, ShipmentStatus, TrackingStatus

log = logging.getLogger(__name__)

#: Tries of one job (arq Retry) before the row is left FAILED for the sweep.
MAX_TRIES = 3
RETRY_BASE_S = 5.0
#: A SENDING row this old belongs to a worker that died mid-send: it may be taken again.
STALE_SENDING = timedelta(minutes=5)
#: The sweep looks at shipments this recent; older ones are never mailed late.
SWEEP_WINDOW = timedelta(days=2)
#: Attempts (all jobs together) after which the sweep gives a FAILED e-mail up.
SWEEP_MAX_ATTEMPTS = 15
SWEEP_BATCH = 500
#: What the customer reads as the carrier when the label does not name the one that moves the parcel.

_LIVE = (ShipmentStatus.PURCHASED.value, ShipmentStatus.IN_TRANSIT.value)
_SHIPPING = (OrderStatus.SHIPPING.value, OrderStatus.PARTIALLY_SHIPPED.value)


def owed_kinds(shipment_status: str, order_status: str) -> list[NotificationKind]:
    """SHIPPED while the parcel is on its way for an order that shipped; DELIVERED once it arrived.

    A SHIPPED e-mail that never went out is not sent after the delivery: the DELIVERED one says more.
    """
    if shipment_status == ShipmentStatus.DELIVERED.value:
        return [NotificationKind.DELIVERED]
    if shipment_status in _LIVE and order_status in _SHIPPING:
        return [NotificationKind.SHIPPED]
    return []


def retry_delay(job_try: int) -> float:
    return RETRY_BASE_S * float(4 ** max(job_try - 1, 0))


def sweep_delay(attempts: int) -> timedelta:
    """How long a FAILED e-mail rests before the sweep tries it again: 4, 8, 16 ... minutes, at most 6 hours."""
    wait: timedelta = timedelta(minutes=1) * int(2 ** max(attempts - 1, 1))
    return min(wait, timedelta(hours=6))


@dataclass
class _Parcel:
    shipment: models.Shipment
    order: models.Order
    account: models.Account
    channel: models.Channel


async def send_shipment_notifications(ctx: dict[str, Any], shipment_id: int) -> dict[str, str]:
    """Every e-mail the shipment is owed now; safe to run any number of times, concurrently too."""
    runtime: Runtime = ctx["runtime"]
    job_try = int(ctx.get("job_try", 1))
    parcel = await _load(shipment_id)
    if parcel is None:
        return {}
    outcome: dict[str, str] = {}
    retry = False
    for kind in owed_kinds(parcel.shipment.status, parcel.order.status):
        status, again = await _notify(runtime, parcel, kind, job_try)
        outcome[kind.value] = status
        retry = retry or again
    if retry:
        raise Retry(defer=retry_delay(job_try))
    return outcome


async def _load(shipment_id: int) -> _Parcel | None:
    shipment = await models.Shipment.get_or_none(id=shipment_id)
    if shipment is None:
        return None
    order = await models.Order.get(id=shipment.order_id)  # type: ignore[attr-defined]
    account = await models.Account.get(id=shipment.account_id)  # type: ignore[attr-defined]
    channel = await models.Channel.get(id=order.channel_id)  # type: ignore[attr-defined]
    return _Parcel(shipment, order, account, channel)


async def _notify(runtime: Runtime, parcel: _Parcel, kind: NotificationKind, job_try: int) -> tuple[str, bool]:
    """(status the e-mail ends in, whether this job should try again)."""
    settings = runtime.settings
    preferences = account_preferences(parcel.account.settings)
    recipient = (parcel.order.customer_email or "").strip()
    skip = skip_reason(
        account=preferences,
        channel_settings=parcel.channel.settings,
        recipient=recipient,
        smtp_configured=bool(settings.smtp_url),
    )
    sender = sender_address(preferences.from_address or settings.mail_from, parcel.account.name)
    row = await _claim(parcel, kind, recipient, message_id(parcel.shipment.id, kind, sender), skip)
    if row is None:  # sent, skipped, or being sent by another worker
        current = await models.NotificationSent.get(shipment_id=parcel.shipment.id, kind=kind.value)
        return current.status, False
    if skip is not None:
        return NotificationStatus.SKIPPED.value, False
    try:
        server = SmtpServer.from_url(settings.smtp_url or "")
        rendered = render(kind, await _facts(parcel, kind), await _merchant_template(parcel.account.id, kind))
        message = build_message(
            sender=sender,
            recipient=recipient,
            rendered=rendered,
            msg_id=row.message_id or message_id(parcel.shipment.id, kind, sender),
        )
    except (ValueError, TemplateError) as exc:  # configuration or data the sweep cannot fix by retrying soon
        await _finish(row, NotificationStatus.FAILED, f"could not prepare the e-mail: {exc}")
        return NotificationStatus.FAILED.value, False
    try:
        await server.send(message)
    except MailError as exc:
        log.warning("%s e-mail of shipment %s not sent via %s: %s", kind, row.shipment_id, server.describe(), exc)  # type: ignore[attr-defined]
        await _finish(row, NotificationStatus.FAILED, exc.message)
        return NotificationStatus.FAILED.value, not exc.permanent and job_try < MAX_TRIES
    await _finish(row, NotificationStatus.SENT, None)
    return NotificationStatus.SENT.value, False


async def _claim(
    parcel: _Parcel, kind: NotificationKind, recipient: str, msg_id: str, skip: str | None
) -> models.NotificationSent | None:
    """The row this job now owns, or None. Inserting is the claim; the unique (shipment, kind) decides races."""
    now = datetime.now(UTC)
    status = NotificationStatus.SKIPPED if skip else NotificationStatus.SENDING
    try:
        return await models.NotificationSent.create(
            account_id=parcel.account.id,
            shipment_id=parcel.shipment.id,
            kind=kind.value,
            recipient=recipient[:320],
            status=status.value,
            error=skip,
            message_id=msg_id,
            attempts=0 if skip else 1,
            sent_at=None if skip else now,
        )
    except IntegrityError:
        pass
    existing = await models.NotificationSent.get(shipment_id=parcel.shipment.id, kind=kind.value)
    if not _may_retake(existing, now):
        return None
    # Compare-and-set on attempts: of two workers retaking the same row, one wins.
    taken = await models.NotificationSent.filter(
        id=existing.id, attempts=existing.attempts, status=existing.status
    ).update(
        status=status.value,
        error=skip,
        recipient=recipient[:320],
        attempts=existing.attempts + (0 if skip else 1),
        sent_at=existing.sent_at if skip else now,
    )
    if not taken:
        return None
    return await models.NotificationSent.get(id=existing.id)


def _may_retake(row: models.NotificationSent, now: datetime) -> bool:
    if row.status == NotificationStatus.FAILED:
        return True
    stale = row.sent_at is None or row.sent_at < now - STALE_SENDING
    return row.status == NotificationStatus.SENDING and stale


async def _finish(row: models.NotificationSent, status: NotificationStatus, error: str | None) -> None:
    """Only while the claim is still ours (same attempt): a stale-retaken row is the new owner's."""
    updated = await models.NotificationSent.filter(
        id=row.id, attempts=row.attempts, status=NotificationStatus.SENDING.value
    ).update(
        status=status.value,
        error=error,
        sent_at=datetime.now(UTC) if status is NotificationStatus.SENT else row.sent_at,
    )
    if not updated:
        log.warning(
            "notification %s was retaken while this attempt ran; its outcome (%s) is not recorded", row.id, status
        )


async def _merchant_template(account_id: int, kind: NotificationKind) -> TemplateSource | None:
    row = await models.NotificationTemplate.get_or_none(account_id=account_id, kind=kind.value)
    return TemplateSource(subject=row.subject, body=row.body) if row else None


async def _facts(parcel: _Parcel, kind: NotificationKind) -> MessageFacts:
    shipment = parcel.shipment
    quantities = {int(line["order_line_id"]): int(line["quantity"]) for line in shipment.lines or []}
    order_lines = await models.OrderLine.filter(id__in=list(quantities)).order_by("position", "id")
    return MessageFacts(
        order_number=parcel.order.number,
        customer_name=parcel.order.customer_name or "",
        shop_name=parcel.account.name,
        carrier_name=shipment.carrier_name or carrier_title(shipment.carrier),
        tracking_number=shipment.tracking_number or "",
        tracking_url=shipment.tracking_url or "",
        lines=tuple(ShippedLine(title=line.title, quantity=quantities[line.id]) for line in order_lines),
        delivered_date=_delivered_on(shipment) if kind is NotificationKind.DELIVERED else None,
    )


def _delivered_on(shipment: models.Shipment) -> date:
    """The carrier's delivery scan if it reported one, else when Waybill heard of it."""
    for event in reversed(shipment.tracking_events or []):
        if event.get("status") == TrackingStatus.DELIVERED.value and event.get("occurred_at"):
            return datetime.fromisoformat(str(event["occurred_at"])).date()
    return shipment.updated_at.date()


async def due_notifications(runtime: Runtime, now: datetime | None = None) -> int:
    """The tick's sweep: e-mails owed with no row (enqueue lost), FAILED ones due a retry, SENDING ones stuck.

    Looks at shipments of the last two days only; returns how many jobs it enqueued.
    """
    now = now or datetime.now(UTC)
    since = now - SWEEP_WINDOW
    candidates = await (
        models.Shipment.filter(
            Q(status__in=list(_LIVE), created_at__gte=since)
            | Q(status=ShipmentStatus.DELIVERED.value, updated_at__gte=since)
        )
        .order_by("-id")
        .limit(SWEEP_BATCH)
        .values("id", "status", "order_id")
    )
    if not candidates:
        return 0
    order_status = dict(
        await models.Order.filter(id__in={c["order_id"] for c in candidates}).values_list("id", "status")
    )
    rows = {
        (r["shipment_id"], r["kind"]): r
        for r in await models.NotificationSent.filter(shipment_id__in=[c["id"] for c in candidates]).values(
            "shipment_id", "kind", "status", "attempts", "sent_at"
        )
    }
    enqueued = 0
    for candidate in candidates:
        for kind in owed_kinds(candidate["status"], order_status.get(candidate["order_id"], "")):
            row = rows.get((candidate["id"], kind.value))
            if row is None:
                name = job_id(candidate["id"], kind)  # the after-commit trigger's own id: never doubled
            elif _retry_due(row, now):
                name = f"{job_id(candidate['id'], kind)}:retry:{row['attempts']}"
            else:
                continue
            await runtime.enqueue(JOB, candidate["id"], job_id=name)
            enqueued += 1
    return enqueued


def _retry_due(row: dict[str, Any], now: datetime) -> bool:
    last = row["sent_at"]
    if row["status"] == NotificationStatus.SENDING:
        return last is None or last < now - STALE_SENDING
    if row["status"] != NotificationStatus.FAILED or row["attempts"] >= SWEEP_MAX_ATTEMPTS:
        return False
    return last is None or last + sweep_delay(row["attempts"]) <= now


__all__ = ["JOB", "due_notifications", "owed_kinds", "send_shipment_notifications"]
