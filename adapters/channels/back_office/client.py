"""BackOfficeClient: the ChannelClient port over Waybill's back-office API (docs/back-office-api.md).

The status lives on the order, so a shipment is two writes: the shipment (idempotent by key and by
tracking number) and then, once the order is complete, its status word. Both are safe to repeat.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from adapters.channels.back_office.mapper import DEFAULT_WORDS, Meaning, StatusWords, format_time, to_channel_order
from adapters.channels.http import DEFAULT_RETRY_AFTER, ChannelHttp, retry_after_header
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

PLATFORM = "Back office"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 200
MAX_PACING_WAIT = 10.0  # longer waits are handed back as ChannelThrottled (the job defers)
#: Waybill's carrier keys -> the API's carrier codes; anything else is "other" + carrier_name.
CARRIER_CODES = {
    "ups": "ups",
    "usps": "usps",
    "fedex": "fedex",
    "dhl": "dhl",
    "dhl_express": "dhl_express",
    "canada_post": "canada_post",
    "canadapost": "canada_post",
    "royal_mail": "royal_mail",
    "royalmail": "royal_mail",
}
Json = dict[str, Any]


def error_text(response: httpx.Response) -> str:
    """{"error": {"code", "message", "field"}} as one line: the message, then the field and code."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return str(error or body)[:300] or response.reason_phrase
    details = ", ".join(f"{key} {error[key]}" for key in ("field", "code") if error.get(key))
    message = str(error.get("message") or response.reason_phrase)
    return f"{message} ({details})" if details else message


def carrier_code(tracking: Tracking) -> str:
    key = (tracking.carrier or tracking.company or "").strip().lower().replace(" ", "_").replace("-", "_")
    return CARRIER_CODES.get(key, "other")


class BackOfficeClient:
    """One back office, one API key. The http client is shared: `aclose` leaves it open."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient,
        statuses: StatusWords = DEFAULT_WORDS,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._base = api_url.rstrip("/") + "/api/v1"
        self._api_key = api_key
        self._words = statuses
        self._page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._http = ChannelHttp(PLATFORM, http, error_text=error_text, retry_after=self._retry_after)
        self._not_before = 0.0  # monotonic time before which no call is sent (after a 429 / an empty window)
        self._pace_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"BackOfficeClient({self._base!r})"

    async def aclose(self) -> None:
        """Nothing of our own to close: the http client belongs to the runtime."""

    # --- the port ------------------------------------------------------------------------

    async def check_connection(self) -> str:
        account = (await self._request("GET", "account")).json()
        return str(account.get("name") or account.get("id") or self._base)

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        params: dict[str, Any] = {"limit": self._page_size}
        if page:
            params["cursor"] = page  # the cursor carries the updated_since filter
        elif updated_since is not None:
            params["updated_since"] = format_time(updated_since)
        body = (await self._request("GET", "orders", params=params)).json()
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        for raw in body.get("orders") or []:
            try:
                orders.append(to_channel_order(raw, self._words))
            except (ValueError, KeyError, TypeError) as exc:
                # One malformed order must not stop the sync of the others.
                order_id = str(raw.get("id", "?")) if isinstance(raw, Mapping) else "?"
                unreadable.append((order_id, f"unreadable order: {exc}"))
        return OrderPage(orders=orders, next_page=body.get("next_cursor") or None, unreadable=unreadable)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """A shipment, then the status: Shipping with tracking, Fulfilled without (hand delivery), when complete."""
        attempt = 0
        while True:
            try:
                return await self._create_fulfillment_once(external_order_id, lines, tracking, order_complete)
            except ChannelUnavailable as exc:
                # The POST may have landed: start over from the re-check (and the same Idempotency-Key).
                attempt = await self._http.backoff_or_raise(attempt, exc)

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        """Delivered on the shipment; the order turns Fulfilled once every line shipped and every parcel arrived."""
        await self._request("POST", f"orders/{external_order_id}/shipments/{fulfillment_id}/delivered", json={})
        order = await self._order(external_order_id)
        active = [s for s in order.get("shipments") or [] if s.get("status") != "cancelled"]
        every_line_shipped = all(
            int(line.get("quantity_shipped") or 0) >= int(line.get("quantity") or 0) for line in order["lines"]
        )
        if every_line_shipped and active and all(s.get("status") == "delivered" for s in active):
            await self._set_status(order, Meaning.FULFILLED, unless=(Meaning.FULFILLED,))

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        """Removes the tracking (a repeat is a no-op at the API) and puts a shipped order back to Unfulfilled."""
        await self._request("DELETE", f"orders/{external_order_id}/shipments/{fulfillment_id}")
        order = await self._order(external_order_id)
        if self._words.meaning(order.get("status")) in (Meaning.SHIPPING, Meaning.FULFILLED):
            await self._set_status(order, Meaning.UNFULFILLED)

    # --- fulfillment helpers -------------------------------------------------------------

    async def _create_fulfillment_once(
        self, order_id: str, lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None, order_complete: bool
    ) -> str:
        order = await self._order(order_id)
        shipments = list(order.get("shipments") or [])
        shipment_id = _matching_shipment(shipments, lines, tracking)
        if shipment_id is None:
            body: Json = {}  # no shipped_at: the API stamps it, and a retry must send the very same body
            if lines is not None:
                body["lines"] = [{"line_id": str(line_id), "quantity": quantity} for line_id, quantity in lines]
            if tracking is not None:
                code = carrier_code(tracking)
                body.update(
                    tracking_number=tracking.number, carrier=code, carrier_name=tracking.company or code.upper()
                )
                if tracking.url:
                    body["tracking_url"] = tracking.url
            key = _idempotency_key(order_id, shipments, lines, tracking)
            response = await self._request(
                "POST",
                f"orders/{order_id}/shipments",
                json=body,
                headers={"Idempotency-Key": key},
                retry_transient=False,
            )
            shipment_id = str(response.json()["id"])
        if order_complete:
            if tracking is None:
                await self._set_status(order, Meaning.FULFILLED, unless=(Meaning.FULFILLED,))
            else:
                await self._set_status(order, Meaning.SHIPPING, unless=(Meaning.SHIPPING, Meaning.FULFILLED))
        return shipment_id

    async def _order(self, order_id: str) -> Json:
        order = (await self._request("GET", f"orders/{order_id}")).json().get("order")
        if not isinstance(order, Mapping) or not isinstance(order.get("lines"), list):
            raise ChannelRejected(f"{PLATFORM}: order {order_id} came back without its lines")
        return dict(order)

    async def _set_status(self, order: Json, meaning: Meaning, unless: tuple[Meaning, ...] = ()) -> None:
        """PUT the status word, unless the order already says it or was cancelled/refunded meanwhile."""
        current = self._words.meaning(order.get("status"))
        if current in unless or current in (Meaning.CANCELLED, Meaning.REFUNDED):
            return
        await self._request("PUT", f"orders/{order['id']}/status", json={"status": self._words.word(meaning)})

    # --- transport -----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_transient: bool = True,
    ) -> httpx.Response:
        await self._pace()
        all_headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json", **(headers or {})}
        try:
            response = await self._http.request(
                method,
                f"{self._base}/{path}",
                headers=all_headers,
                params=params,
                json=json,
                retry_transient=retry_transient,
            )
        except ChannelAuthFailed as exc:
            raise ChannelAuthFailed(
                f"The back office refused Waybill's API key ({exc.message}). "
                "Create a new API key in the back office and reconnect the channel."
            ) from None
        self._note_rate_limit(response)
        return response

    async def _pace(self) -> None:
        """After a 429 or an exhausted window, wait for the reset before the next call (no 429 storms)."""
        async with self._pace_lock:
            wait = self._not_before - time.monotonic()
            if wait > MAX_PACING_WAIT:
                raise ChannelThrottled(f"{PLATFORM} rate limit: the next call is allowed in {wait:.0f}s", wait)
            if wait > 0:
                await asyncio.sleep(wait)

    def _note_rate_limit(self, response: httpx.Response) -> None:
        if response.headers.get("X-RateLimit-Remaining") == "0":
            self._hold_off(_reset_seconds(response, default=1.0))

    def _retry_after(self, response: httpx.Response) -> float:
        """Retry-After, else X-RateLimit-Reset, else a default; remembered so the next call waits too."""
        if "Retry-After" in response.headers:
            wait = retry_after_header(response)
        else:
            wait = _reset_seconds(response, default=DEFAULT_RETRY_AFTER)
        self._hold_off(wait)
        return wait

    def _hold_off(self, seconds: float) -> None:
        self._not_before = max(self._not_before, time.monotonic() + seconds)


def _reset_seconds(response: httpx.Response, *, default: float) -> float:
    try:
        return max(0.0, float(response.headers["X-RateLimit-Reset"]))
    except (KeyError, ValueError):
        return default


def _line_totals(lines: Sequence[tuple[str, int]] | Sequence[Mapping[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in lines:
        line_id, quantity = (line["line_id"], line["quantity"]) if isinstance(line, Mapping) else line
        totals[str(line_id)] = totals.get(str(line_id), 0) + int(quantity)
    return totals


def _matching_shipment(
    shipments: Sequence[Mapping[str, Any]], lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None
) -> str | None:
    """The live shipment an earlier attempt of this same write already created, if any."""
    live = [s for s in shipments if s.get("status") != "cancelled"]
    for shipment in live:
        if tracking is not None:
            if shipment.get("tracking_number") == tracking.number:
                return str(shipment["id"])
        elif not shipment.get("tracking_number") and (
            lines is None or _line_totals(shipment.get("lines") or []) == _line_totals(lines)
        ):
            return str(shipment["id"])
    return None


def _idempotency_key(
    order_id: str,
    shipments: Sequence[Mapping[str, Any]],
    lines: Sequence[tuple[str, int]] | None,
    tracking: Tracking | None,
) -> str:
    """Same write, same key; a shipment removed earlier (undo) must not be replayed, so it counts in the key."""
    what = (
        f"tracking:{tracking.number}"
        if tracking is not None
        else "hand:" + repr(sorted(_line_totals(lines).items()) if lines is not None else "all")
    )
    removed = sum(
        1
        for s in shipments
        if s.get("status") == "cancelled"
        and (s.get("tracking_number") == tracking.number if tracking else not s.get("tracking_number"))
    )
    digest = hashlib.sha256(f"{order_id}|{what}|{removed}".encode()).hexdigest()[:32]
    return f"waybill-{digest}"
