"""What every channel adapter provides, so the registry, the API and the contract tests treat all alike.

Each `adapters/channels/<kind>/__init__.py` exposes one `SPEC: ChannelSpec`; `adapters/channels/__init__.py`
collects them. A spec says how to build the client from stored credentials, which credentials the
merchant types, what the platform can and cannot do, and how to read a pasted payload (inspect-order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from domain.model import ChannelCapability, ChannelKind, ChannelOrder
from domain.ports import ChannelClient

Credentials = dict[str, Any]
Refresh = Callable[[Credentials], Awaitable[Credentials]]


class CredentialStore(Protocol):
    """Where a client's credentials live; refreshing goes through here so rotated tokens are never lost."""

    async def refreshed(self, stale: Credentials, refresh: Refresh) -> Credentials:
        """New credentials, saved before they are returned.

        Under a per-channel lock, re-reads what is stored: when another process already replaced
        `stale`, returns that instead of refreshing again (a rotating refresh token works once).
        Otherwise calls `refresh(current)`, saves the result, and returns it.
        """
        ...


class MemoryCredentialStore:
    """A CredentialStore in memory: for client tests and tools that have no database."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = dict(credentials)
        self.saves = 0
        self._lock = asyncio.Lock()

    async def refreshed(self, stale: Credentials, refresh: Refresh) -> Credentials:
        async with self._lock:
            if self.credentials != stale:
                return dict(self.credentials)
            fresh = await refresh(dict(self.credentials))
            self.credentials = dict(fresh)
            self.saves += 1
            return dict(fresh)


@dataclass(frozen=True)
class CredentialField:
    """One value the merchant types to connect (GraphQL input field `camelCase(name)`)."""

    name: str  # snake_case key in the stored credentials
    description: str
    secret: bool = False  # never returned, never logged
    required: bool = True
    url: bool = False  # must be https (http only for this machine: fakes and sandboxes)


Headers = Mapping[str, str]


def header(headers: Headers, name: str) -> str | None:
    """A request header by name, whatever its case (Starlette's Headers, or a plain dict in tests)."""
    wanted = name.lower()
    return next((str(value) for key, value in headers.items() if str(key).lower() == wanted), None)


def _no_ping(headers: Headers, body: bytes) -> bool:
    return False


@dataclass(frozen=True)
class WebhookSpec:
    """How a platform signs and shapes its webhooks: `/webhooks/channels/{id}` and `process_webhook`
    know nothing else per kind. All pure functions: the endpoint never calls the platform."""

    #: (headers, raw body, secret) -> signed with the channel's secret; constant-time compare.
    verify: Callable[[Headers, bytes, str], bool]
    #: The platform's id for the event (redeliveries reuse it); None: the endpoint falls back to a body hash.
    event_id: Callable[[Headers], str | None]
    #: e.g. "orders/updated", "order.updated", "order.paid" (from a header or the body).
    topic: Callable[[Headers, bytes], str]
    #: (topic, body, credentials) -> the orders the payload carries, mapped exactly as the sync maps them
    #: (same content hash); None: a thin payload, or one lacking what the mapping needs: sync instead.
    orders: Callable[[str, bytes, Credentials], list[ChannelOrder] | None]
    #: A platform's unsigned "is this URL alive" request (WooCommerce, on webhook creation): answered 200, not stored.
    is_ping: Callable[[Headers, bytes], bool] = _no_ping
    #: The credential holding the signing secret.
    secret_field: str = "webhook_secret"


class ClientFactory(Protocol):
    def __call__(
        self, credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
    ) -> ChannelClient: ...


@dataclass(frozen=True)
class ChannelSpec:
    kind: ChannelKind
    title: str  # "WooCommerce": how the merchant knows it
    fields: tuple[CredentialField, ...]
    capabilities: frozenset[ChannelCapability]
    build_client: ClientFactory
    #: Reads what a merchant pastes (an API response, a webhook body, one order): the mapper, no I/O.
    parse_document: Callable[[Any], list[ChannelOrder]]
    #: What the platform cannot do, in a merchant's words (README, error messages).
    limitations: tuple[str, ...] = ()
    #: Credentials that are not typed but derived or defaulted (e.g. the public API host).
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: Pages come oldest change first, so the sync may move its cursor after each page. False (eBay
    #: lists by creation date): the cursor moves only once the last page is in, or a crash mid-sync
    #: would skip the orders changed earlier than a later page's newest.
    pages_in_update_order: bool = True
    #: How the platform's order webhooks are verified and read; None: no webhooks, polling only.
    webhooks: WebhookSpec | None = None

    def can(self, capability: ChannelCapability) -> bool:
        return capability in self.capabilities


# --- what the contract tests need from every fake --------------------------------------


@dataclass(frozen=True)
class FakeShipment:
    """A shipment as the fake platform recorded it, normalised for the contract tests."""

    tracking_number: str | None
    carrier: str | None
    #: channel line id -> quantity; None when the platform records no lines (whole order).
    lines: dict[str, int] | None
    cancelled: bool = False


class FakeChannel(Protocol):
    """The control surface of a fake platform server (a Starlette app) used by the contract suite."""

    app: Any  # the Starlette app to serve on loopback
    #: 429s served so far (injected or from the fake's own rate limit).
    throttled: int
    #: Successful token refreshes so far (0 for platforms whose tokens never expire).
    refreshes: int

    def credentials(self, base_url: str) -> Credentials:
        """What connectChannel would store for this fake served at `base_url` (valid, working)."""
        ...

    def create_order(self, lines: list[tuple[str, str, int]], *, ready: bool = True) -> str:
        """A new order, updated now, with lines (sku, title, quantity); `ready` means paid and
        awaiting fulfilment with a full shipping address. Returns the external id Waybill will see."""
        ...

    def touch_order(self, external_id: str) -> None:
        """A change on the platform (e.g. the buyer's phone) that bumps the order's modified time."""
        ...

    def line_ids(self, external_id: str) -> list[str]:
        """The channel line ids of the order, in the order of `create_order`'s lines."""
        ...

    def shipments(self, external_id: str) -> list[FakeShipment]:
        """What the platform recorded as shipped for the order, oldest first."""
        ...

    def is_shipped(self, external_id: str) -> bool:
        """The platform shows the whole order as shipped / completed."""
        ...

    def revoke(self) -> None:
        """The merchant revoked the app: every token (and refresh token) is refused from now on."""
        ...

    def expire_access_token(self) -> None:
        """The current access token expires now (refresh still works). No-op where tokens never expire."""
        ...

    def throttle_next(self, n: int, retry_after: float = 1.0) -> None:
        """The next n API calls get the platform's 429 (with its rate-limit headers and body)."""
        ...
