"""What the domain needs from the outside world, as Protocols; adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from domain.drafts import DraftRules
from domain.model import (
    Address,
    Channel,
    ChannelOrder,
    Order,
    RefundStatus,
    Shipment,
    SyncRun,
    TrackingEvent,
    TrackingStatus,
)

# --- channel -----------------------------------------------------------------------------


class ChannelFailure(Exception):
    """Base of every failure a channel client reports; `retryable` decides the outbox's next move."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ChannelThrottled(ChannelFailure):
    """429 or an exhausted leaky bucket; retry after `retry_after` seconds."""


class ChannelUnavailable(ChannelFailure):
    """5xx, timeouts, connection errors: transient."""


class ChannelAuthFailed(ChannelFailure):
    """401/403 or a revoked grant: the merchant must reconnect; retrying will not help."""

    retryable = False


class ChannelRejected(ChannelFailure):
    """A 4xx that will not change on retry (order deleted, invalid line...): fail the write for good."""

    retryable = False


class ChannelUnsupported(ChannelFailure):
    """The platform has no way to do this (eBay cannot undo a shipment): say so, never retry."""

    retryable = False


@dataclass(frozen=True)
class OrderPage:
    orders: list[ChannelOrder]
    next_page: str | None
    #: Orders of this page the mapper could not read: (channel id, why). Counted, never fatal.
    unreadable: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Tracking:
    company: str  # the carrier's name as the channel should show it
    number: str
    url: str | None
    carrier: str | None = None  # Waybill's carrier key ("sandbox", "ups", ...): adapters map it to their codes
    service: str | None = None  # the carrier's service ("Ground"): Amazon wants a shipping method


class ChannelClient(Protocol):
    async def check_connection(self) -> str:
        """One cheap authenticated call; returns what the platform calls the store (for the merchant to recognise).

        Raises ChannelAuthFailed for a wrong or revoked credential, ChannelUnavailable when unreachable.
        """
        ...

    async def list_orders(self, updated_since: datetime | None, page: str | None = None) -> OrderPage:
        """One page of orders updated at or after `updated_since`, oldest first; `page` continues."""
        ...

    async def create_fulfillment(
        self,
        external_order_id: str,
        lines: Sequence[tuple[str, int]] | None,
        tracking: Tracking | None,
        *,
        order_complete: bool = True,
    ) -> str:
        """Mark lines (channel line id, quantity) shipped, all remaining when None; returns the channel's fulfillment id.

        `order_complete`: after this one, every line of the order has shipped (platforms that keep one
        status per order move it to shipped/completed only then).
        Idempotent: when a fulfillment with the same tracking number exists, returns its id.
        """
        ...

    async def mark_delivered(self, external_order_id: str, fulfillment_id: str) -> None: ...

    async def cancel_fulfillment(self, external_order_id: str, fulfillment_id: str) -> None:
        """Back to Unfulfilled with the tracking removed; cancelling a cancelled one is a no-op.

        Raises ChannelUnsupported where the platform has no undo.
        """
        ...

    async def aclose(self) -> None: ...


# --- carrier -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Parcel:
    weight_grams: int
    length_cm: Decimal = Decimal("30")
    width_cm: Decimal = Decimal("20")
    height_cm: Decimal = Decimal("10")


@dataclass(frozen=True)
class RateRequest:
    ship_to: Address
    ship_from: Address
    parcel: Parcel


@dataclass(frozen=True)
class Rate:
    carrier: str
    service: str
    service_name: str
    amount: Decimal
    currency: str
    delivery_days: int


@dataclass(frozen=True)
class PurchasedLabel:
    carrier_label_id: str
    tracking_number: str
    tracking_url: str
    amount: Decimal
    currency: str
    #: A carrier that sells one format per label leaves the other empty (b"").
    pdf: bytes
    zpl: bytes
    #: Who moves the parcel ("USPS") when an aggregator (EasyPost, Shippo) sold the label.
    carrier_name: str | None = None


@dataclass(frozen=True)
class TrackingInfo:
    status: TrackingStatus
    events: list[TrackingEvent] = field(default_factory=list)


class CarrierFailure(Exception):
    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after  # the carrier's wait (429), for a job to defer by


class PurchasePending(CarrierFailure):
    """The carrier accepted the purchase but has not finished it (Shippo's QUEUED/WAITING): ask again
    with the same idempotency key; `carrier_reference` is the carrier's id of the purchase."""

    def __init__(self, message: str, carrier_reference: str) -> None:
        super().__init__(message, retryable=True)
        self.carrier_reference = carrier_reference


class VoidRejected(Exception):
    """The carrier refused to void (already scanned, too late): the label stays."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CarrierClient(Protocol):
    async def rates(self, request: RateRequest) -> list[Rate]: ...

    async def buy(self, request: RateRequest, service: str, idempotency_key: str) -> PurchasedLabel:
        """Buys once per idempotency key: a repeat returns the label bought the first time."""
        ...

    async def void(self, carrier_label_id: str) -> RefundStatus:
        """Raises VoidRejected when the carrier refuses."""
        ...

    async def track(self, tracking_number: str) -> TrackingInfo: ...

    async def aclose(self) -> None: ...


# --- persistence -------------------------------------------------------------------------


class OrderRepository(Protocol):
    async def get(self, account_id: int, order_id: int, *, for_update: bool = False) -> Order | None: ...

    async def by_external_ids(self, channel_id: int, external_ids: Sequence[str]) -> dict[str, tuple[Order, str]]:
        """Existing orders of a channel with their stored content hash, by external id."""
        ...

    async def fingerprints(self, channel_id: int, external_ids: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        """(content hash, channel updated at) of a channel's stored orders, by external id: cheap to read."""
        ...

    async def add(self, order: Order, content_hash: str) -> Order: ...

    async def add_many(self, orders: Sequence[tuple[Order, str]]) -> None:
        """New orders with their content hashes in one go; their ids are set in place."""
        ...

    async def save(self, order: Order, content_hash: str | None = None) -> Order:
        """Writes the order with optimistic locking on `version`."""
        ...

    async def has_pending_writes(self, order_id: int) -> bool: ...

    async def draft_rules(self, account_id: int) -> DraftRules:
        """The account's draft rules (`accounts.settings`), defaults when none are set."""
        ...


class ShipmentRepository(Protocol):
    async def get(self, account_id: int, shipment_id: int) -> Shipment | None: ...

    async def by_idempotency_key(self, account_id: int, key: str) -> Shipment | None: ...

    async def for_order(self, order_id: int) -> list[Shipment]: ...

    async def add(self, shipment: Shipment) -> Shipment: ...

    async def save(self, shipment: Shipment) -> Shipment: ...


class ChannelRepository(Protocol):
    async def get(self, account_id: int, channel_id: int) -> Channel | None: ...

    async def add(self, channel: Channel, credentials: dict[str, Any]) -> Channel:
        """Stores a new channel (credentials encrypted); `channel.id` is replaced by the new row's."""
        ...

    async def save(self, channel: Channel) -> Channel: ...


class SyncRunRepository(Protocol):
    async def add(self, run: SyncRun) -> SyncRun: ...

    async def save(self, run: SyncRun) -> SyncRun: ...


class LabelRepository(Protocol):
    async def add(self, account_id: int, shipment_id: int, label_format: str, content: bytes) -> None: ...

    async def get(self, account_id: int, shipment_id: int, label_format: str) -> bytes | None: ...


class UnitOfWork(Protocol):
    orders: OrderRepository
    shipments: ShipmentRepository
    channels: ChannelRepository
    sync_runs: SyncRunRepository
    labels: LabelRepository

    def add_event(
        self,
        account_id: int,
        type: str,
        data: dict[str, object],
        *,
        order_id: int | None = None,
        channel_id: int | None = None,
        sync_run_id: int | None = None,
        shipment_id: int | None = None,
    ) -> None:
        """An event not raised by an order (sync runs, channels), committed with the transaction."""
        ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc: object) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
