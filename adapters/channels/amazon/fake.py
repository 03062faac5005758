"""FakeAmazon: SP-API Orders v0 (and its LWA token endpoint) in memory, as a Starlette app.

It keeps what clients trip over: per-operation token buckets with `x-amzn-RateLimit-Limit` on every
answer and a 429 without Retry-After, NextToken paging, items on a separate paged call, 403 for an
expired token, 204 shipment confirmations validated item by item, and edits by packageReferenceId.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.channels.amazon.client import USAGE_PLANS
from adapters.channels.amazon.fake_store import ApiError, Json, SellerStore, invalid, iso
from adapters.channels.amazon.mapper import parse_time
from adapters.channels.base import Credentials, FakeShipment
from adapters.channels.fakes import FaultInjector

Handler = Callable[[Request], Awaitable[tuple[Any, int]]]
DENIED = "Access to requested resource is denied."
EXPIRED = "The access token you provided has expired."
INVALID_TOKEN = "The access token you provided is revoked, malformed or invalid."
QUOTA = {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}
FAULT_ERRORS = {
    400: ("InvalidInput", "Invalid Input"),
    403: ("Unauthorized", DENIED),
    404: ("NotFound", "The requested resource was not found."),
    500: ("InternalFailure", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Service temporarily unavailable. Please try again."),
}
FAKE_PLANS: dict[str, tuple[float, int]] = {**USAGE_PLANS, "getOrder": (0.5, 30)}

__all__ = ["ApiError", "FakeAmazon"]


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FakeAmazon(SellerStore):
    """One seller over HTTP. Drive it with the SellerStore helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        usage_plans: Mapping[str, tuple[float, int]] | None = None,
        items_page_size: int = 100,
        store_name: str = "Okafor Outfitters",
        marketplace_id: str = "ATVPDKIKX0DER",
    ) -> None:
        super().__init__(marketplace_id=marketplace_id)
        self.plans = {**FAKE_PLANS, **(usage_plans or {})}
        self.items_page_size = items_page_size
        self.store_name = store_name
        self.client_id = "amzn1.application-oa2-client.fake0123456789"
        self.client_secret = "amzn1.oa2-cs.v1.fake-secret"
        self.refresh_token = "Atzr|fake-refresh-token"
        self.throttled = 0
        self.refreshes = 0
        self.revoked = False
        self.faults = FaultInjector()  # API calls
        self.token_faults = FaultInjector()  # the LWA token endpoint
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query) of API calls
        self._tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self._buckets = {op: _Bucket(rate, burst) for op, (rate, burst) in self.plans.items()}
        self.app = Starlette(routes=self._routes())

    # --- the FakeChannel control surface ---------------------------------------------------

    def credentials(self, base_url: str) -> Credentials:
        token, expires_at = self._issue()
        return {
            "refresh_token": self.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "marketplace_id": self.marketplace_id,
            "api_url": base_url,
            "token_url": f"{base_url}/auth/o2/token",
            "access_token": token,
            "expires_at": expires_at,
        }

    def shipments(self, external_id: str) -> list[FakeShipment]:
        return [
            FakeShipment(
                tracking_number=p.tracking_number,
                carrier=p.carrier_name if p.carrier_code == "Other" else p.carrier_code,
                lines=dict(p.items),
            )
            for p in self.packages(external_id)
        ]

    def is_shipped(self, external_id: str) -> bool:
        return self.order(external_id)["OrderStatus"] in ("Shipped", "InvoiceUnconfirmed")

    def revoke(self) -> None:
        self.revoked = True
        self._tokens.clear()

    def expire_access_token(self) -> None:
        self._tokens = dict.fromkeys(self._tokens, 0.0)

    def throttle_next(self, n: int, retry_after: float = 1.0, *, path_contains: str | None = None) -> None:
        """Amazon sends no Retry-After: `retry_after` is accepted for the protocol and ignored."""
        self.faults.throttle_next(n, retry_after, path_contains=path_contains)

    def fail_next(
        self, n: int, status: int = 500, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.fail_next(n, status, path_contains=path_contains, method=method)

    def delay_next(self, n: int, seconds: float, *, path_contains: str | None = None) -> None:
        self.faults.delay_next(n, seconds, path_contains=path_contains)

    def _issue(self) -> tuple[str, int]:
        token = "Atza|" + secrets.token_urlsafe(24)
        expires_at = int(time.time()) + 3600
        self._tokens[token] = float(expires_at)
        return token, expires_at

    # --- HTTP plumbing ---------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        order = "/orders/v0/orders/{order_id}"
        table: list[tuple[str, str, Handler, str]] = [
            ("/orders/v0/orders", "getOrders", self._get_orders, "GET"),
            (order, "getOrder", self._get_order, "GET"),
            (order + "/orderItems", "getOrderItems", self._get_order_items, "GET"),
            (order + "/shipmentConfirmation", "confirmShipment", self._confirm_shipment, "POST"),
            ("/sellers/v1/marketplaceParticipations", "getMarketplaceParticipations", self._participations, "GET"),
        ]
        routes = [Route(path, self._endpoint(op, handler), methods=[verb]) for path, op, handler, verb in table]
        return [
            Route("/auth/o2/token", self._token, methods=["POST"]),
            *routes,
            Route("/{path:path}", self._endpoint(None, self._not_found), methods=["GET", "POST", "PUT", "DELETE"]),
        ]

    def _endpoint(self, operation: str | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
            headers = {"x-amzn-RequestId": str(uuid.uuid4())}
            if operation is not None:
                headers["x-amzn-RateLimit-Limit"] = f"{self.plans[operation][0]:g}"
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                self.throttled += 1
                return JSONResponse(QUOTA, 429, headers=headers)
            if fault is not None and fault.status:
                code, message = FAULT_ERRORS.get(fault.status, ("InternalFailure", "Error"))
                return JSONResponse({"errors": [{"code": code, "message": message}]}, fault.status, headers=headers)
            refusal = self._refusal(request.headers.get("x-amz-access-token"))
            if refusal is not None:
                return JSONResponse(refusal.body(), refusal.status, headers=headers)
            if operation is not None and not self._buckets[operation].take():
                self.throttled += 1
                return JSONResponse(QUOTA, 429, headers=headers)
            try:
                payload, status = await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.body(), exc.status, headers=headers)
            if status == 204:
                return Response(status_code=204, headers=headers)
            return JSONResponse(payload, status, headers=headers)

        return endpoint

    def _refusal(self, token: str | None) -> ApiError | None:
        expires = self._tokens.get(token or "")
        if expires is None:
            return ApiError(403, "Unauthorized", DENIED, INVALID_TOKEN)
        if expires <= time.time():
            return ApiError(403, "Unauthorized", DENIED, EXPIRED)
        return None

    async def _token(self, request: Request) -> Response:
        fault = await self.token_faults.take(request)
        if fault is not None and fault.status:
            return JSONResponse({"error": "server_error", "error_description": "Try again later"}, fault.status)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return _lwa_error(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _lwa_error(401, "invalid_client", "Client authentication failed")
        if self.revoked or form.get("refresh_token") != self.refresh_token:
            return _lwa_error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token, _ = self._issue()
        self.refreshes += 1
        body = {"access_token": token, "token_type": "bearer", "expires_in": 3600, "refresh_token": self.refresh_token}
        return JSONResponse(body)

    # --- endpoints -------------------------------------------------------------------------

    async def _not_found(self, request: Request) -> tuple[Any, int]:
        raise ApiError(404, "NotFound", "Resource not found.")

    async def _participations(self, request: Request) -> tuple[Any, int]:
        marketplace = {
            "id": self.marketplace_id,
            "countryCode": "US",
            "name": "Amazon.com",
            "defaultCurrencyCode": "USD",
            "defaultLanguageCode": "en_US",
            "domainName": "www.amazon.com",
        }
        participation = {"isParticipating": True, "hasSuspendedListings": False}
        return {
            "payload": [{"marketplace": marketplace, "participation": participation, "storeName": self.store_name}]
        }, 200

    async def _get_orders(self, request: Request) -> tuple[Any, int]:
        query = request.query_params
        marketplaces = [part for value in query.getlist("MarketplaceIds") for part in value.split(",") if part]
        if not marketplaces:
            raise invalid("Missing required parameter: MarketplaceIds.")
        if self.marketplace_id not in marketplaces:
            raise invalid("Invalid MarketplaceIds: the seller does not sell on the marketplaces given.")
        anchor: tuple[datetime, str] | None
        if query.get("NextToken"):
            cursor = _decode(query["NextToken"])
            try:
                after, before = parse_time(cursor["after"]), parse_time(cursor["before"])
                anchor = (parse_time(cursor["anchor"][0]), str(cursor["anchor"][1]))
                size, statuses = int(cursor["size"]), [str(s) for s in cursor["statuses"]]
            except (KeyError, IndexError, TypeError, ValueError):
                raise invalid("Invalid NextToken.") from None
        else:
            after, before, size, statuses = self._criteria(query)
            anchor = None
        rows = [
            row
            for row in self.query(after, before)
            if (anchor is None or row > anchor) and (not statuses or self.order(row[1])["OrderStatus"] in statuses)
        ]
        page = rows[:size]
        payload: Json = {"Orders": [self.order(order_id) for _, order_id in page], "LastUpdatedBefore": iso(before)}
        if len(rows) > size:
            last_stamp, last_id = page[-1]
            payload["NextToken"] = _encode(
                {"after": iso(after), "before": iso(before), "anchor": [iso(last_stamp), last_id], "size": size}
                | {"statuses": statuses}
            )
        return {"payload": payload}, 200

    def _criteria(self, query: Any) -> tuple[datetime, datetime, int, list[str]]:
        if query.get("CreatedAfter") and query.get("LastUpdatedAfter"):
            raise invalid("CreatedAfter and LastUpdatedAfter cannot both be specified.")
        if not query.get("LastUpdatedAfter"):
            if query.get("CreatedAfter"):
                raise invalid("This fake supports LastUpdatedAfter only.")
            raise invalid("Either CreatedAfter or LastUpdatedAfter must be specified.")
        try:
            after = parse_time(query["LastUpdatedAfter"])
        except ValueError:
            raise invalid(f"Invalid LastUpdatedAfter: {query['LastUpdatedAfter']!r} is not ISO 8601.") from None
        now = self.now()
        if after > now:
            raise invalid("LastUpdatedAfter must be earlier than the current time.")
        if after < now - timedelta(days=731):
            raise invalid("LastUpdatedAfter cannot be more than two years ago.")
        try:
            size = int(query.get("MaxResultsPerPage", 100))
        except ValueError:
            size = 0
        if not 1 <= size <= 100:
            raise invalid("MaxResultsPerPage must be between 1 and 100.")
        fulfillment = ",".join(query.getlist("FulfillmentChannels"))
        if fulfillment and "MFN" not in fulfillment.split(","):
            raise invalid("This fake holds MFN orders only.")
        statuses = [s for value in query.getlist("OrderStatuses") for s in value.split(",") if s]
        return after, now, size, statuses

    async def _get_order(self, request: Request) -> tuple[Any, int]:
        return {"payload": self.order(request.path_params["order_id"])}, 200

    async def _get_order_items(self, request: Request) -> tuple[Any, int]:
        order_id = request.path_params["order_id"]
        items = self.items(order_id)
        start = 0
        if request.query_params.get("NextToken"):
            cursor = _decode(request.query_params["NextToken"])
            if cursor.get("order") != order_id:
                raise invalid("Invalid NextToken.")
            start = int(cursor.get("start") or 0)
        end = start + self.items_page_size
        payload: Json = {"AmazonOrderId": order_id, "OrderItems": copy.deepcopy(items[start:end])}
        if end < len(items):
            payload["NextToken"] = _encode({"order": order_id, "start": end})
        return {"payload": payload}, 200

    async def _confirm_shipment(self, request: Request) -> tuple[Any, int]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise invalid("The request body is not valid JSON.") from None
        self.confirm_shipment(request.path_params["order_id"], body)
        return None, 204


def _lwa_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


def _encode(cursor: Json) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> Json:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(cursor, dict):
            raise ValueError(token)
        return cursor
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("Invalid NextToken.") from None
