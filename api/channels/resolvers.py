"""Channel queries and mutations: connectChannel, testChannelConnection, syncChannel, channels, channel, syncRuns."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from adapters.channels.catalog import SPECS
from adapters.persistence import mapping, models
from api import ids
from api.channels.credentials import ChannelCredentialsInput, credentials_from_input
from api.channels.types import Channel, ChannelKind, SyncRun
from api.context import Info
from api.errors import UserError, refusals
from api.jobs import wait_for_job
from api.limits.pages import page_size
from domain import model
from domain.errors import DomainError, ErrorCode, NotFound
from jobs.sync import start_sync_run

MIN_INTERVAL, MAX_INTERVAL = 60, 86_400
CHECK_WAIT_SECONDS = 20.0


@strawberry.input(description="Connect a sales channel or store platform; its credentials are checked first.")
class ConnectChannelInput:
    kind: ChannelKind = strawberry.field(description="Platform.")  # type: ignore[valid-type]
    name: str = strawberry.field(description="Your name for the channel.")
    credentials: ChannelCredentialsInput | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="The platform's credentials: set the field named after `kind` (none for CSV)."
    )
    shop_url: str | None = strawberry.field(
        default=None, deprecation_reason="Use credentials.shopify.shopUrl.", description="Shopify only."
    )
    access_token: str | None = strawberry.field(
        default=None, deprecation_reason="Use credentials.shopify.accessToken.", description="Shopify only."
    )
    sync_interval_seconds: int = strawberry.field(default=300, description="Polling interval, 60 to 86400.")


@strawberry.type(description="Result of connectChannel.")
class ConnectChannelPayload:
    channel: Channel | None = strawberry.field(description="The new channel; its first sync has started.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


@strawberry.input(
    description="Resume a channel that needs re-authorisation (or was in error), optionally with new credentials."
)
class ReconnectChannelInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")
    credentials: ChannelCredentialsInput | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="New credentials for the channel's platform; omitted: the stored ones are checked again.",
    )


@strawberry.type(description="Result of reconnectChannel.")
class ReconnectChannelPayload:
    channel: Channel | None = strawberry.field(
        description="The channel, CONNECTED again; a sync resumed from its cursor."
    )
    user_errors: list[UserError] = strawberry.field(description="Why it could not reconnect.")


@strawberry.input(description="Check that Waybill can still reach a connected channel with its stored credentials.")
class TestChannelConnectionInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")


@strawberry.type(description="Result of testChannelConnection.")
class TestChannelConnectionPayload:
    ok: bool = strawberry.field(description="Waybill reached the platform and it accepted the credentials.")
    store_name: str | None = strawberry.field(description="What the platform calls the store, when reached.")
    user_errors: list[UserError] = strawberry.field(description="What failed and what to fix.")


def _validate(input: ConnectChannelInput) -> dict[str, Any]:
    if not input.name.strip() or len(input.name) > 200:
        raise DomainError(ErrorCode.INVALID, "name must be 1 to 200 characters", ["name"])
    if not MIN_INTERVAL <= input.sync_interval_seconds <= MAX_INTERVAL:
        raise DomainError(
            ErrorCode.INVALID, f"syncIntervalSeconds must be {MIN_INTERVAL} to {MAX_INTERVAL}", ["syncIntervalSeconds"]
        )
    kind = model.ChannelKind(input.kind.value)
    legacy = (
        {"shop_url": input.shop_url, "access_token": input.access_token} if kind is model.ChannelKind.SHOPIFY else None
    )
    return credentials_from_input(kind, input.credentials, legacy)


def _refusal(title: str, outcome: object) -> DomainError | None:
    """The worker's verdict on a connection check, as the user error a merchant can act on."""
    if not isinstance(outcome, dict):
        return DomainError(
            ErrorCode.CHANNEL_UNREACHABLE, f"{title} did not answer in time; check the store's address and try again"
        )
    if outcome.get("ok"):
        return None
    message = str(outcome.get("message") or "")
    if outcome.get("reason") == "auth":
        return DomainError(
            ErrorCode.CHANNEL_AUTH_FAILED,
            f"{title} refused these credentials ({message}). Check that they are copied whole, belong to this "
            "store and have the permissions listed in the field descriptions.",
            ["credentials"],
        )
    if outcome.get("reason") == "unreachable":
        return DomainError(
            ErrorCode.CHANNEL_UNREACHABLE,
            f"Waybill could not reach {title} ({message}). Check the store's address, or try again if it is down.",
            ["credentials"],
        )
    return DomainError(ErrorCode.CHANNEL_AUTH_FAILED, f"{title} refused the connection: {message}", ["credentials"])


async def _checked_credentials(context: Any, kind: model.ChannelKind, credentials: dict[str, Any]) -> dict[str, Any]:
    """Asks a worker to call the platform once; returns the credentials to store (maybe refreshed)."""
    spec = SPECS[kind]
    if not spec.fields:
        return credentials  # nothing to check (CSV upload)
    runtime = context.runtime
    job_id = f"check-connection:{uuid.uuid4().hex}"
    await runtime.enqueue("check_connection", kind.value, runtime.secrets.encrypt(credentials), job_id=job_id)
    outcome = await wait_for_job(runtime, job_id, CHECK_WAIT_SECONDS)
    refusal = _refusal(spec.title, outcome)
    if refusal is not None:
        raise refusal
    assert isinstance(outcome, dict)
    return runtime.secrets.decrypt(str(outcome["sealed"]))


async def connect_channel(info: Info, input: ConnectChannelInput) -> ConnectChannelPayload:
    context = info.context

    async def run() -> Channel:
        context.require("manage_channels")
        kind = model.ChannelKind(input.kind.value)
        credentials = await _checked_credentials(context, kind, _validate(input))
        async with context.runtime.uow(context.actor) as uow:
            channel = await uow.channels.add(
                model.Channel(
                    id=0,
                    account_id=context.account_id,
                    kind=kind,
                    name=input.name.strip(),
                    sync_interval_seconds=input.sync_interval_seconds,
                ),
                credentials,
            )
            uow.add_event(context.account_id, "CHANNEL_CONNECTED", {"kind": channel.kind.value}, channel_id=channel.id)
        if SPECS[kind].fields:  # a CSV channel has nothing to poll: its orders arrive by upload
            await start_sync_run(context.runtime, context.account_id, channel.id, model.SyncTrigger.MANUAL)
        return Channel.from_domain(channel)

    channel, errors = await refusals(run)
    return ConnectChannelPayload(channel=channel, user_errors=errors)


async def _own_channel(context: Any, channel_id: strawberry.ID) -> models.Channel:
    """The caller's channel by global id; another account's answers exactly like a missing one."""
    pk = ids.decode("Channel", channel_id, "channelId")
    row = await models.Channel.get_or_none(id=pk, account_id=context.account_id)
    if row is None:
        raise NotFound("Channel", ["channelId"])
    return row


async def reconnect_channel(info: Info, input: ReconnectChannelInput) -> ReconnectChannelPayload:
    context = info.context

    async def run() -> Channel:
        context.require("manage_channels")
        row = await _own_channel(context, input.channel_id)
        channel_id = int(row.id)
        kind = model.ChannelKind(row.kind)
        if input.credentials is not None:
            fresh = await _checked_credentials(context, kind, credentials_from_input(kind, input.credentials))
            await models.Channel.filter(id=channel_id).update(credentials=context.runtime.secrets.encrypt(fresh))
        else:
            await _check_stored(context, channel_id, SPECS[kind].title)
        # The cursor is untouched: the sync resumes where the refused one stopped.
        await models.Channel.filter(id=channel_id).update(
            state=model.ConnectionState.CONNECTED.value, last_error=None, consecutive_failures=0
        )
        async with context.runtime.uow(context.actor) as uow:
            uow.add_event(context.account_id, "CHANNEL_RECONNECTED", {"kind": kind.value}, channel_id=channel_id)
        if SPECS[kind].fields:
            await start_sync_run(context.runtime, context.account_id, channel_id, model.SyncTrigger.MANUAL)
        return Channel.from_domain(mapping.channel(await models.Channel.get(id=channel_id)))

    channel, errors = await refusals(run)
    return ReconnectChannelPayload(channel=channel, user_errors=errors)


async def _check_stored(context: Any, channel_id: int, title: str) -> str:
    """A worker calls the platform with the stored credentials; the store's name, or the refusal."""
    job_id = f"check-channel:{channel_id}:{uuid.uuid4().hex}"
    await context.runtime.enqueue("check_stored_connection", channel_id, job_id=job_id)
    outcome = await wait_for_job(context.runtime, job_id, CHECK_WAIT_SECONDS)
    refusal = _refusal(title, outcome)
    if refusal is not None:
        raise refusal
    assert isinstance(outcome, dict)
    return str(outcome["store"])


async def test_channel_connection(info: Info, input: TestChannelConnectionInput) -> TestChannelConnectionPayload:
    context = info.context

    async def run() -> str:
        context.require("manage_channels")
        row = await _own_channel(context, input.channel_id)
        return await _check_stored(context, int(row.id), SPECS[model.ChannelKind(row.kind)].title)

    store_name, errors = await refusals(run)
    return TestChannelConnectionPayload(ok=store_name is not None, store_name=store_name, user_errors=errors)


@strawberry.input(description="A Waybill warehouse and the platform location it is.")
class LocationMappingInput:
    location: str = strawberry.field(description="Your warehouse name (buyLabel's `location`).")
    platform_location_id: str = strawberry.field(description="The platform's location id.")


@strawberry.input(description="A carrier and the platform's name or code for it.")
class CarrierMappingInput:
    carrier: str = strawberry.field(description="Waybill's carrier: an account name, 'sandbox', or e.g. USPS.")
    platform_carrier: str = strawberry.field(description="What the platform should show (e.g. 'Royal Mail').")


@strawberry.input(description="Change a channel's name, interval or mappings; omitted fields stay as they are.")
class UpdateChannelInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")
    name: str | None = strawberry.field(default=None, description="Your name for it.")
    sync_interval_seconds: int | None = strawberry.field(default=None, description="Polling interval, 60 to 86400.")
    location_mapping: list[LocationMappingInput] | None = strawberry.field(
        default=None, description="Replaces the whole location mapping (platforms with locations only)."
    )
    carrier_mapping: list[CarrierMappingInput] | None = strawberry.field(
        default=None, description="Replaces the whole carrier mapping."
    )


@strawberry.type(description="Result of updateChannel.")
class UpdateChannelPayload:
    channel: Channel | None = strawberry.field(description="The channel as it is now.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


def _mapping(entries: list[tuple[str, str]], field: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for index, (key, value) in enumerate(entries):
        key, value = key.strip(), value.strip()
        if not key or not value or len(key) > 100 or len(value) > 100:
            raise DomainError(
                ErrorCode.INVALID, "each entry needs both names, 1 to 100 characters", [field, str(index)]
            )
        if key in mapping:
            raise DomainError(ErrorCode.INVALID, f"'{key}' appears twice", [field, str(index)])
        mapping[key] = value
    return mapping


async def update_channel(info: Info, input: UpdateChannelInput) -> UpdateChannelPayload:
    context = info.context

    async def run() -> Channel:
        context.require("manage_channels")
        channel_id = ids.decode("Channel", input.channel_id, "channelId")
        async with context.runtime.uow(context.actor) as uow:
            channel = await uow.channels.get(context.account_id, channel_id)
            if channel is None:
                raise NotFound("Channel", ["channelId"])
            spec = SPECS[channel.kind]
            if input.name is not None:
                if not input.name.strip() or len(input.name) > 200:
                    raise DomainError(ErrorCode.INVALID, "name must be 1 to 200 characters", ["name"])
                channel.name = input.name.strip()
            if input.sync_interval_seconds is not None:
                if not MIN_INTERVAL <= input.sync_interval_seconds <= MAX_INTERVAL:
                    raise DomainError(
                        ErrorCode.INVALID,
                        f"syncIntervalSeconds must be {MIN_INTERVAL} to {MAX_INTERVAL}",
                        ["syncIntervalSeconds"],
                    )
                channel.sync_interval_seconds = input.sync_interval_seconds
            settings = dict(channel.settings)
            if input.location_mapping is not None:
                if input.location_mapping and not spec.can(model.ChannelCapability.LOCATIONS):
                    raise DomainError(
                        ErrorCode.UNSUPPORTED, f"{spec.title} has no locations to map", ["locationMapping"]
                    )
                entries = [(m.location, m.platform_location_id) for m in input.location_mapping]
                settings["location_mapping"] = _mapping(entries, "locationMapping")
            if input.carrier_mapping is not None:
                entries = [(m.carrier, m.platform_carrier) for m in input.carrier_mapping]
                settings["carrier_mapping"] = _mapping(entries, "carrierMapping")
            channel.settings = settings
            await uow.channels.save(channel)
            uow.add_event(context.account_id, "CHANNEL_UPDATED", {"kind": channel.kind.value}, channel_id=channel.id)
        return Channel.from_domain(channel)

    channel, errors = await refusals(run)
    return UpdateChannelPayload(channel=channel, user_errors=errors)


@strawberry.input(description="Start a sync of one channel now.")
class SyncChannelInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")


@strawberry.type(description="Result of syncChannel.")
class SyncChannelPayload:
    sync_run: SyncRun | None = strawberry.field(description="The queued run; follow it with syncRunProgress.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


async def sync_channel(info: Info, input: SyncChannelInput) -> SyncChannelPayload:
    context = info.context

    async def run() -> SyncRun:
        context.require("manage_channels")
        channel = await _own_channel(context, input.channel_id)
        channel_id = int(channel.id)
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
        found = await rows.order_by("-id").limit(page_size(first))
        return [SyncRun.from_domain(mapping.sync_run(row)) for row in found]
