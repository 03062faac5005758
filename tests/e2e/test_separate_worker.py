"""The production shape: the API runs no worker; a separate `waybill worker` process does all I/O."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.carriers.sandbox.fake import SandboxCarrier
from adapters.carriers.sandbox.rules import SandboxSchedule
from adapters.channels.shopify.fake import FakeShopify
from adapters.config import Settings
from adapters.persistence.accounts import create_account, create_api_key
from adapters.queue import EmbeddedValkey
from api.app import create_app
from tests.conftest import Database
from tests.support.harness import NEVER, eventually
from tests.support.servers import free_port, serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

BUY = """
mutation($id: ID!) { buyLabel(input: {orderId: $id, idempotencyKey: "worker-1"}) {
  shipment { status trackingNumber } order { status } userErrors { code message }
} }"""


@contextlib.asynccontextmanager
async def redis_url(data_dir: Path) -> AsyncIterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedValkey(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()


async def test_a_separate_worker_process_imports_buys_writes_back_and_stops_cleanly(
    blank_database: Database,
) -> None:
    shop = FakeShopify()
    first, second = shop.add_order(), shop.add_order()
    carrier = SandboxCarrier(
        schedule=SandboxSchedule(pre_transit_s=NEVER, in_transit_s=NEVER, out_for_delivery_s=NEVER)
    )
    data_dir = blank_database.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    namespace = f"wbtest:{secrets.token_hex(4)}"
    async with (
        redis_url(data_dir) as redis,
        serve_app(shop.app) as shop_url,
        serve_app(carrier.app) as carrier_url,
    ):
        settings = Settings(
            data_dir=data_dir,
            database_url=blank_database.url,
            redis_url=redis,
            namespace=namespace,
            tick_seconds=1,
            tracking_interval_seconds=1,
            sandbox_carrier_url=carrier_url,
        )
        port = free_port()
        app = create_app(settings, self_url=f"http://127.0.0.1:{port}")  # REDIS_URL set: no worker inside
        async with serve_app(app, port=port) as base_url, httpx.AsyncClient(timeout=30) as http:
            account_id = await create_account("Worker shop")
            key = await create_api_key(account_id, "test", ["admin"])
            log_path = data_dir / "worker.log"  # a file, not a pipe: a chatty worker must never block on it
            log_file = log_path.open("wb")
            worker = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "waybill"),
                "worker",
                env={
                    **os.environ,
                    "WAYBILL_DATA_DIR": str(data_dir),
                    "REDIS_URL": redis,
                    "WAYBILL_NAMESPACE": namespace,
                    "WAYBILL_SANDBOX_CARRIER_URL": carrier_url,
                    "WAYBILL_TICK_SECONDS": "1",
                    **({"DATABASE_URL": blank_database.url} if blank_database.url else {}),
                },
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log_file,
            )
            try:

                async def gql(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
                    response = await http.post(
                        f"{base_url}/graphql",
                        json={"query": query, "variables": variables or {}},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    body = response.json()
                    assert "errors" not in body, body
                    return body["data"]  # type: ignore[no-any-return]

                connect = await gql(
                    'mutation($url: String!, $token: String!) { connectChannel(input: {kind: SHOPIFY, name: "S", '
                    "shopUrl: $url, accessToken: $token}) { userErrors { code } } }",
                    {"url": shop_url, "token": shop.access_token},
                )
                assert connect["connectChannel"]["userErrors"] == []

                async def imported() -> list[dict[str, Any]]:
                    edges = (await gql("{ orders { edges { node { id number status } } } }"))["orders"]["edges"]
                    assert {e["node"]["number"] for e in edges} == {first["name"], second["name"]}
                    return [e["node"] for e in edges]

                orders = await eventually(imported, within=30)
                target = next(o for o in orders if o["number"] == first["name"])
                bought = (await gql(BUY, {"id": target["id"]}))["buyLabel"]
                assert bought["userErrors"] == [], bought
                assert bought["shipment"]["status"] == "PURCHASED"
                assert bought["order"]["status"] == "SHIPPING"

                async def written_back() -> bool:
                    fulfillments = shop.fulfillments(first["id"])
                    assert [f["tracking_number"] for f in fulfillments] == [bought["shipment"]["trackingNumber"]]
                    return True

                await eventually(written_back, within=30)
                assert len(carrier.labels) == 1
            finally:
                if worker.returncode is None:
                    worker.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(worker.wait(), timeout=20)
                except TimeoutError:
                    worker.kill()
                    await worker.wait()
                    raise
                log_file.close()
                errors = log_path.read_text()
            assert worker.returncode == 0, errors
            assert "Traceback" not in errors, errors
