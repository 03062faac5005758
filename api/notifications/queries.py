"""notificationSettings, and the loader behind `Shipment.notifications`."""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Sequence

import strawberry
from strawberry.dataloader import DataLoader

from adapters.notifications import NotificationKind, NotificationStatus
from adapters.notifications.mailer import sender_address
from adapters.notifications.preferences import account_preferences, channel_notifies
from adapters.notifications.templates import TemplateSource, default_template
from adapters.persistence import models
from api import ids
from api.context import Context, Info
from api.loaders import Loaders
from api.notifications.types import (
    ChannelNotificationSetting,
    NotificationRecord,
    NotificationSettings,
    NotificationTemplate,
)


async def template_for(account_id: int, kind: NotificationKind) -> NotificationTemplate:
    row = await models.NotificationTemplate.get_or_none(account_id=account_id, kind=kind.value)
    source = TemplateSource(subject=row.subject, body=row.body) if row else default_template(kind)
    return NotificationTemplate.from_source(kind, source)


async def notification_settings(context: Context) -> NotificationSettings:
    account = await models.Account.get(id=context.account_id)
    preferences = account_preferences(account.settings)
    channels = await models.Channel.filter(account_id=account.id).order_by("id")
    saved = {row.kind: row for row in await models.NotificationTemplate.filter(account_id=account.id)}
    settings = context.runtime.settings
    return NotificationSettings(
        enabled=preferences.enabled,
        from_address=preferences.from_address,
        effective_from_address=sender_address(preferences.from_address or settings.mail_from, account.name),
        smtp_configured=bool(settings.smtp_url),
        channels=[
            ChannelNotificationSetting(
                channel_id=strawberry.ID(ids.encode("Channel", channel.id)),
                channel_name=channel.name,
                notify_customers=channel_notifies(channel.settings),
            )
            for channel in channels
        ],
        templates=[
            NotificationTemplate.from_source(
                kind,
                TemplateSource(subject=saved[kind].subject, body=saved[kind].body)
                if kind.value in saved
                else default_template(kind),
            )
            for kind in NotificationKind
        ],
    )


@strawberry.type
class NotificationQueries:
    @strawberry.field(description="Customer e-mails: the switches, the sender and the templates.")
    async def notification_settings(self, info: Info) -> NotificationSettings:
        return await notification_settings(info.context)


# One DataLoader per request, kept beside the request's Loaders (api/loaders.py may adopt it as a field).
_BY_SHIPMENT: weakref.WeakKeyDictionary[Loaders, DataLoader[int, list[NotificationRecord]]] = (
    weakref.WeakKeyDictionary()
)


def notifications_by_shipment(info: Info) -> DataLoader[int, list[NotificationRecord]]:
    loaders = info.context.loaders
    loader = _BY_SHIPMENT.get(loaders)
    if loader is None:
        account_id = loaders.account_id

        async def load(shipment_ids: Sequence[int]) -> list[list[NotificationRecord]]:
            rows = await models.NotificationSent.filter(shipment_id__in=shipment_ids, account_id=account_id).order_by(
                "id"
            )
            grouped: dict[int, list[NotificationRecord]] = defaultdict(list)
            for row in rows:
                shipment_id: int = row.shipment_id  # type: ignore[attr-defined]
                grouped[shipment_id].append(
                    NotificationRecord(
                        shipment_id=shipment_id,
                        kind=NotificationKind(row.kind),
                        status=NotificationStatus(row.status),
                        recipient=row.recipient,
                        sent_at=row.sent_at,
                        error=row.error,
                        attempts=row.attempts,
                    )
                )
            return [grouped[shipment_id] for shipment_id in shipment_ids]

        loader = DataLoader(load)
        _BY_SHIPMENT[loaders] = loader
    return loader
