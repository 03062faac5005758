"""CarrierClient for EasyPost (api.easypost.com/v2): shipments -> rates -> buy -> postage_label + tracker.

EasyPost has no Idempotency-Key header, so the key travels as the shipment's `reference`, which the API
accepts in place of the id (GET /shipments/{reference}). A purchase is never blindly re-sent: before every
retry the client asks what the key (or the shipment) already bought, so a lost answer costs one label, not
two. Reads and refunds are safe to repeat and are retried on 429, 5xx and transport errors.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from adapters.carriers.easypost import mapper
from domain.model import RefundStatus
from domain.ports import CarrierFailure, PurchasedLabel, Rate, RateRequest, TrackingInfo, VoidRejected

DEFAULT_BASE_URL = "https://api.easypost.com/v2"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
LABEL_FORMATS = ("PDF", "ZPL")

Json = dict[str, Any]


class EasyPostRequestRejected(CarrierFailure):
    """A 4xx EasyPost would repeat on retry; `fields` are the domain names of the fields at fault."""

    def __init__(self, message: str, code: str, fields: list[str]) -> None:
        super().__init__(message, retryable=False)
        self.code = code
        self.fields = fields


class _Transient(Exception):
    """One attempt failed in a way a later attempt may not (timeout, 429, 5xx)."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class EasyPostClient:
    """One EasyPost account (API key). An injected `http` client stays open on `aclose()`: its owner closes it.

    `carrier_accounts` limits rating to those EasyPost carrier account ids (all of the account's otherwise).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.AsyncClient | None = None,
        carrier_accounts: list[str] | None = None,
        timeout: float = 20.0,
        max_attempts: int = 3,
        retry_backoff: float = 0.5,
        max_retry_after: float = 10.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._authorization = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._carrier_accounts = list(carrier_accounts or [])
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._retry_backoff = retry_backoff
        self._max_retry_after = max_retry_after
        self._tracker_ids: dict[str, str] = {}  # tracking code -> trk_ id: spares the rate-limited index endpoint

    def __repr__(self) -> str:  # the API key never appears in logs or tracebacks
        return f"EasyPostClient(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- CarrierClient -------------------------------------------------------------------

    async def rates(self, request: RateRequest) -> list[Rate]:
        """Creates an (unbought, free) shipment: EasyPost rates a shipment, not a bare request."""
        body = mapper.shipment_to_wire(request, carrier_accounts=self._carrier_accounts)
        response = await self._send("POST", "/shipments", json=body)
        self._raise_for_error(response, "the shipment")
        shipment = response.json()
        rates = mapper.rates_from_wire(shipment)
        if not rates and shipment.get("messages"):
            text = "; ".join(f"{m.get('carrier', '?')}: {m.get('message', '')}" for m in shipment["messages"])
            raise EasyPostRequestRejected(f"EasyPost found no rates: {text}", "RATES.NONE", [])
        return rates

    async def buy(self, request: RateRequest, service: str, idempotency_key: str) -> PurchasedLabel:
        """One label per key: the shipment named by the key is reused, and bought only if it is not yet."""
        reference = mapper.reference_for(idempotency_key)
        shipment = await self._shipment_by_reference(reference)
        if shipment is None:
            shipment = await self._create_shipment(request, reference)
        if not mapper.is_purchased(shipment):
            shipment = await self._buy_rate(shipment, service)
        self._remember_tracker(shipment.get("tracker"))
        return await self._label(shipment)

    async def void(self, carrier_label_id: str) -> RefundStatus:
        """Refunds the shipment; a refused refund raises VoidRejected and the label stays valid.

        EasyPost documents that a refund asked for right after purchase may be wrongly rejected and can be
        asked again: a rejection of a parcel the carrier has not scanned is retried once.
        """
        path = f"/shipments/{quote(carrier_label_id, safe='')}/refund"
        for asked in range(2):
            response = await self._send("POST", path, json={})
            code, message, _ = mapper.error_text(_json(response))
            if 400 <= response.status_code < 500 and "REFUND" in code.upper():
                raise VoidRejected(f"EasyPost refused the refund ({code}): {message}".strip())
            self._raise_for_error(response, "the refund")
            shipment = response.json()
            status = mapper.refund_status(shipment.get("refund_status"))
            if status is None:
                raise CarrierFailure("EasyPost answered the refund without a refund_status.", retryable=True)
            if status is not RefundStatus.REJECTED:
                return status
            tracker_status = str((shipment.get("tracker") or {}).get("status") or "unknown")
            if tracker_status not in mapper.UNSCANNED or asked:
                raise VoidRejected(self._rejection_reason(tracker_status))
        raise AssertionError("unreachable")  # pragma: no cover

    async def track(self, tracking_number: str) -> TrackingInfo:
        tracker = await self._tracker(tracking_number)
        return mapper.tracking_from_wire(tracker)

    # --- purchase steps ------------------------------------------------------------------

    async def _shipment_by_reference(self, reference: str) -> Json | None:
        response = await self._send("GET", f"/shipments/{quote(reference, safe='')}")
        if response.status_code == 404:
            return None
        self._raise_for_error(response, "the shipment lookup")
        shipment: Json = response.json()
        return shipment

    async def _create_shipment(self, request: RateRequest, reference: str) -> Json:
        body = mapper.shipment_to_wire(
            request, reference=reference, label_format="PDF", carrier_accounts=self._carrier_accounts
        )

        async def created_meanwhile() -> Json | None:
            return await self._shipment_by_reference(reference)

        response = await self._post_once_per_key("/shipments", body, created_meanwhile)
        if isinstance(response, dict):
            return response
        self._raise_for_error(response, "the shipment")
        shipment: Json = response.json()
        return shipment

    async def _buy_rate(self, shipment: Json, service: str) -> Json:
        rate = mapper.find_rate(shipment, service)
        if rate is None:
            offered = ", ".join(mapper.offered_services(shipment)) or "none"
            raise EasyPostRequestRejected(
                f"EasyPost offers no {service} for this shipment (offered: {offered}).", "RATE.UNAVAILABLE", []
            )
        shipment_path = f"/shipments/{quote(str(shipment['id']), safe='')}"

        async def bought_meanwhile() -> Json | None:
            response = await self._send("GET", shipment_path)
            self._raise_for_error(response, "the shipment lookup")
            current: Json = response.json()
            return current if mapper.is_purchased(current) else None

        response = await self._post_once_per_key(f"{shipment_path}/buy", {"rate": {"id": rate["id"]}}, bought_meanwhile)
        if isinstance(response, dict):
            return response
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403):
            # "already purchased" and friends: what counts is whether the shipment has postage now.
            if (bought := await bought_meanwhile()) is not None:
                return bought
        self._raise_for_error(response, "the purchase")
        bought_now: Json = response.json()
        return bought_now

    async def _post_once_per_key(
        self, path: str, body: Json, done_meanwhile: Callable[[], Awaitable[Json | None]]
    ) -> httpx.Response | Json:
        """POSTs a write that must not happen twice; before each retry, `done_meanwhile` asks if it already did.

        Returns the carrier's answer, or the object the re-check found.
        """
        problem = _Transient("not attempted")
        for attempt in range(self._max_attempts):
            if attempt:
                await self._pause(attempt, problem)
                if (found := await done_meanwhile()) is not None:
                    return found
            try:
                return await self._attempt("POST", path, json=body)
            except _Transient as exc:
                problem = exc
        # Our write may have landed after all: one last look before reporting the carrier unavailable.
        if (found := await done_meanwhile()) is not None:
            return found
        raise self._unavailable(problem)

    async def _label(self, shipment: Json) -> PurchasedLabel:
        """Both formats: the PDF was asked for at creation, the ZPL is converted (GET /shipments/{id}/label)."""
        urls = mapper.label_urls(shipment)
        for file_format in LABEL_FORMATS:
            if urls[file_format]:
                continue
            response = await self._send(
                "GET", f"/shipments/{quote(str(shipment['id']), safe='')}/label", params={"file_format": file_format}
            )
            self._raise_for_error(response, f"the {file_format} label")
            shipment = {**shipment, "postage_label": response.json().get("postage_label")}
            urls = mapper.label_urls(shipment)
            if not urls[file_format]:
                raise CarrierFailure(f"EasyPost returned no {file_format} label for {shipment['id']}.", retryable=True)
        pdf = await self._download(str(urls["PDF"]))
        zpl = await self._download(str(urls["ZPL"]))
        return mapper.purchased_label_from_wire(shipment, pdf, zpl)

    # --- tracking ------------------------------------------------------------------------

    def _remember_tracker(self, tracker: Mapping[str, Any] | None) -> None:
        if tracker and tracker.get("id") and tracker.get("tracking_code"):
            self._tracker_ids[str(tracker["tracking_code"])] = str(tracker["id"])

    async def _tracker(self, tracking_number: str) -> Json:
        """By remembered id; else the list filtered by code; else POST /trackers (EasyPost dedupes by code)."""
        if (tracker_id := self._tracker_ids.get(tracking_number)) is not None:
            response = await self._send("GET", f"/trackers/{quote(tracker_id, safe='')}")
            if response.status_code != 404:
                self._raise_for_error(response, "the tracker")
                found: Json = response.json()
                return found
        response = await self._send("GET", "/trackers", params={"tracking_code": tracking_number, "page_size": 1})
        self._raise_for_error(response, "the tracker lookup")
        trackers = [t for t in response.json().get("trackers") or [] if t.get("tracking_code") == tracking_number]
        if trackers:
            tracker: Json = trackers[0]
        else:
            response = await self._send("POST", "/trackers", json={"tracker": {"tracking_code": tracking_number}})
            self._raise_for_error(response, "the tracker")
            tracker = response.json()
        self._remember_tracker(tracker)
        return tracker

    # --- plumbing ------------------------------------------------------------------------

    @staticmethod
    def _rejection_reason(tracker_status: str) -> str:
        if tracker_status not in mapper.UNSCANNED:
            return (
                f"EasyPost rejected the refund: the carrier has already scanned the parcel (tracker: {tracker_status})."
            )
        return "EasyPost rejected the refund (USPS refunds only unscanned labels within 30 days of purchase)."

    async def _download(self, url: str) -> bytes:
        """Label files are public links (S3): no API key is sent, so it cannot leak to wherever they point."""
        response = await self._send("GET", url, authenticated=False)
        if not response.is_success:
            raise CarrierFailure(f"EasyPost label download failed: HTTP {response.status_code}", retryable=True)
        return response.content

    async def _attempt(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Json | None = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """One request; raises _Transient for what a retry may fix, returns any other answer."""
        url = path_or_url if "://" in path_or_url else f"{self._base_url}{path_or_url}"
        headers = {"Accept": "application/json"}
        if authenticated:
            headers["Authorization"] = self._authorization
        try:
            response = await self._http.request(
                method, url, json=json, params=params, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise _Transient("timed out") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from exc
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
            _, message, _ = mapper.error_text(_json(response))
            problem = f"HTTP {response.status_code} {message or response.reason_phrase}".strip()
            raise _Transient(problem, _retry_after(response))
        return response

    async def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Json | None = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """A request that is safe to repeat, retried a bounded number of times."""
        problem = _Transient("not attempted")
        for attempt in range(self._max_attempts):
            if attempt:
                await self._pause(attempt, problem)
            try:
                return await self._attempt(method, path_or_url, json=json, params=params, authenticated=authenticated)
            except _Transient as exc:
                problem = exc
        raise self._unavailable(problem)

    async def _pause(self, attempt: int, problem: _Transient) -> None:
        """Waits as long as EasyPost asked (Retry-After), else backs off; a long wait is the job's to defer."""
        delay = problem.retry_after if problem.retry_after is not None else self._retry_backoff * 2 ** (attempt - 1)
        if delay > self._max_retry_after:
            raise CarrierFailure(f"EasyPost is throttling requests; retry in {delay:.0f} s.", retryable=True)
        await asyncio.sleep(delay)

    def _unavailable(self, problem: _Transient) -> CarrierFailure:
        return CarrierFailure(f"EasyPost unavailable after {self._max_attempts} attempts: {problem.problem}", True)

    @staticmethod
    def _raise_for_error(response: httpx.Response, what: str) -> None:
        """Turns a 4xx into a non-retryable failure in EasyPost's words, naming the fields to fix."""
        if response.is_success:
            return
        code, message, fields = mapper.error_text(_json(response))
        code = code or f"HTTP_{response.status_code}"
        if response.status_code in (401, 403):
            raise CarrierFailure(f"EasyPost refused the API key ({code}): {message}".strip(), retryable=False)
        detail = "; ".join(f"{name}: {text}" for name, text in fields) if fields else ""
        text = " - ".join(part for part in (message or response.reason_phrase, detail) if part)
        raise EasyPostRequestRejected(f"EasyPost rejected {what} ({code}): {text}", code, [name for name, _ in fields])
