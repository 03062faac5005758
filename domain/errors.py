"""Error codes the API turns into `userErrors`; one code per refusal a client can act on."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_ON_HOLD = "ORDER_ON_HOLD"
    ORDER_INCOMPLETE = "ORDER_INCOMPLETE"
    ORDER_ARCHIVED = "ORDER_ARCHIVED"
    ORDER_NEEDS_ATTENTION = "ORDER_NEEDS_ATTENTION"
    ORDER_ALREADY_SHIPPED = "ORDER_ALREADY_SHIPPED"
    ORDER_DELIVERED = "ORDER_DELIVERED"
    ORDER_NOT_DRAFT = "ORDER_NOT_DRAFT"
    ORDER_HAS_LABEL = "ORDER_HAS_LABEL"
    NOTHING_TO_SHIP = "NOTHING_TO_SHIP"
    QUANTITY_EXCEEDS_REMAINING = "QUANTITY_EXCEEDS_REMAINING"
    LABEL_ALREADY_VOIDED = "LABEL_ALREADY_VOIDED"
    LABEL_NOT_PURCHASED = "LABEL_NOT_PURCHASED"
    LABEL_DELIVERED = "LABEL_DELIVERED"
    LABEL_VOID_REJECTED = "LABEL_VOID_REJECTED"
    LABEL_PURCHASE_IN_PROGRESS = "LABEL_PURCHASE_IN_PROGRESS"
    LABEL_PURCHASE_FAILED = "LABEL_PURCHASE_FAILED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    CARRIER_NOT_CONFIGURED = "CARRIER_NOT_CONFIGURED"
    CARRIER_UNAVAILABLE = "CARRIER_UNAVAILABLE"
    SERVICE_UNKNOWN = "SERVICE_UNKNOWN"
    CHANNEL_KIND_UNSUPPORTED = "CHANNEL_KIND_UNSUPPORTED"
    CHANNEL_DISABLED = "CHANNEL_DISABLED"
    CHANNEL_AUTH_FAILED = "CHANNEL_AUTH_FAILED"
    CHANNEL_UNREACHABLE = "CHANNEL_UNREACHABLE"
    UNSUPPORTED = "UNSUPPORTED"
    LOCATION_MAPPING_MISSING = "LOCATION_MAPPING_MISSING"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"


class DomainError(Exception):
    """A refusal with a stable code, a message a merchant can read, and the input field at fault."""

    def __init__(self, code: ErrorCode, message: str, field: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(DomainError):
    def __init__(self, what: str, field: list[str] | None = None) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found", field)
