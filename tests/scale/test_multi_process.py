"""Scale-out: 2 `waybill serve` + 2 `waybill worker` processes on one PostgreSQL and one Redis.

One test, because the processes cost most of the time (~5-10 s to start four): a subscriber on API 1
sees a label bought through API 2 and its write-back done by a worker; syncs requested on both APIs
never overlap; 1,000 signed Shopify webhooks (and 100 redeliveries) spread over both APIs make 1,000
orders, once each, while one worker is SIGKILLed in the middle.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from adapters.carriers.sandbox.fake import SandboxCarrier
from adapters.carriers.sandbox.rules import SandboxSchedule
from adapters.channels.shopify.fake import FakeShopify
from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from api import ids
from domain.model import ChannelKind
from tests.conftest import Database
from tests.support.harness import NEVER, eventually
from tests.support.processes import Api, Processes, own_valkey, processes
from tests.support.servers import serve_app

pytestmark = [
    pytest.mark.db,
    pytest.mark.queue,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL): SQLite cannot be written by several processes at once "
        "(see tests/support/processes.py); CI runs this in its PostgreSQL + Redis pass",
    ),
]

WEBHOOKS = 1000
REDELIVERIES = 100
AT_ONCE = 50
SYNC = "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { syncRun { id } userErrors { message } } }"
ORDER_CHANGED = "subscription { orderChanged { eventId type order { id status } } }"


@contextlib.asynccontextmanager
async def shared_redis(database: Database) -> AsyncIterator[str]:
    """The machine's Redis when REDIS_URL is set (the test's namespace keeps it apart), else a Valkey of its own."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with own_valkey(database.data_dir) as valkey:
        yield valkey.url


@contextlib.asynccontextmanager
async def subscription(base_url: str, key: str, query: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A graphql-transport-ws subscriber on one API process; yields the `next` payloads as they come."""
    received: list[dict[str, Any]] = []
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))

        async def read() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "next":
                    received.append(message["payload"])
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "error":
                    received.append({"error": message["payload"]})

        reader = asyncio.create_task(read())
        try:
            yield received
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await reader


async def start(group: Processes, apis: int, workers: int) -> list[str]:
    """All processes at once (each takes seconds to import): the APIs' base URLs once /health answers."""
    for _ in range(workers):
        await group.worker()
    # Plain `waybill serve`, as in production: with REDIS_URL set it must not run a worker of its own.
    started = await asyncio.gather(*(group.api(no_worker_flag=False) for _ in range(apis)))
    return [base_url for _, base_url in started]


def api_ran_no_worker(group: Processes) -> None:
    for _, log_path in group.started:
        if log_path.name.startswith("api"):
            text = log_path.read_text(errors="replace")
            assert "Starting worker" not in text and "process_webhook" not in text, text[-3000:]


async def test_two_apis_and_two_workers_share_events_syncs_and_webhooks_and_survive_a_killed_worker(
    db: Database,
) -> None:
    shop = FakeShopify()
    first = shop.create_order([("TOTE", "Canvas Tote", 1)])
    carrier = SandboxCarrier(
        schedule=SandboxSchedule(pre_transit_s=NEVER, in_transit_s=NEVER, out_for_delivery_s=NEVER)
    )
    account_id = await create_account("Scale shop")
    key = await create_api_key(account_id, "scale", ["admin"])
    async with (
        shared_redis(db) as redis_url,
        serve_app(shop.app) as shop_url,
        serve_app(carrier.app) as carrier_url,
        processes(db, redis_url, carrier_url, {"WAYBILL_WEBHOOK_RESCUE_SECONDS": "5"}) as group,
        httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=AT_ONCE)) as http,
    ):
        first_url, second_url = await start(group, apis=2, workers=2)
        api1, api2 = Api(first_url, key, http), Api(second_url, key, http)
        try:
            channel_id = await api1.connect(ChannelKind.SHOPIFY, shop, shop_url)
            pk = ids.decode("Channel", channel_id, "channelId")

            async def first_imported() -> dict[str, Any]:
                orders = await api2.orders()
                assert len(orders) == 1, orders
                order = orders[0]
                assert order["externalId"] == first and order["status"] == "READY_TO_SHIP", order
                return order

            order = await eventually(first_imported, within=30)

            # (1) Events cross processes: bought through API 2, written back by a worker, seen on API 1.
            async with subscription(first_url, key, ORDER_CHANGED) as received:
                bought = await api2.buy(order["id"], "scale-label-1")

                def seen(event_type: str) -> list[dict[str, Any]]:
                    return [
                        m["data"]["orderChanged"]
                        for m in received
                        if "data" in m and m["data"]["orderChanged"]["type"] == event_type
                    ]

                async def label_and_write_back_seen() -> bool:
                    assert not [m for m in received if "error" in m or m.get("errors")], received
                    labels = seen("LABEL_PURCHASED")
                    assert len(labels) == 1, received
                    label = labels[0]
                    assert label["order"] == {"id": order["id"], "status": "SHIPPING"}, label
                    assert seen("CHANNEL_WRITE_DELIVERED"), received  # published by the worker that delivered it
                    return True

                await eventually(label_and_write_back_seen, within=20)
            tracking = [s.tracking_number for s in shop.shipments(first)]
            assert tracking == [bought["shipment"]["trackingNumber"]], tracking

            # (2) One sync per channel at a time, whichever API asked and whichever worker runs it.
            asked = await asyncio.gather(*(api.gql(SYNC, {"id": channel_id}) for api in (api1, api2, api1, api2)))
            assert all(a["syncChannel"]["userErrors"] == [] for a in asked), asked
            await eventually(lambda: _runs_finished(pk), within=30)
            _never_overlapping(await models.SyncRun.filter(channel_id=pk).order_by("started_at"))

            # (3) 1,000 webhooks (plus redeliveries) over both APIs; a worker is killed while they are processed.
            external_ids = []
            for i in range(WEBHOOKS):
                external_id = shop.create_order([(f"SKU-{i}", f"Item {i}", 1)])
                shop.cancel(external_id)  # the payload is the whole order: imported with no call to the store
                external_ids.append(external_id)
            signed = [shop.webhook(external_id, "orders/cancelled") for external_id in external_ids]
            deliveries = [*signed, *signed[::10][:REDELIVERIES]]  # the same event ids again, Shopify's retries
            gate = asyncio.Semaphore(AT_ONCE)
            urls = [f"{base}/webhooks/channels/{pk}" for base in (first_url, second_url)]

            async def deliver(n: int, headers: dict[str, str], body: bytes) -> str:
                async with gate:
                    response = await http.post(urls[n % 2], headers=headers, content=body)
                assert response.status_code == 200, response.text
                return str(response.json()["status"])

            began = time.monotonic()
            sending = asyncio.gather(*(deliver(n, h, b) for n, (h, b) in enumerate(deliveries)))
            killed_at = await eventually(lambda: _processed_at_least(pk, 50), within=60)
            await group.crash_worker()  # mid-flight: it held up to 20 jobs, its locks and in-progress marks
            answers = await sending
            sent_in = time.monotonic() - began
            done_when_sent = await models.WebhookDelivery.filter(channel_id=pk, status="PROCESSED").count()
            assert answers.count("accepted") == WEBHOOKS and answers.count("duplicate") == REDELIVERIES, (
                answers.count("accepted"),
                answers.count("duplicate"),
            )

            async def all_processed() -> bool:
                statuses = await models.WebhookDelivery.filter(channel_id=pk).values_list("status", flat=True)
                assert len(statuses) == WEBHOOKS, len(statuses)
                assert "FAILED" not in statuses, await models.WebhookDelivery.filter(status="FAILED").values("error")
                left = sum(1 for s in statuses if s != "PROCESSED")
                assert left == 0, f"{left} webhooks not processed yet ({killed_at} were when the worker was killed)"
                return True

            await eventually(all_processed, within=60, interval=0.5)
            # For docs/deploy.md (printed with -s; never asserted: shared CI machines are noisy).
            print(
                f"scale: {len(deliveries)} webhooks acknowledged in {sent_in:.1f}s, all imported in "
                f"{time.monotonic() - began:.1f}s ({done_when_sent} when the last was acknowledged), "
                f"one worker killed after {killed_at} were processed"
            )
            rows = await models.Order.filter(channel_id=pk).values_list("external_id", "status")
            assert len(rows) == WEBHOOKS + 1, len(rows)  # no duplicates: (channel, external id) is unique
            assert {external for external, _ in rows} == {first, *external_ids}
            assert sorted(status for external, status in rows if external != first) == ["CANCELLED"] * WEBHOOKS
            imported = await models.Event.filter(type="ORDER_IMPORTED", account_id=account_id).count()
            assert imported == WEBHOOKS + 1, imported  # each order imported once, not once per worker or retry
            api_ran_no_worker(group)  # every job above ran in the worker processes
        except BaseException:
            print(group.logs())
            raise
        finally:
            await group.kill_all()
            await _forget(redis_url, group.namespace)


async def _runs_finished(pk: int) -> bool:
    statuses = await models.SyncRun.filter(channel_id=pk).values_list("status", flat=True)
    assert len(statuses) >= 2 and all(s in ("SUCCEEDED", "FAILED") for s in statuses), statuses
    return True


def _never_overlapping(runs: list[models.SyncRun]) -> None:
    ran = [(run.started_at, run.finished_at) for run in runs if run.started_at is not None]
    assert len(ran) >= 2, ran
    for (_, finished), (started, _) in itertools.pairwise(ran):
        assert finished is not None and finished <= started, f"two syncs of the channel overlapped: {ran}"


async def _processed_at_least(pk: int, n: int) -> int:
    done = await models.WebhookDelivery.filter(channel_id=pk, status="PROCESSED").count()
    assert done >= n, done
    return done


async def _forget(redis_url: str, namespace: str) -> None:
    """The machine's Redis outlives the test: drop the namespace's queue, locks, events and arq's job keys."""
    client = Redis.from_url(redis_url)
    try:
        for pattern in (f"{namespace}:*", f"arq:*:{namespace}:*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                await client.delete(key)
    finally:
        await client.aclose()
