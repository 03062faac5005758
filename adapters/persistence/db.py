"""Start and stop the ORM, and bring the schema up to date before anything else touches it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from tortoise import Tortoise, connections
from tortoise import context as tortoise_context
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.executor import MigrationExecutor

from adapters.persistence.config import database_config, is_postgres
from adapters.persistence.secrets import SECRET_KEY_ENV, SecretBox, install_secret_box

log = logging.getLogger(__name__)

#: Any constant shared by every Waybill process; pg_advisory_lock takes a bigint.
MIGRATION_LOCK_ID = 0x57617962696C6C  # "Waybill"


async def init_db(database_url: str | None, data_dir: Path, *, migrate: bool = True) -> list[str]:
    """Initialise Tortoise for this process and, unless told not to, apply pending migrations.

    The context is registered as tortoise's global fallback so that tasks not descended from
    this one (uvicorn request tasks next to the lifespan task, arq jobs) find the connections.
    Returns the names of the migrations it applied: none when the schema was current.
    """
    await close_db()  # a second init in the same process replaces the first instead of failing
    config = database_config(database_url, data_dir)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    if is_postgres(database_url) and not os.environ.get(SECRET_KEY_ENV):
        log.warning("%s is not set: every host would make its own key file; set one shared key", SECRET_KEY_ENV)
    install_secret_box(SecretBox.from_env(data_dir))
    if not migrate:
        return []
    lock = _postgres_lock() if is_postgres(database_url) else _sqlite_lock(data_dir)
    async with lock:
        return await _apply_migrations(config)


async def close_db() -> None:
    """Close every connection and forget the models; safe when nothing was initialised.

    Both the task's own context and the global fallback are closed, so a later `init_db` can
    register a new global one (tortoise refuses a second).
    """
    seen: set[int] = set()
    for ctx in (tortoise_context._current_context.get(), tortoise_context._global_context):
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        if ctx.apps is not None:
            for model in ctx.apps.get_models_iterable():
                model._meta.default_connection = None
            ctx.apps.clear()
        await ctx.close_connections()
        ctx._apps = None
        ctx._inited = False
    install_secret_box(None)


async def migrate_db(database_url: str | None, data_dir: Path) -> list[str]:
    """`waybill migrate`: bring the schema up to date, then let go of the connections."""
    try:
        return await init_db(database_url, data_dir, migrate=True)
    finally:
        await close_db()


async def _apply_migrations(config: dict[str, Any]) -> list[str]:
    """Applies what the migration table does not list yet; returns the names applied (none when current)."""
    connection = connections.get("default")
    executor = MigrationExecutor(connection, config["apps"])
    plan = await executor.plan()
    pending = [step.migration.name for step in plan if not step.backward]
    if not pending:
        return []
    log.info("Applying migrations: %s", ", ".join(pending))
    await executor.migrate()
    return pending


@contextlib.asynccontextmanager
async def _postgres_lock() -> AsyncIterator[None]:
    """Several processes starting at once: one migrates, the others wait, then find nothing to do.

    A session-level advisory lock, held on one pooled connection while the executor uses others.
    """
    client: BaseDBAsyncClient = connections.get("default")
    async with client.acquire_connection() as raw:
        await raw.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            yield
        finally:
            await raw.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


@contextlib.asynccontextmanager
async def _sqlite_lock(data_dir: Path) -> AsyncIterator[None]:
    """The same guarantee for the embedded database: an exclusive lock on a file beside it."""
    if fcntl is None:  # pragma: no cover - Windows: one process at a time is the supported setup
        yield
        return
    fd = await asyncio.to_thread(_lock_file, data_dir / "migrate.lock")
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _lock_file(path: Path) -> int:
    """Blocks until no other process holds the lock; runs in a thread."""
    assert fcntl is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd
