"""importOrdersCsv: a merchant without an API uploads a CSV of orders (GraphQL multipart request)."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from adapters.channels.csv_upload.parser import MAX_BYTES
from adapters.persistence import mapping, models
from api import ids
from api.channels.types import SyncRun
from api.context import Info
from api.errors import UserError, refusals
from api.imports.service import CsvImportReport, import_csv
from domain.errors import DomainError, ErrorCode


@strawberry.input(description="A CSV file of orders (columns documented in docs/csv-import.md).")
class ImportOrdersCsvInput:
    file: Upload = strawberry.field(description="The file, sent as a GraphQL multipart request (UTF-8, BOM allowed).")
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="A CSV channel of yours; omitted: your default CSV channel (created on first use)."
    )


@strawberry.type(description="A row Waybill could not import, where to find it in the file.")
class CsvRowError:
    line: int = strawberry.field(description="Line in the file (the header is line 1; 0 means the whole file).")
    column: str | None = strawberry.field(description="The column at fault, when one is.")
    message: str = strawberry.field(description="What is wrong and what is expected.")


@strawberry.type(description="Result of importOrdersCsv.")
class ImportOrdersCsvPayload:
    created: int = strawberry.field(description="New orders.")
    updated: int = strawberry.field(description="Orders already imported that the file changed.")
    unchanged: int = strawberry.field(description="Orders already imported exactly like this.")
    rejected_orders: list[str] = strawberry.field(description="Order numbers left out because a row of theirs is bad.")
    row_errors: list[CsvRowError] = strawberry.field(description="Every bad row, by line and column.")
    warnings: list[str] = strawberry.field(description="Things worth knowing that did not stop the import.")
    sync_run: SyncRun | None = strawberry.field(description="This upload in the channel's sync history.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was imported at all.")


async def import_orders_csv(info: Info, input: ImportOrdersCsvInput) -> ImportOrdersCsvPayload:
    context = info.context

    async def run() -> CsvImportReport:
        context.require("manage_channels")
        channel_id = ids.decode("Channel", input.channel_id, "channelId") if input.channel_id else None
        try:
            data = await input.file.read(MAX_BYTES + 1)  # type: ignore[attr-defined]
        finally:
            await input.file.close()  # type: ignore[attr-defined]  # its spooled temp file, at once
        if len(data) > MAX_BYTES:
            raise DomainError(ErrorCode.INVALID, f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB", ["file"])
        return await import_csv(
            context.runtime.uow, context.account_id, data, channel_id=channel_id, actor=context.actor
        )

    report, errors = await refusals(run)
    if report is None:
        return ImportOrdersCsvPayload(
            created=0,
            updated=0,
            unchanged=0,
            rejected_orders=[],
            row_errors=[],
            warnings=[],
            sync_run=None,
            user_errors=errors,
        )
    run_row = await models.SyncRun.get(id=report.sync_run_id)
    return ImportOrdersCsvPayload(
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected_orders=report.rejected_orders,
        row_errors=[CsvRowError(line=e.line, column=e.column, message=e.message) for e in report.errors],
        warnings=report.warnings,
        sync_run=SyncRun.from_domain(mapping.sync_run(run_row)),
        user_errors=[],
    )
