"""FakeShopify: an in-memory Admin REST API (Starlette) for tests and the sandbox.

It keeps the rules real clients trip over: page_info cursors that forbid other filters, FO-line-id
fulfillments validated like Shopify, the leaky bucket with its call-limit header and 429 + Retry-After.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.channels.base import FakeShipment
from adapters.channels.shopify.fake_data import SHOP_ID
from adapters.channels.shopify.fake_store import ApiError, Json, ShopStore, to_int
from adapters.channels.shopify.webhooks import sign_webhook

Handler = Callable[[Request], Awaitable[tuple[Any, int]]]
PAGE_INFO_COMPANIONS = frozenset({"page_info", "limit", "fields"})
THROTTLED = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"

__all__ = ["ApiError", "FakeShopify"]


@dataclass
class _Injection:
    remaining: int
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    errors: Any = None
    path_contains: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.path_contains or "") in path
            and (self.method is None or self.method.upper() == method)
        )


class FakeShopify(ShopStore):
    """One shop over HTTP. Drive it with the ShopStore helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        access_token: str = "shpat_fake_token",
        webhook_secret: str = "shpss_fake_client_secret",
        bucket_size: int = 40,
        leak_rate: float = 2.0,
        seed: int = 1,
        shop_offset_hours: int = -5,
    ) -> None:
        super().__init__(seed=seed, shop_offset_hours=shop_offset_hours)
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self._webhooks = 0
        self.bucket_size = bucket_size
        self.leak_rate = leak_rate
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query) as received
        self.rejected_by_bucket = 0
        self.injected_throttles = 0
        self.refreshes = 0  # Shopify's offline tokens used here never expire
        self._injections: list[_Injection] = []
        #: True: orders created over the API stay out of the GraphQL search until `index_search()` (Shopify's
        #: search index trails writes by seconds); the REST list shows them at once.
        self.lagging_search = False
        self._unindexed: set[int] = set()
        self._bucket_used = 0.0
        self._bucket_at = time.monotonic()
        self.app = Starlette(routes=self._routes())

    # --- failure injection ---------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int = 500,
        *,
        errors: Any = None,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """The next n matching requests get `status` with {"errors": errors or the status phrase}."""
        self._injections.append(_Injection(n, status=status, errors=errors, path_contains=path_contains, method=method))

    def throttle_next(
        self, n: int, retry_after: float = 1.0, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """The next n matching requests get 429 with this Retry-After, whatever the bucket says."""
        self._injections.append(
            _Injection(n, status=429, retry_after=retry_after, path_contains=path_contains, method=method)
        )

    def delay_next(
        self, n: int, seconds: float, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """The next n matching requests are handled normally, `seconds` late (client timeouts)."""
        self._injections.append(_Injection(n, delay=seconds, path_contains=path_contains, method=method))

    # --- the contract suite's controls (adapters/channels/base.py FakeChannel) -------------

    @property
    def throttled(self) -> int:
        return self.rejected_by_bucket + self.injected_throttles

    def credentials(self, base_url: str) -> dict[str, Any]:
        return {"shop_url": base_url, "access_token": self.access_token, "webhook_secret": self.webhook_secret}

    def webhook(self, external_id: str, topic: str = "orders/updated") -> tuple[dict[str, str], bytes]:
        """The headers and body Shopify would POST about the order (the REST order, HMAC-signed)."""
        self._webhooks += 1
        body = json.dumps(self.order(external_id), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_webhook(body, self.webhook_secret),
            "X-Shopify-Shop-Domain": "waybill-test.myshopify.com",
            "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Webhook-Id": f"b54557e4-bdd9-4b37-8a5f-bf7d{self._webhooks:08d}",
            "X-Shopify-Event-Id": f"98880550-7158-44d4-b7cd-2c97{self._webhooks:08d}",
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }
        return headers, body

    def create_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        items = [{"sku": sku, "title": title, "quantity": qty, "price": "10.00"} for sku, title, qty in lines]
        overrides = {} if ready else {"financial_status": "pending"}
        return str(self.add_order(line_items=items, **overrides)["id"])

    def touch_order(self, external_id: str) -> None:
        self.update_order(external_id, phone=f"+1 555 0{len(self.requests) % 1000:03d}")

    def line_ids(self, external_id: str) -> list[str]:
        return [str(item["id"]) for item in self.order(external_id)["line_items"]]

    def shipments(self, external_id: str) -> list[FakeShipment]:
        return [
            FakeShipment(
                tracking_number=f.get("tracking_number"),
                carrier=f.get("tracking_company"),
                lines={str(item["id"]): int(item["quantity"]) for item in f.get("line_items") or []},
                cancelled=f.get("status") == "cancelled",
            )
            for f in self.fulfillments(external_id)
        ]

    def is_shipped(self, external_id: str) -> bool:
        return self.order(external_id).get("fulfillment_status") == "fulfilled"

    def revoke(self) -> None:
        self.access_token = f"revoked-{self.access_token}"

    def expire_access_token(self) -> None:
        """Shopify's offline tokens do not expire here: nothing to do."""

    # --- HTTP plumbing -------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        base = "/admin/api/{version}"
        order = base + "/orders/{order_id:int}"
        table: list[tuple[str, Handler, str]] = [
            (base + "/shop.json", self._get_shop, "GET"),
            (base + "/locations.json", self._list_locations, "GET"),
            (base + "/orders.json", self._list_orders, "GET"),
            (base + "/orders.json", self._create_order, "POST"),
            (order + ".json", self._get_order, "GET"),
            (order + "/fulfillment_orders.json", self._list_fulfillment_orders, "GET"),
            (order + "/fulfillments.json", self._list_fulfillments, "GET"),
            (order + "/fulfillments/{fulfillment_id:int}.json", self._get_fulfillment, "GET"),
            (order + "/fulfillments/{fulfillment_id:int}/events.json", self._create_event, "POST"),
            (base + "/fulfillments.json", self._create_fulfillment, "POST"),
            (base + "/fulfillments/{fulfillment_id:int}/cancel.json", self._cancel_fulfillment, "POST"),
            (base + "/fulfillments/{fulfillment_id:int}/update_tracking.json", self._update_tracking, "POST"),
            (base + "/graphql.json", self._graphql, "POST"),
        ]
        routes = [Route(path, self._endpoint(handler), methods=[method]) for path, handler, method in table]
        return [*routes, Route("/{path:path}", self._endpoint(self._not_found), methods=["GET", "POST", "PUT"])]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
            injection = self._take_injection(request.method, request.url.path)
            if injection is not None and injection.delay:
                await request.body()  # read before stalling: a client that times out must not lose its write
                await asyncio.sleep(injection.delay)
            if injection is not None and injection.status == 429:
                self.injected_throttles += 1
                return self._throttled(injection.retry_after or 1.0)
            if injection is not None and injection.status:
                errors = injection.errors or HTTPStatus(injection.status).phrase
                return self._reply({"errors": errors}, injection.status)
            if request.headers.get("X-Shopify-Access-Token") != self.access_token:
                return self._reply({"errors": INVALID_TOKEN}, 401)
            wait = self._drip()
            if wait is not None:
                self.rejected_by_bucket += 1
                return self._throttled(wait)
            try:
                payload, status = await handler(request)
            except ApiError as exc:
                return self._reply({"errors": exc.errors}, exc.status)
            return self._reply(payload, status, request)

        return endpoint

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.matches(method, path):
                injection.remaining -= 1
                return injection
        return None

    def _drip(self) -> float | None:
        """Leaky bucket: count this call, or return how long until one fits."""
        now = time.monotonic()
        self._bucket_used = max(0.0, self._bucket_used - (now - self._bucket_at) * self.leak_rate)
        self._bucket_at = now
        if self._bucket_used + 1 > self.bucket_size:
            return (self._bucket_used + 1 - self.bucket_size) / self.leak_rate
        self._bucket_used += 1
        return None

    def _call_limit(self) -> str:
        return f"{min(self.bucket_size, math.ceil(self._bucket_used))}/{self.bucket_size}"

    def _throttled(self, retry_after: float) -> Response:
        response = JSONResponse(
            {"errors": THROTTLED}, 429, headers={"Retry-After": f"{math.ceil(retry_after * 10) / 10:.1f}"}
        )
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{self.bucket_size}/{self.bucket_size}"
        return response

    def _reply(self, payload: Any, status: int, request: Request | None = None) -> Response:
        headers = {"X-Shopify-Shop-Api-Call-Limit": self._call_limit()}
        link = getattr(request.state, "link", None) if request is not None else None
        if link:
            headers["Link"] = link
        return JSONResponse(payload, status, headers=headers)

    # --- endpoints -----------------------------------------------------------------------

    async def _not_found(self, request: Request) -> tuple[Any, int]:
        raise ApiError(404, "Not Found")

    async def _get_shop(self, request: Request) -> tuple[Any, int]:
        return {
            "shop": {"id": SHOP_ID, "name": "Waybill Test Shop", "myshopify_domain": "waybill-test.myshopify.com"}
        }, 200

    async def _list_locations(self, request: Request) -> tuple[Any, int]:
        return {"locations": self.locations()}, 200

    async def _list_orders(self, request: Request) -> tuple[Any, int]:
        query = dict(request.query_params)
        limit = _limit(query.get("limit"))
        if "page_info" in query:
            extra = sorted(set(query) - PAGE_INFO_COMPANIONS)
            if extra:
                raise ApiError(400, {"page_info": [f"{extra[0]} cannot be passed when page_info is present"]})
            cursor = _decode_cursor(query["page_info"])
            filters, direction = cursor["filters"], cursor["direction"]
            anchor: tuple[float, int] | None = (float(cursor["anchor"][0]), int(cursor["anchor"][1]))
        else:
            filters = {k: v for k, v in query.items() if k not in PAGE_INFO_COMPANIONS}
            anchor, direction = None, "next"
        rows = self.query(filters)
        keys = [self.sort_key(row, filters) for row in rows]
        if anchor is None:
            start, end = 0, limit
        elif direction == "next":
            start = next((i for i, key in enumerate(keys) if key > anchor), len(rows))
            end = start + limit
        else:  # "previous": the `limit` rows just before the anchor
            end = next((i for i, key in enumerate(keys) if key >= anchor), len(rows))
            start = max(0, end - limit)
        page = rows[start:end]
        fields = query.get("fields")
        base = {"limit": str(limit), **({"fields": fields} if fields else {})}
        links = []
        if page and start > 0:
            before = _encode_cursor(filters, keys[start], "previous")
            links.append(f'<{request.url.replace(query=urlencode({**base, "page_info": before}))}>; rel="previous"')
        if page and end < len(rows):
            after = _encode_cursor(filters, keys[end - 1], "next")
            links.append(f'<{request.url.replace(query=urlencode({**base, "page_info": after}))}>; rel="next"')
        request.state.link = ", ".join(links)
        orders = [_project(copy.deepcopy(row), fields) for row in page]
        return {"orders": orders}, 200

    async def _get_order(self, request: Request) -> tuple[Any, int]:
        order = self.order_or_404(request.path_params["order_id"])
        return {"order": _project(copy.deepcopy(order), request.query_params.get("fields"))}, 200

    async def _list_fulfillment_orders(self, request: Request) -> tuple[Any, int]:
        return {
            "fulfillment_orders": self.fulfillment_orders(self.order_or_404(request.path_params["order_id"])["id"])
        }, 200

    async def _graphql(self, request: Request) -> tuple[Any, int]:
        """Only `nodes(ids: [Order gids]) { ... on Order { id fulfillmentOrders(first: N) { nodes { status } } } }`,
        the one query the client sends (hold detection for a page of orders); anything else is an error, as Shopify
        answers a query it cannot run: HTTP 200 with `errors`."""
        body = await _body(request)
        if "orders(" in str(body.get("query") or ""):
            return self._search_orders(body), 200
        query, ids = str(body.get("query") or ""), (body.get("variables") or {}).get("ids")
        if "fulfillmentOrders" not in query or "nodes(ids:" not in query or not isinstance(ids, list):
            return {"errors": [{"message": "The fake Shopify answers only the fulfillment-order statuses query"}]}, 200
        first = int(query.split("fulfillmentOrders(first:", 1)[1].split(")", 1)[0])
        nodes: list[Json | None] = []
        for gid in ids:
            order_id = str(gid).rsplit("/", 1)[-1]
            order_id = order_id if order_id.isdigit() else ""
            if not str(gid).startswith("gid://shopify/Order/") or int(order_id or 0) not in self._orders:
                nodes.append(None)
                continue
            fos = self._fulfillment_orders.get(int(order_id), [])
            nodes.append(
                {
                    "id": gid,
                    "fulfillmentOrders": {
                        "nodes": [{"status": str(fo["status"]).upper()} for fo in fos[:first]],
                        "pageInfo": {"hasNextPage": len(fos) > first},
                    },
                }
            )
        return {"data": {"nodes": nodes}}, 200

    def _search_orders(self, body: Json) -> Json:
        """`orders(first: N, query: "tag:\"x\"") { nodes { id tags } }`: the forwarding lookup. Only the tag: term
        of Shopify's search syntax is understood; tags come back as a list, like the GraphQL Admin API."""
        search = str((body.get("variables") or {}).get("q") or "")
        if not search.startswith("tag:"):
            return {"errors": [{"message": "The fake Shopify searches orders by tag: only"}]}
        wanted = search[4:].strip().strip('"').strip("'")
        nodes = [
            {"id": f"gid://shopify/Order/{order['id']}", "tags": tags}
            for order in self._orders.values()
            if order["id"] not in self._unindexed
            and wanted in (tags := [tag.strip() for tag in str(order.get("tags") or "").split(",") if tag.strip()])
        ]
        return {"data": {"orders": {"nodes": nodes[:5]}}}

    async def _create_order(self, request: Request) -> tuple[Any, int]:
        order = self.create_api_order((await _body(request)).get("order"))
        if self.lagging_search:
            self._unindexed.add(order["id"])
        return {"order": order}, 201

    def index_search(self) -> None:
        self._unindexed.clear()

    async def _list_fulfillments(self, request: Request) -> tuple[Any, int]:
        return {"fulfillments": copy.deepcopy(self.order_or_404(request.path_params["order_id"])["fulfillments"])}, 200

    async def _get_fulfillment(self, request: Request) -> tuple[Any, int]:
        params = request.path_params
        return {
            "fulfillment": copy.deepcopy(self.fulfillment_of_order(params["order_id"], params["fulfillment_id"]))
        }, 200

    async def _create_event(self, request: Request) -> tuple[Any, int]:
        params, spec = request.path_params, (await _body(request)).get("event")
        return {"fulfillment_event": self.add_event(params["order_id"], params["fulfillment_id"], spec)}, 201

    async def _create_fulfillment(self, request: Request) -> tuple[Any, int]:
        return {"fulfillment": self.create_fulfillment((await _body(request)).get("fulfillment"))}, 201

    async def _cancel_fulfillment(self, request: Request) -> tuple[Any, int]:
        return {"fulfillment": self.cancel_fulfillment(request.path_params["fulfillment_id"])}, 200

    async def _update_tracking(self, request: Request) -> tuple[Any, int]:
        spec = (await _body(request)).get("fulfillment")
        return {"fulfillment": self.update_tracking(request.path_params["fulfillment_id"], spec)}, 200


def _limit(value: str | None) -> int:
    limit = to_int(value) if value is not None else 50
    if limit is None or not 1 <= limit <= 250:
        raise ApiError(400, {"limit": ["must be between 1 and 250"]})
    return limit


def _encode_cursor(filters: dict[str, str], anchor: tuple[float, int], direction: str) -> str:
    raw = json.dumps({"filters": filters, "anchor": list(anchor), "direction": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> Json:
    try:
        cursor: Json = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if cursor.get("direction") not in ("next", "previous") or not isinstance(cursor.get("filters"), dict):
            raise ValueError(value)
        float(cursor["anchor"][0]), int(cursor["anchor"][1])
        return cursor
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ApiError(400, {"page_info": ["Invalid value."]}) from None


def _project(obj: Json, fields: str | None) -> Json:
    if not fields:
        return obj
    wanted = {part.strip() for part in fields.split(",")}
    return {key: value for key, value in obj.items() if key in wanted}


async def _body(request: Request) -> Json:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, {"error": "822: unexpected token - invalid JSON"}) from None
    if not isinstance(body, dict):
        raise ApiError(400, {"error": "request body must be a JSON object"})
    return body
