"""GraphQL types for customer notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import strawberry

from adapters import notifications
from adapters.notifications.templates import KIND_VARIABLES, VARIABLES, TemplateSource

NotificationKind = strawberry.enum(
    notifications.NotificationKind, description="Which customer e-mail: the parcel shipped, or it was delivered."
)
NotificationStatus = strawberry.enum(
    notifications.NotificationStatus,
    description="SENDING: being sent; SENT; FAILED: the SMTP server did not take it (retried later); SKIPPED: not sent, see error.",
)


@dataclass(frozen=True)
class NotificationRecord:
    """What the API shows of one `notifications_sent` row (built by the loader)."""

    shipment_id: int
    kind: notifications.NotificationKind
    status: notifications.NotificationStatus
    recipient: str
    sent_at: datetime | None
    error: str | None
    attempts: int


@strawberry.type(description="A customer e-mail about a shipment: one per kind, ever.")
class Notification:
    kind: NotificationKind = strawberry.field(description="Shipped or delivered.")  # type: ignore[valid-type]
    status: NotificationStatus = strawberry.field(description="Where it stands.")  # type: ignore[valid-type]
    recipient: str | None = strawberry.field(description="The customer's address (null when the order had none).")
    sent_at: datetime | None = strawberry.field(description="When the SMTP server took it (SENT only).")
    error: str | None = strawberry.field(description="Why it failed or was skipped, in plain words.")
    attempts: int = strawberry.field(description="How many times Waybill tried to send it.")

    @classmethod
    def from_record(cls, record: NotificationRecord) -> Notification:
        sent = record.status is notifications.NotificationStatus.SENT
        return cls(
            kind=record.kind,
            status=record.status,
            recipient=record.recipient or None,
            sent_at=record.sent_at if sent else None,
            error=record.error,
            attempts=record.attempts,
        )


@strawberry.type(description="A variable a template may use.")
class TemplateVariable:
    name: str = strawberry.field(description="As written in the template: {{ order_number }}.")
    description: str = strawberry.field(description="What it holds.")


@strawberry.type(description="The wording of one customer e-mail (Jinja2): yours, or the packaged default.")
class NotificationTemplate:
    kind: NotificationKind = strawberry.field(description="Which e-mail.")  # type: ignore[valid-type]
    subject: str = strawberry.field(description="Subject line template.")
    body: str = strawberry.field(description="Plain-text body template.")
    is_default: bool = strawberry.field(
        description="The packaged wording (sent with an HTML alternative); false once you saved your own."
    )
    variables: list[TemplateVariable] = strawberry.field(description="What subject and body may use.")

    @classmethod
    def from_source(cls, kind: notifications.NotificationKind, source: TemplateSource) -> NotificationTemplate:
        return cls(
            kind=kind,
            subject=source.subject,
            body=source.body,
            is_default=source.is_default,
            variables=[TemplateVariable(name=name, description=VARIABLES[name]) for name in KIND_VARIABLES[kind]],
        )


@strawberry.type(description="Whether one channel's customers get Waybill's e-mails.")
class ChannelNotificationSetting:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")
    channel_name: str = strawberry.field(description="Your name for it.")
    notify_customers: bool = strawberry.field(
        description="False for a platform that e-mails the buyer itself: Waybill then sends nothing for its orders."
    )


@strawberry.type(description="Customer e-mails on shipped and on delivered, for the whole account.")
class NotificationSettings:
    enabled: bool = strawberry.field(description="Master switch: false sends nothing for any channel.")
    from_address: str | None = strawberry.field(
        description='Your sender ("Shop <orders@shop.example>"); null uses the server\'s default.'
    )
    effective_from_address: str = strawberry.field(description="The From line customers see.")
    smtp_configured: bool = strawberry.field(
        description="Whether this Waybill server has an SMTP server (WAYBILL_SMTP_URL); without one, e-mails are SKIPPED."
    )
    channels: list[ChannelNotificationSetting] = strawberry.field(description="Per-channel switches.")
    templates: list[NotificationTemplate] = strawberry.field(description="The wording of each e-mail.")
