"""FakeBackOffice: the Waybill back-office API (docs/back-office-api.md) in memory, as a Starlette app.

It keeps what clients trip over: Bearer keys that can be revoked, keyset cursors that carry the filter,
limit <= 200, rate-limit headers on every response and 429 + Retry-After, Idempotency-Key replays,
line validation with {"error": {...}} bodies, and signed webhooks.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.channels.back_office.fake_store import ApiError, BackOfficeStore, Json
from adapters.channels.back_office.mapper import (
    DEFAULT_WORDS,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    StatusWords,
    format_time,
    parse_time,
    sign_webhook,
)
from adapters.channels.fakes import FaultInjector

Handler = Callable[[Request], Awaitable[tuple[Any, int]]]
MAX_LIMIT = 200
_FAULT_CODES = {400: "invalid_request", 404: "not_found", 409: "conflict", 422: "invalid", 429: "rate_limited"}

__all__ = ["ApiError", "FakeBackOffice"]


class FakeBackOffice(BackOfficeStore):
    """One back office over HTTP. Drive it with the store helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        api_key: str = "bo_live_fake_key",
        webhook_secret: str = "whsec_fake_secret",
        account_name: str = "Lumen Direct Sales",
        statuses: StatusWords = DEFAULT_WORDS,
        rate_limit: int = 600,
        rate_window: float = 60.0,
    ) -> None:
        super().__init__(statuses=statuses)
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.account_name = account_name
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.send_retry_after = True  # False: 429s carry only the X-RateLimit-* headers
        self.throttled = 0
        self.refreshes = 0  # API keys never expire
        self.requests: list[Json] = []  # {"method", "path", "query", "idempotency_key", "at"} as received
        self.faults = FaultInjector()
        self._revoked = False
        self._window_start = time.monotonic()
        self._window_used = 0
        self._events = 0
        self.app = Starlette(routes=self._routes())

    # --- the FakeChannel surface -----------------------------------------------------------

    def credentials(self, base_url: str) -> dict[str, Any]:
        return {"api_url": base_url, "api_key": self.api_key, "webhook_secret": self.webhook_secret}

    def revoke(self) -> None:
        self._revoked = True

    def expire_access_token(self) -> None:
        """API keys do not expire: nothing to do."""

    def throttle_next(self, n: int, retry_after: float = 1.0) -> None:
        self.faults.throttle_next(n, retry_after)

    def fail_next(
        self, n: int, status: int = 500, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.fail_next(n, status, path_contains=path_contains, method=method)

    def delay_next(
        self, n: int, seconds: float, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.delay_next(n, seconds, path_contains=path_contains, method=method)

    def webhook(self, order_id: str, event: str = "order.updated") -> tuple[dict[str, str], bytes]:
        """The headers and body this back office would POST to Waybill about the order."""
        self._events += 1
        event_id = f"evt_{self._events:06d}"
        body = {"id": event_id, "type": event, "created_at": self._stamp_peek(), "order": self.get_order(order_id)}
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(raw, self.webhook_secret),
            EVENT_ID_HEADER: event_id,
        }
        return headers, raw

    # --- HTTP plumbing -------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        order = "/api/v1/orders/{order_id}"
        table: list[tuple[str, Handler, str]] = [
            ("/api/v1/account", self._account, "GET"),
            ("/api/v1/orders", self._list, "GET"),
            (order, self._get, "GET"),
            (order + "/status", self._put_status, "PUT"),
            (order + "/shipments", self._create_shipment, "POST"),
            (order + "/shipments/{shipment_id}", self._cancel_shipment, "DELETE"),
            (order + "/shipments/{shipment_id}/delivered", self._delivered, "POST"),
        ]
        routes = [Route(path, self._endpoint(handler), methods=[method]) for path, handler, method in table]
        return [
            *routes,
            Route("/{path:path}", self._endpoint(self._not_found), methods=["GET", "POST", "PUT", "DELETE"]),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "idempotency_key": request.headers.get("Idempotency-Key"),
                    "at": time.monotonic(),
                }
            )
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                return self._throttled(fault.retry_after or 1.0)
            if fault is not None and fault.status:
                code = _FAULT_CODES.get(fault.status, "unavailable" if fault.status >= 500 else "error")
                return self._reply(_error(code, HTTPStatus(fault.status).phrase), fault.status)
            if self._revoked or request.headers.get("Authorization") != f"Bearer {self.api_key}":
                message = "This API key was revoked." if self._revoked else "Missing or invalid API key."
                return self._reply(_error("unauthorized", message), 401)
            wait = self._count_call()
            if wait is not None:
                return self._throttled(wait)
            try:
                payload, status = await handler(request)
            except ApiError as exc:
                return self._reply(exc.body, exc.status)
            return self._reply(payload, status)

        return endpoint

    def _count_call(self) -> float | None:
        """Fixed window: this call fits, or the seconds until the window resets."""
        now = time.monotonic()
        if now - self._window_start >= self.rate_window:
            self._window_start, self._window_used = now, 0
        if self._window_used >= self.rate_limit:
            return self._reset_in(now)
        self._window_used += 1
        return None

    def _reset_in(self, now: float | None = None) -> float:
        return max(0.0, self.rate_window - ((now or time.monotonic()) - self._window_start))

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - self._window_used)),
            "X-RateLimit-Reset": str(math.ceil(self._reset_in())),
        }

    def _throttled(self, retry_after: float) -> Response:
        self.throttled += 1
        headers = {**self._rate_headers(), "X-RateLimit-Remaining": "0"}
        if self.send_retry_after:
            headers["Retry-After"] = f"{math.ceil(retry_after * 10) / 10:g}"
        else:
            headers["X-RateLimit-Reset"] = str(math.ceil(retry_after))
        message = "Too many requests; retry after the time in Retry-After."
        return JSONResponse(_error("rate_limited", message), 429, headers=headers)

    def _reply(self, payload: Any, status: int) -> Response:
        if status == 204:
            return Response(status_code=204, headers=self._rate_headers())
        return JSONResponse(payload, status, headers=self._rate_headers())

    # --- endpoints -----------------------------------------------------------------------

    async def _not_found(self, request: Request) -> tuple[Any, int]:
        raise ApiError(404, "not_found", f"No route {request.method} {request.url.path}.")

    async def _account(self, request: Request) -> tuple[Any, int]:
        return {"id": "acct_1", "name": self.account_name}, 200

    async def _list(self, request: Request) -> tuple[Any, int]:
        query = request.query_params
        limit = _limit(query.get("limit"))
        if query.get("cursor"):
            try:
                since_text, after = decode_cursor(query["cursor"])
                since = parse_time(since_text) if since_text else None
            except (ValueError, TypeError):
                raise ApiError(400, "invalid_cursor", "cursor is not one this API returned", "cursor") from None
        else:
            since, after = _since(query.get("updated_since")), None
        orders, more = self.list_orders(since, after, limit)
        next_cursor = None
        if more and orders:
            last = orders[-1]
            next_cursor = encode_cursor(format_time(since) if since else None, (last["updated_at"], last["id"]))
        return {"orders": orders, "next_cursor": next_cursor}, 200

    async def _get(self, request: Request) -> tuple[Any, int]:
        return {"order": self.get_order(request.path_params["order_id"])}, 200

    async def _put_status(self, request: Request) -> tuple[Any, int]:
        return {"order": self.put_status(request.path_params["order_id"], await _body(request))}, 200

    async def _create_shipment(self, request: Request) -> tuple[Any, int]:
        body = await _body(request)
        key = request.headers.get("Idempotency-Key")
        shipment, created = self.create_shipment(request.path_params["order_id"], body, key)
        return shipment, 201 if created else 200

    async def _cancel_shipment(self, request: Request) -> tuple[Any, int]:
        params = request.path_params
        return self.cancel_shipment(params["order_id"], params["shipment_id"]), 200

    async def _delivered(self, request: Request) -> tuple[Any, int]:
        params = request.path_params
        return self.deliver_shipment(params["order_id"], params["shipment_id"]), 200


def encode_cursor(since: str | None, after: tuple[str, str]) -> str:
    """Opaque to clients: the filter and the keyset position (updated_at, id) of the last order served."""
    raw = json.dumps({"since": since, "after": list(after)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[str | None, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        since, (updated_at, order_id) = data["since"], data["after"]
        parse_time(updated_at)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValueError("invalid cursor") from None
    if since is not None and not isinstance(since, str):
        raise ValueError("invalid cursor")
    return since, (str(updated_at), str(order_id))


def _error(code: str, message: str) -> Json:
    return {"error": {"code": code, "message": message}}


def _limit(value: str | None) -> int:
    try:
        limit = int(value) if value is not None else 50
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "invalid_parameter", f"limit must be between 1 and {MAX_LIMIT}", "limit")
    return limit


def _since(value: str | None) -> Any:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise ApiError(
            400, "invalid_parameter", "updated_since must be an ISO 8601 timestamp", "updated_since"
        ) from None


async def _body(request: Request) -> Json:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body
