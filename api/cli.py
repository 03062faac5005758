"""`waybill`: serve, worker, migrate, create-api-key, inspect-order, import-csv."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from adapters.config import Settings

SCOPES = ("read_orders", "write_shipments", "manage_channels", "admin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waybill", description="Order sync and shipping hub.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run the API (and, without REDIS_URL, the worker).")
    serve.add_argument("--host", default=os.environ.get("WAYBILL_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("WAYBILL_PORT", "8000")))
    serve.add_argument("--demo", action="store_true", help="Sandbox store, sandbox carrier, demo account.")
    serve.add_argument("--no-worker", action="store_true", help="Never run the worker in this process.")

    commands.add_parser("worker", help="Run a worker (needs REDIS_URL to be shared with the API).")
    commands.add_parser("migrate", help="Apply database migrations.")

    key = commands.add_parser("create-api-key", help="Create an API key; the key is the last line printed.")
    key.add_argument("--name", default="cli")
    key.add_argument("--account", default=None, help="Account name (created if missing; default: the first).")
    key.add_argument("--scopes", nargs="+", default=list(SCOPES), choices=SCOPES)

    inspect = commands.add_parser("inspect-order", help="Show what Waybill makes of a channel's order payload.")
    inspect.add_argument(
        "--channel", required=True, type=str.lower, choices=_kind_names(), help="The channel kind the payload is from."
    )
    inspect.add_argument("file", type=Path)

    upload = commands.add_parser("import-csv", help="Import a CSV file of orders (columns: docs/csv-import.md).")
    upload.add_argument("file", type=Path)
    upload.add_argument("--account", default=None, help="Account name (default: the first).")
    upload.add_argument("--channel-id", type=int, default=None, help="A CSV channel (default: the account's first).")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("WAYBILL_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request to the stores is noise
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "worker":
        from jobs.worker import run_worker

        if settings.redis_url is None:
            print("waybill worker needs REDIS_URL (the API's embedded Valkey is private to it).", file=sys.stderr)
            return 2
        asyncio.run(run_worker(settings))
        return 0
    if args.command == "migrate":
        from adapters.persistence.db import migrate_db

        asyncio.run(migrate_db(settings.database_url, settings.data_dir))
        print("database is up to date")
        return 0
    if args.command == "create-api-key":
        print(asyncio.run(_create_key(settings, args.account, args.name, args.scopes)))
        return 0
    if args.command == "import-csv":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            print(f"cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        return asyncio.run(_import_csv(settings, args.file, data, args.account, args.channel_id))
    return _inspect(args.channel, args.file)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    self_url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    app = create_app(settings, demo=args.demo, embedded_worker=False if args.no_worker else None, self_url=self_url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", ws="websockets-sansio", proxy_headers=True)
    return 0


async def _create_key(settings: Settings, account_name: str | None, name: str, scopes: list[str]) -> str:
    from adapters.persistence import db, models
    from adapters.persistence.accounts import create_account, create_api_key

    await db.init_db(settings.database_url, settings.data_dir)
    try:
        account = (
            await (models.Account.filter(name=account_name) if account_name else models.Account.all())
            .order_by("id")
            .first()
        )
        account_id = account.id if account else await create_account(account_name or "My shop")
        key = await create_api_key(account_id, name, scopes)
        return f"API key for account {account_id} (shown once, store it now):\n{key}"
    finally:
        await db.close_db()


async def _import_csv(
    settings: Settings, path: Path, data: bytes, account_name: str | None, channel_id: int | None
) -> int:
    """Without REDIS_URL this writes to the database alone: subscribers pick the events up from the log."""
    from adapters.persistence import db, models
    from adapters.persistence.secrets import SecretBox
    from adapters.persistence.uow import TortoiseUnitOfWork
    from api.imports.service import import_csv
    from domain.errors import DomainError

    await db.init_db(settings.database_url, settings.data_dir)
    try:
        query = models.Account.filter(name=account_name) if account_name else models.Account.all()
        account = await query.order_by("id").first()
        if account is None:
            print(
                f"no account {account_name!r}" if account_name else "no account yet: create one first", file=sys.stderr
            )
            return 2
        box = SecretBox.from_env(settings.data_dir)
        try:
            report = await import_csv(
                lambda actor: TortoiseUnitOfWork(actor=actor, secret_box=box), account.id, data, channel_id=channel_id
            )
        except DomainError as exc:
            print(f"not imported: {exc.message}", file=sys.stderr)
            return 2
    finally:
        await db.close_db()
    for error in report.errors:
        print(f"{path}: {error}", file=sys.stderr)
    for warning in report.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.rejected_orders)} rejected (channel {report.channel_id}, sync run {report.sync_run_id})"
    )
    return 1 if report.errors else 0


def _kind_names() -> list[str]:
    from adapters.channels.catalog import SPECS

    return [kind.value.lower() for kind in SPECS]


def _inspect(channel: str, path: Path) -> int:
    from adapters.channels.catalog import spec_for
    from domain.lifecycle import status_from_channel
    from domain.validation import missing_fields

    spec = spec_for(channel.upper())
    assert spec is not None  # argparse allowed only known kinds
    try:
        # A CSV upload is read as bytes (its parser reports encoding problems by line); every API
        # channel's payload is JSON.
        raw = path.read_bytes()
        orders = spec.parse_document(raw if spec.kind.value == "CSV" else json.loads(raw.decode("utf-8-sig")))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # the mapper's way of saying "not an order"
        print(f"cannot read {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    out: list[dict[str, Any]] = []
    for order in orders:
        missing = missing_fields(order.shipping_address, order.lines)
        data = asdict(order)
        data = {
            "number": order.number,
            "external_id": order.external_id,
            "waybill_status": status_from_channel(order, missing).value,
            "channel_status": order.channel_status.value,
            "payment_status": order.payment_status.value,
            "raw_status": order.raw_status,
            "customer": {"name": order.customer_name, "email": order.customer_email},
            "total": order.total,
            "currency": order.currency,
            "lines": data["lines"],
            "shipping_address": data["shipping_address"],
            "missing_fields": missing,
            "created_at": order.channel_created_at.isoformat(),
            "updated_at": order.channel_updated_at.isoformat(),
        }
        out.append(data)
    print(json.dumps(out[0] if len(out) == 1 else out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
