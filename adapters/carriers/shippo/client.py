"""CarrierClient for Shippo (or a Shippo-compatible server): rates, idempotent label purchase, refunds, tracking.

Shippo has no idempotency header, so the key travels in the transaction's `metadata` and the client looks it
up (GET /transactions, newest first) before every purchase and after every purchase whose answer was lost.
A transaction may stay QUEUED/WAITING: buy() polls briefly, then raises PurchasePending (retryable); the
caller retries with the same key and gets the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from adapters.carriers.shippo import mapper
from domain import ports
from domain.model import RefundStatus
from domain.ports import CarrierFailure, PurchasedLabel, Rate, RateRequest, TrackingInfo, VoidRejected

log = logging.getLogger(__name__)

BASE_URL = "https://api.goshippo.com"
API_VERSION = "2018-02-08"
LABEL_FILE_TYPES = ("PDF_4x6", "ZPLII")
DEFAULT_POLL_DELAYS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # ~4.5 s in all


class PurchasePending(ports.PurchasePending):
    """Shippo's transaction is still QUEUED/WAITING: retry later with the same idempotency key."""

    def __init__(self, message: str, transaction_id: str) -> None:
        super().__init__(message, carrier_reference=transaction_id)
        self.transaction_id = transaction_id


class _Unanswered(Exception):
    """A request whose outcome is unknown (timeout, connection lost, 5xx): it may or may not have landed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error(response: httpx.Response) -> str:
    return mapper.error_text(_json(response))[:500] or response.text[:200].strip() or response.reason_phrase


class ShippoClient:
    """One Shippo account (API token). An injected `http` client stays open on `aclose()`."""

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str = BASE_URL,
        http: httpx.AsyncClient | None = None,
        api_version: str = API_VERSION,
        label_file_type: str = "PDF_4x6",
        tracking_carrier: str = "usps",
        timeout: float = 20.0,
        max_attempts: int = 3,
        retry_backoff: float = 0.25,
        max_retry_after: float = 10.0,
        poll_delays: tuple[float, ...] = DEFAULT_POLL_DELAYS,
        lookup_window: timedelta = timedelta(days=3),
        lookup_pages: int = 20,
    ) -> None:
        if label_file_type not in LABEL_FILE_TYPES:
            raise ValueError(f"label_file_type must be one of {LABEL_FILE_TYPES}")
        self._token = api_token
        self._base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._api_version = api_version
        self._label_file_type = label_file_type
        self._tracking_carrier = tracking_carrier
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._retry_backoff = retry_backoff
        self._max_retry_after = max_retry_after
        self._poll_delays = poll_delays
        self._lookup_window = lookup_window
        self._lookup_pages = max(1, lookup_pages)
        self._transaction_by_key: dict[str, str] = {}  # this process's purchases: a GET instead of a scan
        self._provider_by_tracking: dict[str, str] = {}  # GET /tracks needs the carrier token

    def __repr__(self) -> str:  # the token never appears in logs or tracebacks
        return f"ShippoClient(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- CarrierClient -------------------------------------------------------------------

    async def rates(self, request: RateRequest) -> list[Rate]:
        shipment = await self._create_shipment(request)
        return mapper.rates_from_shipment(shipment)

    async def buy(
        self, request: RateRequest, service: str, idempotency_key: str, *, maybe_bought_before: bool = True
    ) -> PurchasedLabel:
        """Reuses what the key bought (or is buying) before; otherwise quotes afresh and buys the service's rate.

        `maybe_bought_before=False` (the caller knows no earlier attempt reached Shippo) skips the lookup, which
        costs GET-list calls, Shippo's scarcest rate limit (50/min live, 10/min test).
        """
        rate: dict[str, Any] | None = None
        known = idempotency_key in self._transaction_by_key
        transaction = await self._find_transaction(idempotency_key) if maybe_bought_before or known else None
        if transaction is None or transaction.get("status") == mapper.FAILED_TRANSACTION:
            shipment = await self._create_shipment(request, idempotency_key)
            rate = mapper.find_rate(shipment, service)
            if rate is None:
                offered = ", ".join(sorted(r.service for r in mapper.rates_from_shipment(shipment))) or "none"
                raise CarrierFailure(
                    f"Shippo offers no {service!r} rate for this shipment (offered: {offered}).", retryable=False
                )
            transaction = await self._create_transaction(str(rate["object_id"]), idempotency_key)
        self._transaction_by_key[idempotency_key] = str(transaction["object_id"])
        transaction = await self._settle(transaction)
        if rate is None:
            rate = await self._get_rate(transaction)
            token = (rate.get("servicelevel") or {}).get("token")
            if token and token != service:
                raise CarrierFailure(
                    f"Idempotency key {idempotency_key!r} already bought a {token!r} label "
                    f"(transaction {transaction['object_id']}), not {service!r}.",
                    retryable=False,
                )
        if rate.get("provider"):
            self._provider_by_tracking[str(transaction["tracking_number"])] = str(rate["provider"]).lower()
        label = await self._download(str(transaction.get("label_url") or ""))
        return mapper.purchased_label(transaction, rate, label)

    async def void(self, carrier_label_id: str) -> RefundStatus:
        """Asks for a refund; a refusal is VoidRejected with Shippo's reason, a repeat reports the refund already asked."""
        response = await self._send("POST", "/refunds", json={"transaction": carrier_label_id, "async": False})
        if response.status_code == 400:
            reason = _error(response)
            transaction = await self._get_transaction(carrier_label_id)
            already = mapper.transaction_refund_status(transaction.get("status"))
            if already in (RefundStatus.SUBMITTED, RefundStatus.REFUNDED):
                return already
            raise VoidRejected(f"Shippo refused to refund the label: {reason}")
        self._raise_for_error(response, "the refund")
        refund = _json(response) or {}
        status = mapper.refund_status(refund.get("status"))
        if status is RefundStatus.REJECTED:
            raise VoidRejected(f"Shippo rejected the refund {refund.get('object_id') or ''} (status ERROR).".strip())
        return status

    async def track(self, tracking_number: str, carrier: str | None = None) -> TrackingInfo:
        """GET /tracks/{carrier}/{number}: the carrier is the one this client bought with, else `tracking_carrier`."""
        provider = carrier or self._provider_by_tracking.get(tracking_number) or self._tracking_carrier
        path = f"/tracks/{quote(provider, safe='')}/{quote(tracking_number, safe='')}"
        response = await self._send("GET", path)
        self._raise_for_error(response, "the tracking request")
        return mapper.tracking_from_wire(_json(response) or {})

    # --- purchase steps ------------------------------------------------------------------

    async def _create_shipment(self, request: RateRequest, metadata: str | None = None) -> dict[str, Any]:
        """Shipments cost nothing, so a lost answer is simply asked again."""
        response = await self._send("POST", "/shipments", json=mapper.shipment_request(request, metadata))
        self._raise_for_error(response, "the shipment")
        shipment: dict[str, Any] = _json(response) or {}
        return shipment

    async def _create_transaction(self, rate_id: str, idempotency_key: str) -> dict[str, Any]:
        """POST /transactions is never repeated blindly: after a lost answer the key is looked up, and if nothing
        is there yet the call fails retryably instead of posting again, because the lost request may still be
        in flight on Shippo's side (a second POST would buy a second label). The caller's retry looks up first.
        """
        body = mapper.transaction_request(rate_id, idempotency_key, self._label_file_type)
        try:
            response = await self._send("POST", "/transactions", json=body, retry_transient=False)
        except _Unanswered as unanswered:
            await asyncio.sleep(self._retry_backoff)
            found = await self._find_transaction(idempotency_key, skip_cache=True)
            if found is not None and found.get("status") != mapper.FAILED_TRANSACTION:
                log.info(
                    "Shippo purchase answer lost (%s); found transaction %s", unanswered.message, found["object_id"]
                )
                return found
            raise CarrierFailure(
                f"Shippo did not answer the label purchase ({unanswered.message}) and nothing is recorded under "
                f"idempotency key {idempotency_key!r} yet; it may still land: retry with the same key.",
                retryable=True,
            ) from None
        self._raise_for_error(response, "the label purchase")
        transaction: dict[str, Any] = _json(response) or {}
        return transaction

    async def _settle(self, transaction: dict[str, Any]) -> dict[str, Any]:
        """Polls a QUEUED/WAITING transaction with growing delays; raises PurchasePending if it outlasts them."""
        for delay in (0.0, *self._poll_delays):
            if delay:
                await asyncio.sleep(delay)
                transaction = await self._get_transaction(str(transaction["object_id"]))
            status = str(transaction.get("status") or "")
            if status in mapper.BOUGHT_TRANSACTION:
                return transaction
            if status == mapper.FAILED_TRANSACTION:
                text = mapper.messages_text(transaction) or "no reason given"
                raise CarrierFailure(f"Shippo could not create the label: {text}", retryable=False)
            if status not in mapper.PENDING_TRANSACTION:
                raise CarrierFailure(f"Shippo answered an unknown transaction status {status!r}.", retryable=True)
        raise PurchasePending(
            f"Shippo is still creating the label (transaction {transaction['object_id']} is {transaction['status']}); "
            "the purchase is pending: retry with the same idempotency key to collect it.",
            str(transaction["object_id"]),
        )

    async def _find_transaction(self, idempotency_key: str, *, skip_cache: bool = False) -> dict[str, Any] | None:
        """What this key bought: by id if this process bought it, else newest-first pages within the window."""
        known = None if skip_cache else self._transaction_by_key.get(idempotency_key)
        if known is not None:
            return await self._get_transaction(known)
        oldest_wanted = datetime.now(UTC) - self._lookup_window
        found: dict[str, Any] | None = None
        for page in range(1, self._lookup_pages + 1):
            response = await self._send("GET", "/transactions", params={"results": 100, "page": page})
            self._raise_for_error(response, "the transaction lookup")
            listing = _json(response) or {}
            results = listing.get("results") or []
            match = mapper.find_by_metadata(results, idempotency_key)
            if match is not None and match.get("status") != mapper.FAILED_TRANSACTION:
                return match
            found = found or match
            created = [mapper.parse_datetime(str(r["object_created"])) for r in results if r.get("object_created")]
            if not listing.get("next") or not results or (created and min(created) < oldest_wanted):
                return found
        raise CarrierFailure(
            f"Could not confirm whether idempotency key {idempotency_key!r} was already used: more than "
            f"{self._lookup_pages * 100} Shippo transactions in the lookup window. Not buying, to avoid a second label.",
            retryable=True,
        )

    async def _get_transaction(self, transaction_id: str) -> dict[str, Any]:
        response = await self._send("GET", f"/transactions/{quote(transaction_id, safe='')}")
        self._raise_for_error(response, "the transaction")
        transaction: dict[str, Any] = _json(response) or {}
        return transaction

    async def _get_rate(self, transaction: Mapping[str, Any]) -> dict[str, Any]:
        """The price of a transaction found by lookup: `rate` is an id there (or an object in some versions)."""
        rate = transaction.get("rate")
        if isinstance(rate, Mapping):
            return dict(rate)
        response = await self._send("GET", f"/rates/{quote(str(rate), safe='')}")
        self._raise_for_error(response, "the rate")
        found: dict[str, Any] = _json(response) or {}
        return found

    async def _download(self, url: str) -> bytes:
        """Label links are pre-signed (S3): no token is sent, so it cannot leak to wherever they point."""
        if not url:
            raise CarrierFailure("Shippo returned no label_url for a successful transaction.", retryable=True)
        response = await self._send("GET", url, authenticated=False)
        self._raise_for_error(response, "the label file")
        return response.content

    # --- transport -----------------------------------------------------------------------

    def _headers(self, authenticated: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if authenticated:
            headers["Authorization"] = f"ShippoToken {self._token}"
            headers["SHIPPO-API-VERSION"] = self._api_version
        return headers

    def _wait_for(self, response: httpx.Response) -> float:
        """Retry-After (seconds) if given, else X-RateLimit-Reset (unix time), else the backoff."""
        try:
            if "retry-after" in response.headers:
                return max(0.0, float(response.headers["retry-after"]))
            if "x-ratelimit-reset" in response.headers:
                return max(0.0, float(response.headers["x-ratelimit-reset"]) - time.time())
        except ValueError:
            pass
        return max(self._retry_backoff, 1.0)

    async def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = True,
        retry_transient: bool = True,
    ) -> httpx.Response:
        """Retries 429 (honouring its wait) always, and timeouts/connection errors/5xx when `retry_transient`.

        Without `retry_transient` a transient failure raises _Unanswered for the caller to re-check.
        """
        url = path_or_url if "://" in path_or_url else f"{self._base_url}{path_or_url}"
        headers = self._headers(authenticated)
        problem = ""
        throttled = 0
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method, url, json=json, params=params, headers=headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:
                problem = (
                    "timed out"
                    if isinstance(exc, httpx.TimeoutException)
                    else f"connection failed ({type(exc).__name__})"
                )
            else:
                if response.status_code == 429:
                    wait = self._wait_for(response)
                    throttled += 1
                    if throttled > self._max_attempts or wait > self._max_retry_after:
                        raise CarrierFailure(f"Shippo is throttling requests: {_error(response)}", retryable=True)
                    log.info("Shippo %s %s: 429, waiting %.2fs", method, httpx.URL(url).path, wait)
                    await asyncio.sleep(wait)
                    continue
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code} {_error(response)}"
            if not retry_transient:
                raise _Unanswered(problem)
            attempt += 1
            if attempt >= self._max_attempts:
                raise CarrierFailure(f"Shippo unavailable after {attempt} attempts: {problem}", retryable=True)
            await asyncio.sleep(self._retry_backoff * 2 ** (attempt - 1))

    @staticmethod
    def _raise_for_error(response: httpx.Response, what: str) -> None:
        """4xx → CarrierFailure with Shippo's own text; only 409 (concurrent calls) is worth retrying."""
        if response.is_success:
            return
        text = _error(response)
        status = response.status_code
        if status in (401, 403):
            raise CarrierFailure(f"Shippo refused the API token (HTTP {status}): {text}", retryable=False)
        raise CarrierFailure(f"Shippo rejected {what} (HTTP {status}): {text}", retryable=status == 409)
