"""FakeEtsy: an in-memory Etsy Open API v3 (Starlette) for tests and the sandbox.

It keeps the rules real clients trip over: `x-api-key` must be `keystring:shared_secret` (keystring alone
is refused, as since 2026-02-09), Bearer tokens expire after an hour, the refresh token rotates on every
use and the old one dies at once, receipts page by limit/offset with a `count` and sort by creation,
newest first, unless told otherwise, and every answer carries the rate-limit headers (429 + retry-after
when the per-second budget is spent). Error texts are Etsy-like, not verified byte for byte.
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

from adapters.channels.base import Credentials
from adapters.channels.etsy.fake_store import ApiError, EtsyShop
from adapters.channels.etsy.mapper import sign_webhook
from adapters.channels.fakes import FaultInjector

Handler = Callable[[Request], Awaitable[tuple[Any, int]]]
SORT_ON = ("created", "updated", "receipt_id")
SORT_ORDER = {"asc": False, "ascending": False, "desc": True, "descending": True, "up": False, "down": True}
FLAGS = ("was_paid", "was_shipped", "was_canceled", "was_delivered")

__all__ = ["ApiError", "FakeEtsy"]


class FakeEtsy(EtsyShop):
    """One shop over HTTP. Drive it with the EtsyShop helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        per_second: int = 10,
        per_day: int = 10_000,
        webhook_secret: str = "whsec_" + base64.b64encode(b"fake-etsy-webhook-signing-key-32").decode(),
        **shop: Any,
    ) -> None:
        super().__init__(**shop)
        self.webhook_secret = webhook_secret
        self._webhooks = 0
        self.per_second = per_second
        self.per_day = per_day
        self.throttled = 0
        self.faults = FaultInjector()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query) as received
        self.bodies: list[dict[str, str]] = []  # tracking submissions, as received (JSON or form)
        self._tokens = float(per_second)
        self._tokens_at = time.monotonic()
        self._used_today = 0
        self.app = Starlette(routes=self._routes())

    # --- FakeChannel -----------------------------------------------------------------------------

    def credentials(self, base_url: str) -> Credentials:
        access, refresh, expires_at = self.current_tokens()
        return {
            "keystring": self.keystring,
            "shared_secret": self.shared_secret,
            "shop_id": str(self.shop_id),
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": expires_at,
            "api_url": base_url,
            "token_url": f"{base_url}/v3/public/oauth/token",
            "webhook_secret": self.webhook_secret,
        }

    def webhook(self, external_id: str, topic: str = "order.paid") -> tuple[dict[str, str], bytes]:
        """What Etsy would POST about the receipt: a thin event pointing at it, Standard-Webhooks signed."""
        self._webhooks += 1
        body = json.dumps(
            {
                "event_type": topic,
                "resource_url": f"https://api.etsy.com/v3/application/shops/{self.shop_id}/receipts/{external_id}",
                "shop_id": str(self.shop_id),
            },
            separators=(",", ":"),
        ).encode()
        webhook_id, timestamp = f"msg_fake{self._webhooks:010d}", str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign_webhook(self.webhook_secret, webhook_id, timestamp, body),
        }
        return headers, body

    def throttle_next(self, n: int, retry_after: float = 1.0, **match: Any) -> None:
        self.faults.throttle_next(n, retry_after, **match)

    def fail_next(self, n: int, status: int = 500, **match: Any) -> None:
        self.faults.fail_next(n, status, **match)

    def delay_next(self, n: int, seconds: float, **match: Any) -> None:
        self.faults.delay_next(n, seconds, **match)

    # --- HTTP plumbing ---------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        shop = "/v3/application/shops/{shop_id}"
        receipt = shop + "/receipts/{receipt_id}"
        table: list[tuple[str, Handler, str]] = [
            (shop, self._get_shop, "GET"),
            (shop + "/receipts", self._list_receipts, "GET"),
            (receipt, self._get_receipt, "GET"),
            (receipt + "/tracking", self._create_shipment, "POST"),
        ]
        routes = [Route("/v3/public/oauth/token", self._token_endpoint, methods=["POST"])]
        routes += [Route(path, self._endpoint(handler), methods=[method]) for path, handler, method in table]
        return [*routes, Route("/{path:path}", self._endpoint(self._not_found), methods=["GET", "POST", "PUT"])]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                return self._throttled(fault.retry_after or 1.0, injected=True)
            if fault is not None and fault.status:
                return self._reply({"error": HTTPStatus(fault.status).phrase}, fault.status)
            refused = self._check_api_key(request.headers.get("x-api-key"))
            if refused is not None:
                return refused
            wait = self._spend()
            if wait is not None:
                return self._throttled(wait)
            refused = self._check_bearer(request.headers.get("authorization"))
            if refused is not None:
                return refused
            try:
                if "shop_id" in request.path_params and request.path_params["shop_id"] != str(self.shop_id):
                    raise ApiError(403, "The shop_id in the request does not belong to the authenticated user")
                payload, status = await handler(request)
            except ApiError as exc:
                return self._reply(exc.body, exc.status)
            return self._reply(payload, status)

        return endpoint

    def _check_api_key(self, header: str | None) -> Response | None:
        keystring, _, secret = (header or "").partition(":")
        if keystring != self.keystring:
            return self._reply({"error": "Invalid API key"}, 403)
        if not secret:
            return self._reply({"error": "Shared secret is required in x-api-key header"}, 403)
        if secret != self.shared_secret:
            return self._reply({"error": "Invalid shared secret in x-api-key header"}, 403)
        return None

    def _check_bearer(self, header: str | None) -> Response | None:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._reply({"error": "invalid_token", "error_description": "Missing OAuth token"}, 401)
        state = self.access_token_state(token)
        if state == "valid":
            return None
        description = "access token is expired" if state == "expired" else "invalid access token"
        return self._reply({"error": "invalid_token", "error_description": description}, 401)

    def _spend(self) -> float | None:
        """Etsy's per-second and per-day budgets: count this call, or return the seconds until one fits."""
        now = time.monotonic()
        self._tokens = min(float(self.per_second), self._tokens + (now - self._tokens_at) * self.per_second)
        self._tokens_at = now
        if self._used_today >= self.per_day:
            return 3600.0
        if self._tokens < 1:
            return (1 - self._tokens) / self.per_second
        self._tokens -= 1
        self._used_today += 1
        return None

    def _limit_headers(self) -> dict[str, str]:
        return {
            "x-limit-per-second": str(self.per_second),
            "x-remaining-this-second": str(max(0, math.floor(self._tokens))),
            "x-limit-per-day": str(self.per_day),
            "x-remaining-today": str(max(0, self.per_day - self._used_today)),
        }

    def _throttled(self, retry_after: float, *, injected: bool = False) -> Response:
        """Etsy sends whole seconds; injected waits are passed as given so tests stay fast."""
        self.throttled += 1
        wait = f"{retry_after:g}" if injected else str(max(1, math.ceil(retry_after)))
        headers = {**self._limit_headers(), "retry-after": wait}
        return JSONResponse({"error": "Too many requests: the rate limit for this app was exceeded"}, 429, headers)

    def _reply(self, payload: Any, status: int) -> Response:
        return JSONResponse(payload, status, headers=self._limit_headers())

    # --- OAuth -----------------------------------------------------------------------------------

    async def _token_endpoint(self, request: Request) -> Response:
        self.requests.append((request.method, request.url.path, {}))
        fault = await self.faults.take(request)
        if fault is not None and fault.status == 429:
            return self._throttled(fault.retry_after or 1.0, injected=True)
        if fault is not None and fault.status:
            return JSONResponse({"error": "server_error", "error_description": "Try again later"}, fault.status)
        form = await request.form()
        try:
            if form.get("grant_type") != "refresh_token":
                raise ApiError(400, "unsupported_grant_type", "grant_type must be refresh_token here")
            client_id, refresh_token = form.get("client_id"), form.get("refresh_token")
            tokens = self.refresh(
                client_id if isinstance(client_id, str) else None,
                refresh_token if isinstance(refresh_token, str) else None,
            )
        except ApiError as exc:
            return JSONResponse(exc.body, exc.status)
        return JSONResponse(tokens, 200)

    # --- endpoints -------------------------------------------------------------------------------

    async def _not_found(self, request: Request) -> tuple[Any, int]:
        raise ApiError(404, f"No route for {request.method} {request.url.path}")

    async def _get_shop(self, request: Request) -> tuple[Any, int]:
        return {
            "shop_id": self.shop_id,
            "shop_name": self.shop_name,
            "user_id": self.user_id,
            "currency_code": "USD",
            "url": f"https://www.etsy.com/shop/{self.shop_name}",
        }, 200

    async def _list_receipts(self, request: Request) -> tuple[Any, int]:
        query = request.query_params
        limit = _int(query.get("limit"), "limit", default=25, low=1, high=100) or 25
        offset = _int(query.get("offset"), "offset", default=0, low=0) or 0
        sort_on = query.get("sort_on", "created")
        if sort_on not in SORT_ON:
            raise ApiError(400, f"sort_on must be one of {', '.join(SORT_ON)}")
        sort_order = query.get("sort_order", "desc")
        if sort_order not in SORT_ORDER:
            raise ApiError(400, f"sort_order must be one of {', '.join(SORT_ORDER)}")
        flags = {name: _bool(query[name], name) for name in FLAGS if name in query and name != "was_delivered"}
        rows = self.query(
            min_last_modified=_int(query.get("min_last_modified"), "min_last_modified", default=None, low=0),
            max_last_modified=_int(query.get("max_last_modified"), "max_last_modified", default=None, low=0),
            sort_on=sort_on,
            descending=SORT_ORDER[sort_order],
            flags=flags,
        )
        return {"count": len(rows), "results": rows[offset : offset + limit]}, 200

    async def _get_receipt(self, request: Request) -> tuple[Any, int]:
        return self.receipt(request.path_params["receipt_id"]), 200

    async def _create_shipment(self, request: Request) -> tuple[Any, int]:
        receipt_id = int(self.receipt(request.path_params["receipt_id"])["receipt_id"])
        body = await _body(request)
        self.bodies.append(body)
        unknown = sorted(set(body) - {"tracking_code", "carrier_name", "send_bcc", "note_to_buyer", "ship_date"})
        if unknown:
            raise ApiError(400, f"Unexpected parameter(s): {', '.join(unknown)}")
        if "send_bcc" in body:
            _bool(body["send_bcc"], "send_bcc")
        receipt = self.ship(receipt_id, body.get("tracking_code"), body.get("carrier_name"), body.get("note_to_buyer"))
        return receipt, 200


def _int(value: str | None, name: str, *, default: int | None, low: int, high: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"Expected int for {name}, got {value!r}") from None
    if number < low or (high is not None and number > high):
        raise ApiError(400, f"{name} must be between {low} and {high}" if high else f"{name} must be >= {low}")
    return number


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text not in ("true", "false", "1", "0"):
        raise ApiError(400, f"Expected boolean for {name}, got {value!r}")
    return text in ("true", "1")


async def _body(request: Request) -> dict[str, str]:
    """Etsy documents form bodies for writes; JSON works too. Values are kept as text, like a form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return {str(k): v if isinstance(v, str) else _text(v) for k, v in data.items() if v is not None}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
