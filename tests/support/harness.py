"""The whole system on loopback: Waybill (API + in-process worker), a fake Shopify store, the sandbox carrier.

Real HTTP and WebSocket everywhere; the database is the test's own (SQLite file or a
throwaway PostgreSQL database) and Redis is the one in REDIS_URL or an embedded Valkey.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import websockets

from adapters.carriers.sandbox.fake import SandboxCarrier
from adapters.carriers.sandbox.rules import SandboxSchedule
from adapters.channels.shopify.fake import FakeShopify
from adapters.config import Settings
from adapters.persistence.accounts import create_account, create_api_key
from adapters.runtime import Runtime
from api.app import create_app
from tests.support.servers import free_port, serve_app

T = TypeVar("T")
NEVER = 1e9  # a sandbox schedule that never moves by itself: tests force tracking news


async def eventually(check: Callable[[], Awaitable[T]], within: float = 15.0, interval: float = 0.05) -> T:
    """Polls `check` until it returns a truthy value or raises no AssertionError; no blind sleeps."""
    deadline = time.monotonic() + within
    while True:
        try:
            result = await check()
            if result:
                return result
            last: BaseException | None = AssertionError(f"condition still false: {result!r}")
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s") from last
        await asyncio.sleep(interval)


@dataclass
class Subscriber:
    """A graphql-transport-ws client collecting every `next` payload of one subscription."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    completed: bool = False  # the server ended the subscription


@dataclass
class Harness:
    base_url: str
    api_key: str
    account_id: int
    shop: FakeShopify
    shop_url: str
    carrier: SandboxCarrier
    http: httpx.AsyncClient
    settings: Settings
    runtime: Runtime  # the server's own: for tests that run jobs or units of work directly

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {key or self.api_key}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    async def new_key(self, account_name: str) -> str:
        account_id = await create_account(account_name)
        return await create_api_key(account_id, "test", ["admin"])

    @contextlib.asynccontextmanager
    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> AsyncIterator[Subscriber]:
        url = self.base_url.replace("http://", "ws://") + "/graphql"
        subscriber = Subscriber()
        async with websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key or self.api_key}"}})
            )
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})
            )

            async def read() -> None:
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == "next":
                        subscriber.messages.append(message["payload"])
                    elif message["type"] == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    elif message["type"] == "error":
                        subscriber.messages.append({"error": message["payload"]})
                    elif message["type"] == "complete":
                        subscriber.completed = True

            subscriber.task = asyncio.create_task(read())
            try:
                yield subscriber
            finally:
                subscriber.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await subscriber.task


def test_settings(
    data_dir: Path, database_url: str | None, sandbox_carrier_url: str | None = None, smtp_url: str | None = None
) -> Settings:
    """`smtp_url` (a local aiosmtpd in the e-mail tests): unset, no test ever mails through the developer's server."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        namespace=f"wbtest:{secrets.token_hex(4)}",
        tick_seconds=1,
        tracking_interval_seconds=1,
        sandbox_carrier_url=sandbox_carrier_url,
        smtp_url=smtp_url,
    )


@contextlib.asynccontextmanager
async def running_waybill(data_dir: Path, database_url: str | None) -> AsyncIterator[Harness]:
    shop = FakeShopify()
    carrier = SandboxCarrier(
        schedule=SandboxSchedule(pre_transit_s=NEVER, in_transit_s=NEVER, out_for_delivery_s=NEVER)
    )
    async with serve_app(shop.app) as shop_url, serve_app(carrier.app) as carrier_url:
        settings = test_settings(data_dir, database_url, carrier_url)
        port = free_port()
        app = create_app(settings, embedded_worker=True, self_url=f"http://127.0.0.1:{port}")
        async with serve_app(app, port=port) as base_url, httpx.AsyncClient(timeout=30) as http:
            account_id = await create_account("Test shop")
            key = await create_api_key(account_id, "test", ["admin"])
            yield Harness(base_url, key, account_id, shop, shop_url, carrier, http, settings, app.state.runtime)
