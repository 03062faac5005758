"""Quote rates from every carrier of an account at once, in a worker (carrier I/O never runs in the API)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from adapters import registry
from adapters.persistence import models
from adapters.runtime import Runtime
from domain.errors import DomainError
from domain.ports import CarrierFailure, Parcel, RateRequest
from jobs.shipping import rate_request_for

log = logging.getLogger(__name__)


async def quote_rates(
    ctx: dict[str, Any],
    account_id: int,
    order_id: int,
    lines: list[dict[str, int]] | None = None,
    parcel: dict[str, str] | None = None,
) -> dict[str, Any]:
    """{"rates": [...], "errors": [{"carrier", "message"}]}: one carrier down never hides the others' rates."""
    runtime: Runtime = ctx["runtime"]
    order = await models.Order.get_or_none(id=order_id, account_id=account_id)
    if order is None:
        return {"rates": [], "errors": [{"carrier": "", "message": "Order not found"}]}
    request = await rate_request_for(order, lines)
    if parcel:
        request = RateRequest(
            ship_to=request.ship_to,
            ship_from=request.ship_from,
            parcel=Parcel(
                weight_grams=int(parcel["weight_grams"]),
                length_cm=Decimal(parcel["length_cm"]),
                width_cm=Decimal(parcel["width_cm"]),
                height_cm=Decimal(parcel["height_cm"]),
            ),
        )
    names = await registry.carrier_names(account_id)
    results = await asyncio.gather(*(_quote(runtime, account_id, name, request) for name in names))
    rates = [rate for found, _ in results for rate in found]
    errors = [{"carrier": name, "message": error} for name, (_, error) in zip(names, results, strict=True) if error]
    return {"rates": rates, "errors": errors}


async def _quote(
    runtime: Runtime, account_id: int, carrier: str, request: RateRequest
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        client, _ = await registry.account_carrier(runtime, account_id, carrier)
        found = await client.rates(request)
    except (CarrierFailure, DomainError) as exc:
        return [], exc.message
    except Exception:  # a bug in one adapter must not hide the other carriers
        log.exception("rating with %s crashed", carrier)
        return [], "Waybill hit an internal error asking this carrier; it has been logged"
    return [
        {
            "carrier": carrier,
            "service": rate.service,
            "service_name": rate.service_name,
            "amount": str(rate.amount),
            "currency": rate.currency,
            "delivery_days": rate.delivery_days,
        }
        for rate in found
    ], None
