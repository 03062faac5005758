"""FakeMagento: an in-memory Magento 2 REST API (Starlette) for tests and the sandbox.

It keeps the rules real clients trip over: searchCriteria paging that clamps (a page past the end returns
the last page again), second-resolution UTC "Y-m-d H:i:s" timestamps, Bearer integration tokens answered
with Magento's 401 body, and ShipOrder's validation messages.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.channels.base import Credentials, FakeShipment
from adapters.channels.fakes import FaultInjector
from adapters.channels.magento.fake_store import ApiError, Json, MagentoStore
from adapters.channels.magento.mapper import TIME_FORMAT

Handler = Callable[[Request], Awaitable[Any]]
UNAUTHORIZED = "The consumer isn't authorized to access %resources."
NO_ROUTE = "Request does not match any route."
TIME_FIELDS = frozenset({"created_at", "updated_at"})
_KEY_PART = re.compile(r"\[([^\]]*)\]")

__all__ = ["ApiError", "FakeMagento"]


class FakeMagento(MagentoStore):
    """One Magento store over HTTP. Drive it with the MagentoStore helpers; serve `app`; inspect `requests`."""

    def __init__(
        self,
        *,
        access_token: str = "magento-integration-token",
        store_codes: tuple[str, ...] = ("default",),
        or_filters: bool = True,
    ) -> None:
        """`or_filters=False` imitates a store whose collection drops filter groups that OR several fields."""
        super().__init__()
        self.or_filters = or_filters
        self.access_token = access_token
        self.store_codes = frozenset({*store_codes, "all"})
        self.revoked = False
        self.throttled = 0
        self.refreshes = 0  # integration tokens never expire
        self.faults = FaultInjector()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query) as received
        self.ship_bodies: list[Json] = []  # POST /order/{id}/ship bodies as received
        self._lost: list[list[Any]] = []  # [remaining, path suffix]: handled, then answered 504
        self._shed: list[float] = []  # Retry-After of the next 503s from the "WAF" in front of the store
        self.app = Starlette(routes=self._routes())

    # --- FakeChannel ---------------------------------------------------------------------

    def credentials(self, base_url: str) -> Credentials:
        return {"base_url": base_url, "access_token": self.access_token, "store_code": "default"}

    def create_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        return self.add_order(lines, ready=ready)

    def touch_order(self, external_id: str) -> None:
        self.touch(external_id)

    def line_ids(self, external_id: str) -> list[str]:
        items = self.order(external_id)["items"]
        return [str(item["item_id"]) for item in items if not item.get("parent_item_id")]

    def shipments(self, external_id: str) -> list[FakeShipment]:
        result = []
        for shipment in self.shipments_of(external_id):
            track = shipment["tracks"][0] if shipment["tracks"] else None
            result.append(
                FakeShipment(
                    tracking_number=track["track_number"] if track else None,
                    carrier=track["carrier_code"] if track else None,
                    lines={str(item["order_item_id"]): int(item["qty"]) for item in shipment["items"]},
                )
            )
        return result

    def is_shipped(self, external_id: str) -> bool:
        return bool(self.order(external_id)["state"] == "complete")

    def revoke(self) -> None:
        self.revoked = True

    def expire_access_token(self) -> None:
        """Integration tokens do not expire."""

    def throttle_next(
        self, n: int, retry_after: float = 1.0, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.throttle_next(n, retry_after, path_contains=path_contains, method=method)

    def fail_next(
        self, n: int, status: int = 500, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.fail_next(n, status, path_contains=path_contains, method=method)

    def delay_next(
        self, n: int, seconds: float, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        self.faults.delay_next(n, seconds, path_contains=path_contains, method=method)

    def shed_next(self, n: int, retry_after: float = 1.0) -> None:
        """The next n requests get the CDN/WAF's 503 with Retry-After (they never reach Magento)."""
        self._shed.extend([retry_after] * n)

    def lose_next_response(self, n: int = 1, *, path_endswith: str = "/ship") -> None:
        """The next n matching requests are carried out, then a proxy answers 504: the client never sees the result."""
        self._lost.append([n, path_endswith])

    def calls(self, method: str, contains: str) -> list[dict[str, str]]:
        """Queries of the requests received with this method whose path contains `contains`."""
        return [query for m, path, query in self.requests if m == method and contains in path]

    # --- HTTP plumbing -------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        base = "/rest/{store}/V1"
        table: list[tuple[str, Handler, str, str]] = [
            ("/orders", self._search_orders, "GET", "Magento_Sales::actions_view"),
            ("/orders/{order_id}", self._get_order, "GET", "Magento_Sales::actions_view"),
            ("/order/{order_id}/ship", self._ship, "POST", "Magento_Sales::ship"),
            ("/shipments", self._search_shipments, "GET", "Magento_Sales::shipment"),
            ("/shipment/{shipment_id}", self._get_shipment, "GET", "Magento_Sales::shipment"),
            ("/shipment/track/{track_id}", self._delete_track, "DELETE", "Magento_Sales::ship"),
        ]
        routes = [
            Route(base + path, self._endpoint(handler, resource), methods=[method])
            for path, handler, method, resource in table
        ]
        return [*routes, Route("/{path:path}", self._no_route, methods=["GET", "POST", "PUT", "DELETE"])]

    def _endpoint(self, handler: Handler, resource: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
            if self._shed:
                wait = self._shed.pop(0)
                headers = {"Retry-After": f"{math.ceil(wait * 10) / 10:g}"}
                return Response("<html><body>Service Unavailable</body></html>", 503, headers=headers)
            fault = await self.faults.take(request)
            if fault is not None and fault.status == 429:
                self.throttled += 1
                wait = fault.retry_after if fault.retry_after is not None else 1.0
                headers = {"Retry-After": f"{math.ceil(wait * 10) / 10:g}"}
                return JSONResponse({"message": "Too Many Requests"}, 429, headers=headers)
            if fault is not None and fault.status:
                return JSONResponse({"message": _fault_message(fault.status)}, fault.status)
            auth = request.headers.get("Authorization", "")
            if self.revoked or auth != f"Bearer {self.access_token}":
                return JSONResponse({"message": UNAUTHORIZED, "parameters": {"resources": resource}}, 401)
            try:
                if request.path_params["store"] not in self.store_codes:
                    raise ApiError(404, "The store that was requested wasn't found. Verify the store and try again.")
                payload = await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.body(), exc.status)
            if self._take_lost(request.url.path):
                return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, media_type="text/html")
            return JSONResponse(payload)

        return endpoint

    def _take_lost(self, path: str) -> bool:
        for entry in self._lost:
            if entry[0] > 0 and path.endswith(entry[1]):
                entry[0] -= 1
                return True
        return False

    async def _no_route(self, request: Request) -> Response:
        self.requests.append((request.method, request.url.path, dict(request.query_params)))
        return JSONResponse({"message": NO_ROUTE}, 404)

    # --- endpoints -----------------------------------------------------------------------

    async def _search_orders(self, request: Request) -> Json:
        return _search(self.orders(), request, sortable_default="entity_id", or_filters=self.or_filters)

    async def _get_order(self, request: Request) -> Json:
        return self.order(_path_int(request, "order_id"))

    async def _ship(self, request: Request) -> str:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Decoding error: \nSyntax error") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid request: the body must be a JSON object.")
        self.ship_bodies.append(copy.deepcopy(body))
        return str(self.ship(_path_int(request, "order_id"), body))  # Magento answers the id as a JSON string

    async def _search_shipments(self, request: Request) -> Json:
        return _search(self.all_shipments(), request, sortable_default="entity_id")

    async def _get_shipment(self, request: Request) -> Json:
        return self.shipment(_path_int(request, "shipment_id"))

    async def _delete_track(self, request: Request) -> bool:
        return self.delete_track(_path_int(request, "track_id"))


# --- searchCriteria ----------------------------------------------------------------------


def parse_criteria(query: list[tuple[str, str]]) -> Json:
    """`searchCriteria[filter_groups][0][filters][0][field]=x` ... -> nested dicts/lists, like PHP does."""
    root: Json = {}
    for key, value in query:
        if not key.startswith("searchCriteria"):
            continue
        parts = _KEY_PART.findall(key[len("searchCriteria") :])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ApiError(400, f'Invalid search criteria parameter "{key}".')
        if parts:
            node[parts[-1]] = value
    return root


def _listed(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return []
    return [node[key] for key in sorted(node, key=lambda k: int(k) if k.isdigit() else 0)]


def _search(rows: list[Json], request: Request, *, sortable_default: str, or_filters: bool = True) -> Json:
    if not any(key.startswith("searchCriteria") for key in request.query_params):
        raise ApiError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
    criteria = parse_criteria(request.query_params.multi_items())
    groups = [[_filter(f) for f in _listed(group.get("filters"))] for group in _listed(criteria.get("filter_groups"))]
    applied = groups if or_filters else [group for group in groups if len({f["field"] for f in group}) <= 1]
    rows = [row for row in rows if all(any(_matches(row, f) for f in group) for group in applied if group)]
    sort_orders = [
        (s.get("field"), str(s.get("direction") or "ASC").upper()) for s in _listed(criteria.get("sortOrders"))
    ]
    for field, direction in reversed(sort_orders or [(sortable_default, "ASC")]):
        if direction not in ("ASC", "DESC"):
            raise ApiError(400, f'Sort order "{direction}" is not supported.')
        rows.sort(key=lambda row, f=field: _sort_value(row.get(f)), reverse=direction == "DESC")
    total = len(rows)
    page_size = _int_param(criteria.get("pageSize"), "pageSize")
    current = _int_param(criteria.get("currentPage"), "currentPage") or 1
    if page_size:
        last_page = max(1, math.ceil(total / page_size))
        current_served = min(max(current, 1), last_page)  # THE quirk: past the end, the last page again
        rows = rows[(current_served - 1) * page_size : current_served * page_size]
    echo: Json = {
        "filter_groups": [{"filters": [dict(f) for f in group]} for group in groups],
    }
    if sort_orders:
        echo["sort_orders"] = [{"field": f, "direction": d} for f, d in sort_orders]
    if page_size:
        echo["page_size"] = page_size
    echo["current_page"] = current
    return {"items": copy.deepcopy(rows), "search_criteria": echo, "total_count": total}


def _filter(raw: Any) -> Json:
    if not isinstance(raw, dict) or not raw.get("field"):
        raise ApiError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "field"})
    condition = raw.get("condition_type") or "eq"
    value = raw.get("value", "")
    if raw["field"] in TIME_FIELDS and condition not in ("null", "notnull", "in", "nin"):
        # Stricter than Magento (which hands any string to MySQL): a client sending ISO 8601 is caught here.
        try:
            datetime.strptime(value, TIME_FORMAT)
        except ValueError:
            raise ApiError(400, f'Invalid "{raw["field"]}" filter value "{value}": expected Y-m-d H:i:s.') from None
    return {"field": raw["field"], "value": value, "condition_type": condition}


def _matches(row: Json, spec: Json) -> bool:
    actual, wanted, condition = row.get(spec["field"]), spec["value"], spec["condition_type"]
    if condition == "null":
        return actual is None
    if condition == "notnull":
        return actual is not None
    if actual is None:
        return False
    if condition in ("in", "nin"):
        found = str(actual) in {part.strip() for part in wanted.split(",")}
        return found if condition == "in" else not found
    if condition == "like":
        pattern = "^" + ".*".join(re.escape(part) for part in wanted.split("%")) + "$"
        return re.match(pattern, str(actual), re.IGNORECASE) is not None
    left, right = _sort_value(actual), _sort_value(wanted)
    compare = {
        "eq": left == right,
        "neq": left != right,
        "gt": left > right,
        "gteq": left >= right,
        "lt": left < right,
        "lteq": left <= right,
    }
    if condition not in compare:
        raise ApiError(400, f'Invalid condition type "{condition}".')
    return compare[condition]


def _sort_value(value: Any) -> tuple[int, float, str]:
    """Numbers compare as numbers, everything else as text (Magento's timestamps sort as text)."""
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int | float):
        return (0, float(value), "")
    text = "" if value is None else str(value)
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _int_param(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f'The "{name}" value\'s type is invalid. The "int" type was expected.') from None


def _path_int(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except ValueError:
        raise ApiError(400, f'The "{name}" value\'s type is invalid. The "int" type was expected.') from None


def _fault_message(status: int) -> str:
    if status == 500:
        return "Internal Error. Details are available in Magento log file. Report ID: webapi-6a1f0c2b3d4e5"
    return HTTPStatus(status).phrase
