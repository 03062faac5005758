"""EtsyClient: the ChannelClient port over Etsy Open API v3 receipts, on the shared ChannelHttp transport.

Etsy specifics handled here: OAuth tokens that expire hourly with a refresh token that rotates on every
use (so refreshing always goes through the CredentialStore), a per-app QPS budget announced in headers,
offset paging whose pages shift when an order changes mid-sync (we page by modified time instead), and
a tracking call that is not idempotent (we look for the tracking code before posting it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.channels.base import Credentials, CredentialStore
from adapters.channels.etsy.mapper import to_channel_order, updated_at
from adapters.channels.http import ChannelHttp, TokenBucket, flatten
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

DEFAULT_API_URL = "https://api.etsy.com"
DEFAULT_TOKEN_URL = "https://api.etsy.com/v3/public/oauth/token"
PAGE_SIZE = 100  # Etsy's maximum `limit`
DEFAULT_QPS = 10.0  # Etsy's default per-app budget until x-limit-per-second says otherwise
REFRESH_MARGIN = 60  # seconds before expires_at at which we refresh
#: Waybill carrier key -> Etsy carrier_name; anything else is "other" with the name in the note to the buyer.
CARRIERS = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl": "dhl"}
UNDO_UNSUPPORTED = (
    "Etsy does not let apps take back a shipment: the order stays marked as shipped on Etsy and the buyer "
    "keeps the tracking number. Correct it in Etsy's Shop Manager (Orders & Shipping) if needed."
)

#: Status of the last error response seen in this task: tells a 401 (refresh may cure it) from a 403.
_last_error_status: contextvars.ContextVar[int | None] = contextvars.ContextVar("etsy_last_error_status", default=None)


def error_text(response: httpx.Response) -> str:
    """Etsy errors are {"error": ...}, OAuth ones add "error_description": keep both."""
    _last_error_status.set(response.status_code)
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, Mapping) and body.get("error") and body.get("error_description"):
        return f"{body['error']}: {body['error_description']}"
    return flatten(body)[:500] or response.reason_phrase


class EtsyClient:
    """One shop, one OAuth grant. The http client is shared and never closed here."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        http: httpx.AsyncClient,
        store: CredentialStore,
        page_size: int | None = None,
    ) -> None:
        # Kept exactly as stored: the store compares them to tell a stale copy from the current one.
        self._credentials = dict(credentials)
        self._store = store
        self._api = str(credentials.get("api_url") or DEFAULT_API_URL).rstrip("/")
        self._token_url = str(credentials.get("token_url") or DEFAULT_TOKEN_URL)
        self._shop = f"{self._api}/v3/application/shops/{credentials['shop_id']}"
        self._page_size = max(1, min(page_size or PAGE_SIZE, PAGE_SIZE))
        self._http = ChannelHttp("Etsy", http, error_text=error_text, retry_after=self._retry_after)
        self._bucket = TokenBucket(DEFAULT_QPS, max(1, int(DEFAULT_QPS) - 1), max_wait=self._http.max_retry_after)
        self._not_before = 0.0  # monotonic time before which Etsy asked us not to call (after a 429)

    def __repr__(self) -> str:  # never show tokens or the shared secret
        return f"EtsyClient({self._shop!r})"

    @property
    def retry_backoff(self) -> tuple[float, ...]:
        return self._http.retry_backoff

    @retry_backoff.setter
    def retry_backoff(self, value: tuple[float, ...]) -> None:
        self._http.retry_backoff = value

    async def aclose(self) -> None:
        """The http client belongs to the caller; nothing else to release."""

    # --- the port --------------------------------------------------------------------------------

    async def check_connection(self) -> str:
        shop = (await self._request("GET", self._shop)).json()
        return str(shop.get("shop_name") or shop.get("shop_id"))

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        """Oldest change first. Pages continue from the last modified time seen, not from an offset:
        an order changed mid-sync moves to the end of Etsy's list and would shift the next offset page."""
        if page:
            state = _decode_page(page)
        else:
            since = None
            if updated_since is not None:
                aware = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=UTC)
                since = math.floor(aware.timestamp())  # Etsy filters in whole seconds, inclusive
            state = {"since": since, "seen": [], "offset": 0}
        params: dict[str, Any] = {
            "sort_on": "updated",
            "sort_order": "asc",
            "limit": self._page_size,
            "offset": state["offset"],
        }
        if state["since"] is not None:
            params["min_last_modified"] = state["since"]
        body = (await self._request("GET", f"{self._shop}/receipts", params=params)).json()
        results = body.get("results") or []
        seen = set(state["seen"])
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        stamps: list[tuple[int, str]] = []  # (modified second, receipt id) of the readable ones, in page order
        for raw in results:
            receipt_id = str(raw.get("receipt_id", "?")) if isinstance(raw, Mapping) else "?"
            try:
                stamps.append((int(updated_at(raw).timestamp()), receipt_id))
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            if receipt_id in seen:
                continue  # already returned by the previous page (same second)
            try:
                orders.append(to_channel_order(raw))
            except (ValueError, KeyError, TypeError) as exc:
                # One malformed receipt must not stop the sync of the others.
                unreadable.append((receipt_id, f"unreadable receipt: {exc}"))
        return OrderPage(orders, self._next_page(state, body, len(results), stamps), unreadable)

    def _next_page(
        self, state: dict[str, Any], body: Mapping[str, Any], returned: int, stamps: list[tuple[int, str]]
    ) -> str | None:
        count = int(body.get("count") or 0)
        if returned == 0 or state["offset"] + returned >= count:
            return None
        if not stamps:  # nothing readable to continue from: plain offset paging
            return _encode_page({**state, "offset": state["offset"] + returned})
        last = stamps[-1][0]
        group = [rid for stamp, rid in stamps if stamp == last]
        if state["since"] == last:
            group = list(dict.fromkeys([*state["seen"], *group]))
        # Re-read from `last` and skip what we saw; past a page of ties, an offset is the only way forward.
        offset = 0 if len(group) < self._page_size else len(group)
        return _encode_page({"since": last, "seen": group, "offset": offset})

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """Etsy ships whole receipts: each tracking number becomes one shipment and marks the order shipped.

        Without tracking (hand delivery) the receipt is marked shipped once every line has gone.
        """
        attempt = 0
        while True:
            try:
                return await self._create_fulfillment_once(external_order_id, lines, tracking, order_complete)
            except ChannelUnavailable as exc:
                # The POST may have landed before the failure: start over from the check, never re-POST blindly.
                attempt = await self._http.backoff_or_raise(attempt, exc)

    async def _create_fulfillment_once(
        self, receipt_id: str, lines: Sequence[tuple[str, int]] | None, tracking: Tracking | None, complete: bool
    ) -> str:
        receipt = (await self._request("GET", f"{self._shop}/receipts/{receipt_id}")).json()
        _check_lines(receipt, lines)
        if tracking is None:
            if receipt.get("is_shipped") is True or not complete:
                return f"receipt-{receipt_id}"  # already shipped, or nothing Etsy can record yet
            await self._request("POST", f"{self._shop}/receipts/{receipt_id}/tracking", form={}, retry_transient=False)
            return f"receipt-{receipt_id}"
        existing = _shipment_id(receipt, tracking.number)
        if existing is not None:
            return existing
        carrier = etsy_carrier(tracking)
        # Etsy documents form bodies for writes (booleans as "true"/"false").
        body = {"tracking_code": tracking.number, "carrier_name": carrier, "send_bcc": "false"}
        if carrier == "other":
            note = f"Shipped with {tracking.company}, tracking number {tracking.number}"
            body["note_to_buyer"] = f"{note}: {tracking.url}" if tracking.url else note
        response = await self._request(
            "POST", f"{self._shop}/receipts/{receipt_id}/tracking", form=body, retry_transient=False
        )
        created = _shipment_id(response.json(), tracking.number)
        if created is None:
            raise ChannelRejected(f"Etsy accepted tracking {tracking.number} for {receipt_id} but shows no shipment")
        return created

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        """Etsy records delivery itself from the carrier's scans; the API has no way to set it."""

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        raise ChannelUnsupported(UNDO_UNSUPPORTED)

    # --- auth ------------------------------------------------------------------------------------

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {
            "x-api-key": f"{credentials['keystring']}:{credentials.get('shared_secret') or ''}",
            "Authorization": f"Bearer {credentials['access_token']}",
            "Accept": "application/json",
        }

    async def _refresh_from(self, stale: Credentials) -> None:
        """Through the store: it saves a rotated pair before we use it, or hands back a newer one."""
        self._credentials = dict(await self._store.refreshed(stale, self._refresh))

    async def _refresh(self, current: Credentials) -> Credentials:
        if not current.get("refresh_token"):
            raise ChannelAuthFailed("Etsy refused Waybill's access: no refresh token is stored; reconnect the channel")
        form = {
            "grant_type": "refresh_token",
            "client_id": str(current["keystring"]),
            "refresh_token": str(current["refresh_token"]),
        }
        try:
            response = await self._http.request("POST", self._token_url, data=form, auth_status=(400, 401, 403))
        except (ChannelAuthFailed, ChannelRejected) as exc:
            raise ChannelAuthFailed(f"Etsy refused Waybill's access: {_reason(exc)}; reconnect the channel") from exc
        tokens = response.json()
        if not isinstance(tokens, Mapping) or not tokens.get("access_token"):
            raise ChannelUnavailable("Etsy's token endpoint answered without an access_token")
        log.info("etsy: access token refreshed for shop %s", current.get("shop_id"))
        return {
            **current,
            "access_token": tokens["access_token"],
            "refresh_token": tokens.get("refresh_token") or current["refresh_token"],
            "expires_at": int(time.time()) + int(tokens.get("expires_in") or 3600),
        }

    def _expiring(self) -> bool:
        expires_at = self._credentials.get("expires_at")
        try:
            return expires_at is not None and float(expires_at) - time.time() < REFRESH_MARGIN
        except (TypeError, ValueError):
            return False

    # --- transport -------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        retry_transient: bool = True,
    ) -> httpx.Response:
        """One API call: fresh token, pacing, and one refresh-and-retry when Etsy says the token is invalid."""
        if self._expiring():
            await self._refresh_from(self._credentials)
        refreshed = False
        while True:
            await self._pace()
            credentials = self._credentials
            _last_error_status.set(None)
            try:
                response = await self._http.request(
                    method,
                    url,
                    headers=self._headers(credentials),
                    params=params,
                    data=form,
                    retry_transient=retry_transient,
                )
            except ChannelAuthFailed as exc:
                if _last_error_status.get() == 401 and not refreshed:
                    refreshed = True
                    await self._refresh_from(credentials)
                    continue
                raise ChannelAuthFailed(
                    f"Etsy refused Waybill's access: {_reason(exc)}; reconnect the channel"
                ) from exc
            self._note_limits(response)
            return response

    async def _pace(self) -> None:
        """After a 429 wait as long as Etsy asked; otherwise stay under the per-second budget."""
        wait = self._not_before - time.monotonic()
        if wait > 0:
            if wait > self._http.max_retry_after:
                raise ChannelThrottled(f"Etsy asked Waybill to wait {wait:.0f}s before calling again", wait)
            await asyncio.sleep(wait)
        await self._bucket.acquire("Etsy call")

    def _retry_after(self, response: httpx.Response) -> float:
        """Etsy's retry-after; without one, a second (per-second budget) or an hour (daily budget spent)."""
        try:
            wait = max(0.0, float(response.headers["retry-after"]))
        except (KeyError, ValueError):
            wait = 3600.0 if response.headers.get("x-remaining-today") == "0" else 1.0
        self._bucket.drain()
        self._not_before = time.monotonic() + wait
        return wait

    def _note_limits(self, response: httpx.Response) -> None:
        try:
            self._bucket.set_rate(float(response.headers.get("x-limit-per-second", "")))
        except ValueError:
            pass
        if response.headers.get("x-remaining-this-second") == "0":
            self._bucket.drain()


def etsy_carrier(tracking: Tracking) -> str:
    """Waybill's carrier key (or, failing that, the company name) as Etsy's carrier_name."""
    for key in (tracking.carrier, tracking.company):
        code = CARRIERS.get((key or "").strip().lower())
        if code:
            return code
    return "other"


def _shipment_id(receipt: Mapping[str, Any], tracking_code: str) -> str | None:
    for shipment in receipt.get("shipments") or []:
        if str(shipment.get("tracking_code") or "") == tracking_code:
            return str(shipment["receipt_shipping_id"])
    return None


def _check_lines(receipt: Mapping[str, Any], lines: Sequence[tuple[str, int]] | None) -> None:
    """Etsy takes no lines, so catch a wrong line id here rather than ship the wrong order."""
    if lines is None:
        return
    known = {str(t.get("transaction_id")): int(t.get("quantity") or 0) for t in receipt.get("transactions") or []}
    for line_id, quantity in lines:
        ordered = known.get(str(line_id))
        if ordered is None:
            raise ChannelRejected(f"Etsy receipt {receipt.get('receipt_id')} has no transaction {line_id}")
        if not 0 < quantity <= ordered:
            raise ChannelRejected(f"transaction {line_id}: quantity {quantity} is not between 1 and {ordered}")


def _reason(exc: ChannelAuthFailed | ChannelRejected) -> str:
    """The platform's words, without our 'Etsy answered 401 to …' prefix."""
    return exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message


def _encode_page(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(page: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(page + "=" * (-len(page) % 4)))
        since, seen, offset = state["since"], state["seen"], state["offset"]
        if (since is not None and not isinstance(since, int)) or not isinstance(offset, int) or offset < 0:
            raise ValueError(page)
        return {"since": since, "seen": [str(item) for item in seen], "offset": offset}
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ChannelRejected(f"not an Etsy page token: {page[:40]!r}") from None
