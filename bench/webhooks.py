"""Webhook benchmark: acknowledgement latency and webhook -> subscriber latency (issue 4).

Waybill (API + in-process worker) and a fake back office are served by uvicorn on loopback in this
process. Acknowledgement: signed order webhooks POSTed one at a time to /webhooks/channels/{id},
interleaved request by request with a plain Starlette endpoint that reads the body and answers 200
(the floor: HTTP + body read). Subscriber: one orderChanged subscription over graphql-transport-ws;
the clock runs from the POST until the new order's ORDER_IMPORTED event arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.channels.back_office.fake import FakeBackOffice
from adapters.config import Settings
from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from adapters.persistence.repositories import TortoiseChannelRepository
from api.app import create_app
from bench import env
from bench.serve import free_port
from bench.stats import percentile
from domain import model

SUBSCRIPTION = "subscription { orderChanged { eventId type order { externalId } } }"
LINES = [("TOTE", "Canvas Tote", 1), ("MUG", "Enamel Mug", 2)]


@dataclass
class WebhookMeasure:
    deliveries: int
    ack: list[float]  # Waybill's acknowledgement, seconds
    baseline_ack: list[float]  # the plain endpoint's
    to_subscriber: list[float]
    all_processed: bool  # every delivery ended PROCESSED, one order each

    @staticmethod
    def p(samples: list[float], pct: float) -> float:
        return percentile(samples, pct)


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    """Like bench.serve.serve_app, with WebSockets (the subscription needs them)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="auto", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def baseline_app() -> Starlette:
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(b'{"status":"accepted"}', media_type="application/json")

    return Starlette(routes=[Route("/webhooks/channels/{channel_id:int}", receive, methods=["POST"])])


async def _connect_channel(app: Starlette, office: FakeBackOffice, office_url: str) -> tuple[int, str]:
    runtime = app.state.runtime
    account_id = await create_account("Webhook bench")
    key = await create_api_key(account_id, "bench", ["admin"])
    async with runtime.uow("bench") as uow:
        channel = await TortoiseChannelRepository(uow.connection, runtime.secrets).add(
            model.Channel(
                id=0,
                account_id=account_id,
                kind=model.ChannelKind.BACK_OFFICE,
                name="Bench back office",
                sync_interval_seconds=86_400,
            ),
            office.credentials(office_url),
        )
    # Never synced counts as due: mark it synced so no poll runs during the measurement.
    now = datetime.now(UTC)
    await models.Channel.filter(id=channel.id).update(last_synced_at=now, next_sync_at=now + timedelta(days=1))
    return channel.id, key


async def measure_webhooks(settings: Settings, deliveries: int = 200, subscribed: int = 50) -> WebhookMeasure:
    office = FakeBackOffice(rate_limit=10**9)
    app = create_app(settings, embedded_worker=True)
    plain = baseline_app()
    async with (
        _serve(office.app) as office_url,
        _serve(app) as base,
        _serve(plain) as plain_base,
        httpx.AsyncClient(timeout=30) as http,
    ):
        channel_id, key = await _connect_channel(app, office, office_url)
        url, plain_url = f"{base}/webhooks/channels/{channel_id}", f"{plain_base}/webhooks/channels/{channel_id}"
        warm = 10
        ack: list[float] = []
        baseline: list[float] = []
        for i in range(warm + deliveries):
            headers, body = office.webhook(office.create_order(LINES), "order.created")
            started = time.perf_counter()
            response = await http.post(plain_url, headers=headers, content=body)
            plain_took = time.perf_counter() - started
            assert response.status_code == 200
            started = time.perf_counter()
            response = await http.post(url, headers=headers, content=body)
            took = time.perf_counter() - started
            assert response.status_code == 200 and response.json()["status"] == "accepted", response.text
            if i >= warm:
                ack.append(took)
                baseline.append(plain_took)
        to_subscriber = await _subscriber_latency(base, key, url, office, http, subscribed)
        total = warm + deliveries + subscribed
        all_processed = await _all_processed(channel_id, total)
    return WebhookMeasure(deliveries, ack, baseline, to_subscriber, all_processed)


async def _all_processed(channel_id: int, total: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done = await models.WebhookDelivery.filter(channel_id=channel_id, status="PROCESSED").count()
        if done == total:
            return await models.Order.filter(channel_id=channel_id).count() == total
        await asyncio.sleep(0.1)
    return False


async def _subscriber_latency(
    base: str, key: str, url: str, office: FakeBackOffice, http: httpx.AsyncClient, count: int
) -> list[float]:
    ws_url = base.replace("http://", "ws://") + "/graphql"
    samples: list[float] = []
    async with websockets.connect(ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
        await _drain(ws)  # the backlog of the acknowledgement run
        for _ in range(count):
            external_id = office.create_order(LINES)
            headers, body = office.webhook(external_id, "order.created")
            started = time.perf_counter()
            response = await http.post(url, headers=headers, content=body)
            assert response.status_code == 200
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                event = (message.get("payload") or {}).get("data", {}).get("orderChanged") or {}
                if (event.get("order") or {}).get("externalId") == external_id:
                    samples.append(time.perf_counter() - started)
                    break
    return samples


async def _drain(ws: Any, quiet: float = 0.5) -> None:
    """Reads until nothing arrives for `quiet` seconds: earlier deliveries' events are not measured."""
    while True:
        try:
            await asyncio.wait_for(ws.recv(), timeout=quiet)
        except TimeoutError:
            return


def rows(measure: WebhookMeasure) -> list[str]:
    def ms(value: float) -> str:
        return f"{value * 1000:.1f} ms"

    ack, base, sub = measure.ack, measure.baseline_ack, measure.to_subscriber
    p = WebhookMeasure.p

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}x" if b else "-"

    return [
        f"| Webhooks ({measure.deliveries} signed back-office order webhooks, one at a time) | Waybill "
        "| Baseline: Starlette endpoint reading the body | Ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| acknowledgement p50 | **{ms(p(ack, 50))}** | {ms(p(base, 50))} | {ratio(p(ack, 50), p(base, 50))} |",
        f"| acknowledgement p99 | {ms(p(ack, 99))} | {ms(p(base, 99))} | {ratio(p(ack, 99), p(base, 99))} |",
        f"| webhook -> `orderChanged` subscriber p50 ({len(sub)} orders) | **{ms(p(sub, 50))}** | "
        "target: under 2 s | - |",
        f"| webhook -> `orderChanged` subscriber p95 | {ms(p(sub, 95))} | target: under 2 s | - |",
        f"| every delivery PROCESSED, one order each | {'yes' if measure.all_processed else '**NO**'} | | |",
    ]


def webhook_process(kind: str, args: argparse.Namespace) -> WebhookMeasure:
    return env.run_section(kind, lambda settings: measure_webhooks(settings, deliveries=args.webhooks))
