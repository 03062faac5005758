"""CarrierClient for the sandbox carrier: the same httpx code path a real carrier adapter takes.

Every call is safe to repeat (purchases carry an Idempotency-Key), so transient failures are retried here
with the same key; what still fails is raised as CarrierFailure for the outbox to schedule.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx

from adapters.carriers.sandbox import mapper
from domain.model import RefundStatus
from domain.ports import CarrierFailure, PurchasedLabel, Rate, RateRequest, TrackingInfo, VoidRejected

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class SandboxRequestRejected(CarrierFailure):
    """A 4xx the carrier would repeat on retry; `fields` are the domain names of the fields at fault."""

    def __init__(self, message: str, code: str, fields: list[str]) -> None:
        super().__init__(message, retryable=False)
        self.code = code
        self.fields = fields


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


class SandboxCarrierClient:
    """Talks to a SandboxCarrier app at `base_url` (its own server, or mounted inside Waybill's in demo mode).

    An injected `http` client stays open on `aclose()`: whoever made it closes it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        retry_backoff: float = 0.25,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._retry_backoff = retry_backoff

    def __repr__(self) -> str:  # the API key never appears in logs or tracebacks
        return f"SandboxCarrierClient(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- CarrierClient -------------------------------------------------------------------

    async def rates(self, request: RateRequest) -> list[Rate]:
        response = await self._send("POST", "/v1/rates", json=mapper.rate_request_to_wire(request))
        self._raise_for_error(response)
        return mapper.rates_from_wire(response.json())

    async def buy(self, request: RateRequest, service: str, idempotency_key: str) -> PurchasedLabel:
        """Buys, then fetches both label files; a retry with the same key never buys twice."""
        body = {**mapper.rate_request_to_wire(request), "service": service}
        response = await self._send("POST", "/v1/labels", json=body, headers={"Idempotency-Key": idempotency_key})
        self._raise_for_error(response)
        payload = response.json()
        pdf = await self._download(str(payload["label_pdf_url"]))
        zpl = await self._download(str(payload["label_zpl_url"]))
        return mapper.purchased_label_from_wire(payload, pdf, zpl)

    async def void(self, carrier_label_id: str) -> RefundStatus:
        response = await self._send("POST", f"/v1/labels/{quote(carrier_label_id, safe='')}/refund")
        error = _error_body(response) if response.status_code == 422 else {}
        if error.get("code") == "SHIPMENT.REFUND.REJECTED":
            raise VoidRejected(str(error.get("message") or "The carrier refused to void the label."))
        self._raise_for_error(response)
        return mapper.refund_status(response.json().get("refund_status"))

    async def track(self, tracking_number: str) -> TrackingInfo:
        response = await self._send("GET", f"/v1/trackers/{quote(tracking_number, safe='')}")
        self._raise_for_error(response)
        return mapper.tracking_from_wire(response.json())

    # --- plumbing ------------------------------------------------------------------------

    async def _download(self, url: str) -> bytes:
        """Label files are public links; no API key is sent, so it cannot leak to wherever they point."""
        response = await self._send("GET", url, authenticated=False)
        self._raise_for_error(response)
        return response.content

    async def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Sends with retries on timeouts, connection errors, 429 and 5xx; returns any other answer."""
        url = path_or_url if "://" in path_or_url else f"{self._base_url}{path_or_url}"
        all_headers = {"Accept": "application/json", **(headers or {})}
        if authenticated:
            all_headers["Authorization"] = f"Bearer {self._api_key}"
        problem = ""
        for attempt in range(self._max_attempts):
            if attempt:
                await asyncio.sleep(self._retry_backoff * 2 ** (attempt - 1))
            try:
                response = await self._http.request(method, url, json=json, headers=all_headers, timeout=self._timeout)
            except httpx.TimeoutException:
                problem = "timed out"
                continue
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
                continue
            if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
                error = _error_body(response)
                problem = f"HTTP {response.status_code} {error.get('message') or response.reason_phrase}".strip()
                continue
            return response
        raise CarrierFailure(
            f"Sandbox carrier unavailable after {self._max_attempts} attempts: {problem}", retryable=True
        )

    @staticmethod
    def _raise_for_error(response: httpx.Response) -> None:
        """Turns a 4xx into a non-retryable failure naming the fields to fix."""
        if response.is_success:
            return
        error = _error_body(response)
        code = str(error.get("code") or f"HTTP_{response.status_code}")
        if response.status_code in (401, 403):
            raise CarrierFailure(
                f"Sandbox carrier refused the API key ({code}); sandbox keys start with 'sk_sandbox_'.",
                retryable=False,
            )
        fields = [
            (mapper.domain_field(str(item.get("field"))), str(item.get("message") or "is invalid"))
            for item in error.get("errors") or []
            if isinstance(item, dict) and item.get("field")
        ]
        if fields:
            detail = "; ".join(f"{name}: {message}" for name, message in fields)
        else:
            detail = str(error.get("message") or response.reason_phrase)
        raise SandboxRequestRejected(
            f"Sandbox carrier rejected the request ({code}): {detail}", code, [name for name, _ in fields]
        )
