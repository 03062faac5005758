"""Channel queries and mutations: connectChannel, syncChannel, channels, channel, syncRuns."""

from __future__ import annotations

from urllib.parse import urlparse

import strawberry

from adapters.persistence import mapping, models
from api import ids
from api.channels.types import Channel, ChannelKind, SyncRun
from api.context import Info
from api.errors import UserError, refusals
from domain import model
from domain.errors import DomainError, ErrorCode, NotFound
from jobs.sync import start_sync_run

MIN_INTERVAL, MAX_INTERVAL = 60, 86_400
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@strawberry.input(description="Connect a store. For Shopify: the shop's URL and an Admin API access token.")
class ConnectChannelInput:
    kind: ChannelKind = strawberry.field(description="Platform.")  # type: ignore[valid-type]
    name: str = strawberry.field(description="Your name for the channel.")
    shop_url: str = strawberry.field(description="e.g. https://your-shop.myshopify.com")
    access_token: str = strawberry.field(description="Stored encrypted; never returned.")
    sync_interval_seconds: int = strawberry.field(default=300, description="Polling interval, 60 to 86400.")


@strawberry.type(description="Result of connectChannel.")
class ConnectChannelPayload:
    channel: Channel | None = strawberry.field(description="The new channel; its first sync has started.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


@strawberry.input(description="Start a sync of one channel now.")
class SyncChannelInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")


@strawberry.type(description="Result of syncChannel.")
class SyncChannelPayload:
    sync_run: SyncRun | None = strawberry.field(description="The queued run; follow it with syncRunProgress.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


def _validate(input: ConnectChannelInput) -> None:
    if not input.name.strip() or len(input.name) > 200:
        raise DomainError(ErrorCode.INVALID, "name must be 1 to 200 characters", ["name"])
    url = urlparse(input.shop_url)
    local = url.hostname in LOCAL_HOSTS  # the sandbox store and test stores on this machine
    if not url.netloc or not (url.scheme == "https" or (url.scheme == "http" and local)):
        # The access token travels with every request: never in clear text over a network.
        raise DomainError(
            ErrorCode.INVALID, "shopUrl must be an https URL such as https://your-shop.myshopify.com", ["shopUrl"]
        )
    if not input.access_token.strip():
        raise DomainError(ErrorCode.INVALID, "accessToken is required", ["accessToken"])
    if not MIN_INTERVAL <= input.sync_interval_seconds <= MAX_INTERVAL:
        raise DomainError(
            ErrorCode.INVALID, f"syncIntervalSeconds must be {MIN_INTERVAL} to {MAX_INTERVAL}", ["syncIntervalSeconds"]
        )


async def connect_channel(info: Info, input: ConnectChannelInput) -> ConnectChannelPayload:
    context = info.context

    async def run() -> Channel:
        context.require("manage_channels")
        _validate(input)
        async with context.runtime.uow(context.actor) as uow:
            channel = await uow.channels.add(
                model.Channel(
                    id=0,
                    account_id=context.account_id,
                    kind=model.ChannelKind(input.kind.value),
                    name=input.name.strip(),
                    sync_interval_seconds=input.sync_interval_seconds,
                ),
                {"shop_url": input.shop_url.rstrip("/"), "access_token": input.access_token},
            )
            uow.add_event(context.account_id, "CHANNEL_CONNECTED", {"kind": channel.kind.value}, channel_id=channel.id)
        await start_sync_run(context.runtime, context.account_id, channel.id, model.SyncTrigger.MANUAL)
        return Channel.from_domain(channel)

    channel, errors = await refusals(run)
    return ConnectChannelPayload(channel=channel, user_errors=errors)


async def sync_channel(info: Info, input: SyncChannelInput) -> SyncChannelPayload:
    context = info.context

    async def run() -> SyncRun:
        context.require("manage_channels")
        channel_id = ids.decode("Channel", input.channel_id, "channelId")
        channel = await models.Channel.get_or_none(id=channel_id, account_id=context.account_id)
        if channel is None:
            raise NotFound("Channel", ["channelId"])
        if channel.state == model.ConnectionState.DISABLED:
            raise DomainError(ErrorCode.CHANNEL_DISABLED, "The channel is disabled", ["channelId"])
        run_id = await start_sync_run(context.runtime, context.account_id, channel_id, model.SyncTrigger.MANUAL)
        return SyncRun.from_domain(mapping.sync_run(await models.SyncRun.get(id=run_id)))

    run_, errors = await refusals(run)
    return SyncChannelPayload(sync_run=run_, user_errors=errors)


@strawberry.type
class ChannelQueries:
    @strawberry.field(description="Your connected channels.")
    async def channels(self, info: Info) -> list[Channel]:
        rows = await models.Channel.filter(account_id=info.context.account_id).order_by("id")
        return [Channel.from_domain(mapping.channel(row)) for row in rows]

    @strawberry.field(description="One channel; null if not in your account.")
    async def channel(self, info: Info, id: strawberry.ID) -> Channel | None:
        try:
            pk = ids.decode("Channel", id, "id")
        except DomainError:
            return None
        row = await models.Channel.get_or_none(id=pk, account_id=info.context.account_id)
        return Channel.from_domain(mapping.channel(row)) if row else None

    @strawberry.field(description="Recent sync runs, newest first.")
    async def sync_runs(self, info: Info, channel_id: strawberry.ID | None = None, first: int = 20) -> list[SyncRun]:
        rows = models.SyncRun.filter(account_id=info.context.account_id)
        if channel_id is not None:
            rows = rows.filter(channel_id=ids.decode("Channel", channel_id, "channelId"))
        found = await rows.order_by("-id").limit(max(1, min(first, 250)))
        return [SyncRun.from_domain(mapping.sync_run(row)) for row in found]
