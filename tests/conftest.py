"""A fresh database per test: a SQLite file in tmp_path, or a throwaway PostgreSQL database.

Set DATABASE_URL (CI: postgres://postgres@127.0.0.1:5432/test) to run against PostgreSQL; each
test then gets `CREATE DATABASE waybill_test_<random>`, dropped afterwards, so no test ever sees
another's rows and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

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


@pytest.fixture
async def blank_database(tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database that nothing has connected to yet; no schema."""
    admin_url = os.environ.get("DATABASE_URL")
    data_dir = tmp_path / "data"
    if not admin_url:
        yield Database(url=None, data_dir=data_dir)
        await close_db()
        return
    name = f"waybill_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await _create_database(admin, name)
        try:
            yield Database(url=_with_database(admin_url, name), data_dir=data_dir)
        finally:
            await close_db()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db(blank_database: Database) -> AsyncIterator[Database]:
    """The usual fixture: a fresh database, migrated, with Tortoise initialised on it."""
    await init_db(blank_database.url, blank_database.data_dir)
    yield blank_database
    await close_db()


async def _create_database(admin: asyncpg.Connection, name: str) -> None:
    """Two test workers creating databases at once can find the template busy for a moment: wait and retry."""
    for attempt in range(20):
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            return
        except asyncpg.exceptions.ObjectInUseError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def waybill(blank_database: Database) -> AsyncIterator[Harness]:
    """The whole app on loopback (API, in-process worker, fake store, sandbox carrier) on a fresh database."""
    async with running_waybill(blank_database.data_dir, blank_database.url) as harness:
        yield harness


@pytest.fixture
def runtime(waybill: Harness) -> Runtime:
    """The running server's runtime, to run jobs or units of work directly."""
    return waybill.runtime
