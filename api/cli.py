"""`waybill`: serve, worker, migrate, create-api-key, create-user, rotate-secret-key, inspect-order, import-csv."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from adapters import logging as waybill_logging
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

    worker = commands.add_parser("worker", help="Run a worker (needs REDIS_URL to be shared with the API).")
    worker.add_argument("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
    worker.add_argument("--metrics-host", default="127.0.0.1", help="Address of the metrics port (default loopback).")
    commands.add_parser("migrate", help="Apply database migrations.")

    key = commands.add_parser("create-api-key", help="Create an API key; the key is the last line printed.")
    key.add_argument("--name", default="cli")
    key.add_argument("--account", default=None, help="Account name (created if missing; default: the first).")
    key.add_argument("--scopes", nargs="+", default=list(SCOPES), choices=SCOPES)
    key.add_argument("--mode", choices=("live", "test"), default=None, help="A new account's mode (default live).")

    user = commands.add_parser(
        "create-user", help="Add an admin app user; the password comes from WAYBILL_PASSWORD or a prompt."
    )
    user.add_argument("--account-id", type=int, required=True)
    user.add_argument("--email", required=True)
    user.add_argument("--role", type=str.upper, choices=("OWNER", "STAFF", "READ_ONLY"), default="OWNER")

    commands.add_parser(
        "rotate-secret-key",
        help="Re-encrypt channel and carrier credentials under a new key (docs/security.md).",
    )

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
    waybill_logging.configure()  # WAYBILL_LOG_LEVEL, WAYBILL_LOG_FORMAT=text|json, request and job ids, redaction
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "worker":
        from jobs.worker import run_worker

        if settings.redis_url is None:
            print("waybill worker needs REDIS_URL (the API's embedded Valkey is private to it).", file=sys.stderr)
            return 2
        if args.metrics_port is not None:
            from prometheus_client import start_http_server

            from adapters.metrics import REGISTRY

            start_http_server(args.metrics_port, addr=args.metrics_host, registry=REGISTRY)
        asyncio.run(run_worker(settings))
        return 0
    if args.command == "migrate":
        from adapters.persistence.db import migrate_db

        asyncio.run(migrate_db(settings.database_url, settings.data_dir))
        print("database is up to date")
        return 0
    if args.command == "create-api-key":
        print(asyncio.run(_create_key(settings, args.account, args.name, args.scopes, args.mode)))
        return 0
    if args.command == "create-user":
        password = os.environ.get("WAYBILL_PASSWORD") or _prompt_password()
        if password is None:
            return 2
        return asyncio.run(_create_user(settings, args.account_id, args.email, args.role, password))
    if args.command == "rotate-secret-key":
        return asyncio.run(_rotate_secret_key(settings))
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
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        ws="websockets-sansio",
        proxy_headers=True,
        server_header=False,  # no product and version banner for scanners
        log_config=None,  # keep adapters/logging.py's handler (JSON, request ids) for uvicorn's lines too
    )
    return 0


async def _create_key(
    settings: Settings, account_name: str | None, name: str, scopes: list[str], mode: str | None = None
) -> str:
    from adapters.persistence import audit, db, models
    from adapters.persistence.accounts import create_account, issue_api_key, public_prefix

    await db.init_db(settings.database_url, settings.data_dir)
    try:
        account = (
            await (models.Account.filter(name=account_name) if account_name else models.Account.all())
            .order_by("id")
            .first()
        )
        account_id = account.id if account else await create_account(account_name or "My shop", mode or "live")
        key, row = await issue_api_key(account_id, name, scopes, created_by="cli")
        await audit.record(
            account_id,
            "cli",
            "createApiKey",
            object_ids=[f"gid://waybill/ApiKey/{row.id}"],
            detail={"prefix": public_prefix(row), "scopes": list(scopes)},
        )
        return f"API key for account {account_id} (shown once, store it now):\n{key}"
    finally:
        await db.close_db()


def _prompt_password() -> str | None:
    """Never from argv (it would show in `ps` and shell history)."""
    if not sys.stdin.isatty():
        print("set WAYBILL_PASSWORD or run create-user in a terminal", file=sys.stderr)
        return None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("the passwords differ", file=sys.stderr)
        return None
    return first


async def _create_user(settings: Settings, account_id: int, email: str, role: str, password: str) -> int:
    from adapters.persistence import audit, db, models
    from adapters.persistence.users import create_user
    from domain.errors import DomainError

    await db.init_db(settings.database_url, settings.data_dir)
    try:
        if not await models.Account.exists(id=account_id):
            print(f"no account {account_id}", file=sys.stderr)
            return 2
        try:
            user = await create_user(account_id, email, password, role)
        except DomainError as exc:
            print(f"not created: {exc.message}", file=sys.stderr)
            return 2
        await audit.record(account_id, "cli", "createUser", object_ids=[f"gid://waybill/User/{user.id}"])
        print(f"user {user.id} ({user.email}, {user.role}) can sign in to account {account_id}")
        return 0
    finally:
        await db.close_db()


async def _rotate_secret_key(settings: Settings) -> int:
    """Re-encrypts every stored credential under the first key.

    With WAYBILL_SECRET_KEY, the operator puts the new key first and keeps the old ones after it;
    afterwards the old ones can go. With the key file, a new key is written above the old one, the
    credentials are swept, then the old key is dropped: a crash at any point leaves every token readable.
    """
    from cryptography.fernet import InvalidToken

    from adapters.persistence import db, models
    from adapters.persistence.secrets import (
        KEY_FILENAME,
        SECRET_KEY_ENV,
        SecretBox,
        SecretKeyError,
        read_key_file,
        write_key_file,
    )

    key_file = settings.data_dir / KEY_FILENAME
    from_env = bool(os.environ.get(SECRET_KEY_ENV, "").strip())
    if from_env:
        box = SecretBox.from_env(settings.data_dir)
    else:
        old_keys = read_key_file(key_file) if key_file.exists() else []
        if not old_keys:
            print(f"no {key_file} and no {SECRET_KEY_ENV}: nothing is encrypted yet", file=sys.stderr)
            return 2
        new_key = SecretBox.generate_key().encode()
        write_key_file(key_file, [new_key, *old_keys])
        box = SecretBox([new_key, *old_keys])
    await db.init_db(settings.database_url, settings.data_dir)
    swept = 0
    try:
        for model in (models.Channel, models.CarrierAccount):
            for row_id, token in await model.exclude(credentials="").values_list("id", "credentials"):
                try:
                    rotated = box.rotate(token)
                except (SecretKeyError, InvalidToken):
                    print(f"{model.__name__} {row_id}: encrypted with a key that is not configured", file=sys.stderr)
                    return 1
                await model.filter(id=row_id, credentials=token).update(credentials=rotated)
                swept += 1
    finally:
        await db.close_db()
    if from_env:
        print(f"{swept} credentials re-encrypted; you may now drop the old keys from {SECRET_KEY_ENV}")
    else:
        write_key_file(key_file, [new_key])
        print(f"{swept} credentials re-encrypted under a new key in {key_file}; the old key is gone")
    return 0


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
