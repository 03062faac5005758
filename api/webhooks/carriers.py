"""POST /webhooks/carriers/{carrier_account_id}: a carrier's tracking news (EasyPost tracker.updated, Shippo track_updated).

Verified with the carrier account's webhook secret; the news is recorded at once (a database write, no
carrier call), and recording the same status twice changes nothing, so redeliveries are harmless.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.carriers.catalog import SPECS, CarrierKind
from adapters.persistence import models
from adapters.runtime import Runtime
from api.webhooks.channels import MAX_BODY_BYTES, NOT_FOUND, TooLarge, answer, read_body
from domain import services
from domain.model import ShipmentStatus

log = logging.getLogger(__name__)


async def carrier_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        body = await read_body(request)
    except TooLarge:
        return JSONResponse({"error": f"Webhook bodies are limited to {MAX_BODY_BYTES} bytes"}, status_code=413)
    account = await models.CarrierAccount.get_or_none(id=request.path_params["carrier_account_id"], enabled=True)
    spec = SPECS.get(CarrierKind(account.carrier)) if account is not None else None
    if account is None or spec is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    credentials = runtime.secrets.decrypt(account.credentials) if account.credentials else {}
    secret = str(credentials.get("webhook_secret") or "")
    if not secret:
        return JSONResponse(NOT_FOUND, status_code=404)
    if not spec.verify_webhook(request.headers, body, secret):
        return JSONResponse({"error": "Invalid or missing webhook signature"}, status_code=401)
    news = spec.parse_webhook(body)
    if news is None:
        return answer("ignored")  # another event type (e.g. batch or refund news)
    tracking_number, info = news
    shipment = await (
        models.Shipment.filter(account_id=account.account_id, carrier=account.name, tracking_number=tracking_number)  # type: ignore[attr-defined]
        .exclude(status__in=[ShipmentStatus.VOIDED.value, ShipmentStatus.FAILED.value])
        .order_by("-id")
        .first()
    )
    if shipment is None:
        return answer("unknown parcel")  # a label bought outside Waybill: nothing to do, no retry needed
    await services.record_tracking(runtime.uow("carrier-webhook"), account.account_id, shipment.id, info)  # type: ignore[attr-defined]
    return answer("recorded")
