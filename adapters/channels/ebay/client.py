"""EbayClient: the ChannelClient port over eBay's Sell Fulfillment API v1 (httpx through ChannelHttp).

eBay user tokens live two hours and are refreshed with a long-lived (not rotated) refresh token; the
refresh always goes through the CredentialStore so two workers never race. eBay's limits are daily
quotas, so a 429 without Retry-After means "quota spent": we back off for minutes, not milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from adapters.channels.base import Credentials, CredentialStore
from adapters.channels.ebay import mapper
from adapters.channels.http import ChannelHttp
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

API_URL = "https://api.ebay.com"
TOKEN_PATH = "/identity/v1/oauth2/token"
SCOPE = "https://api.ebay.com/oauth/api_scope/sell.fulfillment"
ORDERS_PATH = "/sell/fulfillment/v1/order"
PAGE_SIZE = 200  # eBay's maximum `limit`
REFRESH_MARGIN = 60.0  # seconds of token life we never rely on
#: eBay accepts filters reaching back at most two years; older cursors are clamped (a day of slack for clocks).
MAX_LOOKBACK = timedelta(days=729)
#: A 429 without Retry-After means the daily quota is spent; retrying sooner only burns calls.
QUOTA_RETRY_AFTER = 60.0
NO_UNDO = (
    "eBay does not let a shipment be taken back once its tracking is uploaded; "
    "correct it in Seller Hub (Orders > Edit tracking) or contact the buyer instead."
)


def error_text(response: httpx.Response) -> str:
    """eBay's {"errors": [{errorId, message, longMessage}]} and OAuth's {error, error_description} as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        parts = []
        for error in body["errors"]:
            if not isinstance(error, Mapping):
                continue
            text = str(error.get("longMessage") or error.get("message") or "").strip()
            if error.get("errorId") is not None:
                text = f"{text} (errorId {error['errorId']})"
            parts.append(text)
        return "; ".join(parts)[:500] or response.reason_phrase
    if isinstance(body, Mapping) and body.get("error"):
        description = body.get("error_description")
        return f"{body['error']}: {description}" if description else str(body["error"])
    return response.text[:200].strip() or response.reason_phrase


def retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return QUOTA_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        return QUOTA_RETRY_AFTER


class EbayClient:
    """One seller account. The http client is shared and never closed here."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        http: httpx.AsyncClient,
        store: CredentialStore,
        page_size: int | None = None,
        retry_backoff: tuple[float, ...] = (0.2, 0.6),
    ) -> None:
        self._credentials = dict(credentials)
        self._store = store
        self._api = str(credentials.get("api_url") or API_URL).rstrip("/")
        self._token_url = str(credentials.get("token_url") or f"{self._api}{TOKEN_PATH}")
        self._page_size = max(1, min(page_size or PAGE_SIZE, PAGE_SIZE))
        self._transport = ChannelHttp(
            "eBay", http, error_text=error_text, retry_after=retry_after, retry_backoff=retry_backoff
        )
        self._not_before = 0.0  # monotonic time before which a 429 told us not to call

    def __repr__(self) -> str:  # never show tokens or secrets
        return f"EbayClient({self._api!r})"

    async def aclose(self) -> None:
        """The http client belongs to the caller."""

    # --- the port ------------------------------------------------------------------------

    async def check_connection(self) -> str:
        """The Fulfillment scope has no "who am I": one order read proves the token and names the seller."""
        response = await self._call("GET", f"{self._api}{ORDERS_PATH}?limit=1")
        for order in response.json().get("orders") or []:
            if isinstance(order, Mapping) and order.get("sellerId"):
                return str(order["sellerId"])
        return "eBay seller account (no orders yet)"

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        query = _encode_filter_chars(page) if page else self._first_query(updated_since)
        if not query.startswith(("filter=", "limit=", "offset=")):
            raise ChannelRejected(f"not an eBay page token: {page!r}")
        response = await self._call("GET", f"{self._api}{ORDERS_PATH}?{query}")
        body = response.json()
        raw_orders = body.get("orders") or []
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        for raw in raw_orders:
            try:
                orders.append(mapper.to_channel_order(raw))
            except (ValueError, KeyError, TypeError) as exc:
                # One malformed order must not stop the sync of the others.
                order_id = raw.get("orderId", "?") if isinstance(raw, Mapping) else "?"
                unreadable.append((str(order_id), f"unreadable order: {exc}"))
        # eBay sorts by creation date; within a page, hand orders on oldest change first.
        orders.sort(key=lambda order: order.channel_updated_at)
        return OrderPage(orders=orders, next_page=self._next_query(body, query, len(raw_orders)), unreadable=unreadable)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """eBay tracks shipping per line, so each shipment is written as it happens (`order_complete` unused)."""
        attempt = 0
        while True:
            try:
                return await self._create_fulfillment_once(external_order_id, lines, tracking)
            except ChannelUnavailable as exc:
                # The POST may have landed before the failure: start over from the check, never re-POST blindly.
                attempt = await self._transport.backoff_or_raise(attempt, exc)

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        """eBay records no delivery for seller-shipped parcels (the carrier scan reaches eBay by itself)."""

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        raise ChannelUnsupported(NO_UNDO)

    # --- fulfillments --------------------------------------------------------------------

    async def _create_fulfillment_once(
        self, order_id: str, lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None
    ) -> str:
        number = None
        if tracking is not None:
            number = mapper.tracking_number(tracking.number)
            if not number:
                raise ChannelRejected(
                    f"eBay order {order_id}: tracking number {tracking.number!r} has no letters or digits"
                )
        done = await self._fulfillments(order_id)
        try:
            wanted = mapper.requested_line_items(lines) if lines is not None else None
        except ValueError as exc:
            raise ChannelRejected(f"eBay order {order_id}: {exc}") from exc
        already = mapper.matching_fulfillment(done, wanted, number)
        if already is not None:
            return already
        if wanted is None:
            wanted = mapper.remaining_line_items(await self._order(order_id), done)
            if not wanted:
                if number is None and done:
                    return str(done[-1]["fulfillmentId"])  # a hand delivery that already landed
                raise ChannelRejected(f"eBay order {order_id}: every line is already shipped; nothing left to ship")
        body: dict[str, Any] = {"lineItems": wanted, "shippedDate": mapper.format_time(datetime.now(UTC))}
        if tracking is not None and number is not None:
            body["shippingCarrierCode"] = mapper.carrier_code(tracking)
            body["trackingNumber"] = number
        url = f"{self._api}{ORDERS_PATH}/{quote(order_id, safe='')}/shipping_fulfillment"
        response = await self._call("POST", url, json=body, retry_transient=False)
        fulfillment_id = mapper.fulfillment_id_from_location(response.headers.get("Location"))
        if fulfillment_id is None:
            # Landed but unnamed: the next attempt finds it by its tracking number or lines.
            raise ChannelUnavailable(f"eBay created a fulfillment for {order_id} without a Location header")
        return fulfillment_id

    async def _fulfillments(self, order_id: str) -> list[dict[str, Any]]:
        url = f"{self._api}{ORDERS_PATH}/{quote(order_id, safe='')}/shipping_fulfillment"
        response = await self._call("GET", url)
        return list(response.json().get("fulfillments") or [])

    async def _order(self, order_id: str) -> dict[str, Any]:
        response = await self._call("GET", f"{self._api}{ORDERS_PATH}/{quote(order_id, safe='')}")
        order: dict[str, Any] = response.json()
        return order

    # --- paging --------------------------------------------------------------------------

    def _first_query(self, updated_since: datetime | None) -> str:
        parts = []
        if updated_since is not None:
            since = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=UTC)
            since = max(since, datetime.now(UTC) - MAX_LOOKBACK)
            # eBay wants [ ] percent-encoded; the colon and dots stay as eBay's own examples write them.
            parts.append("filter=" + quote(f"lastmodifieddate:[{mapper.format_time(since)}..]", safe=":."))
        parts += [f"limit={self._page_size}", "offset=0"]
        return "&".join(parts)

    def _next_query(self, body: Mapping[str, Any], query: str, received: int) -> str | None:
        """The query of eBay's `next` link; or, when eBay omits it, the next offset until offset+count >= total."""
        if received == 0:
            return None
        next_url = body.get("next")
        if next_url:
            return urlsplit(str(next_url)).query or None
        offset = int(body.get("offset") or 0)
        total = int(body.get("total") or 0)
        if offset + received >= total:
            return None
        kept = [part for part in query.split("&") if not part.startswith("offset=")]
        return "&".join([*kept, f"offset={offset + received}"])

    # --- auth and transport --------------------------------------------------------------

    async def _call(self, method: str, url: str, *, retry_transient: bool = True, **kwargs: Any) -> httpx.Response:
        """One API call with a fresh token; a 401/403 gets one refresh and one more try, then the merchant must reconnect."""
        token, fresh = await self._access_token()
        try:
            return await self._send(method, url, token, retry_transient=retry_transient, **kwargs)
        except ChannelAuthFailed as exc:
            if fresh:  # a token minted for this very call was refused: refreshing again cannot help
                raise ChannelAuthFailed(
                    f"eBay refused Waybill's access ({exc.message}); reconnect the channel"
                ) from exc
            log.info("eBay refused the access token; refreshing once")
        token = await self._refresh_now()
        try:
            return await self._send(method, url, token, retry_transient=retry_transient, **kwargs)
        except ChannelAuthFailed as exc:
            raise ChannelAuthFailed(f"eBay refused Waybill's access ({exc.message}); reconnect the channel") from exc

    async def _send(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        await self._respect_throttle()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            return await self._transport.request(method, url, headers=headers, **kwargs)
        except ChannelThrottled as exc:
            self._not_before = time.monotonic() + (exc.retry_after or QUOTA_RETRY_AFTER)
            raise

    async def _respect_throttle(self) -> None:
        """After a 429 we were told to wait; short waits are slept, long ones are handed back to the job."""
        wait = self._not_before - time.monotonic()
        if wait <= 0:
            return
        if wait > self._transport.max_retry_after:
            raise ChannelThrottled(f"eBay asked Waybill to wait {wait:.0f}s before the next call", wait)
        await asyncio.sleep(wait)

    async def _access_token(self) -> tuple[str, bool]:
        """The cached token while it has more than a minute left, else a refreshed one; and whether it is new."""
        token = self._credentials.get("access_token")
        expires_at = float(self._credentials.get("expires_at") or 0)
        if token and expires_at - time.time() > REFRESH_MARGIN:
            return str(token), False
        return await self._refresh_now(), True

    async def _refresh_now(self) -> str:
        self._credentials = await self._store.refreshed(self._credentials, self._refresh)
        return str(self._credentials["access_token"])

    async def _refresh(self, current: Credentials) -> Credentials:
        """POST the refresh grant; eBay does not rotate the refresh token, but a new one is kept if sent."""
        basic = base64.b64encode(f"{current['client_id']}:{current['client_secret']}".encode()).decode()
        form = {"grant_type": "refresh_token", "refresh_token": current["refresh_token"], "scope": SCOPE}
        headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}
        await self._respect_throttle()
        try:
            response = await self._transport.request(
                "POST", self._token_url, headers=headers, data=form, auth_status=(400, 401, 403)
            )
        except ChannelAuthFailed as exc:
            raise ChannelAuthFailed(f"eBay refused Waybill's access ({exc.message}); reconnect the channel") from exc
        except ChannelThrottled as exc:
            self._not_before = time.monotonic() + (exc.retry_after or QUOTA_RETRY_AFTER)
            raise
        grant = response.json()
        try:
            fresh = {
                **current,
                "access_token": str(grant["access_token"]),
                "expires_at": int(time.time()) + int(grant.get("expires_in") or 7200),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ChannelUnavailable("eBay's token endpoint answered without an access_token") from exc
        if grant.get("refresh_token"):
            fresh["refresh_token"] = str(grant["refresh_token"])
        return fresh


def _encode_filter_chars(query: str) -> str:
    """eBay rejects raw [ ] { } | in `filter`; a `next` link that carries them raw is encoded before reuse."""
    return query.translate({ord("["): "%5B", ord("]"): "%5D", ord("{"): "%7B", ord("}"): "%7D", ord("|"): "%7C"})
