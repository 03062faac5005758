"""Entities and value objects. Plain dataclasses: persistence and the API map to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class OrderStatus(StrEnum):
    """Waybill's own status: the lifecycle table in DESIGN.md."""

    DRAFT = "DRAFT"
    READY_TO_SHIP = "READY_TO_SHIP"
    BACK_ORDERED = "BACK_ORDERED"
    SHIPPED_ELSEWHERE = "SHIPPED_ELSEWHERE"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPING = "SHIPPING"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    ARCHIVED = "ARCHIVED"


class ChannelOrderStatus(StrEnum):
    """What the channel says about an order, normalized by its mapper (CHANNELS.md section 8)."""

    PENDING_PAYMENT = "PENDING_PAYMENT"
    AWAITING_FULFILLMENT = "AWAITING_FULFILLMENT"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    ON_HOLD = "ON_HOLD"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    UNKNOWN = "UNKNOWN"


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


class ChannelKind(StrEnum):
    SHOPIFY = "SHOPIFY"
    WOOCOMMERCE = "WOOCOMMERCE"
    AMAZON = "AMAZON"
    EBAY = "EBAY"
    ETSY = "ETSY"
    MAGENTO = "MAGENTO"
    BACK_OFFICE = "BACK_OFFICE"
    CSV = "CSV"


class ChannelCapability(StrEnum):
    """What a platform lets Waybill do; checked before a write the platform could never accept."""

    WRITE_BACK = "WRITE_BACK"  # the platform can be told an order shipped at all (a CSV upload cannot)
    PARTIAL_LINES = "PARTIAL_LINES"  # a shipment can name some lines and quantities
    MULTIPLE_SHIPMENTS = "MULTIPLE_SHIPMENTS"  # several shipments (tracking numbers) per order
    TRACKING_URL = "TRACKING_URL"  # the platform stores a tracking URL, not just a number
    UNDO_SHIPMENT = "UNDO_SHIPMENT"  # a shipment can be taken back: Unfulfilled, tracking removed
    DELIVERED_STATUS = "DELIVERED_STATUS"  # the platform records delivery
    TOKEN_REFRESH = "TOKEN_REFRESH"  # access tokens expire and are refreshed (maybe rotating)
    LOCATIONS = "LOCATIONS"  # the platform ships from its own locations: a shipment must name the right one
    FORWARD_TARGET = "FORWARD_TARGET"  # marketplace orders can be forwarded into it (created there as orders)


class ConnectionState(StrEnum):
    CONNECTED = "CONNECTED"
    NEEDS_REAUTH = "NEEDS_REAUTH"
    ERROR = "ERROR"
    DISABLED = "DISABLED"


class ShipmentStatus(StrEnum):
    """PURCHASING is the window between recording the request and the carrier's answer."""

    PURCHASING = "PURCHASING"
    PURCHASED = "PURCHASED"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"


class TrackingStatus(StrEnum):
    PENDING = "PENDING"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    DELIVERED = "DELIVERED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    RETURN_TO_SENDER = "RETURN_TO_SENDER"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"


class LabelFormat(StrEnum):
    PDF = "PDF"  # 4x6
    ZPL = "ZPL"  # thermal printers


class RefundStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    REFUNDED = "REFUNDED"
    REJECTED = "REJECTED"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class SyncTrigger(StrEnum):
    SCHEDULE = "SCHEDULE"
    MANUAL = "MANUAL"
    WEBHOOK = "WEBHOOK"
    UPLOAD = "UPLOAD"  # a CSV file


class SyncStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class WriteKind(StrEnum):
    """Outbox writes to a channel; each maps to one call (or a short sequence) in an adapter."""

    SHIPMENT_CREATED = "SHIPMENT_CREATED"  # Shipping + tracking
    ORDER_FULFILLED = "ORDER_FULFILLED"  # hand delivery: fulfilled, no tracking
    SHIPMENT_DELIVERED = "SHIPMENT_DELIVERED"  # carrier says delivered
    SHIPMENT_CANCELLED = "SHIPMENT_CANCELLED"  # back to Unfulfilled, tracking removed


class WriteStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass
class Address:
    name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


@dataclass
class OrderLine:
    channel_line_id: str
    title: str
    quantity: int
    sku: str | None = None
    quantity_shipped: int = 0
    unit_price: str | None = None
    grams: int | None = None
    id: int | None = None
    # Customs data per line, typed by the merchant (updateDraft/updateOrder): channels rarely send it.
    hs_code: str | None = None
    customs_description: str | None = None
    customs_value: str | None = None
    origin_country: str | None = None

    @property
    def quantity_remaining(self) -> int:
        return self.quantity - self.quantity_shipped


@dataclass
class ChannelOrder:
    """An order as a channel's mapper reports it: the input to import and re-sync."""

    external_id: str
    number: str
    channel_status: ChannelOrderStatus
    payment_status: PaymentStatus
    lines: list[OrderLine]
    shipping_address: Address | None
    channel_updated_at: datetime
    channel_created_at: datetime
    raw_status: str = ""
    customer_name: str | None = None
    customer_email: str | None = None
    currency: str | None = None
    total: str | None = None


@dataclass
class Account:
    id: int
    name: str


@dataclass
class Channel:
    id: int
    account_id: int
    kind: ChannelKind
    name: str
    state: ConnectionState = ConnectionState.CONNECTED
    sync_interval_seconds: int = 300
    sync_cursor: datetime | None = None
    last_synced_at: datetime | None = None
    last_error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    consecutive_failures: int = 0
    next_sync_at: datetime | None = None
    created_at: datetime | None = None

    #: A channel is stale after this many of its intervals without a successful sync.
    STALE_AFTER_INTERVALS = 3

    def is_stale(self, now: datetime) -> bool:
        """Not synced successfully for longer than three intervals (or never, three intervals after connecting)."""
        if self.state is ConnectionState.DISABLED:
            return False
        since = self.last_synced_at or self.created_at
        if since is None:
            return False
        return (now - since).total_seconds() > self.STALE_AFTER_INTERVALS * self.sync_interval_seconds


@dataclass
class ShipmentLine:
    order_line_id: int
    channel_line_id: str
    quantity: int


@dataclass
class TrackingEvent:
    status: TrackingStatus
    occurred_at: datetime
    description: str = ""
    location: str | None = None


@dataclass
class Shipment:
    id: int | None
    account_id: int
    order_id: int
    carrier: str
    service: str
    idempotency_key: str
    lines: list[ShipmentLine]
    status: ShipmentStatus = ShipmentStatus.PURCHASING
    tracking_number: str | None = None
    tracking_url: str | None = None
    tracking_status: TrackingStatus | None = None
    carrier_label_id: str | None = None
    cost: str | None = None
    currency: str | None = None
    refund_status: RefundStatus | None = None
    channel_fulfillment_id: str | None = None
    error: str | None = None
    tracking_events: list[TrackingEvent] = field(default_factory=list)
    created_at: datetime | None = None
    location: str | None = None  # Waybill's name of the warehouse it leaves from
    carrier_name: str | None = None  # who moves it ("USPS") when an aggregator sold the label

    @property
    def is_active(self) -> bool:
        """Holds its lines: counts as shipped for the order."""
        return self.status in (
            ShipmentStatus.PURCHASING,
            ShipmentStatus.PURCHASED,
            ShipmentStatus.IN_TRANSIT,
            ShipmentStatus.DELIVERED,
        )


@dataclass
class ChannelWrite:
    """A pending write to the order's channel, committed with the change that caused it."""

    kind: WriteKind
    payload: dict[str, Any]


@dataclass
class DomainEvent:
    """One entry of the event log; feeds subscriptions and the audit trail."""

    type: str
    data: dict[str, Any]


@dataclass
class Package:
    """The parcel as the merchant measured it; None fields fall back to the lines' weights and a default box."""

    weight_grams: int | None = None
    length_cm: float | None = None
    width_cm: float | None = None
    height_cm: float | None = None


@dataclass
class MerchantEdit:
    """A field the merchant changed and what the channel said then: later syncs keep the edit unless the
    channel changes that field too."""

    value: Any
    channel_value: Any


@dataclass
class OrderConflict:
    """The channel changed a field the merchant had edited; the merchant's value stays until resolved."""

    field: str
    merchant_value: Any
    channel_value: Any


@dataclass
class Order:
    id: int | None
    account_id: int
    channel_id: int
    external_id: str
    number: str
    status: OrderStatus
    channel_status: ChannelOrderStatus
    payment_status: PaymentStatus
    lines: list[OrderLine]
    shipping_address: Address | None
    channel_updated_at: datetime
    channel_created_at: datetime
    raw_status: str = ""
    customer_name: str | None = None
    customer_email: str | None = None
    currency: str | None = None
    total: str | None = None
    missing_fields: list[str] = field(default_factory=list)
    attention_reason: str | None = None
    warning: str | None = None
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    invoice_number: str | None = None
    customs_contents: str | None = None  # MERCHANDISE, GIFT, DOCUMENTS, SAMPLE, RETURN
    package: Package | None = None
    #: Field path ("shippingAddress.postalCode") -> the merchant's edit (domain/edits.py).
    merchant_edits: dict[str, MerchantEdit] = field(default_factory=dict)
    conflicts: list[OrderConflict] = field(default_factory=list)
    # Collected by the order's methods; the unit of work persists them with the order.
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)
    writes: list[ChannelWrite] = field(default_factory=list, repr=False, compare=False)

    def line(self, line_id: int) -> OrderLine | None:
        return next((line for line in self.lines if line.id == line_id), None)

    @property
    def fully_shipped(self) -> bool:
        return all(line.quantity_remaining <= 0 for line in self.lines)


@dataclass
class SyncRun:
    id: int | None
    account_id: int
    channel_id: int
    trigger: SyncTrigger
    status: SyncStatus = SyncStatus.QUEUED
    direction: str = "IMPORT"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pages: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    error: str | None = None
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
