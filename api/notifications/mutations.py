"""updateNotificationSettings, updateNotificationTemplate, resetNotificationTemplate (scope: manage_channels)."""

from __future__ import annotations

from email.utils import parseaddr

import strawberry
from tortoise.transactions import in_transaction

from adapters.notifications import NotificationKind as Kind
from adapters.notifications.preferences import AccountPreferences, account_preferences, with_account_preferences
from adapters.notifications.templates import TemplateProblem, validate_template
from adapters.persistence import models
from api import ids
from api.context import Info
from api.errors import UserError, refusals
from api.notifications.queries import notification_settings, template_for
from api.notifications.types import NotificationKind, NotificationSettings, NotificationTemplate
from domain.errors import DomainError, ErrorCode, NotFound

SCOPE = "manage_channels"


@strawberry.input(description="Switch one channel's customer e-mails on or off.")
class ChannelNotificationInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")
    notify_customers: bool = strawberry.field(
        description="False for a platform that e-mails the buyer itself (Waybill then sends nothing for it)."
    )


@strawberry.input(description="Change customer e-mail settings; fields left out stay as they are.")
class UpdateNotificationSettingsInput:
    enabled: bool | None = strawberry.field(default=None, description="Master switch for the account.")
    from_address: str | None = strawberry.field(
        default=None, description='Sender, e.g. "Shop <orders@shop.example>"; an empty string restores the default.'
    )
    channels: list[ChannelNotificationInput] | None = strawberry.field(
        default=None, description="Per-channel switches to change."
    )


@strawberry.type(description="Result of updateNotificationSettings.")
class UpdateNotificationSettingsPayload:
    notification_settings: NotificationSettings | None = strawberry.field(description="The settings now.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


@strawberry.input(description="Your wording of one customer e-mail (Jinja2); checked before it is saved.")
class UpdateNotificationTemplateInput:
    kind: NotificationKind = strawberry.field(description="Which e-mail.")  # type: ignore[valid-type]
    subject: str = strawberry.field(description="Subject line template, e.g. Your order {{ order_number }} shipped.")
    body: str = strawberry.field(description="Plain-text body template; see NotificationTemplate.variables.")


@strawberry.type(description="Result of updateNotificationTemplate.")
class UpdateNotificationTemplatePayload:
    template: NotificationTemplate | None = strawberry.field(description="The saved template.")
    user_errors: list[UserError] = strawberry.field(
        description="A template that would not render: the field (subject or body), the line and the problem."
    )


@strawberry.input(description="Go back to the packaged wording of one customer e-mail.")
class ResetNotificationTemplateInput:
    kind: NotificationKind = strawberry.field(description="Which e-mail.")  # type: ignore[valid-type]


@strawberry.type(description="Result of resetNotificationTemplate.")
class ResetNotificationTemplatePayload:
    template: NotificationTemplate | None = strawberry.field(description="The packaged template, now in use.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


def _from_address(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    _, address = parseaddr(value)
    if "@" not in address or any(c in value for c in "\r\n") or len(value) > 300:
        raise DomainError(
            ErrorCode.INVALID,
            'fromAddress must be an e-mail address, e.g. "Shop <orders@shop.example>"',
            ["fromAddress"],
        )
    return value


async def update_notification_settings(
    info: Info, input: UpdateNotificationSettingsInput
) -> UpdateNotificationSettingsPayload:
    context = info.context

    async def run() -> NotificationSettings:
        context.require(SCOPE)
        account_id = context.account_id
        from_address = _from_address(input.from_address) if input.from_address is not None else None
        switches: dict[int, bool] = {}
        for n, item in enumerate(input.channels or []):
            switches[ids.decode("Channel", item.channel_id, f"channels.{n}.channelId")] = item.notify_customers
        async with in_transaction():
            rows = {
                row.id: row
                for row in await models.Channel.filter(account_id=account_id, id__in=list(switches)).select_for_update()
            }
            for n, channel_id in enumerate(switches):
                if channel_id not in rows:
                    raise NotFound("Channel", [f"channels.{n}.channelId"])
            for channel_id, notify in switches.items():
                row = rows[channel_id]
                await models.Channel.filter(id=channel_id).update(
                    settings={**(row.settings or {}), "notify_customers": notify}
                )
            account = await models.Account.filter(id=account_id).select_for_update().get()
            current = account_preferences(account.settings)
            wanted = AccountPreferences(
                enabled=current.enabled if input.enabled is None else input.enabled,
                from_address=current.from_address if input.from_address is None else from_address,
            )
            await models.Account.filter(id=account_id).update(
                settings=with_account_preferences(account.settings, wanted)
            )
        return await notification_settings(context)

    settings, errors = await refusals(run)
    return UpdateNotificationSettingsPayload(notification_settings=settings, user_errors=errors)


async def update_notification_template(
    info: Info, input: UpdateNotificationTemplateInput
) -> UpdateNotificationTemplatePayload:
    context = info.context

    async def run() -> NotificationTemplate:
        context.require(SCOPE)
        kind = Kind(input.kind.value)
        try:
            validate_template(kind, input.subject, input.body)
        except TemplateProblem as problem:
            raise DomainError(ErrorCode.INVALID, problem.message, [problem.part]) from problem
        await models.NotificationTemplate.update_or_create(
            defaults={"subject": input.subject, "body": input.body}, account_id=context.account_id, kind=kind.value
        )
        return await template_for(context.account_id, kind)

    template, errors = await refusals(run)
    return UpdateNotificationTemplatePayload(template=template, user_errors=errors)


async def reset_notification_template(
    info: Info, input: ResetNotificationTemplateInput
) -> ResetNotificationTemplatePayload:
    context = info.context

    async def run() -> NotificationTemplate:
        context.require(SCOPE)
        kind = Kind(input.kind.value)
        await models.NotificationTemplate.filter(account_id=context.account_id, kind=kind.value).delete()
        return await template_for(context.account_id, kind)

    template, errors = await refusals(run)
    return ResetNotificationTemplatePayload(template=template, user_errors=errors)


@strawberry.type
class NotificationMutations:
    update_notification_settings: UpdateNotificationSettingsPayload = strawberry.mutation(
        resolver=update_notification_settings,
        description="Switch customer e-mails on or off (account, channels) and set the sender.",
    )
    update_notification_template: UpdateNotificationTemplatePayload = strawberry.mutation(
        resolver=update_notification_template,
        description="Save your wording of a customer e-mail; a template that would not render is refused.",
    )
    reset_notification_template: ResetNotificationTemplatePayload = strawberry.mutation(
        resolver=reset_notification_template, description="Go back to the packaged wording of a customer e-mail."
    )
