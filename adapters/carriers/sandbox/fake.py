"""The sandbox carrier itself: an in-memory, EasyPost-like label API that new installs and tests ship with.

Waybill mounts `SandboxCarrier().app` in demo mode; tests serve it on loopback with an injected clock.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.carriers.sandbox import rules
from adapters.carriers.sandbox.labels import LabelData, render_pdf, render_zpl
from adapters.carriers.sandbox.mapper import address_from_wire, format_datetime
from adapters.carriers.sandbox.rules import SandboxSchedule
from adapters.carriers.sandbox.tracking_page import render_tracking_page
from domain.ports import Clock

__all__ = ["SandboxCarrier", "SandboxLabel", "SandboxSchedule", "TrackingStep"]

API_KEY_PREFIX = "sk_sandbox_"
HUB = {"city": "Sandbox Hub", "state": None, "country": None, "zip": None}

Handler = Callable[[Request], Awaitable[Response]]


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class TrackingStep:
    status: str
    at: datetime


@dataclass
class SandboxLabel:
    """One bought label, with the request it was bought for (replayed on an idempotent retry)."""

    id: str
    tracking_code: str
    service: str
    amount: Decimal
    to_address: dict[str, Any]
    from_address: dict[str, Any]
    parcel: dict[str, Any]
    created_at: datetime
    idempotency_key: str
    fingerprint: str
    refund_status: str | None = None
    steps: list[TrackingStep] = field(default_factory=list)

    def label_data(self) -> LabelData:
        return LabelData(
            tracking_number=self.tracking_code,
            service_name=rules.SERVICES[self.service].name,
            ship_from=address_from_wire(self.from_address),
            ship_to=address_from_wire(self.to_address),
            weight_grams=int(self.parcel["weight_g"]),
            created_at=self.created_at,
        )


def _error(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse({"error": body}, status_code=status)


def _invalid(invalid: rules.Invalid) -> JSONResponse:
    return _error(422, invalid.code, invalid.message, invalid.errors)


class SandboxCarrier:
    """In-memory carrier state plus the Starlette app that serves it.

    `labels` is keyed by label id for inspection; `requests` logs (method, path) of API calls so tests can
    see retries. `fail_next` and `charge_then_fail_next` inject the failures real carriers produce.
    """

    def __init__(self, schedule: SandboxSchedule | None = None, clock: Clock | None = None) -> None:
        self.schedule = schedule or SandboxSchedule()
        self.clock: Clock = clock or _SystemClock()
        self.labels: dict[str, SandboxLabel] = {}
        self.requests: list[tuple[str, str]] = []
        self._by_tracking_code: dict[str, SandboxLabel] = {}
        self._by_idempotency_key: dict[tuple[str, str], SandboxLabel] = {}
        self._failures: list[int] = []
        self._charge_then_fail = 0
        self._files: dict[tuple[str, str], bytes] = {}
        self.app = Starlette(
            routes=[
                Route("/v1/rates", self._api(self._rates), methods=["POST"]),
                Route("/v1/labels", self._api(self._buy), methods=["POST"]),
                Route("/v1/labels/{label_id}", self._api(self._get_label), methods=["GET"]),
                Route("/v1/labels/{label_id}/label.pdf", self._api(self._pdf, auth=False), methods=["GET"]),
                Route("/v1/labels/{label_id}/label.zpl", self._api(self._zpl, auth=False), methods=["GET"]),
                Route("/v1/labels/{label_id}/refund", self._api(self._refund), methods=["POST"]),
                Route("/v1/trackers/{tracking_code}", self._api(self._tracker), methods=["GET"]),
                Route("/_sandbox/trackers/{tracking_code}", self._api(self._force, inject=False), methods=["POST"]),
                Route("/track/{tracking_code}", self._tracking_page, methods=["GET"]),
            ]
        )

    # --- test and demo controls ----------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next `n` API requests answer `status` without doing anything."""
        self._failures.extend([status] * n)

    def charge_then_fail_next(self, n: int = 1) -> None:
        """The next `n` label requests buy (or find the label already bought), then answer 500.

        Like a carrier that fails after charging: the label exists under the Idempotency-Key, the caller
        does not know it, and a retry with the same key must recover it.
        """
        self._charge_then_fail += n

    def force_status(self, tracking_code: str, status: str) -> None:
        """Moves the tracker to `status` now; the schedule carries on from there if the status is not final."""
        if status not in rules.TRACKING_STATUSES:
            raise ValueError(f"unknown tracking status {status!r}")
        label = self._by_tracking_code[tracking_code]
        now = self.clock.now()
        label.steps = self.steps(label, now)
        label.steps.append(TrackingStep(status, now))

    def steps(self, label: SandboxLabel, now: datetime) -> list[TrackingStep]:
        """Recorded steps plus those the schedule has reached by `now`."""
        steps = list(label.steps)
        while (following := self.schedule.next_after(steps[-1].status)) is not None:
            status, duration = following
            at = rules.later(steps[-1].at, duration)
            if at is None or at > now:
                break
            steps.append(TrackingStep(status, at))
        return steps

    def status(self, label: SandboxLabel) -> str:
        return self.steps(label, self.clock.now())[-1].status

    # --- plumbing ------------------------------------------------------------------------

    def _api(self, handler: Handler, *, auth: bool = True, inject: bool = True) -> Handler:
        """Wraps an endpoint with the request log, injected failures and the API-key check."""

        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            if inject and self._failures:
                status = self._failures.pop(0)
                return _error(status, "INTERNAL_SERVER_ERROR", "Injected sandbox failure; please retry.")
            if auth and not self._authorized(request):
                return _error(401, "APIKEY.INACTIVE", "The API key is missing, invalid or inactive.")
            return await handler(request)

        return endpoint

    @staticmethod
    def _api_key(request: Request) -> str:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""

    def _authorized(self, request: Request) -> bool:
        key = self._api_key(request)
        return key.startswith(API_KEY_PREFIX) and len(key) > len(API_KEY_PREFIX)

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    @staticmethod
    def _base_url(request: Request) -> str:
        """Where this app is reachable, mount prefix included, so links work when Waybill mounts it."""
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"

    def _label_or_404(self, request: Request) -> SandboxLabel | JSONResponse:
        label = self.labels.get(request.path_params["label_id"])
        if label is None:
            return _error(404, "NOT_FOUND", "No label with that id.")
        return label

    def _new_tracking_code(self) -> str:
        while True:
            code = f"SBX{secrets.randbelow(10**16):016d}"
            if code not in self._by_tracking_code:
                return code

    # --- serialisation -------------------------------------------------------------------

    def _label_json(self, request: Request, label: SandboxLabel) -> dict[str, Any]:
        base = self._base_url(request)
        return {
            "id": label.id,
            "object": "Label",
            "tracking_code": label.tracking_code,
            "tracking_url": f"{base}/track/{label.tracking_code}",
            "service": label.service,
            "rate": {"amount": str(label.amount), "currency": "USD"},
            "status": "purchased",
            "label_pdf_url": f"{base}/v1/labels/{label.id}/label.pdf",
            "label_zpl_url": f"{base}/v1/labels/{label.id}/label.zpl",
            "refund_status": label.refund_status,
            "created_at": format_datetime(label.created_at),
        }

    def _location(self, label: SandboxLabel, where: str) -> dict[str, Any]:
        address = {"origin": label.from_address, "destination": label.to_address}.get(where)
        if address is None:
            return {"object": "TrackingLocation", **HUB}
        fields = ("city", "state", "country", "zip")
        return {"object": "TrackingLocation", **{key: address.get(key) for key in fields}}

    def _tracker_json(self, request: Request, label: SandboxLabel) -> dict[str, Any]:
        steps = self.steps(label, self.clock.now())
        details = []
        for step in steps:
            detail, message, where = rules.STATUS_TEXT[step.status]
            details.append(
                {
                    "object": "TrackingDetail",
                    "status": step.status,
                    "status_detail": detail,
                    "message": message,
                    "datetime": format_datetime(step.at),
                    "source": "Sandbox",
                    "tracking_location": self._location(label, where),
                }
            )
        delivery = rules.later(label.created_at, self.schedule.delivered_after_s)
        return {
            "id": f"trk_{label.id.removeprefix('lbl_')}",
            "object": "Tracker",
            "tracking_code": label.tracking_code,
            "carrier": "Sandbox",
            "status": steps[-1].status,
            "status_detail": details[-1]["status_detail"],
            "est_delivery_date": format_datetime(delivery) if delivery else None,
            "created_at": format_datetime(label.created_at),
            "updated_at": details[-1]["datetime"],
            "tracking_details": details,
            "public_url": f"{self._base_url(request)}/track/{label.tracking_code}",
        }

    # --- endpoints -----------------------------------------------------------------------

    async def _rates(self, request: Request) -> Response:
        body = await self._json(request)
        if (invalid := rules.validate_shipment(body)) is not None:
            return _invalid(invalid)
        weight = body["parcel"]["weight_g"]
        rates = [
            {
                "service": service.code,
                "service_name": service.name,
                "carrier": "Sandbox",
                "amount": str(rules.price(service, weight)),
                "currency": "USD",
                "delivery_days": service.delivery_days,
            }
            for service in rules.SERVICES.values()
        ]
        return JSONResponse({"rates": rates})

    async def _buy(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key", "").strip()
        if not key:
            return _error(400, "IDEMPOTENCY_KEY.MISSING", "Label purchases need an Idempotency-Key header.")
        body = await self._json(request)
        fingerprint = json.dumps(body, sort_keys=True, separators=(",", ":"))
        existing = self._by_idempotency_key.get((self._api_key(request), key))
        if existing is not None:
            if existing.fingerprint != fingerprint:
                message = "This Idempotency-Key was already used for a different label request."
                return _error(409, "IDEMPOTENCY_KEY.CONFLICT", message)
            return self._after_charge(request, existing, status_code=200)
        invalid = rules.validate_shipment(body) or rules.validate_service(body.get("service"))
        if invalid is not None:
            return _invalid(invalid)
        now = self.clock.now()
        service = rules.SERVICES[body["service"]]
        label = SandboxLabel(
            id=f"lbl_{secrets.token_hex(12)}",
            tracking_code=self._new_tracking_code(),
            service=service.code,
            amount=rules.price(service, body["parcel"]["weight_g"]),
            to_address=dict(body["to_address"]),
            from_address=dict(body["from_address"]),
            parcel=dict(body["parcel"]),
            created_at=now,
            idempotency_key=key,
            fingerprint=fingerprint,
            steps=[TrackingStep("pre_transit", now)],
        )
        self.labels[label.id] = label
        self._by_tracking_code[label.tracking_code] = label
        self._by_idempotency_key[(self._api_key(request), key)] = label
        return self._after_charge(request, label, status_code=201)

    def _after_charge(self, request: Request, label: SandboxLabel, status_code: int) -> Response:
        """Answers a purchase, or fails after the label exists when `charge_then_fail_next` asked for it."""
        if self._charge_then_fail > 0:
            self._charge_then_fail -= 1
            return _error(500, "INTERNAL_SERVER_ERROR", "The carrier failed after buying the label.")
        return JSONResponse(self._label_json(request, label), status_code=status_code)

    async def _get_label(self, request: Request) -> Response:
        label = self._label_or_404(request)
        if isinstance(label, JSONResponse):
            return label
        return JSONResponse(self._label_json(request, label))

    async def _file(self, request: Request, kind: str) -> Response:
        """Label files are public (unguessable URL), like a carrier's label link, and rendered once."""
        label = self._label_or_404(request)
        if isinstance(label, JSONResponse):
            return label
        cache_key = (label.id, kind)
        if cache_key not in self._files:
            render = render_pdf if kind == "pdf" else render_zpl
            self._files[cache_key] = render(label.label_data())
        media_type = "application/pdf" if kind == "pdf" else "text/plain; charset=utf-8"
        return Response(self._files[cache_key], media_type=media_type)

    async def _pdf(self, request: Request) -> Response:
        return await self._file(request, "pdf")

    async def _zpl(self, request: Request) -> Response:
        return await self._file(request, "zpl")

    async def _refund(self, request: Request) -> Response:
        label = self._label_or_404(request)
        if isinstance(label, JSONResponse):
            return label
        if label.refund_status != "refunded":
            if self.status(label) not in ("pre_transit", "cancelled"):
                message = "The parcel was already scanned by the carrier; it can no longer be voided."
                return _error(422, "SHIPMENT.REFUND.REJECTED", message)
            label.refund_status = "refunded"
            self.force_status(label.tracking_code, "cancelled")
        return JSONResponse(self._label_json(request, label))

    async def _tracker(self, request: Request) -> Response:
        label = self._by_tracking_code.get(request.path_params["tracking_code"])
        if label is None:
            return _error(404, "NOT_FOUND", "No tracker with that tracking code.")
        return JSONResponse(self._tracker_json(request, label))

    async def _force(self, request: Request) -> Response:
        code = request.path_params["tracking_code"]
        if code not in self._by_tracking_code:
            return _error(404, "NOT_FOUND", "No tracker with that tracking code.")
        body = await self._json(request)
        status = body.get("status") if isinstance(body, dict) else None
        if status not in rules.TRACKING_STATUSES:
            message = f"status must be one of {', '.join(rules.TRACKING_STATUSES)}"
            return _error(422, "TRACKER.STATUS.INVALID", message, [{"field": "status", "message": message}])
        self.force_status(code, status)
        return JSONResponse(self._tracker_json(request, self._by_tracking_code[code]))

    async def _tracking_page(self, request: Request) -> Response:
        label = self._by_tracking_code.get(request.path_params["tracking_code"])
        if label is None:
            return HTMLResponse("<!doctype html><title>Not found</title><p>Unknown tracking number.</p>", 404)
        return HTMLResponse(render_tracking_page(self._tracker_json(request, label)))
