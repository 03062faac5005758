"""FakeWooCommerce: a WooCommerce store's REST v3 API (and optionally Shipment Tracking) as a Starlette app.

It keeps what real clients trip over: page-number paging with X-WP-Total(Pages), exclusive
`modified_after`, Basic-auth key pairs with Woo's 401 bodies, `rest_no_route` where the extension is
missing, and Woo's {"code", "message", "data": {"status"}} errors. Faults come from FaultInjector.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.channels.base import Credentials
from adapters.channels.fakes import FaultInjector
from adapters.channels.woocommerce.fake_store import (
    ANY_STATUSES,
    PROVIDERS,
    STATUSES,
    Json,
    WooError,
    WooStore,
    invalid_param,
)
from adapters.channels.woocommerce.mapper import webhook_signature

Handler = Callable[[Request], Awaitable[tuple[Any, int]]]
ORDERBY = frozenset({"date", "id", "include", "title", "slug", "modified"})
NO_ROUTE = WooError(404, "rest_no_route", "No route was found matching the URL and request method.")

__all__ = ["FakeWooCommerce", "WooError"]


class FakeWooCommerce(WooStore):
    """One store over HTTP. Drive it with the WooStore helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        tracking_extension: bool = True,
        consumer_key: str = "ck_4f1e0c2b9d8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e",
        consumer_secret: str = "cs_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b",
        site_name: str = "Fake Woo Store",
        site_offset_hours: int = -3,
        webhook_secret: str = "wc-webhook-secret-4f1e0c2b",
    ) -> None:
        super().__init__(site_offset_hours=site_offset_hours)
        self.tracking_extension = tracking_extension
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.webhook_secret = webhook_secret
        self._webhooks = 0
        self.site_name = site_name
        self.revoked = False
        self.throttled = 0
        self.refreshes = 0  # keys never expire
        self.faults = FaultInjector()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query) as received
        self.app = Starlette(routes=self._routes())

    # --- FakeChannel control surface -------------------------------------------------------

    def credentials(self, base_url: str) -> Credentials:
        return {
            "site_url": base_url,
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "webhook_secret": self.webhook_secret,
        }

    def webhook(self, external_id: str, topic: str = "order.updated") -> tuple[dict[str, str], bytes]:
        """The headers and body WooCommerce would POST about the order (the REST order, signed)."""
        self._webhooks += 1
        body = json.dumps(self.order(external_id), separators=(",", ":")).encode()
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)",
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": webhook_signature(body, self.webhook_secret),
            "X-WC-Webhook-ID": "142",
            "X-WC-Webhook-Delivery-ID": f"{self._webhooks:032x}",
        }
        return headers, body

    def revoke(self) -> None:
        """The merchant deleted the key pair in WooCommerce > Settings > Advanced > REST API."""
        self.revoked = True

    def expire_access_token(self) -> None:
        """Woo keys do not expire."""

    def throttle_next(
        self, n: int, retry_after: float | None = 1.0, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """429s as a host or WAF sends them; `retry_after=None` leaves the Retry-After header out."""
        self.faults.throttle_next(n, retry_after, path_contains=path_contains, method=method)  # type: ignore[arg-type]

    def fail_next(
        self, n: int, status: int = 500, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.fail_next(n, status, path_contains=path_contains, method=method)

    def delay_next(
        self, n: int, seconds: float, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.delay_next(n, seconds, path_contains=path_contains, method=method)

    def calls(self, method: str, contains: str) -> list[dict[str, str]]:
        return [query for m, path, query in self.requests if m == method and contains in path]

    # --- HTTP plumbing -------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        wc, order = "/wp-json/wc/v3", "/wp-json/wc/v3/orders/{order_id:int}"
        table: list[tuple[str, Handler, list[str]]] = [
            (wc + "/orders", self._list_orders, ["GET"]),
            (wc + "/orders", self._create_order, ["POST"]),
            (order, self._get_order, ["GET"]),
            (order, self._update_order, ["PUT", "POST", "PATCH"]),
            (order + "/notes", self._list_notes, ["GET"]),
            (order + "/notes", self._create_note, ["POST"]),
        ]
        if self.tracking_extension:
            st = "/wp-json/wc-shipment-tracking/v3"
            items = st + "/orders/{order_id:int}/shipment-trackings"
            table += [
                (items, self._list_trackings, ["GET"]),
                (items, self._create_tracking, ["POST"]),
                (items + "/{tracking_id}", self._get_tracking, ["GET"]),
                (items + "/{tracking_id}", self._delete_tracking, ["DELETE"]),
                (st + "/shipment-trackings/providers", self._providers, ["GET"]),
            ]
        routes = [Route(path, self._endpoint(handler), methods=methods) for path, handler, methods in table]
        everything = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [*routes, Route("/{path:path}", self._endpoint(self._no_route), methods=everything)]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                return self._throttled(fault.retry_after)
            if fault is not None and fault.status:
                return JSONResponse(_fault_body(fault.status), fault.status)
            try:
                self._authenticate(request)
                payload, status = await handler(request)
            except WooError as exc:
                return JSONResponse(exc.body(), exc.status)
            headers = getattr(request.state, "headers", None)
            return JSONResponse(payload, status, headers=headers)

        return endpoint

    def _authenticate(self, request: Request) -> None:
        """Basic auth with the key pair (or consumer_key/consumer_secret in the query, as Woo allows)."""
        key, secret = request.query_params.get("consumer_key"), request.query_params.get("consumer_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key = secret = None
        if self.revoked or not key:
            verb = (
                "list resources" if request.method == "GET" and request.url.path.endswith("s") else "view this resource"
            )
            if request.method != "GET":
                raise WooError(401, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
            raise WooError(401, "woocommerce_rest_cannot_view", f"Sorry, you cannot {verb}.")
        if key != self.consumer_key:
            raise WooError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if secret != self.consumer_secret:
            raise WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")

    def _throttled(self, retry_after: float | None) -> Response:
        self.throttled += 1
        body = {
            "code": "rate_limit_exceeded",
            "message": "Too many requests. Please wait and try again.",
            "data": {"status": 429},
        }
        headers = {"Retry-After": str(math.ceil(retry_after * 10) / 10)} if retry_after is not None else {}
        return JSONResponse(body, 429, headers=headers)

    # --- endpoints -----------------------------------------------------------------------

    async def _no_route(self, request: Request) -> tuple[Any, int]:
        raise NO_ROUTE

    async def _list_orders(self, request: Request) -> tuple[Any, int]:
        query = request.query_params
        per_page = _int_param(query, "per_page", 10, 1, 100)
        page = _int_param(query, "page", 1, 1, None)
        direction = query.get("order", "desc")
        if direction not in ("asc", "desc"):
            raise invalid_param("order", "order is not one of asc and desc.")
        orderby = query.get("orderby", "date")
        if orderby not in ORDERBY:
            raise invalid_param("orderby", f"orderby is not one of {', '.join(sorted(ORDERBY))}.")
        gmt = query.get("dates_are_gmt", "false").lower() in ("1", "true")
        bounds = {
            name: self._date_param(name, query[name], gmt)
            for name in ("after", "before", "modified_after", "modified_before")
            if query.get(name)
        }
        rows = self.query(self._statuses(query.get("status")), bounds)
        if query.get("search"):
            rows = self.search(rows, query["search"])
        field = {"modified": "date_modified_gmt", "date": "date_created_gmt"}.get(orderby)
        rows.sort(key=lambda o: (o[field] if field else "", o["id"]), reverse=direction == "desc")
        total, pages = len(rows), math.ceil(len(rows) / per_page)
        chunk = rows[(page - 1) * per_page : page * per_page]
        request.state.headers = {
            "X-WP-Total": str(total),
            "X-WP-TotalPages": str(pages),
            **self._link(request, page, pages),
        }
        return [_project(copy.deepcopy(order), query.get("_fields")) for order in chunk], 200

    async def _create_order(self, request: Request) -> tuple[Any, int]:
        return self.create_api_order(await _body(request)), 201

    async def _get_order(self, request: Request) -> tuple[Any, int]:
        order = self.order_or_404(request.path_params["order_id"])
        return _project(copy.deepcopy(order), request.query_params.get("_fields")), 200

    async def _update_order(self, request: Request) -> tuple[Any, int]:
        return self.update_order(request.path_params["order_id"], await _body(request)), 200

    async def _list_notes(self, request: Request) -> tuple[Any, int]:
        return self.list_notes(request.path_params["order_id"], request.query_params.get("type", "any")), 200

    async def _create_note(self, request: Request) -> tuple[Any, int]:
        return self.add_note(request.path_params["order_id"], await _body(request)), 201

    async def _list_trackings(self, request: Request) -> tuple[Any, int]:
        return self.list_trackings(request.path_params["order_id"]), 200

    async def _create_tracking(self, request: Request) -> tuple[Any, int]:
        return self.add_tracking(request.path_params["order_id"], await _body(request)), 201

    async def _get_tracking(self, request: Request) -> tuple[Any, int]:
        params = request.path_params
        return self._formatted(self.tracking_or_404(params["order_id"], params["tracking_id"])), 200

    async def _delete_tracking(self, request: Request) -> tuple[Any, int]:
        params = request.path_params
        return self.delete_tracking(params["order_id"], params["tracking_id"]), 200

    async def _providers(self, request: Request) -> tuple[Any, int]:
        return copy.deepcopy(PROVIDERS), 200

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _statuses(value: str | None) -> frozenset[str]:
        if not value or value == "any":
            return ANY_STATUSES
        wanted = frozenset(part.strip() for part in value.split(","))
        if not wanted <= {*STATUSES, "any"}:
            raise invalid_param("status", f"status[0] is not one of any, {', '.join(STATUSES)}.")
        return ANY_STATUSES | wanted if "any" in wanted else wanted

    def _date_param(self, name: str, value: str, gmt: bool) -> datetime:
        """ISO 8601; without an offset the value is site-local unless dates_are_gmt (Woo's rule)."""
        try:
            parsed = datetime.fromisoformat(value.replace(" ", "+"))  # an unescaped "+" arrives as a space
        except ValueError:
            raise invalid_param(name, "Invalid date.") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC if gmt else self.site_zone())
        return parsed.astimezone(UTC)

    @staticmethod
    def _link(request: Request, page: int, pages: int) -> dict[str, str]:
        links = []
        query = dict(request.query_params)
        if page > 1:
            links.append(f'<{request.url.replace(query=urlencode({**query, "page": page - 1}))}>; rel="prev"')
        if page < pages:
            links.append(f'<{request.url.replace(query=urlencode({**query, "page": page + 1}))}>; rel="next"')
        return {"Link": ", ".join(links)} if links else {}


def _int_param(query: Any, name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(name, f"{name} is not of type integer.") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} (inclusive) and {high} (inclusive)" if high is not None else f"at least {low}"
        raise invalid_param(name, f"{name} must be {bound}")
    return value


def _fault_body(status: int) -> Json:
    if status >= 500:
        message = "There has been a critical error on this website."
        return {
            "code": "internal_server_error",
            "message": message,
            "data": {"status": status},
            "additional_errors": [],
        }
    phrase = HTTPStatus(status).phrase
    return {"code": f"rest_{phrase.lower().replace(' ', '_')}", "message": f"{phrase}.", "data": {"status": status}}


def _project(obj: Json, fields: str | None) -> Json:
    if not fields:
        return obj
    wanted = {part.strip() for part in fields.split(",")}
    return {key: value for key, value in obj.items() if key in wanted}


async def _body(request: Request) -> Json:
    try:
        body = await request.json()
    except ValueError:
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.") from None
    if not isinstance(body, dict):
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
    return body
