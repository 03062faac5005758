"""FakeShippo: an in-memory server speaking Shippo's REST API, for tests and drills over real HTTP.

Enforces `Authorization: ShippoToken shippo_test_…|shippo_live_…`, DRF-style error bodies ({"detail"} or
{field: [messages]}), one label per transaction (no idempotency of its own, like Shippo), transactions that
can stay QUEUED until polled, refunds refused once the carrier scanned the parcel, signed track_updated
webhooks, and faults: fail/throttle/delay the next calls, or buy and then lose the answer.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.carriers.sandbox.labels import render_pdf, render_zpl
from adapters.carriers.shippo import fake_store as store
from adapters.carriers.shippo.mapper import SIGNATURE_HEADER, sign_webhook
from adapters.channels.fakes import FaultInjector
from domain.ports import Clock

__all__ = ["FakeShippo"]

Handler = Callable[[Request], Awaitable[Response]]
TOKEN_PREFIXES = ("shippo_test_", "shippo_live_")


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _invalid(errors: dict[str, Any]) -> JSONResponse:
    return JSONResponse(errors, status_code=400)


class FakeShippo:
    """State plus the Starlette app (`self.app`). `requests` logs (method, path) so tests can count calls."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or _SystemClock()
        self.webhook_secret = "whsec_" + secrets.token_hex(16)
        self.faults = FaultInjector()
        self.requests: list[tuple[str, str]] = []
        self.api_versions: list[str | None] = []
        self.shipments: dict[str, store.FakeShipment] = {}
        self.rates: dict[str, store.FakeRate] = {}
        self.transactions: dict[str, store.FakeTransaction] = {}
        self.refunds: dict[str, store.FakeRefund] = {}
        self.tracks: dict[tuple[str, str], store.FakeTrack] = {}
        self._charge_then_fail = 0
        self._queued: list[tuple[int, str, str]] = []  # (polls, outcome, message) for the next transactions
        self._files: dict[str, bytes] = {}
        self.app = Starlette(
            routes=[
                Route("/shipments", self._api(self._create_shipment), methods=["POST"]),
                Route("/shipments/{object_id}", self._api(self._get_shipment), methods=["GET"]),
                Route("/rates/{object_id}", self._api(self._get_rate), methods=["GET"]),
                Route("/transactions", self._api(self._create_transaction), methods=["POST"]),
                Route("/transactions", self._api(self._list_transactions), methods=["GET"]),
                Route("/transactions/{object_id}", self._api(self._get_transaction), methods=["GET"]),
                Route("/refunds", self._api(self._create_refund), methods=["POST"]),
                Route("/refunds/{object_id}", self._api(self._get_refund), methods=["GET"]),
                Route("/tracks/{carrier}/{tracking_number}", self._api(self._get_track), methods=["GET"]),
                Route("/labels/{name}", self._api(self._label_file, auth=False), methods=["GET"]),
            ]
        )

    # --- test controls -------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 500, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.fail_next(n, status, path_contains=path_contains, method=method)

    def throttle_next(
        self, n: int = 1, retry_after: float = 1.0, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.throttle_next(n, retry_after, path_contains=path_contains, method=method)

    def delay_next(
        self, n: int, seconds: float, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.delay_next(n, seconds, path_contains=path_contains, method=method)

    def charge_then_fail_next(self, n: int = 1) -> None:
        """The next `n` purchases create (and charge) the transaction, then answer 502: the answer is lost."""
        self._charge_then_fail += n

    def queue_next(self, n: int = 1, *, polls: int = 1, outcome: str = "SUCCESS", message: str = "") -> None:
        """The next `n` purchases answer QUEUED and settle to `outcome` after `polls` GET /transactions/{id}."""
        self._queued.extend([(polls, outcome, message)] * n)

    def complete(self, transaction_id: str, outcome: str = "SUCCESS", message: str = "") -> None:
        """Settles a queued transaction now, as Shippo's workers eventually do."""
        self.transactions[transaction_id].settle(self.clock.now(), outcome, message or None)

    def advance(self, tracking_number: str, status: str, details: str | None = None) -> None:
        """Moves the parcel's tracker to `status` (a Shippo tracking status) now."""
        if status not in store.TRACKING_STATUSES:
            raise ValueError(f"unknown Shippo tracking status {status!r}")
        track = self._track_by_number(tracking_number)
        track.add(status, self.clock.now(), details, self._location(track, status))

    def complete_refund(self, transaction_id: str, success: bool = True) -> None:
        """Settles the refund: SUCCESS → transaction REFUNDED; ERROR → REFUNDREJECTED."""
        refund = next(r for r in self.refunds.values() if r.transaction_id == transaction_id)
        refund.status, refund.updated_at = ("SUCCESS" if success else "ERROR"), self.clock.now()
        self.transactions[transaction_id].status = "REFUNDED" if success else "REFUNDREJECTED"

    def labels(self) -> list[store.FakeTransaction]:
        """Transactions that produced (and charged) a label."""
        return [t for t in self.transactions.values() if t.status != "ERROR" and t.status not in ("QUEUED", "WAITING")]

    def webhook(
        self, tracking_number: str, *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A `track_updated` delivery for the parcel, signed as Shippo signs (HMAC over "{t}.{body}")."""
        track = self._track_by_number(tracking_number)
        body = json.dumps({"event": "track_updated", "test": True, "data": track.json()}).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = sign_webhook(body, self.webhook_secret if secret is None else secret, stamp)
        return {"Content-Type": "application/json", SIGNATURE_HEADER: signature}, body

    # --- plumbing ------------------------------------------------------------------------

    def _api(self, handler: Handler, *, auth: bool = True) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                wait = fault.retry_after or 1.0
                headers = {"Retry-After": f"{wait:g}", "X-RateLimit-Reset": str(math.ceil(time.time() + wait))}
                return _detail(429, f"Request was throttled. Expected available in {math.ceil(wait)} seconds.", headers)
            if fault is not None and fault.status is not None:
                return _detail(fault.status, "A server error occurred.")
            if auth:
                self.api_versions.append(request.headers.get("shippo-api-version"))
                problem = self._auth_problem(request)
                if problem:
                    return _detail(401, problem)
            return await handler(request)

        return endpoint

    @staticmethod
    def _auth_problem(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header:
            return "Authentication credentials were not provided."
        scheme, _, token = header.partition(" ")
        if scheme != "ShippoToken" or not token.strip().startswith(TOKEN_PREFIXES):
            return "Invalid token."
        return None

    @staticmethod
    def _is_test(request: Request) -> bool:
        return request.headers.get("authorization", "").partition(" ")[2].startswith("shippo_test_")

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    @staticmethod
    def _base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"

    def _track_by_number(self, tracking_number: str) -> store.FakeTrack:
        return next(track for (_, number), track in self.tracks.items() if number == tracking_number)

    @staticmethod
    def _location(track: store.FakeTrack, status: str) -> dict[str, Any] | None:
        if status in ("UNKNOWN", "PRE_TRANSIT"):
            return None
        address = track.address_to if status == "DELIVERED" else track.address_from
        return {key: address.get(key, "") for key in ("city", "state", "zip", "country")}

    def _not_found(self) -> JSONResponse:
        return _detail(404, "Not found.")

    # --- endpoints -----------------------------------------------------------------------

    async def _create_shipment(self, request: Request) -> Response:
        body = await self._json(request)
        if (errors := store.validate_shipment(body)) is not None:
            return _invalid(errors)
        now, test = self.clock.now(), self._is_test(request)
        shipment = store.FakeShipment(store.new_id(), body, [], now, test)
        grams = store.parcel_grams(body["parcels"][0])
        for service in store.SERVICES:
            rate = store.FakeRate(store.new_id(), shipment.object_id, service, service.price(grams), now, test)
            shipment.rates.append(rate)
            self.rates[rate.object_id] = rate
        self.shipments[shipment.object_id] = shipment
        return JSONResponse(shipment.json(), status_code=201)

    async def _get_shipment(self, request: Request) -> Response:
        shipment = self.shipments.get(request.path_params["object_id"])
        return JSONResponse(shipment.json()) if shipment else self._not_found()

    async def _get_rate(self, request: Request) -> Response:
        rate = self.rates.get(request.path_params["object_id"])
        return JSONResponse(rate.json()) if rate else self._not_found()

    async def _create_transaction(self, request: Request) -> Response:
        body = await self._json(request)
        if not isinstance(body, dict) or not body.get("rate"):
            return _invalid({"rate": ["This field is required."]})
        rate = self.rates.get(str(body["rate"]))
        if rate is None:
            return _invalid({"rate": [f"Object with object_id={body['rate']} does not exist."]})
        file_type = str(body.get("label_file_type") or "PDF_4x6")
        if file_type not in store.LABEL_FILE_TYPES:
            return _invalid({"label_file_type": [f'"{file_type}" is not a valid choice.']})
        now = self.clock.now()
        shipment = self.shipments[rate.shipment_id]
        transaction = store.FakeTransaction(
            object_id=store.new_id(), rate=rate, shipment=shipment, metadata=str(body.get("metadata") or ""),
            label_file_type=file_type, created_at=now, updated_at=now, status="SUCCESS",
            tracking_number=store.tracking_number_for(rate.service), test=self._is_test(request), label_ready=True,
        )  # fmt: skip
        if self._queued or body.get("async") is True:
            polls, outcome, message = self._queued.pop(0) if self._queued else (1, "SUCCESS", "")
            transaction.status, transaction.label_ready = "QUEUED", False
            transaction.polls_left, transaction.outcome, transaction.outcome_message = polls, outcome, message
        self.transactions[transaction.object_id] = transaction
        track = store.FakeTrack(
            rate.service.carrier, transaction.tracking_number, rate.service,
            shipment.body["address_from"], shipment.body["address_to"],
        )  # fmt: skip
        track.add("PRE_TRANSIT", now)
        self.tracks[(track.carrier, track.tracking_number)] = track
        if self._charge_then_fail > 0:
            self._charge_then_fail -= 1
            return _detail(502, "Bad gateway.")
        return JSONResponse(self._transaction_json(request, transaction), status_code=201)

    def _transaction_json(self, request: Request, transaction: store.FakeTransaction) -> dict[str, Any]:
        track = self.tracks.get((transaction.rate.service.carrier, transaction.tracking_number))
        return transaction.json(self._base_url(request), track)

    async def _get_transaction(self, request: Request) -> Response:
        transaction = self.transactions.get(request.path_params["object_id"])
        if transaction is None:
            return self._not_found()
        if transaction.status in ("QUEUED", "WAITING"):
            transaction.polls_left -= 1
            if transaction.polls_left <= 0:
                transaction.settle(self.clock.now())
            else:
                transaction.status = "WAITING"
        return JSONResponse(self._transaction_json(request, transaction))

    async def _list_transactions(self, request: Request) -> Response:
        """Newest first, `results` per page (max 100), `page` from 1; filters rate and object_status."""
        try:
            size = min(100, max(1, int(request.query_params.get("results", "5"))))
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            return _detail(404, "Invalid page.")
        items = sorted(self.transactions.values(), key=lambda t: t.created_at, reverse=True)
        if rate := request.query_params.get("rate"):
            items = [t for t in items if t.rate.object_id == rate]
        if status := request.query_params.get("object_status"):
            items = [t for t in items if t.status == status]
        start = (page - 1) * size
        if start and start >= len(items):
            return _detail(404, "Invalid page.")
        base = f"{self._base_url(request)}/transactions/?results={size}"
        return JSONResponse(
            {
                "count": len(items),
                "next": f"{base}&page={page + 1}" if start + size < len(items) else None,
                "previous": f"{base}&page={page - 1}" if page > 1 else None,
                "results": [self._transaction_json(request, t) for t in items[start : start + size]],
            }
        )

    async def _create_refund(self, request: Request) -> Response:
        """Accepted (QUEUED, transaction REFUNDPENDING) while the parcel is unscanned; 400 with the reason otherwise."""
        body = await self._json(request)
        transaction_id = str(body.get("transaction") or "") if isinstance(body, dict) else ""
        if not transaction_id:
            return _invalid({"transaction": ["This field is required."]})
        transaction = self.transactions.get(transaction_id)
        if transaction is None:
            return _invalid({"transaction": [f'Invalid pk "{transaction_id}" - object does not exist.']})
        if any(refund.transaction_id == transaction_id for refund in self.refunds.values()):
            return _invalid({"transaction": ["Refund with this Transaction already exists."]})
        if transaction.status != "SUCCESS":
            return _invalid({"transaction": [f"Transaction with status {transaction.status} cannot be refunded."]})
        track = self.tracks[(transaction.rate.service.carrier, transaction.tracking_number)]
        if track.status not in store.REFUNDABLE_TRACKING:
            reason = f"The label has already been scanned by {transaction.rate.service.provider} ({track.status})"
            return _invalid({"transaction": [f"{reason} and can no longer be refunded."]})
        now = self.clock.now()
        refund = store.FakeRefund(store.new_id(), transaction_id, "QUEUED", now, now, transaction.test)
        self.refunds[refund.object_id] = refund
        transaction.status, transaction.updated_at = "REFUNDPENDING", now
        return JSONResponse(refund.json(), status_code=201)

    async def _get_refund(self, request: Request) -> Response:
        refund = self.refunds.get(request.path_params["object_id"])
        return JSONResponse(refund.json()) if refund else self._not_found()

    async def _get_track(self, request: Request) -> Response:
        """Like Shippo, an unknown number is not a 404: the track simply has no status yet."""
        carrier, number = request.path_params["carrier"], request.path_params["tracking_number"]
        track = self.tracks.get((carrier, number))
        if track is None:
            return JSONResponse(
                {"carrier": carrier, "tracking_number": number, "tracking_status": None, "tracking_history": []}
            )
        return JSONResponse(track.json())

    async def _label_file(self, request: Request) -> Response:
        """The label link is public and unguessable, like Shippo's pre-signed S3 URL; rendered once."""
        object_id, _, extension = request.path_params["name"].partition(".")
        transaction = self.transactions.get(object_id)
        if transaction is None or not transaction.label_ready or extension != transaction.label_extension:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", status_code=404, media_type="application/xml")
        if object_id not in self._files:
            render = render_zpl if extension == "zpl" else render_pdf
            self._files[object_id] = render(transaction.label_data())
        media_type = "application/pdf" if extension == "pdf" else "text/plain; charset=utf-8"
        return Response(self._files[object_id], media_type=media_type)
