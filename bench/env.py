"""Where a benchmark runs: a fresh database (SQLite file or throwaway PostgreSQL), a Runtime, a big fake store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import shutil
import tempfile
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from adapters.channels.shopify import fake_data
from adapters.channels.shopify.fake import FakeShopify
from adapters.config import Settings
from adapters.persistence.accounts import create_account, create_api_key
from adapters.persistence.config import SQLITE_FILENAME
from adapters.persistence.repositories import TortoiseChannelRepository
from adapters.runtime import Runtime
from bench.fast_shop import FastListingShop
from domain import model

#: Far more than any bench sends: the fake store's leaky bucket must never be what is measured.
HUGE_BUCKET = 10**9
HUGE_LEAK = 1e9


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" | "postgres"
    url: str | None  # None: the embedded SQLite file under data_dir
    data_dir: Path

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / SQLITE_FILENAME


@contextlib.asynccontextmanager
async def scratch_dir(prefix: str = "waybill-bench-") -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def fresh_database(kind: str, root: Path) -> AsyncIterator[Database]:
    """An empty database nothing has connected to; PostgreSQL ones are dropped afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="db-", dir=root))
    if kind == "sqlite":
        yield Database("sqlite", None, data_dir)
        return
    admin_url = os.environ["DATABASE_URL"]
    name = f"waybill_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield Database("postgres", with_database(admin_url, name), data_dir)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def settings_for(database: Database) -> Settings:
    return Settings(
        data_dir=database.data_dir,
        database_url=database.url,
        redis_url=os.environ.get("REDIS_URL") or None,
        namespace=f"wbbench:{secrets.token_hex(4)}",
        tick_seconds=3600,  # nothing scheduled may run during a measurement
        tracking_interval_seconds=3600,
        # The cost limiter stays on (its Redis call is part of a request's cost) but never throttles the bench.
        cost_bucket_capacity=1e12,
        cost_restore_rate=1e12,
    )


@contextlib.asynccontextmanager
async def started_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@dataclass(frozen=True)
class Tenant:
    account_id: int
    channel_id: int
    api_key: str


async def create_tenant(runtime: Runtime, shop_url: str, access_token: str) -> Tenant:
    """An account, an admin key and a connected Shopify channel, stored as connectChannel stores them."""
    account_id = await create_account("Bench shop")
    key = await create_api_key(account_id, "bench", ["admin"])
    async with runtime.uow("bench") as uow:
        channel = await TortoiseChannelRepository(uow._db, runtime.secrets).add(
            model.Channel(
                id=0,
                account_id=account_id,
                kind=model.ChannelKind.SHOPIFY,
                name="Bench store",
                sync_interval_seconds=300,
            ),
            {"shop_url": shop_url, "access_token": access_token},
        )
    return Tenant(account_id, channel.id, key)


def stocked_shop(orders: int, seed: int = 7) -> tuple[FakeShopify, int]:
    """A fake store holding `orders` unfulfilled orders of 1-5 lines; returns it and the number of lines."""
    shop = FastListingShop(bucket_size=HUGE_BUCKET, leak_rate=HUGE_LEAK, seed=seed)
    rng = random.Random(seed)
    lines = 0
    for _ in range(orders):
        specs: list[dict[str, Any]] = [
            {**spec, "quantity": rng.randint(1, 3)} for spec in rng.sample(fake_data.PRODUCTS, rng.randint(1, 5))
        ]
        shop.add_order(line_items=specs)
        lines += len(specs)
    return shop, lines


T = TypeVar("T")


def run_section(kind: str, measure: Callable[[Settings], Awaitable[T]]) -> T:
    """One bench section, in the (spawned) process that calls it: quiet logging, a fresh `kind` database.

    Each section runs in a process of its own, like the backends' runs: tortoise keeps per-engine SQL.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")

    async def run() -> T:
        async with scratch_dir() as root, fresh_database(kind, root) as database:
            return await measure(settings_for(database))

    return asyncio.run(run())
