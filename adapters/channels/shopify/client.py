"""ShopifyClient: the ChannelClient port over the Admin REST API (httpx), with throttling and retries.

Shopify's REST bucket holds 40 calls and leaks 2/s; we pace ourselves from the call-limit header so a
sync never burns 429s, and translate HTTP failures into the ChannelFailure kinds the outbox acts on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from adapters.channels.shopify.mapper import (
    fo_line_items_for,
    forwarded_order_body,
    needs_fulfillment_orders,
    to_channel_order,
)
from domain.forwarding import ForwardRequest
from domain.model import ChannelOrder
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    OrderPage,
    Tracking,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 250
MAX_THROTTLE_RETRIES = 3
MAX_RETRY_AFTER = 10.0  # longer waits are handed back to the caller (the outbox defers the job)
DEFAULT_RETRY_AFTER = 2.0
LIVE_FULFILLMENT_STATUSES = frozenset({"success", "pending", "open"})
#: Orders per GraphQL fulfillment-order lookup: 50 x (1 + 10 fulfillment orders) stays under the 1,000-point query cost.
FO_BATCH = 50
FO_PER_ORDER = 10
FO_QUERY = (
    "query FulfillmentOrderStatuses($ids: [ID!]!) { nodes(ids: $ids) { ... on Order { id "
    f"fulfillmentOrders(first: {FO_PER_ORDER}) {{ nodes {{ status }} pageInfo {{ hasNextPage }} }} }} }} }}"
)

#: Forwarded copies are found by their tag (docs/forwarding.md); the REST list covers this much recent history.
RECENT_FORWARDS = timedelta(hours=1)
FORWARDED_QUERY = "query ForwardedOrder($q: String!) { orders(first: 5, query: $q) { nodes { id tags } } }"


def flatten_errors(errors: Any) -> str:
    """Shopify's `errors` is a string, a list, or {field: [messages]}: make one readable line of it."""
    if errors is None:
        return ""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, Mapping):
        parts = []
        for field, value in errors.items():
            text = flatten_errors(value)
            parts.append(text if field == "base" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(errors, list | tuple):
        return "; ".join(flatten_errors(item) for item in errors)
    return str(errors)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, Mapping) and "errors" in body:
        return flatten_errors(body["errors"])
    if isinstance(body, Mapping) and "error" in body:
        return flatten_errors(body["error"])
    return response.text[:200]


class ShopifyClient:
    """One shop, one token. Create per channel; close with `aclose()` (only closes an http client it made)."""

    retry_backoff: tuple[float, ...] = (0.2, 0.6)  # waits between attempts on 5xx/timeouts/connection errors

    def __init__(
        self,
        shop_url: str,
        access_token: str,
        *,
        api_version: str = "2025-01",
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        leak_rate: float = 2.0,
        page_size: int = PAGE_SIZE,
    ) -> None:
        base = shop_url.rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        self._base = f"{base}/admin/api/{api_version}"
        self._token = access_token
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._leak_rate = leak_rate  # Shopify Plus shops leak 20/s
        self._page_size = min(page_size, PAGE_SIZE)
        self._bucket_size = 40
        self._bucket_used = 0.0
        self._bucket_seen_at = time.monotonic()
        self._pace_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the token
        return f"ShopifyClient({self._base!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- the port ------------------------------------------------------------------------

    async def check_connection(self) -> str:
        response = await self._request("GET", "shop.json")
        shop = response.json().get("shop") or {}
        return str(shop.get("name") or shop.get("myshopify_domain") or self._base)

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        if page:
            # Shopify rejects every other filter alongside page_info: the cursor already carries them.
            params: dict[str, Any] = {"page_info": page, "limit": self._page_size}
        else:
            params = {"status": "any", "limit": self._page_size, "order": "updated_at asc"}
            if updated_since is not None:
                since = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=UTC)
                params["updated_at_min"] = since.astimezone(UTC).isoformat()
        response = await self._request("GET", "orders.json", params=params)
        raws = response.json().get("orders", [])
        holds = await self._fulfillment_statuses([raw for raw in raws if needs_fulfillment_orders(raw)])
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        for raw in raws:
            try:
                orders.append(to_channel_order(raw, holds.get(str(raw.get("id")))))
            except (ValueError, KeyError, TypeError) as exc:
                # One malformed order must not stop the sync of the others.
                unreadable.append((str(raw.get("id", "?")), f"unreadable order: {exc}"))
        return OrderPage(orders=orders, next_page=self._next_page_info(response), unreadable=unreadable)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
        location_id: str | None = None,
    ) -> str:
        """Shopify tracks fulfilment per line, so each shipment is written as it happens (`order_complete` unused).

        `location_id`: the Shopify location the parcel leaves from; only its fulfillment orders are shipped.
        """
        attempt = 0
        while True:
            try:
                return await self._create_fulfillment_once(external_order_id, lines, tracking, location_id)
            except ChannelUnavailable as exc:
                # The POST may have landed before the failure: start over from the idempotency check, never re-POST.
                attempt = await self._backoff_or_raise(attempt, exc)

    async def _create_fulfillment_once(
        self,
        order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        location_id: str | None = None,
    ) -> str:
        # A fulfillment the shop is still processing (pending/open) counts: matching only finished
        # ones would post a second fulfillment for the same parcel.
        done = [f for f in await self._fulfillments(order_id) if f.get("status") in LIVE_FULFILLMENT_STATUSES]
        already = _matching_fulfillment(done, lines, tracking)
        if already is not None:
            return already
        fulfillment_orders = await self._fulfillment_orders(order_id)
        if location_id is not None:
            fulfillment_orders = [fo for fo in fulfillment_orders if str(fo.get("assigned_location_id")) == location_id]
        if tracking is None and lines is None and done and not _anything_fulfillable(fulfillment_orders):
            return str(done[-1]["id"])
        try:
            line_items = fo_line_items_for(fulfillment_orders, lines)
        except ValueError as exc:
            raise ChannelRejected(f"order {order_id}: {exc}") from exc
        body: dict[str, Any] = {"line_items_by_fulfillment_order": line_items, "notify_customer": False}
        if tracking is not None:
            info = {"number": tracking.number, "company": tracking.company}
            if tracking.url:
                info["url"] = tracking.url
            body["tracking_info"] = info
        response = await self._request("POST", "fulfillments.json", json={"fulfillment": body}, retry_transient=False)
        return str(response.json()["fulfillment"]["id"])

    # --- forwarding (domain/forwarding.py ForwardTarget) -----------------------------------

    async def find_forwarded(self, reference: str) -> str | None:
        """The order tagged `reference`, found with the Admin GraphQL order search (REST cannot filter by tag).
        Tags are matched exactly on the answer: a search for waybill-1 must not return waybill-12."""
        variables = {"q": f'tag:"{reference}"'}
        response = await self._request("POST", "graphql.json", json={"query": FORWARDED_QUERY, "variables": variables})
        body = response.json()
        if body.get("errors"):
            raise ChannelUnavailable(f"Shopify could not search its orders: {flatten_errors(body['errors'])}")
        nodes = (((body.get("data") or {}).get("orders") or {}).get("nodes")) or []
        for node in nodes:
            tags = node.get("tags") or []
            tags = [tag.strip() for tag in tags.split(",")] if isinstance(tags, str) else tags
            if reference in tags:
                return str(node.get("id", "")).rsplit("/", 1)[-1]
        # Shopify's search index trails a create by seconds; the REST list does not: read the last hour's orders.
        since = (datetime.now(UTC) - RECENT_FORWARDS).isoformat()
        params = {"status": "any", "created_at_min": since, "fields": "id,tags", "limit": PAGE_SIZE}
        for raw in (await self._request("GET", "orders.json", params=params)).json().get("orders", []):
            if reference in [tag.strip() for tag in str(raw.get("tags") or "").split(",")]:
                return str(raw["id"])
        return None

    async def create_forwarded(self, request: ForwardRequest) -> str:
        """POST orders.json once (never re-sent blindly: a lost answer is found by its tag on the next try)."""
        response = await self._request("POST", "orders.json", json=forwarded_order_body(request), retry_transient=False)
        return str(response.json()["order"]["id"])

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        path = f"orders/{external_order_id}/fulfillments/{fulfillment_id}/events.json"
        await self._request("POST", path, json={"event": {"status": "delivered"}})

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        try:
            await self._request("POST", f"fulfillments/{fulfillment_id}/cancel.json", json={})
        except ChannelRejected:
            # A repeat after a lost response lands here: look before failing for good.
            response = await self._request("GET", f"orders/{external_order_id}/fulfillments/{fulfillment_id}.json")
            if response.json().get("fulfillment", {}).get("status") == "cancelled":
                return
            raise

    # --- helpers -------------------------------------------------------------------------

    async def _fulfillments(self, order_id: str) -> list[dict[str, Any]]:
        response = await self._request("GET", f"orders/{order_id}/fulfillments.json")
        return list(response.json().get("fulfillments", []))

    async def _fulfillment_orders(self, order_id: str) -> list[dict[str, Any]]:
        response = await self._request("GET", f"orders/{order_id}/fulfillment_orders.json")
        return list(response.json().get("fulfillment_orders", []))

    async def _fulfillment_statuses(self, raws: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Fulfillment order statuses (holds) of a page's orders: one GraphQL call per FO_BATCH orders instead
        of one REST call per order. Orders the GraphQL answer does not cover are read over REST."""
        found: dict[str, list[dict[str, Any]]] = {}
        ids = [str(raw["id"]) for raw in raws if raw.get("id") is not None]
        # The batches go out together (each still paced): a page costs one round trip, not five.
        answers = await asyncio.gather(
            *(
                self._fulfillment_statuses_batch(ids[start : start + FO_BATCH])
                for start in range(0, len(ids), FO_BATCH)
            ),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            found.update(answer)
        for raw in raws:
            key = str(raw.get("id"))
            if key not in found and raw.get("id") is not None:
                fulfillment_orders = await self._fulfillment_orders_or_none(raw)
                if fulfillment_orders is not None:
                    found[key] = fulfillment_orders
        return found

    async def _fulfillment_statuses_batch(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """{order id: [{"status": ...}]} in REST's lower-case words; {} when the GraphQL API refuses."""
        variables = {"ids": [f"gid://shopify/Order/{order_id}" for order_id in ids]}
        try:
            response = await self._request("POST", "graphql.json", json={"query": FO_QUERY, "variables": variables})
            nodes = (response.json().get("data") or {}).get("nodes") or []
        except (ChannelRejected, ValueError, AttributeError) as exc:
            log.info("shopify: fulfillment orders over GraphQL unavailable (%s); reading them one by one", exc)
            return {}
        found: dict[str, list[dict[str, Any]]] = {}
        for node in nodes:
            if not isinstance(node, Mapping) or not isinstance(node.get("fulfillmentOrders"), Mapping):
                continue
            connection = node["fulfillmentOrders"]
            if (connection.get("pageInfo") or {}).get("hasNextPage"):
                continue  # more fulfillment orders than one call returns: REST reads them all
            order_id = str(node.get("id", "")).rsplit("/", 1)[-1]
            found[order_id] = [{"status": str(fo.get("status") or "").lower()} for fo in connection.get("nodes") or []]
        return found

    async def _fulfillment_orders_or_none(self, order: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """An order deleted between the list and this call should not fail the whole page."""
        try:
            return await self._fulfillment_orders(str(order["id"]))
        except ChannelRejected as exc:
            log.warning("shopify: fulfillment orders of %s unavailable: %s", order.get("id"), exc.message)
            return None

    @staticmethod
    def _next_page_info(response: httpx.Response) -> str | None:
        url = response.links.get("next", {}).get("url")
        if not url:
            return None
        values = parse_qs(urlsplit(url).query).get("page_info")
        return values[0] if values else None

    # --- transport -----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry_transient: bool = True,
    ) -> httpx.Response:
        """One call with pacing, bounded retries on throttling and transient failures, and error mapping."""
        url = f"{self._base}/{path}"
        headers = {"X-Shopify-Access-Token": self._token, "Accept": "application/json"}
        throttled = transient = 0
        while True:
            await self._pace()
            try:
                response = await self._http.request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:  # timeouts, refused/reset connections, protocol errors
                failure = ChannelUnavailable(f"Shopify {method} {path}: {type(exc).__name__}")
                if not retry_transient:
                    raise failure from exc
                transient = await self._backoff_or_raise(transient, failure)
                continue
            self._note_call_limit(response)
            status = response.status_code
            if status < 300:
                return response
            if status == 429:
                retry_after = _retry_after(response)
                if throttled >= MAX_THROTTLE_RETRIES or retry_after > MAX_RETRY_AFTER:
                    raise ChannelThrottled(f"Shopify throttled {method} {path}: {_error_text(response)}", retry_after)
                throttled += 1
                log.info("shopify: 429 on %s %s, waiting %.1fs", method, path, retry_after)
                await asyncio.sleep(retry_after)
                # Retry-After is Shopify's word on when one call fits: don't stack our own pacing wait on top.
                self._bucket_used = float(self._bucket_size - self._headroom() - 1)
                self._bucket_seen_at = time.monotonic()
                continue
            message = f"Shopify {status} on {method} {path}: {_error_text(response)}"
            if status >= 500:
                if not retry_transient:
                    raise ChannelUnavailable(message)
                transient = await self._backoff_or_raise(transient, ChannelUnavailable(message))
                continue
            if status in (401, 403):
                raise ChannelAuthFailed(message)
            raise ChannelRejected(message)

    async def _backoff_or_raise(self, attempt: int, failure: ChannelUnavailable) -> int:
        if attempt >= len(self.retry_backoff):
            raise failure
        log.info("shopify: %s; retrying", failure.message)
        await asyncio.sleep(self.retry_backoff[attempt])
        return attempt + 1

    def _headroom(self) -> int:
        """Calls kept in reserve for clock skew and other apps sharing the shop's bucket."""
        return max(1, self._bucket_size // 20)

    def _estimated_used(self, now: float) -> float:
        return max(0.0, self._bucket_used - (now - self._bucket_seen_at) * self._leak_rate)

    async def _pace(self) -> None:
        """Wait until the bucket has room (keeping some headroom), and reserve our call in the estimate."""
        headroom = self._headroom()
        async with self._pace_lock:
            while True:
                now = time.monotonic()
                used = self._estimated_used(now)
                excess = used + 1 - (self._bucket_size - headroom)
                if excess <= 0:
                    break
                await asyncio.sleep(excess / self._leak_rate)
            self._bucket_used = used + 1
            self._bucket_seen_at = now

    def _note_call_limit(self, response: httpx.Response) -> None:
        header = response.headers.get("X-Shopify-Shop-Api-Call-Limit")
        if not header:
            return
        try:
            used, size = (float(part) for part in header.split("/", 1))
        except ValueError:
            return
        if size > 0:
            self._bucket_size = int(size)
            self._bucket_used = used
            self._bucket_seen_at = time.monotonic()


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER)))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _anything_fulfillable(fulfillment_orders: Sequence[Mapping[str, Any]]) -> bool:
    return any(
        (line.get("fulfillable_quantity") or 0) > 0
        for fo in fulfillment_orders
        if fo.get("status") in ("open", "in_progress")
        for line in fo.get("line_items") or []
    )


def _matching_fulfillment(
    done: list[dict[str, Any]], lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None
) -> str | None:
    """The fulfillment an earlier attempt of this same write already created, if any."""
    for fulfillment in done:
        numbers = set(fulfillment.get("tracking_numbers") or []) | {fulfillment.get("tracking_number")}
        if tracking is not None:
            if tracking.number in numbers:
                return str(fulfillment["id"])
        elif lines is not None and numbers <= {None}:
            shipped: dict[str, int] = {}
            for item in fulfillment.get("line_items") or []:
                shipped[str(item["id"])] = shipped.get(str(item["id"]), 0) + int(item.get("quantity") or 0)
            wanted: dict[str, int] = {}
            for line_id, quantity in lines:
                wanted[str(line_id)] = wanted.get(str(line_id), 0) + quantity
            if shipped == wanted:
                return str(fulfillment["id"])
    return None
