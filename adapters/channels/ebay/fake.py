"""FakeEbay: an in-memory Sell Fulfillment API v1 and OAuth token endpoint (Starlette) for tests and the sandbox.

It keeps the rules real clients trip over: the `filter` brackets must be percent-encoded, `limit` <= 200
with offset paging and a `next` link, 2-hour user tokens refreshed with Basic client auth (refresh token
not rotated), 201 + Location with an empty body for a new shipping fulfillment, eBay's error bodies.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.channels.base import FakeShipment
from adapters.channels.ebay.fake_store import ApiError, EbayStore, Json
from adapters.channels.ebay.mapper import parse_time
from adapters.channels.fakes import FaultInjector

__all__ = ["ApiError", "FakeEbay"]

Handler = Callable[[Request], Awaitable[Response]]
BASE = "/sell/fulfillment/v1"
TOKEN_PATH = "/identity/v1/oauth2/token"
GRANTED_SCOPES = frozenset(
    {
        "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
        "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly",
    }
)
INVALID_TOKEN = {
    "errors": [
        {
            "errorId": 1001,
            "domain": "OAuth",
            "category": "REQUEST",
            "message": "Invalid access token",
            "longMessage": "Invalid access token. Check the value of the Authorization HTTP request header.",
        }
    ]
}
TOO_MANY = {
    "errors": [
        {
            "errorId": 2001,
            "domain": "ACCESS",
            "category": "REQUEST",
            "message": "Too many requests",
            "longMessage": "The request limit has been reached for the resource.",
        }
    ]
}
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "the provided authorization refresh token is invalid or was issued to another client",
}
EBAY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE_RANGE = re.compile(r"^\[(?P<start>[^\]]*?)\.\.(?P<end>[^\]]*)\]$")


class FakeEbay(EbayStore):
    """One eBay seller over HTTP. Drive it with the EbayStore helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        client_id: str = "WaybillT-test-PRD-1a2b3c4d5-6e7f8a9b",
        client_secret: str = "PRD-1a2b3c4d5e6f-7a8b-9c0d-1e2f-3a4b",
        token_lifetime: int = 7200,
        daily_quota: int | None = None,
        seller_id: str = "waybill-test-seller",
    ) -> None:
        super().__init__(seller_id=seller_id)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = "v^1.1#i^1#r^1#f^0#I^3#p^3#t^" + secrets.token_urlsafe(24)
        self.token_lifetime = token_lifetime
        self.daily_quota = daily_quota  # API calls allowed before 429s without Retry-After (quota spent)
        self.api_calls = 0
        self.refreshes = 0
        self.injected_throttles = 0
        self.quota_throttles = 0
        self.requests: list[tuple[str, str, str]] = []  # (method, path, raw query) as received
        self.faults = FaultInjector()
        self._lost_responses = FaultInjector()
        self._tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self._revoked = False
        self._issue_token()
        self.app = Starlette(routes=self._routes())

    # --- the contract suite's controls (adapters/channels/base.py FakeChannel) -------------

    @property
    def throttled(self) -> int:
        return self.injected_throttles + self.quota_throttles

    def credentials(self, base_url: str) -> dict[str, Any]:
        if not self._tokens:
            self._issue_token()
        token, expires_at = next(reversed(self._tokens.items()))
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "api_url": base_url,
            "token_url": f"{base_url}{TOKEN_PATH}",
            "access_token": token,
            "expires_at": int(expires_at),
        }

    def create_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        overrides = {} if ready else {"orderPaymentStatus": "PENDING"}
        return str(self.new_order(lines, **overrides)["orderId"])

    add_order = create_order  # the name adapters/channels/base.py FakeChannel uses

    def touch_order(self, external_id: str) -> None:
        self.set_phone(external_id, f"479555{len(self.requests) % 10000:04d}")

    def line_ids(self, external_id: str) -> list[str]:
        return [str(item["lineItemId"]) for item in self.order(external_id)["lineItems"]]

    def shipments(self, external_id: str) -> list[FakeShipment]:
        return [
            FakeShipment(
                tracking_number=f.get("shipmentTrackingNumber"),
                carrier=f.get("shippingCarrierCode"),
                lines={str(item["lineItemId"]): int(item["quantity"]) for item in f["lineItems"]},
            )
            for f in self.fulfillments(external_id)
        ]

    def is_shipped(self, external_id: str) -> bool:
        return self.order(external_id).get("orderFulfillmentStatus") == "FULFILLED"

    def revoke(self) -> None:
        self._revoked = True
        self._tokens.clear()

    def expire_access_token(self) -> None:
        for token in self._tokens:
            self._tokens[token] = 0.0

    def throttle_next(self, n: int, retry_after: float = 1.0) -> None:
        self.faults.throttle_next(n, retry_after)

    def fail_next(self, n: int, status: int = 500, **match: Any) -> None:
        self.faults.fail_next(n, status, **match)

    def delay_next(self, n: int, seconds: float, **match: Any) -> None:
        self.faults.delay_next(n, seconds, **match)

    def lose_next_response(self, n: int, **match: Any) -> None:
        """The next n matching calls are carried out, then answered 502 as by a proxy that gave up: a write
        that landed although the client saw it fail."""
        self._lost_responses.fail_next(n, 502, **match)

    # --- HTTP plumbing -------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        order = BASE + "/order/{order_id}"
        table: list[tuple[str, Handler, list[str]]] = [
            (TOKEN_PATH, self._token, ["POST"]),
            (BASE + "/order", self._api(self._list_orders), ["GET"]),
            (order, self._api(self._get_order), ["GET"]),
            (order + "/shipping_fulfillment", self._api(self._list_fulfillments), ["GET"]),
            (order + "/shipping_fulfillment", self._api(self._create_fulfillment), ["POST"]),
            (order + "/shipping_fulfillment/{fulfillment_id}", self._api(self._get_fulfillment), ["GET"]),
        ]
        routes = [Route(path, handler, methods=methods) for path, handler, methods in table]
        return [*routes, Route("/{path:path}", self._api(self._not_found), methods=["GET", "POST", "PUT", "DELETE"])]

    async def _fault(self, request: Request) -> Response | None:
        self.requests.append((request.method, request.url.path, request.url.query))
        fault = await self.faults.take(request)
        if fault is None or fault.status is None:
            return None
        if fault.status == 429:
            self.injected_throttles += 1
            return JSONResponse(TOO_MANY, 429, headers={"Retry-After": f"{fault.retry_after or 1.0:g}"})
        category = "APPLICATION" if fault.status >= 500 else "REQUEST"
        error = ApiError(fault.status, 30500 if fault.status >= 500 else 32600, "System error", category=category)
        return JSONResponse(error.body, fault.status)

    def _api(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            injected = await self._fault(request)
            if injected is not None:
                return injected
            if not self._token_valid(request.headers.get("Authorization", "")):
                return JSONResponse(INVALID_TOKEN, 401)
            self.api_calls += 1
            if self.daily_quota is not None and self.api_calls > self.daily_quota:
                self.quota_throttles += 1
                return JSONResponse(TOO_MANY, 429)  # eBay's quota 429 carries no Retry-After
            try:
                response = await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.body, exc.status)
            if await self._lost_responses.take(request) is not None:
                return Response("<html><body>502 Bad Gateway</body></html>", 502, media_type="text/html")
            return response

        return endpoint

    def _token_valid(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or self._revoked:
            return False
        return self._tokens.get(token, 0.0) > time.time()

    def _issue_token(self) -> str:
        token = "v^1.1#i^1#p^3#I^3#r^0#f^0#t^" + secrets.token_urlsafe(32)
        self._tokens[token] = time.time() + self.token_lifetime
        return token

    # --- OAuth ---------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        injected = await self._fault(request)
        if injected is not None:
            return injected
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            client = base64.b64decode(encoded).decode() if scheme == "Basic" else ""
        except ValueError:
            client = ""
        if client != f"{self.client_id}:{self.client_secret}":
            return JSONResponse({"error": "invalid_client", "error_description": "client authentication failed"}, 401)
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "grant type in request is not supported"}, 400
            )
        if self._revoked or form.get("refresh_token") != self.refresh_token:
            return JSONResponse(INVALID_GRANT, 400)
        scopes = set(str(form.get("scope") or "").split())
        if scopes - GRANTED_SCOPES:
            return JSONResponse(
                {
                    "error": "invalid_scope",
                    "error_description": "The requested scope is invalid, unknown, malformed, or exceeds the scope granted to the client",
                },
                400,
            )
        self.refreshes += 1
        body = {
            "access_token": self._issue_token(),
            "expires_in": self.token_lifetime,
            "token_type": "User Access Token",
        }
        return JSONResponse(body, 200)

    # --- endpoints -----------------------------------------------------------------------

    async def _not_found(self, request: Request) -> Response:
        if request.method in ("PUT", "DELETE") and "/shipping_fulfillment" in request.url.path:
            raise ApiError(400, 34500, "Please use PUT operation for updating shipping fulfillment")
        body = {
            "errors": [{"errorId": 2002, "domain": "ACCESS", "category": "REQUEST", "message": "Resource not found"}]
        }
        return JSONResponse(body, 404)

    async def _list_orders(self, request: Request) -> Response:
        raw_query = request.url.query
        if any(char in raw_query for char in "[]{}|"):
            raise ApiError(
                400,
                30800,
                f"Invalid filter value {request.query_params.get('filter')} for filter filter",
                long_message="The characters [ ] { } | in the filter must be URL-encoded (%5B %5D %7B %7D %7C).",
            )
        params = request.query_params
        limit = _int_param(params.get("limit"), 50, 31100, "Invalid limit: {}", 1, 200)
        offset = _int_param(params.get("offset"), 0, 31000, "Invalid offset: {}", 0, None)
        if params.get("orderIds"):
            ids = [part.strip() for part in params["orderIds"].split(",") if part.strip()]
            if len(ids) > 50:
                raise ApiError(400, 30900, "Exceeded maximum number of order IDs (the current limit is `50`)")
            rows = [self._orders[i] for i in ids if i in self._orders]
        else:
            since, field, statuses = self._parse_filter(params.get("filter") or "")
            rows = self.query(since, field, statuses)
        page = rows[offset : offset + limit]
        base = f"{request.base_url}".rstrip("/") + BASE + "/order"
        kept = [(key, value) for key, value in params.multi_items() if key not in ("limit", "offset")]

        def href(at: int) -> str:
            query = "&".join(f"{key}={quote(value, safe=':.,')}" for key, value in kept)
            return f"{base}?{query + '&' if query else ''}limit={limit}&offset={at}"

        body: Json = {"href": href(offset), "total": len(rows), "limit": limit, "offset": offset, "orders": page}
        if offset + limit < len(rows):
            body["next"] = href(offset + limit)
        if offset > 0:
            body["prev"] = href(max(0, offset - limit))
        return JSONResponse(body, 200)

    def _parse_filter(self, value: str) -> tuple[Any, str, set[str] | None]:
        """eBay's `name:value` criteria; creationdate wins over lastmodifieddate when both are given."""
        criteria: dict[str, str] = {}
        for part in _split_criteria(value):
            name, sep, criterion = part.partition(":")
            if not sep or name not in ("creationdate", "lastmodifieddate", "orderfulfillmentstatus"):
                raise ApiError(400, 30700, f"Invalid filter name: {name}")
            criteria[name] = criterion
        statuses = None
        if "orderfulfillmentstatus" in criteria:
            inner = criteria["orderfulfillmentstatus"].strip("{}")
            statuses = set(inner.split("|"))
            if not statuses <= {"NOT_STARTED", "IN_PROGRESS", "FULFILLED"}:
                raise ApiError(400, 30800, f"Invalid filter value {inner} for filter orderfulfillmentstatus")
        field = "creationDate" if "creationdate" in criteria else "lastModifiedDate"
        name = "creationdate" if "creationdate" in criteria else "lastmodifieddate"
        if name not in criteria:
            return None, field, statuses
        match = DATE_RANGE.match(criteria[name])
        if match is None:
            raise ApiError(400, 30800, f"Invalid filter value {criteria[name]} for filter {name}")
        start = match["start"]
        if not start:
            raise ApiError(400, 30820, "Start date is missing")
        if not EBAY_TIME.match(start) or (match["end"] and not EBAY_TIME.match(match["end"])):
            raise ApiError(400, 30810, "Invalid date format")
        since = parse_time(start)
        if self.now() - since > timedelta(days=730):
            raise ApiError(400, 30830, "Time range between start date and end date must be within '2' years.")
        return since, field, statuses

    async def _get_order(self, request: Request) -> Response:
        return JSONResponse(self.order(request.path_params["order_id"]), 200)

    async def _list_fulfillments(self, request: Request) -> Response:
        fulfillments = self.fulfillments(request.path_params["order_id"])
        return JSONResponse({"fulfillments": fulfillments, "total": len(fulfillments)}, 200)

    async def _get_fulfillment(self, request: Request) -> Response:
        wanted = request.path_params["fulfillment_id"]
        for fulfillment in self.fulfillments(request.path_params["order_id"]):
            if fulfillment["fulfillmentId"] == wanted:
                return JSONResponse(fulfillment, 200)
        raise ApiError(404, 32110, f"Invalid shipping fulfillment ID: {wanted}")

    async def _create_fulfillment(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(
                400, 32600, "Invalid input data", long_message="The request body is not valid JSON."
            ) from None
        fulfillment_id = self.create_fulfillment(order_id, body)
        location = f"{request.base_url}".rstrip("/") + f"{BASE}/order/{order_id}/shipping_fulfillment/{fulfillment_id}"
        return Response(status_code=201, headers={"Location": location})


def _split_criteria(value: str) -> list[str]:
    """Commas separate criteria, except inside [..] and {..}."""
    parts, depth, current = [], 0, ""
    for char in value:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _int_param(value: str | None, default: int, error_id: int, message: str, low: int, high: int | None) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, error_id, message.format(value)) from None
    if number < low or (high is not None and number > high):
        raise ApiError(400, error_id, message.format(value))
    return number
