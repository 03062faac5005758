"""MagentoClient: the ChannelClient port over Magento 2 / Adobe Commerce REST (integration token as Bearer).

Magento's searchCriteria paging clamps: asking for a page past the end returns the last page again, so
paging stops on total_count, and every continuation restarts from the last updated_at seen (keyset style)
so orders that change mid-sync neither shift others out of reach nor come back twice in one pass.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

from adapters.channels.http import DEFAULT_RETRY_AFTER, ChannelHttp
from adapters.channels.magento.mapper import format_time, parse_time, shippable_items, to_channel_order, to_line
from domain.model import ChannelOrder
from domain.ports import (
    ChannelAuthFailed,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ChannelUnsupported,
    OrderPage,
    Tracking,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 100
CARRIER_CODES = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl": "dhl"}
EPOCH = "1970-01-01 00:00:00"
NO_UNDO = (
    "Magento cannot delete a shipment once it is created, so Waybill cannot take it back. "
    "Remove the tracking number from the shipment in the Magento admin (Sales > Shipments), "
    "or issue a credit memo if the goods will not ship."
)


def error_text(response: httpx.Response) -> str:
    """Magento's {"message": "... %1 / %name ...", "parameters": [...] or {...}}, rendered."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if not isinstance(body, Mapping) or not isinstance(body.get("message"), str):
        return str(body)[:300]
    return render_message(body["message"], body.get("parameters"))


def render_message(message: str, parameters: Any) -> str:
    if isinstance(parameters, Mapping):
        for key, value in parameters.items():
            message = message.replace(f"%{key}", str(value))
    elif isinstance(parameters, list):
        for index in range(len(parameters), 0, -1):  # %10 before %1
            message = message.replace(f"%{index}", str(parameters[index - 1]))
    return message


def retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds or as an HTTP date (WAFs and CDNs use both); Magento itself publishes no rate."""
    value = response.headers.get("Retry-After")
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


Filter = tuple[str, str, str]  # (field, value, condition_type)


def search_params(
    groups: Sequence[Sequence[Filter]],
    *,
    sort: Sequence[tuple[str, str]] = (),
    page_size: int | None = None,
    current_page: int | None = None,
) -> dict[str, str]:
    """searchCriteria query parameters. Magento ANDs the filter groups and ORs the filters within a group."""
    params: dict[str, str] = {}
    for group_index, group in enumerate(groups):
        for filter_index, (field, value, condition) in enumerate(group):
            base = f"searchCriteria[filter_groups][{group_index}][filters][{filter_index}]"
            params[f"{base}[field]"] = field
            params[f"{base}[value]"] = value
            params[f"{base}[condition_type]"] = condition
    for index, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{index}][field]"] = field
        params[f"searchCriteria[sortOrders][{index}][direction]"] = direction
    if page_size is not None:
        params["searchCriteria[pageSize]"] = str(page_size)
    if current_page is not None:
        params["searchCriteria[currentPage]"] = str(current_page)
    return params


def encode_page(since: str, page: int, after: tuple[str, int] | None) -> str:
    raw = json.dumps({"since": since, "page": page, "after": list(after) if after else None}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page(token: str) -> tuple[str, int, tuple[str, int] | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = data.get("after")
        return str(data["since"]), int(data["page"]), (str(after[0]), int(after[1])) if after else None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ChannelRejected(f"not a Magento page token: {token[:40]!r}") from None


class WafAwareHttp:
    """The shared httpx client, with a CDN/WAF's "503 + Retry-After" waited out like a 429.

    Magento has no rate limit of its own; the Fastly/WAF in front of Adobe Commerce answers 503 with
    Retry-After when it sheds load. That request never reached Magento, so even a POST may be repeated.
    """

    def __init__(self, http: httpx.AsyncClient, *, max_waits: int = 3, max_wait: float = 10.0) -> None:
        self.http = http
        self.max_waits = max_waits
        self.max_wait = max_wait
        self.waited = 0

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        waits = 0
        while True:
            response = await self.http.request(method, url, **kwargs)
            if response.status_code != 503 or "Retry-After" not in response.headers:
                return response
            wait = retry_after(response)
            if waits >= self.max_waits or wait > self.max_wait:
                raise ChannelThrottled(f"Magento's front end is shedding load (503): {error_text(response)}", wait)
            waits += 1
            self.waited += 1
            log.info("magento: 503 with Retry-After on %s, waiting %.1fs", httpx.URL(url).path, wait)
            await asyncio.sleep(wait)


class MagentoClient:
    """One store view, one integration token. The http client is shared: `aclose()` leaves it open."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        http: httpx.AsyncClient,
        store_code: str = "default",
        page_size: int = PAGE_SIZE,
        weight_unit: str | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        self._site = base
        self._store_code = store_code or "default"
        self._base = f"{base}/rest/{self._store_code}/V1"
        self._token = access_token
        self._page_size = max(1, min(page_size, 300))
        self._weight_unit = weight_unit
        transport = cast(httpx.AsyncClient, WafAwareHttp(http))  # ChannelHttp only calls .request()
        self._http = ChannelHttp("Magento", transport, error_text=error_text, retry_after=retry_after)
        self._resume_at = 0.0  # monotonic time before which a throttled store wants no calls

    def __repr__(self) -> str:  # never show the token
        return f"MagentoClient({self._base!r})"

    @property
    def retry_backoff(self) -> tuple[float, ...]:
        return self._http.retry_backoff

    @retry_backoff.setter
    def retry_backoff(self, value: tuple[float, ...]) -> None:
        self._http.retry_backoff = value

    async def aclose(self) -> None:
        """Nothing to close: the http client belongs to the caller."""

    # --- the port ------------------------------------------------------------------------

    async def check_connection(self) -> str:
        """The cheapest call that needs the same ACL as the sync (Magento_Sales::actions_view)."""
        await self._get("orders", params=search_params([], page_size=1, current_page=1))
        host = urlsplit(self._site).netloc or self._site
        return f"{host} (store view {self._store_code})"

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        """Keyset paging on (updated_at, entity_id): each page asks for what sorts after the last order seen.

        Magento's timestamps have whole seconds, so the key needs entity_id to split ties; the filter is
        `updated_at >= t AND (updated_at > t OR entity_id > id)` (two filter groups, the second ORed).
        Page numbers are used only when no order of a page was readable.
        """
        if page:
            since, number, after = decode_page(page)
        else:
            since, number, after = (format_time(updated_since) if updated_since else EPOCH), 1, None
        groups: list[list[Filter]] = [[("updated_at", after[0] if after else since, "gteq")]]
        if after:
            groups.append([("updated_at", after[0], "gt"), ("entity_id", str(after[1]), "gt")])
        params = search_params(
            groups,
            sort=[("updated_at", "ASC"), ("entity_id", "ASC")],
            page_size=self._page_size,
            current_page=number,
        )
        body = (await self._get("orders", params=params)).json()
        raw_items = body.get("items") or []
        total = int(body.get("total_count") or 0)
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        for raw in raw_items:
            if not _is_new(raw, after):
                continue  # a store that ignored the keyset filter: never import an order twice in one pass
            try:
                orders.append(to_channel_order(raw, weight_unit=self._weight_unit))
            except (ValueError, KeyError, TypeError) as exc:
                # One malformed order must not stop the sync of the others.
                entity = raw.get("entity_id", "?") if isinstance(raw, Mapping) else "?"
                unreadable.append((str(entity), f"unreadable order: {exc}"))
        next_page = self._next_page(raw_items, total, since, number, after)
        return OrderPage(orders=orders, next_page=next_page, unreadable=unreadable)

    def _next_page(
        self, raw_items: list[Any], total: int, since: str, number: int, after: tuple[str, int] | None
    ) -> str | None:
        """None once total_count says this page was the last: past the end, Magento repeats the last page forever.

        Every continuation moves strictly forward (a later key, or the next page number for the same key),
        so paging ends even against a store that ignores part of the filter.
        """
        if not raw_items or number * self._page_size >= total:
            return None
        keys = [key for key in (_key(raw) for raw in raw_items) if key is not None]
        last = max(keys) if keys else None
        if last is not None and (after is None or last > after):
            return encode_page(since, 1, last)
        return encode_page(since, number + 1, after)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """Magento tracks shipped quantities per item and completes the order itself (`order_complete` unused).

        ShipOrder is not idempotent: when its answer is lost (timeout, 5xx) Magento may have shipped anyway, so we
        look again after a pause and, if nothing is there yet, hand the failure back: the outbox retries later,
        and that retry looks before it ships.
        """
        found, wanted = await self._existing(external_order_id, lines, tracking)
        if found is not None:
            return found
        try:
            return await self._ship(external_order_id, wanted, tracking)
        except ChannelUnavailable:
            await asyncio.sleep(self.retry_backoff[-1] if self.retry_backoff else 0)
            found, _ = await self._existing(external_order_id, lines, tracking)
            if found is not None:
                return found
            raise

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        """Magento has no delivered status: nothing to write."""

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        raise ChannelUnsupported(NO_UNDO)

    # --- shipping ------------------------------------------------------------------------

    async def _existing(
        self, order_id: str, lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None
    ) -> tuple[str | None, list[tuple[str, int]]]:
        """The shipment an earlier attempt already made, else what is left to ship now."""
        shipments = await self._shipments(order_id)
        already = _matching_shipment(shipments, lines, tracking)
        if already is not None:
            return already, []
        if lines is not None:
            return None, [(line_id, quantity) for line_id, quantity in lines if quantity > 0]
        wanted = _remaining((await self._get(f"orders/{order_id}")).json())
        if wanted:
            return None, wanted
        if shipments and tracking is None:
            return str(shipments[-1]["entity_id"]), []  # hand delivery of "everything" already done
        raise ChannelRejected(f"Magento order {order_id} has nothing left to ship")

    async def _ship(self, order_id: str, wanted: list[tuple[str, int]], tracking: Tracking | None) -> str:
        body: dict[str, Any] = {
            "items": [{"order_item_id": _int_id(line_id), "qty": quantity} for line_id, quantity in wanted],
            "notify": False,
        }
        if tracking is not None:
            code = CARRIER_CODES.get((tracking.carrier or "").lower(), "custom")
            body["tracks"] = [{"track_number": tracking.number, "title": tracking.company, "carrier_code": code}]
            if tracking.url and code == "custom":
                # Magento builds tracking links only for its own carriers: leave the link where the buyer sees it.
                body["appendComment"] = True
                body["comment"] = {"comment": f"Track your parcel: {tracking.url}", "is_visible_on_front": 1}
        response = await self._request("POST", f"order/{order_id}/ship", json=body, retry_transient=False)
        shipment_id = response.json()
        if isinstance(shipment_id, bool) or not isinstance(shipment_id, int | str) or not str(shipment_id):
            raise ChannelUnavailable(f"Magento answered {shipment_id!r} to the shipment of order {order_id}")
        return str(shipment_id)

    async def _shipments(self, order_id: str) -> list[dict[str, Any]]:
        params = search_params([[("order_id", str(_int_id(order_id)), "eq")]])
        items = (await self._get("shipments", params=params)).json().get("items") or []
        return sorted(items, key=lambda shipment: int(shipment.get("entity_id") or 0))

    # --- transport -----------------------------------------------------------------------

    async def _get(self, path: str, *, params: Mapping[str, str] | None = None) -> httpx.Response:
        return await self._request("GET", path, params=params)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        retry_transient: bool = True,
    ) -> httpx.Response:
        await self._cool_down()
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            return await self._http.request(
                method,
                f"{self._base}/{path}",
                headers=headers,
                params=params,
                json=json,
                retry_transient=retry_transient,
            )
        except ChannelThrottled as exc:
            self._resume_at = time.monotonic() + (exc.retry_after or DEFAULT_RETRY_AFTER)
            raise
        except ChannelAuthFailed as exc:
            raise ChannelAuthFailed(
                f"Magento refused Waybill's access ({exc.message}). Check the integration token is active and that "
                "Stores > Configuration > Services > OAuth allows access tokens as standalone Bearer tokens, "
                "then reconnect the channel."
            ) from exc

    async def _cool_down(self) -> None:
        """After a 429 we gave up on, the next call waits out Retry-After instead of hammering the store."""
        wait = self._resume_at - time.monotonic()
        if wait <= 0:
            return
        if wait > self._http.max_retry_after:
            raise ChannelThrottled(f"Magento asked Waybill to wait {wait:.0f}s before the next call", wait)
        await asyncio.sleep(wait)


def _key(raw: Any) -> tuple[str, int] | None:
    """(updated_at normalised, entity_id): the sort key the search uses, None when unreadable."""
    try:
        return format_time(parse_time(raw["updated_at"])), int(raw["entity_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _int_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ChannelRejected(f"Magento ids are numbers, got {value!r}") from None


def _is_new(raw: Any, after: tuple[str, int] | None) -> bool:
    """Not returned by an earlier page of this pass (sort keys at or before `after` were)."""
    key = _key(raw)
    return after is None or key is None or key > after


def _remaining(order: Mapping[str, Any]) -> list[tuple[str, int]]:
    try:
        lines = [to_line(item) for item in shippable_items(order)]
    except (ValueError, KeyError, TypeError) as exc:
        raise ChannelRejected(f"Magento order {order.get('entity_id')} is unreadable: {exc}") from exc
    return [(line.channel_line_id, line.quantity_remaining) for line in lines if line.quantity_remaining > 0]


def _matching_shipment(
    shipments: list[dict[str, Any]], lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None
) -> str | None:
    """The shipment an earlier attempt of this same write already created, if any."""
    for shipment in shipments:
        numbers = {str(track.get("track_number")) for track in shipment.get("tracks") or []}
        if tracking is not None:
            if tracking.number in numbers:
                return str(shipment["entity_id"])
        elif lines is not None and not numbers:
            shipped: dict[str, int] = {}
            for item in shipment.get("items") or []:
                key = str(item.get("order_item_id"))
                shipped[key] = shipped.get(key, 0) + int(float(item.get("qty") or 0))
            wanted: dict[str, int] = {}
            for line_id, quantity in lines:
                if quantity > 0:
                    wanted[str(line_id)] = wanted.get(str(line_id), 0) + quantity
            if shipped == wanted:
                return str(shipment["entity_id"])
    return None
