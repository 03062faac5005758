"""Customer e-mails about a parcel: packaged and merchant templates, SMTP sending, account/channel switches."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    """Which customer e-mail: one of each per shipment, ever."""

    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"


class NotificationStatus(StrEnum):
    """SENDING is claimed (a worker is sending it); FAILED may still be retried by the sweep."""

    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


__all__ = ["NotificationKind", "NotificationStatus"]
