"""Carrier I/O: buy and void labels, follow parcels. Each task is safe to run twice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from arq import Retry
from tortoise.expressions import Q

from adapters.persistence import models
from adapters.runtime import Runtime
from domain import services
from domain.drafts import DraftRules
from domain.errors import DomainError
from domain.model import Address, ShipmentStatus, TrackingEvent, TrackingStatus
from domain.ports import CarrierFailure, Parcel, RateRequest, VoidRejected

log = logging.getLogger(__name__)

MAX_TRIES = 5
TRACK_BATCH = 500
DEFAULT_PARCEL_GRAMS = 500
#: Until locations arrive (issue 5), every label ships from the account's one warehouse.
DEFAULT_SHIP_FROM = Address(
    name="Waybill Demo Warehouse",
    line1="1 Dock Street",
    city="Portland",
    region="OR",
    postal_code="97209",
    country_code="US",
    phone="+1 503 555 0100",
)


async def rate_request_for(order: models.Order, shipment_lines: list[dict[str, Any]] | None = None) -> RateRequest:
    """The parcel the merchant measured (updateOrder's package) wins; else the lines' weights, a line
    without one weighing the account's default line weight (draft rules)."""
    lines = await models.OrderLine.filter(order_id=order.id)
    quantities = {line["order_line_id"]: line["quantity"] for line in shipment_lines or []}
    weigh = (lambda line: quantities.get(line.id, 0)) if shipment_lines else (lambda line: line.quantity)
    settings = await models.Account.filter(id=order.account_id).values_list("settings", flat=True)  # type: ignore[attr-defined]
    default_grams = DraftRules.from_settings(settings[0] if settings else None).default_line_weight_grams or 0
    grams = sum((line.grams or default_grams) * weigh(line) for line in lines)
    package = order.package if isinstance(order.package, dict) else {}
    whole_order = all(weigh(line) == line.quantity for line in lines)
    measured = package.get("weight_grams") if whole_order else None  # a split parcel weighs its lines
    default_box = Parcel(weight_grams=1)
    return RateRequest(
        ship_to=Address(**(order.shipping_address or {})),
        ship_from=DEFAULT_SHIP_FROM,
        parcel=Parcel(
            weight_grams=int(measured or grams or DEFAULT_PARCEL_GRAMS),
            length_cm=_cm(package.get("length_cm"), default_box.length_cm),
            width_cm=_cm(package.get("width_cm"), default_box.width_cm),
            height_cm=_cm(package.get("height_cm"), default_box.height_cm),
        ),
    )


def _cm(value: Any, default: Decimal) -> Decimal:
    return Decimal(str(value)) if value else default


async def purchase_label(ctx: dict[str, Any], account_id: int, shipment_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    shipment = await models.Shipment.get_or_none(id=shipment_id, account_id=account_id)
    if shipment is None or shipment.status != ShipmentStatus.PURCHASING:
        return shipment.status if shipment else "missing"
    order = await models.Order.get(id=shipment.order_id)  # type: ignore[attr-defined]
    try:
        carrier = await runtime.carrier_client(account_id, shipment.carrier)
        request = await rate_request_for(order, shipment.lines)
        label = await carrier.buy(request, shipment.service, shipment.idempotency_key)
    except CarrierFailure as exc:
        if not exc.retryable:  # the carrier refused: nothing was sold
            await services.fail_label_purchase(runtime.uow("carrier"), account_id, shipment_id, exc.message)
            return ShipmentStatus.FAILED.value
        if ctx.get("job_try", 1) < MAX_TRIES:
            # Same idempotency key on every try: the carrier sells one label however often we ask.
            raise Retry(defer=ctx.get("job_try", 1) * 1.0) from exc
        # A timeout or 5xx may have come after the carrier charged: never give up on the key.
        # The shipment stays PURCHASING (its lines reserved) and the tick asks again each minute.
        await services.record_purchase_delay(runtime.uow("carrier"), account_id, shipment_id, exc.message)
        return ShipmentStatus.PURCHASING.value
    except DomainError as exc:
        await services.fail_label_purchase(runtime.uow("carrier"), account_id, shipment_id, exc.message)
        return ShipmentStatus.FAILED.value
    done = await services.complete_label_purchase(runtime.uow("carrier"), account_id, shipment_id, label)
    return done.status.value


async def void_label(ctx: dict[str, Any], account_id: int, shipment_id: int) -> dict[str, str]:
    runtime: Runtime = ctx["runtime"]
    shipment = await services.check_cancel_label(runtime.uow("carrier"), account_id, shipment_id)
    if shipment.carrier_label_id is None:
        return {"status": "error", "message": "The label has no carrier reference"}
    try:
        carrier = await runtime.carrier_client(account_id, shipment.carrier)
        refund = await carrier.void(shipment.carrier_label_id)
    except VoidRejected as exc:
        await services.record_void_rejected(runtime.uow("carrier"), account_id, shipment_id, exc.message)
        return {"status": "rejected", "message": exc.message}
    except CarrierFailure as exc:
        if exc.retryable and ctx.get("job_try", 1) < MAX_TRIES:
            raise Retry(defer=ctx.get("job_try", 1) * 1.0) from exc
        return {"status": "error", "message": exc.message}
    await services.complete_void(runtime.uow("carrier"), account_id, shipment_id, refund)
    return {"status": "voided", "refund_status": refund.value}


async def track_shipments(ctx: dict[str, Any]) -> int:
    """Asks the carrier about every parcel whose turn has come; webhooks are the fast path, this the fallback."""
    runtime: Runtime = ctx["runtime"]
    now = datetime.now(UTC)
    # Least recently asked first, so a long tail of unshipped labels cannot starve newer parcels.
    live = (
        await models.Shipment.filter(
            Q(next_track_at__isnull=True) | Q(next_track_at__lte=now),
            status__in=[ShipmentStatus.PURCHASED.value, ShipmentStatus.IN_TRANSIT.value],
            tracking_number__isnull=False,
        )
        .order_by("updated_at")
        .limit(TRACK_BATCH)
    )
    for shipment in live:
        account_id: int = shipment.account_id  # type: ignore[attr-defined]
        status: TrackingStatus | None = None
        try:
            carrier = await runtime.carrier_client(account_id, shipment.carrier)
            info = await carrier.track(shipment.tracking_number or "")
            status = info.status
            await services.record_tracking(runtime.uow("carrier"), account_id, shipment.id, info)
            if _stalled_since(info.events, shipment.created_at, now):
                await services.record_stall(runtime.uow("carrier"), account_id, shipment.id, STALL_AFTER.days)
        except (CarrierFailure, DomainError) as exc:
            log.warning("tracking shipment %s failed: %s", shipment.id, getattr(exc, "message", exc))
        except Exception:  # one bad parcel must not stop the others
            log.exception("tracking shipment %s crashed", shipment.id)
        due = now + timedelta(seconds=runtime.settings.tracking_interval_seconds * TRACK_EVERY.get(status, 4))
        await models.Shipment.filter(id=shipment.id).update(updated_at=now, next_track_at=due)  # back of the line
    return len(live)


#: Multiples of the tracking interval between two polls: a parcel out for delivery is asked most often.
TRACK_EVERY: dict[TrackingStatus | None, int] = {
    TrackingStatus.OUT_FOR_DELIVERY: 1,
    TrackingStatus.IN_TRANSIT: 4,
    TrackingStatus.READY_FOR_PICKUP: 4,
    TrackingStatus.PENDING: 8,
}
#: No carrier news for this long on a parcel under way: the order needs the merchant.
STALL_AFTER = timedelta(days=7)


def _stalled_since(events: list[TrackingEvent], created_at: datetime, now: datetime) -> bool:
    latest = max((event.occurred_at for event in events), default=created_at)
    return now - latest > STALL_AFTER


async def reconcile_purchases(runtime: Runtime) -> None:
    """A label stuck in PURCHASING (worker killed mid-buy) is asked for again with its key."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=60)
    bucket = int(now.timestamp() // 60)  # at most one reconciliation a minute per label
    for shipment in await models.Shipment.filter(status=ShipmentStatus.PURCHASING.value, created_at__lt=stale):
        await runtime.enqueue(
            "purchase_label",
            shipment.account_id,  # type: ignore[attr-defined]
            shipment.id,
            job_id=f"purchase:{shipment.id}:{bucket}",
        )
