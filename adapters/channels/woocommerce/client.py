"""WooCommerceClient: the ChannelClient port over WooCommerce REST v3 (Basic auth with a consumer key pair).

Woo pages by page number, which loses orders that change while a sync pages; we page by `modified_after`
keyset instead and use X-WP-TotalPages only to know when we are done. Tracking goes to the Shipment
Tracking extension when the store has it, otherwise into customer notes; either way the order is
completed once every line has shipped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.channels.http import ChannelHttp, json_error_text
from adapters.channels.woocommerce import mapper
from domain.forwarding import ForwardedCopy, ForwardRequest, order_id_of
from domain.model import ChannelOrder
from domain.ports import ChannelAuthFailed, ChannelRejected, ChannelThrottled, ChannelUnavailable, OrderPage, Tracking

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Woo's per_page maximum
DEFAULT_RETRY_AFTER = 2.0  # Woo core publishes no rate; hosts/WAFs that throttle rarely say for how long
#: Waybill carrier key -> Shipment Tracking's predefined provider name; others go as a custom provider.
PROVIDERS = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx"}


def woo_error_text(response: httpx.Response) -> str:
    """Woo errors read {"code", "message", "data": {"status"}}: keep the message and the code (callers match it)."""
    try:
        body = response.json()
    except ValueError:
        return json_error_text(response)
    if isinstance(body, Mapping) and body.get("message"):
        message = html.unescape(str(body["message"]))
        return f"{message} ({body['code']})" if body.get("code") else message
    return json_error_text(response)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class WooCommerceClient:
    """One store, one key pair. The http client is shared: `aclose()` closes nothing."""

    def __init__(
        self,
        site_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        http: httpx.AsyncClient,
        page_size: int = PAGE_SIZE,
        retry_backoff: tuple[float, ...] = (0.2, 0.6),
    ) -> None:
        site = site_url.rstrip("/")
        if "://" not in site:
            site = f"https://{site}"
        self._site = site
        self._api = f"{site}/wp-json/wc/v3"
        self._tracking_api = f"{site}/wp-json/wc-shipment-tracking/v3"
        pair = base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode()
        self._headers = {"Authorization": f"Basic {pair}", "Accept": "application/json"}
        self._page_size = max(1, min(page_size, PAGE_SIZE))
        self.max_page_size = PAGE_SIZE  # per_page may grow up to this to make up for skipped rows
        self._transport = ChannelHttp(
            "WooCommerce", http, error_text=woo_error_text, retry_after=self._retry_after, retry_backoff=retry_backoff
        )
        self.default_retry_after = DEFAULT_RETRY_AFTER  # for a 429 that says nothing about when
        self._not_before = 0.0  # monotonic time before which no call goes out (after a 429)
        self._tracking_extension: bool | None = None  # detected once per client

    def __repr__(self) -> str:  # never show the key pair
        return f"WooCommerceClient({self._site!r})"

    @property
    def throttled(self) -> int:
        return self._transport.throttled

    async def aclose(self) -> None:
        """The http client belongs to the caller."""

    # --- the port ------------------------------------------------------------------------

    async def check_connection(self) -> str:
        """GET one order id: proves the keys can read orders (a key without read access gets 401)."""
        await self._request("GET", f"{self._api}/orders", params={"per_page": 1, "_fields": "id"})
        return urlsplit(self._site).netloc or self._site

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        """Oldest first by modification time; `page` is our keyset cursor (see `_next_cursor`)."""
        if page:
            cursor = _Cursor.decode(page)
        else:
            # modified_after is exclusive and second-precise: step back a second to include updated_since itself.
            since = updated_since.replace(microsecond=0) - timedelta(seconds=1) if updated_since else None
            cursor = _Cursor(mapper.format_gmt(since) if since else None, 1, (), self._page_size)
        params: dict[str, Any] = {
            "per_page": cursor.per_page,
            "page": cursor.page,
            "order": "asc",
            "orderby": "modified",
            "dates_are_gmt": "true",
        }
        if cursor.after:
            params["modified_after"] = cursor.after
        response = await self._request("GET", f"{self._api}/orders", params=params)
        rows = response.json()
        if not isinstance(rows, list):
            raise ChannelUnavailable("WooCommerce answered GET /orders with something that is not a list of orders")
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        boundary = mapper.parse_gmt(cursor.after) + timedelta(seconds=1) if cursor.after else None
        for raw in rows:
            external_id = str(raw.get("id", "?")) if isinstance(raw, Mapping) else "?"
            if external_id in cursor.skip and _modified(raw) == boundary:
                continue  # delivered on the previous page, unchanged since (same modification second)
            try:
                mapped = mapper.to_channel_order(raw)
            except (ValueError, KeyError, TypeError) as exc:
                unreadable.append((external_id, f"unreadable order: {exc}"))
                continue
            if isinstance(mapped, ForwardedCopy):
                # Waybill's own forwarded copy: its parcels are what the marketplace must be told.
                mapped.fulfillments = mapper.tracking_fulfillments(await self._trackings(external_id) or [])
            orders.append(mapped)
        total_pages = int(_seconds(response.headers.get("X-WP-TotalPages")) or 0)
        more = cursor.page < total_pages
        next_page = self._next_cursor(rows, cursor).encode() if more else None
        return OrderPage(orders=orders, next_page=next_page, unreadable=unreadable)

    def _next_cursor(self, rows: list[Any], cursor: _Cursor) -> _Cursor:
        """Continue after the newest modification second of this page, skipping the ids already delivered at it
        (and asking for that many more rows, so pages stay full).

        Page numbers lose orders that change while we page (they jump to the end and shift the rest); keyset
        does not. Only when a whole page shares one second (the keyset cannot move) do we step the page number.
        """
        stamps = [(stamp, str(raw["id"])) for raw in rows if (stamp := _modified(raw)) is not None and "id" in raw]
        if not stamps:
            return _Cursor(cursor.after, cursor.page + 1, cursor.skip, cursor.per_page)
        newest = max(stamp for stamp, _ in stamps)
        anchor = mapper.format_gmt(newest - timedelta(seconds=1))
        at_newest = tuple(external_id for stamp, external_id in stamps if stamp == newest)
        if cursor.after is None or anchor > cursor.after:
            return _Cursor(anchor, 1, at_newest, min(self.max_page_size, self._page_size + len(at_newest)))
        return _Cursor(cursor.after, cursor.page + 1, tuple(sorted({*cursor.skip, *at_newest})), cursor.per_page)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """Woo keeps one status per order, so it turns completed only with `order_complete`."""
        attempt = 0
        while True:
            try:
                return await self._create_fulfillment_once(external_order_id, lines, tracking, order_complete)
            except ChannelUnavailable as exc:
                # A POST may have landed before the failure: start over from the idempotency check, never re-POST.
                attempt = await self._transport.backoff_or_raise(attempt, exc)

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        """WooCommerce has no delivered status: completed is as far as an order goes."""

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        order = await self._order(external_order_id)
        if fulfillment_id.startswith("note:"):
            await self._cancel_note_shipment(external_order_id, fulfillment_id.removeprefix("note:"))
        else:
            trackings = await self._trackings(external_order_id)
            if trackings is None:
                raise ChannelRejected(
                    f"WooCommerce order {external_order_id}: the Shipment Tracking extension is no longer active, "
                    f"so tracking item {fulfillment_id} cannot be removed; remove it in the order screen"
                )
            if any(str(item.get("tracking_id")) == fulfillment_id for item in trackings):
                await self._delete_tracking(external_order_id, fulfillment_id)
        if order.get("status") == "completed":
            await self._set_status(external_order_id, "processing")

    # --- fulfillment steps ---------------------------------------------------------------

    async def _create_fulfillment_once(
        self, order_id: str, lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None, order_complete: bool
    ) -> str:
        order = await self._order(order_id)
        status = str(order.get("status") or "")
        if status in mapper.CLOSED_STATUSES:
            raise ChannelRejected(f"WooCommerce order {order_id} is {status}: it cannot be marked shipped")
        _check_lines(order_id, order, lines)
        trackings = await self._trackings(order_id) if tracking is not None else None
        if tracking is not None and trackings is not None:
            fulfillment_id = await self._tracking_item(order_id, trackings, tracking)
        else:
            fulfillment_id = await self._shipment_note(order_id, lines, tracking)
        if order_complete and status != "completed":
            await self._set_status(order_id, "completed")
        return fulfillment_id

    async def _tracking_item(self, order_id: str, trackings: list[dict[str, Any]], tracking: Tracking) -> str:
        for item in trackings:
            if item.get("tracking_number") == tracking.number:
                return str(item["tracking_id"])
        body: dict[str, Any] = {
            "tracking_number": tracking.number,
            "date_shipped": datetime.now(UTC).strftime("%Y-%m-%d"),
        }
        provider = PROVIDERS.get((tracking.carrier or "").lower())
        if provider:
            body["tracking_provider"] = provider
        else:
            body["custom_tracking_provider"] = tracking.company
            body["custom_tracking_link"] = tracking.url or ""
        path = f"{self._tracking_api}/orders/{order_id}/shipment-trackings"
        response = await self._request("POST", path, json=body, retry_transient=False)
        return str(response.json()["tracking_id"])

    async def _shipment_note(
        self, order_id: str, lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None
    ) -> str:
        if tracking is not None:
            text, customer = mapper.shipped_note(tracking.company, tracking.number, tracking.url), True
        else:
            text, customer = mapper.untracked_note(lines), False
        for shipment, existing in mapper.active_shipment_notes(await self._notes(order_id)):
            if (tracking is not None and shipment.number == tracking.number) or existing == text:
                return f"note:{shipment.note_id}"
        response = await self._request(
            "POST",
            f"{self._api}/orders/{order_id}/notes",
            json={"note": text, "customer_note": customer},
            retry_transient=False,
        )
        return f"note:{response.json()['id']}"

    async def _cancel_note_shipment(self, order_id: str, note_id: str) -> None:
        notes = await self._notes(order_id)
        shipment = next(
            (s for s in (mapper.parse_shipment_note(n) for n in notes) if s is not None and str(s.note_id) == note_id),
            None,
        )
        if shipment is None:
            raise ChannelRejected(f"WooCommerce order {order_id} has no shipment note {note_id}")
        if not any(s.note_id == shipment.note_id for s, _ in mapper.active_shipment_notes(notes)):
            return  # already cancelled
        if shipment.number is not None:
            text, customer = mapper.cancelled_tracking_note(shipment.number), True
        else:
            text, customer = mapper.cancelled_untracked_note(shipment.note_id), False
        await self._request(
            "POST",
            f"{self._api}/orders/{order_id}/notes",
            json={"note": text, "customer_note": customer},
            retry_transient=False,
        )

    async def _delete_tracking(self, order_id: str, tracking_id: str) -> None:
        path = f"{self._tracking_api}/orders/{order_id}/shipment-trackings/{tracking_id}"
        try:
            await self._request("DELETE", path)
        except ChannelRejected:
            # A retried DELETE whose first attempt landed gets a 404: gone is what we wanted.
            trackings = await self._trackings(order_id) or []
            if any(str(item.get("tracking_id")) == tracking_id for item in trackings):
                raise

    # --- forwarding (domain/forwarding.py ForwardTarget) -----------------------------------

    async def find_forwarded(self, reference: str) -> str | None:
        """`search=` finds the copy by its shipping line's title; the meta value must match exactly."""
        response = await self._request(
            "GET", f"{self._api}/orders", params={"search": reference, "per_page": 20, "status": "any"}
        )
        wanted = order_id_of(reference)
        for raw in response.json() if isinstance(response.json(), list) else []:
            if isinstance(raw, Mapping) and wanted is not None and mapper.forwarded_order_id(raw) == wanted:
                return str(raw["id"])
        return None

    async def create_forwarded(self, request: ForwardRequest) -> str:
        """One POST /orders; never re-sent blindly (the next attempt searches first)."""
        response = await self._request(
            "POST", f"{self._api}/orders", json=mapper.forwarded_order_body(request), retry_transient=False
        )
        return str(response.json()["id"])

    async def _order(self, order_id: str) -> dict[str, Any]:
        response = await self._request("GET", f"{self._api}/orders/{order_id}")
        order: dict[str, Any] = response.json()
        return order

    async def _notes(self, order_id: str) -> list[dict[str, Any]]:
        response = await self._request("GET", f"{self._api}/orders/{order_id}/notes", params={"type": "any"})
        return [note for note in response.json() if isinstance(note, dict)]

    async def _trackings(self, order_id: str) -> list[dict[str, Any]] | None:
        """The order's tracking items, or None when the store has no Shipment Tracking (cached per client)."""
        if self._tracking_extension is False:
            return None
        try:
            response = await self._request("GET", f"{self._tracking_api}/orders/{order_id}/shipment-trackings")
        except ChannelRejected as exc:
            if "(rest_no_route)" not in exc.message:
                raise
            log.info("woocommerce: %s has no Shipment Tracking extension; writing tracking as order notes", self._site)
            self._tracking_extension = False
            return None
        self._tracking_extension = True
        return [item for item in response.json() if isinstance(item, dict)]

    async def _set_status(self, order_id: str, status: str) -> None:
        await self._request("PUT", f"{self._api}/orders/{order_id}", json={"status": status})

    # --- transport -----------------------------------------------------------------------

    def _retry_after(self, response: httpx.Response) -> float:
        """Retry-After, else the Store API's RateLimit-Reset, else a default; no call goes out before then."""
        wait = _seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = _seconds(response.headers.get("RateLimit-Reset"))
        wait = self.default_retry_after if wait is None else wait
        self._not_before = max(self._not_before, time.monotonic() + wait)
        return wait

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        wait = self._not_before - time.monotonic()
        if wait > self._transport.max_retry_after:
            raise ChannelThrottled(f"WooCommerce asked Waybill to wait {wait:.0f}s before the next call", wait)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await self._transport.request(method, url, headers=self._headers, **kwargs)
        except ChannelAuthFailed as exc:
            raise ChannelAuthFailed(
                f"WooCommerce refused Waybill's API keys ({exc.message}): create a REST API key with "
                "Read/Write access in WooCommerce > Settings > Advanced and reconnect the channel"
            ) from None


def _check_lines(order_id: str, order: Mapping[str, Any], lines: Sequence[tuple[str, int]] | None) -> None:
    """Woo records no lines on a shipment, so it cannot refuse a wrong one: we do, like a platform would."""
    if lines is None:
        return
    if not lines:
        raise ChannelRejected(f"WooCommerce order {order_id}: no lines to ship (pass None for everything remaining)")
    quantities = {str(item.get("id")): int(item.get("quantity") or 0) for item in order.get("line_items") or []}
    for line_id, quantity in lines:
        if str(line_id) not in quantities:
            raise ChannelRejected(f"WooCommerce order {order_id} has no line {line_id}")
        if not 0 < quantity <= quantities[str(line_id)]:
            raise ChannelRejected(
                f"WooCommerce order {order_id}, line {line_id}: quantity {quantity} is not between 1 and "
                f"{quantities[str(line_id)]}"
            )


def _modified(raw: Any) -> datetime | None:
    try:
        return mapper.parse_gmt(raw.get("date_modified_gmt"))
    except (ValueError, TypeError, AttributeError):
        return None


@dataclass(frozen=True)
class _Cursor:
    """Where the next page starts: modified_after, page number under it, ids to skip, and per_page."""

    after: str | None
    page: int
    skip: tuple[str, ...]
    per_page: int

    def encode(self) -> str:
        raw = json.dumps({"a": self.after, "p": self.page, "s": self.skip, "n": self.per_page}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> _Cursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            cursor = cls(data["a"], int(data["p"]), tuple(str(item) for item in data["s"]), int(data["n"]))
            if (cursor.after is not None and not isinstance(cursor.after, str)) or cursor.page < 1:
                raise ValueError(token)
            if not 1 <= cursor.per_page <= PAGE_SIZE:
                raise ValueError(token)
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
            raise ChannelRejected(f"not a WooCommerce page token from Waybill: {token[:40]!r}") from None
        return cursor
