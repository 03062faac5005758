"""GraphQL channel and sync-run types."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from adapters.channels.catalog import spec_for
from api import ids
from api.forwarding.types import ChannelForwarding
from domain import model

ChannelKind = strawberry.enum(model.ChannelKind, description="Which platform a channel is.")
ConnectionState = strawberry.enum(model.ConnectionState, description="Whether Waybill can reach the channel.")
SyncStatus = strawberry.enum(model.SyncStatus, description="Where a sync run stands.")
SyncTrigger = strawberry.enum(model.SyncTrigger, description="What started a sync run.")
ChannelCapability = strawberry.enum(model.ChannelCapability, description="What a platform lets Waybill do.")


@strawberry.type(description="Which of the platform's locations a Waybill warehouse is.")
class LocationMapping:
    location: str = strawberry.field(description="Your warehouse name, as passed to buyLabel's `location`.")
    platform_location_id: str = strawberry.field(description="The platform's location id (Shopify: location id).")


@strawberry.type(description="How a carrier is named on the platform.")
class CarrierMapping:
    carrier: str = strawberry.field(description="Waybill's carrier (account name or the carrier, e.g. USPS).")
    platform_carrier: str = strawberry.field(description="The platform's name or code for it (e.g. 'Royal Mail').")


@strawberry.type(description="A connected sales channel or store platform.")
class Channel:
    id: strawberry.ID = strawberry.field(description="Global id.")
    kind: ChannelKind = strawberry.field(description="Platform.")  # type: ignore[valid-type]
    name: str = strawberry.field(description="The merchant's name for it.")
    state: ConnectionState = strawberry.field(description="Connection state.")  # type: ignore[valid-type]
    sync_interval_seconds: int = strawberry.field(description="Polling interval.")
    sync_cursor: datetime | None = strawberry.field(description="Orders updated before this are imported.")
    last_synced_at: datetime | None = strawberry.field(description="End of the last successful sync.")
    last_error: str | None = strawberry.field(description="Why the last sync failed, in plain words.")
    platform: str = strawberry.field(description="The platform's name, e.g. WooCommerce.")
    capabilities: list[ChannelCapability] = strawberry.field(  # type: ignore[valid-type]
        description="What the platform lets Waybill do (e.g. UNDO_SHIPMENT)."
    )
    limitations: list[str] = strawberry.field(description="What the platform cannot do, in plain words.")
    location_mapping: list[LocationMapping] = strawberry.field(
        description="Your warehouse names and the platform's location ids they ship from."
    )
    carrier_mapping: list[CarrierMapping] = strawberry.field(
        description="How your carriers are named on the platform (overrides Waybill's defaults)."
    )
    consecutive_failures: int = strawberry.field(description="Syncs failed in a row; each doubles the wait.")
    next_sync_at: datetime | None = strawberry.field(description="When the next scheduled sync (or retry) runs.")
    stale: bool = strawberry.field(
        description="No successful sync for longer than three sync intervals: the orders shown may be out of date."
    )
    forwarding: ChannelForwarding = strawberry.field(
        description="How this marketplace channel forwards orders into a store platform (updateForwarding)."
    )

    @strawberry.field(
        description=(
            "Where the platform should send its webhooks (null for platforms without signed webhooks). "
            "Set the channel's webhookSecret to the secret the platform signs with."
        )
    )
    def webhook_url(self, info: strawberry.Info) -> str | None:
        spec = spec_for(self.kind)
        if spec is None or spec.webhooks is None:
            return None
        context = info.context
        base = context.runtime.settings.public_url or (str(context.request.base_url) if context.request else "")
        return f"{base.rstrip('/')}/webhooks/channels/{ids.decode('Channel', self.id, 'id')}"

    @classmethod
    def from_domain(cls, channel: model.Channel) -> Channel:
        spec = spec_for(channel.kind)
        settings = channel.settings or {}
        return cls(
            location_mapping=[
                LocationMapping(location=k, platform_location_id=str(v))
                for k, v in sorted((settings.get("location_mapping") or {}).items())
            ],
            carrier_mapping=[
                CarrierMapping(carrier=k, platform_carrier=str(v))
                for k, v in sorted((settings.get("carrier_mapping") or {}).items())
            ],
            consecutive_failures=channel.consecutive_failures,
            next_sync_at=channel.next_sync_at,
            stale=channel.is_stale(datetime.now(UTC)),
            forwarding=ChannelForwarding.from_settings(settings),
            platform=spec.title if spec else channel.kind.value,
            capabilities=sorted(spec.capabilities) if spec else [],
            limitations=list(spec.limitations) if spec else [],
            id=strawberry.ID(ids.encode("Channel", channel.id)),
            kind=channel.kind,
            name=channel.name,
            state=channel.state,
            sync_interval_seconds=channel.sync_interval_seconds,
            sync_cursor=channel.sync_cursor,
            last_synced_at=channel.last_synced_at,
            last_error=channel.last_error,
        )


@strawberry.type(description="One import from a channel: what it fetched and what it changed.")
class SyncRun:
    id: strawberry.ID = strawberry.field(description="Global id.")
    channel_id: strawberry.ID = strawberry.field(description="The channel synced.")
    trigger: SyncTrigger = strawberry.field(description="What started it.")  # type: ignore[valid-type]
    status: SyncStatus = strawberry.field(description="Where it stands.")  # type: ignore[valid-type]
    started_at: datetime | None = strawberry.field(description="Start.")
    finished_at: datetime | None = strawberry.field(description="End.")
    pages: int = strawberry.field(description="Pages fetched so far.")
    fetched: int = strawberry.field(description="Orders fetched.")
    created: int = strawberry.field(description="New orders.")
    updated: int = strawberry.field(description="Orders that changed.")
    unchanged: int = strawberry.field(description="Orders fetched again with no change.")
    failed: int = strawberry.field(description="Orders that could not be imported.")
    error: str | None = strawberry.field(description="Why the run failed.")
    direction: str = strawberry.field(description="IMPORT (orders in from the channel).")
    duration_seconds: float | None = strawberry.field(description="From start to end; null while it runs.")
    cursor_before: datetime | None = strawberry.field(description="The channel's cursor when the run started.")
    cursor_after: datetime | None = strawberry.field(description="The cursor after it: orders changed before are in.")

    @classmethod
    def from_domain(cls, run: model.SyncRun) -> SyncRun:
        assert run.id is not None
        duration = (run.finished_at - run.started_at).total_seconds() if run.started_at and run.finished_at else None
        return cls(
            direction=run.direction,
            duration_seconds=duration,
            cursor_before=run.cursor_before,
            cursor_after=run.cursor_after,
            id=strawberry.ID(ids.encode("SyncRun", run.id)),
            channel_id=strawberry.ID(ids.encode("Channel", run.channel_id)),
            trigger=run.trigger,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            pages=run.pages,
            fetched=run.fetched,
            created=run.created,
            updated=run.updated,
            unchanged=run.unchanged,
            failed=run.failed,
            error=run.error,
        )
