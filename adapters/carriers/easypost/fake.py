"""A fake EasyPost v2 API for tests and demos: the documented paths, auth, field names and error shape.

Serve `FakeEasyPost().app` with its routes under `/v2` (the client's base URL is `<server>/v2`). Label
files are real (a 4x6 PDF and ZPL), trackers move when told (`advance`), refunds follow USPS's rule
(granted until the carrier scans the parcel), and webhooks are signed as EasyPost signs them.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.carriers.easypost import fake_store as store
from adapters.carriers.easypost.mapper import SIGNATURE_HEADER, UNSCANNED, sign_webhook
from adapters.carriers.sandbox.labels import render_pdf, render_zpl
from adapters.channels.fakes import FaultInjector
from domain.ports import Clock

__all__ = ["FakeEasyPost"]

API_KEY_PREFIXES = ("EZTK", "EZAK")  # test and production keys
LABEL_FORMATS = ("PDF", "ZPL", "PNG")
MEDIA_TYPES = {"pdf": "application/pdf", "zpl": "application/zpl", "png": "image/png"}

Handler = Callable[[Request], Awaitable[Response]]


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _error(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "errors": errors or []}}, status_code=status)


class FakeEasyPost:
    """In-memory EasyPost. `requests` logs (method, path) of every call, so tests can count retries."""

    def __init__(self, webhook_secret: str = "fake-webhook-sécret", clock: Clock | None = None) -> None:
        self.webhook_secret = webhook_secret
        self.clock: Clock = clock or _SystemClock()
        self.shipments: dict[str, store.FakeShipment] = {}
        self.trackers: dict[str, store.FakeTracker] = {}
        self.requests: list[tuple[str, str]] = []
        self.file_downloads_with_auth = 0  # label files are public: a client sending its key there leaks it
        self.repeat_purchases_refused = 0  # buys of a shipment that already has postage
        self.faults = FaultInjector()
        self._charge_then_fail = 0
        self._reject_refunds = 0
        self._files: dict[tuple[str, str], bytes] = {}
        self._base_url = "http://easypost.fake"
        self.app = Starlette(
            routes=[
                Route("/v2/shipments", self._api(self._create_shipment), methods=["POST"]),
                Route("/v2/shipments/{ref}", self._api(self._get_shipment), methods=["GET"]),
                Route("/v2/shipments/{ref}/buy", self._api(self._buy), methods=["POST"]),
                Route("/v2/shipments/{ref}/label", self._api(self._convert_label), methods=["GET"]),
                Route("/v2/shipments/{ref}/refund", self._api(self._refund), methods=["POST"]),
                Route("/v2/trackers", self._api(self._create_tracker), methods=["POST"]),
                Route("/v2/trackers", self._api(self._list_trackers), methods=["GET"]),
                Route("/v2/trackers/{tracker_id}", self._api(self._get_tracker), methods=["GET"]),
                Route("/files/postage_label/{name}", self._file, methods=["GET"]),
                Route("/track/{tracker_id}", self._tracking_page, methods=["GET"]),
            ]
        )

    # --- test controls -------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, path_contains: str | None = None) -> None:
        """The next `n` matching API calls answer `status` in EasyPost's error shape, doing nothing."""
        self.faults.fail_next(n, status, path_contains=path_contains)

    def throttle_next(self, n: int = 1, retry_after: float = 1.0, *, path_contains: str | None = None) -> None:
        """The next `n` matching API calls answer 429 with `Retry-After`."""
        self.faults.throttle_next(n, retry_after, path_contains=path_contains)

    def delay_next(self, n: int, seconds: float, *, path_contains: str | None = None) -> None:
        """The next `n` matching API calls are handled normally, `seconds` late (client timeouts)."""
        self.faults.delay_next(n, seconds, path_contains=path_contains)

    def charge_then_fail_next(self, n: int = 1) -> None:
        """The next `n` purchases succeed (postage bought, money spent) but the answer is a 500."""
        self._charge_then_fail += n

    def reject_refunds_next(self, n: int = 1) -> None:
        """The next `n` refunds come back "rejected" although allowed (EasyPost: retry such refunds)."""
        self._reject_refunds += n

    def advance(self, tracking_number: str, status: str) -> None:
        """Moves the tracker to `status` now, as a carrier scan would."""
        if status not in store.TRACKER_STATUSES:
            raise ValueError(f"unknown tracker status {status!r}")
        tracker = self._tracker_by_code(tracking_number)
        if tracker is None:
            raise KeyError(tracking_number)
        tracker.steps.append(store.Step(status, self.clock.now()))

    def settle_refunds(self) -> None:
        """Submitted refunds complete, as the carrier's refund run does (USPS: about 15 days)."""
        for shipment in self.shipments.values():
            if shipment.refund_status == "submitted":
                shipment.refund_status = "refunded"

    def webhook(self, tracking_number: str) -> tuple[dict[str, str], bytes]:
        """A signed tracker.updated Event for the tracker now, as EasyPost POSTs it to a webhook URL."""
        tracker = self._tracker_by_code(tracking_number)
        if tracker is None:
            raise KeyError(tracking_number)
        previous = tracker.steps[-2].status if len(tracker.steps) > 1 else None
        now = store.iso(self.clock.now())
        event = {
            "description": "tracker.updated",
            "mode": "test",
            "previous_attributes": {"status": previous} if previous else {},
            "created_at": now,
            "pending_urls": [],
            "completed_urls": [],
            "updated_at": now,
            "id": store.new_id("evt"),
            "user_id": "user_fake",
            "status": "pending",
            "object": "Event",
            "result": tracker.to_json(self._base_url),
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "EasyPost WebHook Agent 1.0",
            SIGNATURE_HEADER: sign_webhook(body, self.webhook_secret),
        }
        return headers, body

    def labels_bought(self) -> int:
        return sum(1 for shipment in self.shipments.values() if shipment.purchased)

    def calls(self, method: str, path_contains: str) -> int:
        return sum(1 for m, path in self.requests if m == method and path_contains in path)

    # --- plumbing ------------------------------------------------------------------------

    def _api(self, handler: Handler) -> Handler:
        """Wraps an endpoint with the request log, injected faults and the API-key check."""

        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            self._base_url = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                response = _error(429, "RATE_LIMITED", "You have exceeded the rate limit. Please retry later.")
                response.headers["Retry-After"] = f"{fault.retry_after or 1:g}"
                return response
            if fault is not None and fault.status is not None:
                return _error(fault.status, "INTERNAL_SERVER_ERROR", "We're sorry, something went wrong.")
            mode = self._mode(request)
            if mode is None:
                return _error(
                    401, "APIKEY.INACTIVE", "This api key is no longer active. Please use a different api key."
                )
            request.state.mode = mode
            return await handler(request)

        return endpoint

    @staticmethod
    def _mode(request: Request) -> str | None:
        """Basic (key as user, empty password) or Bearer; "test" for EZTK keys, "production" for EZAK."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials.strip()).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if len(key) <= 4 or not key.startswith(API_KEY_PREFIXES):
            return None
        return "test" if key.startswith("EZTK") else "production"

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return body if isinstance(body, dict) else {}

    def _shipment(self, ref: str) -> store.FakeShipment | None:
        """By id, or by reference (EasyPost accepts either); the newest wins if a reference repeats."""
        if ref in self.shipments:
            return self.shipments[ref]
        matches = [s for s in self.shipments.values() if s.reference == ref]
        return matches[-1] if matches else None

    def _tracker_by_code(self, tracking_code: str) -> store.FakeTracker | None:
        return next((t for t in self.trackers.values() if t.tracking_code == tracking_code), None)

    def _not_found(self, what: str) -> JSONResponse:
        return _error(404, "NOT_FOUND", f"The requested resource could not be found. ({what})")

    def _json(self, shipment: store.FakeShipment, status_code: int = 200) -> JSONResponse:
        return JSONResponse(shipment.to_json(self._base_url), status_code=status_code)

    # --- shipments -----------------------------------------------------------------------

    async def _create_shipment(self, request: Request) -> Response:
        body = (await self._body(request)).get("shipment")
        errors = store.validate_shipment(body)
        if errors or not isinstance(body, dict):
            message = "Unable to create shipment, one or more parameters were invalid."
            return _error(422, "SHIPMENT.INVALID_PARAMS", message, errors)
        now, mode = self.clock.now(), request.state.mode
        shipment_id = store.new_id("shp")
        wanted_options = body.get("options")
        options: dict[str, Any] = wanted_options if isinstance(wanted_options, dict) else {}
        label_format = str(options.get("label_format") or "PNG").upper()
        if label_format not in LABEL_FORMATS:
            errors = [{"field": "options.label_format", "message": f"must be one of {', '.join(LABEL_FORMATS)}"}]
            return _error(422, "SHIPMENT.INVALID_PARAMS", "Invalid label format.", errors)
        reference = body.get("reference")
        self.shipments[shipment_id] = store.FakeShipment(
            id=shipment_id,
            mode=mode,
            reference=str(reference) if reference else None,
            to_address=store.stored_address(body["to_address"], mode, now),
            from_address=store.stored_address(body["from_address"], mode, now),
            parcel=store.stored_parcel(body["parcel"], mode, now),
            options={**options, "label_format": label_format},
            rates=store.rates_for(shipment_id, mode, float(body["parcel"]["weight"]), now),
            created_at=now,
        )
        return self._json(self.shipments[shipment_id], 201)

    async def _get_shipment(self, request: Request) -> Response:
        shipment = self._shipment(request.path_params["ref"])
        return self._json(shipment) if shipment else self._not_found("shipment")

    async def _buy(self, request: Request) -> Response:
        shipment = self._shipment(request.path_params["ref"])
        if shipment is None:
            return self._not_found("shipment")
        if shipment.purchased:
            self.repeat_purchases_refused += 1
            return _error(422, "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.")
        wanted = (await self._body(request)).get("rate")
        rate_id = wanted.get("id") if isinstance(wanted, dict) else wanted
        rate = next((r for r in shipment.rates if r["id"] == rate_id), None)
        if rate is None:
            errors = [{"field": "rate.id", "message": "is not a rate of this shipment"}]
            return _error(422, "SHIPMENT.POSTAGE.FAILURE", "Unable to purchase postage: invalid rate.", errors)
        now = self.clock.now()
        shipment.selected_rate = rate
        shipment.tracking_code = f"9400{secrets.randbelow(10**18):018d}"
        shipment.label_id = store.new_id("pl")
        shipment.label_formats = [shipment.options["label_format"]]
        tracker = store.FakeTracker(
            id=store.new_id("trk"),
            tracking_code=shipment.tracking_code,
            carrier=rate["carrier"],
            created_at=now,
            shipment_id=shipment.id,
            origin=shipment.from_address,
            destination=shipment.to_address,
            steps=[store.Step("pre_transit", now)],
        )
        self.trackers[tracker.id] = tracker
        shipment.tracker = tracker
        if self._charge_then_fail > 0:
            self._charge_then_fail -= 1
            return _error(500, "INTERNAL_SERVER_ERROR", "We're sorry, something went wrong.")
        return self._json(shipment)

    async def _convert_label(self, request: Request) -> Response:
        shipment = self._shipment(request.path_params["ref"])
        if shipment is None:
            return self._not_found("shipment")
        file_format = request.query_params.get("file_format", "").upper()
        if file_format not in LABEL_FORMATS:
            errors = [{"field": "file_format", "message": f"must be one of {', '.join(LABEL_FORMATS)}"}]
            return _error(422, "SHIPMENT.INVALID_PARAMS", "Invalid file format.", errors)
        if not shipment.purchased:
            return _error(422, "SHIPMENT.POSTAGE.REQUIRED", "The shipment has no postage label to convert.")
        if file_format not in shipment.label_formats:
            shipment.label_formats.append(file_format)
        return self._json(shipment)

    async def _refund(self, request: Request) -> Response:
        """USPS's rule: refundable until the first carrier scan; once asked, the answer repeats."""
        shipment = self._shipment(request.path_params["ref"])
        if shipment is None:
            return self._not_found("shipment")
        if not shipment.purchased or shipment.tracker is None:
            return _error(422, "SHIPMENT.REFUND.UNAVAILABLE", "The shipment has no postage to refund.")
        if shipment.refund_status in ("submitted", "refunded"):
            return self._json(shipment)
        if self._reject_refunds > 0:
            self._reject_refunds -= 1
            shipment.refund_status = "rejected"
        elif shipment.tracker.status in UNSCANNED:
            shipment.refund_status = "submitted"
            shipment.tracker.steps.append(store.Step("cancelled", self.clock.now()))
        else:
            shipment.refund_status = "rejected"
        return self._json(shipment)

    # --- trackers ------------------------------------------------------------------------

    async def _create_tracker(self, request: Request) -> Response:
        """Returns the existing tracker for a known code (EasyPost dedupes); test codes start where documented."""
        wanted = (await self._body(request)).get("tracker")
        code = str(wanted.get("tracking_code") or "").strip() if isinstance(wanted, dict) else ""
        if not code:
            errors = [{"field": "tracker.tracking_code", "message": "cannot be blank"}]
            return _error(422, "TRACKER.INVALID_PARAMS", "Unable to create tracker.", errors)
        tracker = self._tracker_by_code(code)
        if tracker is None:
            now = self.clock.now()
            carrier = str(wanted.get("carrier") or "USPS") if isinstance(wanted, dict) else "USPS"
            status = store.TEST_TRACKING_CODES.get(code, "unknown")
            tracker = store.FakeTracker(store.new_id("trk"), code, carrier, now, steps=[store.Step(status, now)])
            self.trackers[tracker.id] = tracker
        return JSONResponse(tracker.to_json(self._base_url))

    async def _list_trackers(self, request: Request) -> Response:
        codes = set(request.query_params.getlist("tracking_codes[]")) | set(
            request.query_params.getlist("tracking_codes")
        )
        if code := request.query_params.get("tracking_code"):
            codes.add(code)
        found = [t for t in reversed(self.trackers.values()) if not codes or t.tracking_code in codes]
        try:
            page_size = max(1, min(100, int(request.query_params.get("page_size", "20"))))
        except ValueError:
            page_size = 20
        page = [t.to_json(self._base_url) for t in found[:page_size]]
        return JSONResponse({"trackers": page, "has_more": len(found) > page_size})

    async def _get_tracker(self, request: Request) -> Response:
        tracker = self.trackers.get(request.path_params["tracker_id"])
        return JSONResponse(tracker.to_json(self._base_url)) if tracker else self._not_found("tracker")

    # --- public pages --------------------------------------------------------------------

    async def _file(self, request: Request) -> Response:
        """Label files: public, unguessable links (like EasyPost's S3 files), rendered once."""
        self.requests.append((request.method, request.url.path))
        if request.headers.get("authorization"):
            self.file_downloads_with_auth += 1
        label_id, _, extension = request.path_params["name"].partition(".")
        shipment = next((s for s in self.shipments.values() if s.label_id == label_id), None)
        if shipment is None or extension.upper() not in shipment.label_formats:
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404, media_type="application/xml")
        key = (label_id, extension)
        if key not in self._files:
            render = {"pdf": render_pdf, "zpl": render_zpl}.get(extension)
            self._files[key] = render(shipment.label_data()) if render else store.tiny_png()
        return Response(self._files[key], media_type=MEDIA_TYPES[extension])

    async def _tracking_page(self, request: Request) -> Response:
        tracker = self.trackers.get(request.path_params["tracker_id"])
        if tracker is None:
            return HTMLResponse("<!doctype html><title>Not found</title>", status_code=404)
        return HTMLResponse(
            f"<!doctype html><title>{html.escape(tracker.tracking_code)}</title>"
            f"<h1>{html.escape(tracker.carrier)} {html.escape(tracker.tracking_code)}</h1><p>{tracker.status}</p>"
        )
