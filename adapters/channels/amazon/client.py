"""AmazonClient: the ChannelClient port over SP-API Orders v0, with LWA tokens and per-operation token buckets.

Amazon's limits are the hard part: getOrders allows one call a minute after a burst of 20, and a 429
carries no Retry-After. Each operation is paced by its own TokenBucket (rate adopted from
`x-amzn-RateLimit-Limit`); a 429 empties that bucket, and a wait longer than `max_wait` is handed
back as ChannelThrottled(retry_after) so the sync job defers instead of sleeping.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.channels.amazon.mapper import (
    package_reference_id,
    shipment_body,
    to_channel_order,
    unshipped_quantities,
    wanted_quantities,
)
from adapters.channels.base import Credentials, CredentialStore
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

DEFAULT_API_URL = "https://sellingpartnerapi-na.amazon.com"
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
#: Each order costs one getOrderItems call (0.5/s, burst 30): a page of 30 fits one burst, and the
#: steady rate (30 orders a minute) matches getOrders' one call a minute anyway.
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
#: First sync without a cursor: Amazon serves two years at most, and an MFN order not shipped within
#: 90 days has long been cancelled by Amazon, so older ones would only cost rate-limited calls.
FIRST_SYNC_LOOKBACK = timedelta(days=90)
REFRESH_MARGIN = 60.0  # refresh when less than this many seconds of the access token are left

#: Published usage plans (rate per second, burst); the rate is replaced by x-amzn-RateLimit-Limit.
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "getMarketplaceParticipations": (0.016, 15),
}
_OPERATIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("getOrderItems", re.compile(r"/orders/v0/orders/[^/]+/orderItems$")),
    ("confirmShipment", re.compile(r"/orders/v0/orders/[^/]+/shipmentConfirmation$")),
    ("getOrders", re.compile(r"/orders/v0/orders$")),
    ("getMarketplaceParticipations", re.compile(r"/sellers/v1/marketplaceParticipations$")),
)

UNDO_UNSUPPORTED = (
    "Amazon does not let a seller take back a shipment confirmation. To fix a wrong carrier or tracking "
    "number, edit the shipment in Seller Central (Orders > Manage Orders > Edit shipment); if the parcel "
    "never left, ship it again with its new tracking number."
)


def error_text(response: httpx.Response) -> str:
    """Amazon's {"errors": [{"code", "message", "details"}]} and LWA's {"error", "error_description"}."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        parts = []
        for error in body["errors"]:
            if not isinstance(error, Mapping):
                parts.append(flatten(error))
                continue
            text = f"{error.get('code') or 'Error'}: {error.get('message') or ''}".strip()
            if error.get("details"):
                text += f" ({error['details']})"
            parts.append(text)
        return "; ".join(parts)[:500] or response.reason_phrase
    if isinstance(body, Mapping) and body.get("error"):
        description = body.get("error_description")
        return f"{description} ({body['error']})" if description else str(body["error"])
    return flatten(body)[:500] or response.reason_phrase


def operation_of(path: str) -> str | None:
    for name, pattern in _OPERATIONS:
        if pattern.search(path):
            return name
    return None


def rate_limit(response: httpx.Response) -> float | None:
    try:
        rate = float(response.headers.get("x-amzn-RateLimit-Limit", ""))
    except ValueError:
        return None
    return rate if rate > 0 else None


def _iso(moment: datetime) -> str:
    """Second resolution, rounded down: LastUpdatedAfter is inclusive, so nothing is lost."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AmazonClient:
    """One seller on one marketplace. The http client is shared: `aclose()` closes nothing."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        http: httpx.AsyncClient,
        store: CredentialStore,
        page_size: int | None = None,
        usage_plans: Mapping[str, tuple[float, int]] | None = None,
        max_wait: float = 10.0,
        max_throttle_retries: int = 3,
        retry_backoff: tuple[float, ...] = (0.2, 0.6),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = dict(credentials)
        self._store = store
        self._api = str(credentials.get("api_url") or DEFAULT_API_URL).rstrip("/")
        self._token_url = str(credentials.get("token_url") or DEFAULT_TOKEN_URL)
        self._marketplace = str(credentials["marketplace_id"])
        self._page_size = max(1, min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))
        self._clock = clock
        self.max_throttle_retries = max_throttle_retries
        plans = {**USAGE_PLANS, **(usage_plans or {})}
        self.buckets = {op: TokenBucket(rate, burst, max_wait=max_wait) for op, (rate, burst) in plans.items()}
        # 429s are handled here (drain the operation's bucket), so ChannelHttp raises on the first one.
        self._api_http = ChannelHttp(
            "Amazon",
            http,
            error_text=error_text,
            retry_after=self._on_throttled,
            retry_backoff=retry_backoff,
            max_throttle_retries=0,
        )
        self._token_http = ChannelHttp("Amazon login (LWA)", http, error_text=error_text, retry_backoff=retry_backoff)

    def __repr__(self) -> str:  # never the tokens or the client secret
        return f"AmazonClient({self._api!r}, marketplace={self._marketplace!r})"

    async def aclose(self) -> None:
        """The http client belongs to the runtime."""

    # --- the port ------------------------------------------------------------------------

    async def check_connection(self) -> str:
        response = await self._call("getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations")
        entries = response.json().get("payload") or []
        for entry in entries:
            marketplace = entry.get("marketplace") or {}
            if marketplace.get("id") == self._marketplace:
                return str(entry.get("storeName") or marketplace.get("name") or self._marketplace)
        sold_on = ", ".join(str((e.get("marketplace") or {}).get("id")) for e in entries) or "none"
        raise ChannelRejected(
            f"This Amazon seller does not sell on marketplace {self._marketplace} (it sells on: {sold_on}); "
            "check the marketplace id."
        )

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        params: dict[str, Any] = {"MarketplaceIds": self._marketplace}
        if page:
            params["NextToken"] = page  # Amazon ignores the other criteria next to a NextToken
        else:
            since = updated_since or datetime.now(UTC) - FIRST_SYNC_LOOKBACK
            params |= {"LastUpdatedAfter": _iso(since), "MaxResultsPerPage": self._page_size}
            params["FulfillmentChannels"] = "MFN"  # FBA orders are shipped by Amazon, not by the merchant
        response = await self._call("getOrders", "GET", "/orders/v0/orders", params=params)
        payload = response.json().get("payload") or {}
        raws = [raw for raw in payload.get("Orders") or [] if isinstance(raw, Mapping)]
        raws.sort(key=lambda raw: str(raw.get("LastUpdateDate") or ""))
        orders: list[ChannelOrder] = []
        unreadable: list[tuple[str, str]] = []
        for raw in raws:
            order_id = str(raw.get("AmazonOrderId") or "?")
            try:
                items = await self._order_items(order_id)
                orders.append(to_channel_order(raw, items))
            except ChannelRejected as exc:  # e.g. the order vanished between the two calls
                unreadable.append((order_id, f"order items unavailable: {exc.message}"))
            except (ValueError, KeyError, TypeError) as exc:
                unreadable.append((order_id, f"unreadable order: {exc}"))
        return OrderPage(orders=orders, next_page=payload.get("NextToken") or None, unreadable=unreadable)

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """One package per call. Its packageReferenceId comes from the tracking number, and resubmitting
        a package edits it, so a repeat after a lost response lands on the same package.

        Amazon keeps shipped quantities per item, so `order_complete` needs no special handling.
        """
        if lines is None:
            wanted = unshipped_quantities(await self._order_items(external_order_id))
            package_id = package_reference_id(tracking, None)
            if not wanted:
                return package_id  # everything has shipped: an earlier attempt already landed
        else:
            try:
                wanted = wanted_quantities(lines)
            except ValueError as exc:
                raise ChannelRejected(f"order {external_order_id}: {exc}") from exc
            package_id = package_reference_id(tracking, wanted)
        body = shipment_body(self._marketplace, package_id, wanted, tracking, datetime.now(UTC))
        path = f"/orders/v0/orders/{external_order_id}/shipmentConfirmation"
        await self._call("confirmShipment", "POST", path, json=body)
        return package_id

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None:
        """Amazon records no delivery for seller-fulfilled orders: nothing to send."""

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        raise ChannelUnsupported(UNDO_UNSUPPORTED)

    # --- helpers -------------------------------------------------------------------------

    async def _order_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        while True:
            path = f"/orders/v0/orders/{order_id}/orderItems"
            response = await self._call("getOrderItems", "GET", path, params=params)
            payload = response.json().get("payload") or {}
            items += payload.get("OrderItems") or []
            token = payload.get("NextToken")
            if not token:
                return items
            params = {"NextToken": token}

    # --- transport -----------------------------------------------------------------------

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Paced by the operation's bucket; a 429 drains it; 401/403 refreshes the token once."""
        bucket = self.buckets[operation]
        refreshed = False
        throttles = 0
        kwargs: dict[str, Any] = {"params": params} if params else {}
        if json is not None:
            kwargs["json"] = json
        while True:
            token = await self._access_token()
            await bucket.acquire(f"Amazon {operation} call")  # raises ChannelThrottled when the wait is long
            headers = {"x-amz-access-token": token, "accept": "application/json"}
            try:
                response = await self._api_http.request(method, f"{self._api}{path}", headers=headers, **kwargs)
            except ChannelThrottled:
                bucket.drain()  # the next acquire waits one token time, or hands the wait back
                throttles += 1
                if throttles > self.max_throttle_retries:
                    raise
                continue
            except ChannelAuthFailed as exc:
                if refreshed:
                    raise ChannelAuthFailed(
                        f"Amazon refused Waybill's access: {exc.message}. Reconnect the Amazon channel."
                    ) from exc
                refreshed = True
                await self._refresh_after_refusal(token)
                continue
            rate = rate_limit(response)
            if rate is not None:
                bucket.set_rate(rate)
            return response

    def _on_throttled(self, response: httpx.Response) -> float:
        """ChannelHttp asks how long to wait after a 429: adopt the rate header, wait one token."""
        operation = operation_of(response.request.url.path)
        bucket = self.buckets.get(operation) if operation else None
        rate = rate_limit(response)
        if bucket is not None and rate is not None:
            bucket.set_rate(rate)
        return 1.0 / bucket.rate if bucket is not None else 2.0

    async def _access_token(self) -> str:
        token = self._credentials.get("access_token")
        expires_at = float(self._credentials.get("expires_at") or 0)
        if token and expires_at - self._clock() > REFRESH_MARGIN:
            return str(token)
        self._credentials = await self._store.refreshed(self._credentials, self._refresh)
        return str(self._credentials["access_token"])

    async def _refresh_after_refusal(self, refused_token: str) -> None:
        """Amazon answered 401/403: refresh once (or take what another process refreshed meanwhile)."""
        if self._credentials.get("access_token") == refused_token:
            self._credentials = await self._store.refreshed(self._credentials, self._refresh)

    async def _refresh(self, current: Credentials) -> Credentials:
        """LWA refresh; Amazon keeps the refresh token, but a new one in the answer is stored too."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": current["refresh_token"],
            "client_id": current["client_id"],
            "client_secret": current["client_secret"],
        }
        try:
            response = await self._token_http.request("POST", self._token_url, data=form, auth_status=())
        except ChannelRejected as exc:
            raise ChannelAuthFailed(
                f"Amazon refused Waybill's access: {exc.message}. Reconnect the Amazon channel."
            ) from exc
        body = response.json()
        if not isinstance(body, Mapping) or not body.get("access_token"):
            raise ChannelUnavailable("Amazon login (LWA) answered without an access token")
        log.info("amazon: access token refreshed for marketplace %s", self._marketplace)
        return {
            **current,
            "access_token": str(body["access_token"]),
            "expires_at": int(self._clock() + float(body.get("expires_in") or 3600)),
            "refresh_token": str(body.get("refresh_token") or current["refresh_token"]),
        }
