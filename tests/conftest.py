"""A fresh database per test: a SQLite file in tmp_path, or a throwaway PostgreSQL database.

Set DATABASE_URL (CI: postgres://postgres@127.0.0.1:5432/test) to run against PostgreSQL; each
test then gets `CREATE DATABASE waybill_test_<random>`, dropped afterwards, so no test ever sees
another's rows and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from adapters.persistence.config import SQLITE_FILENAME
from adapters.persistence.db import close_db, init_db
from adapters.runtime import Runtime
from tests.support.harness import Harness, running_waybill


@dataclass(frozen=True)
class Database:
    """Where the test's database lives: pass both to init_db/migrate_db to reach it again."""

    url: str | None  # None: the embedded SQLite file under data_dir
    data_dir: Path

    @property
    def is_postgres(self) -> bool:
        return self.url is not None


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | Path]:
    """One migrated database per test process, copied for each test instead of migrating again.

    Migrating costs ~0.3 s a test on SQLite (more on PostgreSQL); a copy costs a millisecond. The
    template holds the schema only, never rows, so no test sees another's data. The migrations
    themselves are still tested from empty (`blank_database`, tests/integration/test_persistence.py).
    """
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        data_dir = tmp_path_factory.mktemp("schema-template")
        asyncio.run(_migrate(None, data_dir))
        yield data_dir / SQLITE_FILENAME
        return
    name = f"waybill_template_{secrets.token_hex(6)}"

    async def create() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await _create_database(admin, name)
        finally:
            await admin.close()
        await _migrate(_with_database(admin_url, name), tmp_path_factory.mktemp("schema-template"))

    async def drop() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(create())
    try:
        yield name
    finally:
        asyncio.run(drop())


async def _migrate(url: str | None, data_dir: Path) -> None:
    await init_db(url, data_dir)
    await close_db()


@pytest.fixture
async def blank_database(tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database that nothing has connected to yet; no schema."""
    async with _fresh_database(tmp_path, None) as database:
        yield database


@pytest.fixture
async def migrated_database(tmp_path: Path, schema_template: str | Path) -> AsyncIterator[Database]:
    """A fresh database that already has the current schema (a copy of the template); not connected."""
    async with _fresh_database(tmp_path, schema_template) as database:
        yield database


@contextlib.asynccontextmanager
async def _fresh_database(tmp_path: Path, template: str | Path | None) -> AsyncIterator[Database]:
    admin_url = os.environ.get("DATABASE_URL")
    data_dir = tmp_path / "data"
    if not admin_url:
        if template is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, data_dir / SQLITE_FILENAME)
        yield Database(url=None, data_dir=data_dir)
        await close_db()
        return
    name = f"waybill_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await _create_database(admin, name, template=str(template) if template is not None else None)
        try:
            yield Database(url=_with_database(admin_url, name), data_dir=data_dir)
        finally:
            await close_db()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db(migrated_database: Database) -> AsyncIterator[Database]:
    """The usual fixture: a fresh database with the current schema, Tortoise initialised on it."""
    await init_db(migrated_database.url, migrated_database.data_dir)
    yield migrated_database
    await close_db()


async def _create_database(admin: asyncpg.Connection, name: str, template: str | None = None) -> None:
    """Two test workers creating databases at once can find the template busy for a moment: wait and retry."""
    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    for attempt in range(20):
        try:
            await admin.execute(statement)
            return
        except asyncpg.exceptions.ObjectInUseError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def waybill(migrated_database: Database) -> AsyncIterator[Harness]:
    """The whole app on loopback (API, in-process worker, fake store, sandbox carrier) on a fresh database."""
    async with running_waybill(migrated_database.data_dir, migrated_database.url) as harness:
        yield harness


@pytest.fixture
def runtime(waybill: Harness) -> Runtime:
    """The running server's runtime, to run jobs or units of work directly."""
    return waybill.runtime
