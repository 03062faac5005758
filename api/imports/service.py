"""Import a CSV file of orders into an account's CSV channel: shared by `importOrdersCsv` and `waybill import-csv`.

Good orders are imported, bad rows are reported by line and column, and the same file imported again
changes nothing (the parser is deterministic and the import compares content hashes). Each upload is
recorded as a sync run, so `syncRuns` tells the whole history of the channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.channels.csv_upload import RowError, parse_csv
from adapters.persistence import models
from domain import model, services
from domain.errors import DomainError, ErrorCode, NotFound
from domain.ports import UnitOfWork

#: Makes the unit of work of one transaction for an actor: the API's dispatching one, or (CLI without
#: Redis) a plain one whose events subscribers read from the log.
UowFactory = Callable[[str], UnitOfWork]
CHUNK = 500  # orders per transaction: a huge file never holds one long write lock
DEFAULT_CHANNEL_NAME = "CSV upload"


@dataclass
class CsvImportReport:
    channel_id: int
    sync_run_id: int
    orders_in_file: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_orders: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


async def csv_channel(uow: UowFactory, account_id: int, channel_id: int | None, actor: str) -> int:
    """The given CSV channel of the account, or its default one (created on first upload)."""
    if channel_id is not None:
        row = await models.Channel.get_or_none(id=channel_id, account_id=account_id)
        if row is None:
            raise NotFound("Channel", ["channelId"])
        if row.kind != model.ChannelKind.CSV.value:
            raise DomainError(
                ErrorCode.INVALID, f"Channel {row.name} is a {row.kind} channel, not a CSV upload", ["channelId"]
            )
        return int(row.id)
    existing = (
        await models.Channel.filter(account_id=account_id, kind=model.ChannelKind.CSV.value).order_by("id").first()
    )
    if existing is not None:
        return int(existing.id)
    async with uow(actor) as work:
        channel = await work.channels.add(
            model.Channel(id=0, account_id=account_id, kind=model.ChannelKind.CSV, name=DEFAULT_CHANNEL_NAME), {}
        )
        work.add_event(account_id, "CHANNEL_CONNECTED", {"kind": channel.kind.value}, channel_id=channel.id)
    return channel.id


async def import_csv(
    uow: UowFactory, account_id: int, data: bytes, *, channel_id: int | None = None, actor: str = "csv"
) -> CsvImportReport:
    channel_id = await csv_channel(uow, account_id, channel_id, actor)
    started = datetime.now(UTC)
    parsed = await asyncio.to_thread(parse_csv, data)  # CPU-bound: seconds for 50,000 rows
    report = CsvImportReport(
        channel_id=channel_id,
        sync_run_id=0,
        orders_in_file=len(parsed.orders) + len(parsed.rejected),
        rejected_orders=list(parsed.rejected),
        errors=list(parsed.errors),
        warnings=list(parsed.warnings),
    )
    for start in range(0, len(parsed.orders), CHUNK):
        chunk = parsed.orders[start : start + CHUNK]
        counts = await services.import_orders(uow(actor), account_id, channel_id, chunk)
        report.created += counts.created
        report.updated += counts.updated
        report.unchanged += counts.unchanged
    failed = len(parsed.rejected)
    error = "; ".join(
        f"line {e.line}" + (f", {e.column}" if e.column else "") + f": {e.message}" for e in parsed.errors[:5]
    )
    run = await models.SyncRun.create(
        account_id=account_id,
        channel_id=channel_id,
        trigger=model.SyncTrigger.UPLOAD.value,
        status=(model.SyncStatus.FAILED if parsed.errors and not parsed.orders else model.SyncStatus.SUCCEEDED).value,
        started_at=started,
        finished_at=datetime.now(UTC),
        pages=1,
        fetched=report.orders_in_file,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        failed=failed,
        error=error or None,
    )
    report.sync_run_id = int(run.id)
    await models.Channel.filter(id=channel_id).update(last_synced_at=run.finished_at)
    return report
