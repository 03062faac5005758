"""Carrier I/O: buy and void labels, follow parcels. Each task is safe to run twice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from arq import Retry

from adapters.persistence import models
from adapters.runtime import Runtime
from domain import services
from domain.errors import DomainError
from domain.model import Address, ShipmentStatus
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
    lines = await models.OrderLine.filter(order_id=order.id)
    quantities = {line["order_line_id"]: line["quantity"] for line in shipment_lines or []}
    weigh = (lambda line: quantities.get(line.id, 0)) if shipment_lines else (lambda line: line.quantity)
    grams = sum((line.grams or 0) * weigh(line) for line in lines)
    return RateRequest(
        ship_to=Address(**(order.shipping_address or {})),
        ship_from=DEFAULT_SHIP_FROM,
        parcel=Parcel(weight_grams=grams or DEFAULT_PARCEL_GRAMS, length_cm=Decimal("30")),
    )


async def purchase_label(ctx: dict[str, Any], account_id: int, shipment_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    shipment = await models.Shipment.get_or_none(id=shipment_id, account_id=account_id)
    if shipment is None or shipment.status != ShipmentStatus.PURCHASING:
        return shipment.status if shipment else "missing"
    order = await models.Order.get(id=shipment.order_id)  # type: ignore[attr-defined]
    try:
        carrier = runtime.carrier_client(shipment.carrier)
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
        refund = await runtime.carrier_client(shipment.carrier).void(shipment.carrier_label_id)
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
    """Asks the carrier about every parcel still on its way."""
    runtime: Runtime = ctx["runtime"]
    # Least recently changed first, so a long tail of unshipped labels cannot starve newer parcels.
    live = (
        await models.Shipment.filter(
            status__in=[ShipmentStatus.PURCHASED.value, ShipmentStatus.IN_TRANSIT.value], tracking_number__isnull=False
        )
        .order_by("updated_at")
        .limit(TRACK_BATCH)
    )
    for shipment in live:
        try:
            info = await runtime.carrier_client(shipment.carrier).track(shipment.tracking_number or "")
            await services.record_tracking(runtime.uow("carrier"), shipment.account_id, shipment.id, info)  # type: ignore[attr-defined]
        except (CarrierFailure, DomainError) as exc:
            log.warning("tracking shipment %s failed: %s", shipment.id, getattr(exc, "message", exc))
        except Exception:  # one bad parcel must not stop the others
            log.exception("tracking shipment %s crashed", shipment.id)
        await models.Shipment.filter(id=shipment.id).update(updated_at=datetime.now(UTC))  # to the back of the line
    return len(live)


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
