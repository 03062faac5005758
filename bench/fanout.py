"""Fan-out: N `orderChanged` subscribers on one Waybill process receive one event.

Waybill (API + in-process worker) serves every subscriber from one process; the subscribers are
graphql-transport-ws clients (the `websockets` package) in a process of their own, so their parsing is
not counted as Waybill's. Once all N are subscribed and quiet, one signed back-office webhook creates an
order; each subscriber notes the wall clock (`time.time()`, same machine) when its ORDER_IMPORTED event
arrives. Delivery = that time minus the time the webhook POST started. Baseline, same run: one
subscriber alone on the same server (the N-subscriber figure's floor).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx
import websockets

from api.app import create_app
from bench.stats import percentile
from bench.webhooks import LINES, SUBSCRIPTION, _connect_channel, _serve

CONNECT_IN_PARALLEL = 50


@dataclass
class FanoutMeasure:
    subscribers: int
    received: int
    delivery: list[float]  # seconds, one per subscriber that got the event
    single: list[float]  # one subscriber alone, a few events


async def _subscribe(ws_url: str, key: str) -> Any:
    ws = await websockets.connect(
        ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], max_queue=None, open_timeout=60
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
    return ws


async def _arrival(ws: Any, external_id: str, within: float) -> float | None:
    deadline = time.monotonic() + within
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            return None
        message = json.loads(raw)
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        event = (message.get("payload") or {}).get("data", {}).get("orderChanged") or {}
        if event.get("type") == "ORDER_IMPORTED" and (event.get("order") or {}).get("externalId") == external_id:
            return time.time()


async def _subscribers_main(ws_url: str, key: str, n: int, conn: Connection) -> None:
    sockets: list[Any] = []
    for start in range(0, n, CONNECT_IN_PARALLEL):
        batch = min(CONNECT_IN_PARALLEL, n - start)
        sockets.extend(await asyncio.gather(*(_subscribe(ws_url, key) for _ in range(batch))))
    conn.send("ready")
    while True:
        command = await asyncio.to_thread(conn.recv)
        if command is None:
            break
        external_id, within = command
        waiting = [asyncio.ensure_future(_arrival(ws, external_id, within)) for ws in sockets]
        await asyncio.sleep(0)  # every socket is being read before the parent sends the webhook
        conn.send("armed")
        conn.send(await asyncio.gather(*waiting))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _subscribers_process(ws_url: str, key: str, n: int, conn: Connection) -> None:
    asyncio.run(_subscribers_main(ws_url, key, n, conn))


class _Subscribers:
    """N subscribers in a child process; `expect(external_id)` then the POST, then `arrivals()`."""

    def __init__(self, ws_url: str, key: str, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_subscribers_process, args=(ws_url, key, n, child), daemon=True)
        self._process.start()
        child.close()

    async def ready(self, within: float = 180.0) -> None:
        if not await asyncio.to_thread(self._conn.poll, within):
            raise RuntimeError("the subscribers did not connect in time")
        assert self._conn.recv() == "ready"

    async def expect(self, external_id: str, within: float = 20.0) -> None:
        self._conn.send((external_id, within))
        assert await asyncio.to_thread(self._conn.recv) == "armed"

    async def arrivals(self) -> list[float | None]:
        return list(await asyncio.to_thread(self._conn.recv))

    async def close(self) -> None:
        self._conn.send(None)
        await asyncio.to_thread(self._process.join, 30)
        if self._process.is_alive():
            self._process.kill()


async def _one_event(subscribers: _Subscribers, office: Any, http: httpx.AsyncClient, url: str) -> list[float]:
    external_id = office.create_order(LINES)
    headers, body = office.webhook(external_id, "order.created")
    await subscribers.expect(external_id)
    started = time.time()
    response = await http.post(url, headers=headers, content=body)
    assert response.status_code == 200, response.text
    return [arrived - started for arrived in await subscribers.arrivals() if arrived is not None]


async def measure_fanout(settings: Any, subscribers: int = 1000, singles: int = 10) -> FanoutMeasure:
    from adapters.channels.back_office.fake import FakeBackOffice

    office = FakeBackOffice(rate_limit=10**9)
    app = create_app(settings, embedded_worker=True)
    async with _serve(office.app) as office_url, _serve(app) as base, httpx.AsyncClient(timeout=30) as http:
        channel_id, key = await _connect_channel(app, office, office_url)
        url = f"{base}/webhooks/channels/{channel_id}"
        ws_url = base.replace("http://", "ws://") + "/graphql"
        alone = _Subscribers(ws_url, key, 1)
        try:
            await alone.ready()
            single: list[float] = []
            for _ in range(singles):
                single.extend(await _one_event(alone, office, http, url))
        finally:
            await alone.close()
        crowd = _Subscribers(ws_url, key, subscribers)
        try:
            await crowd.ready()
            await _one_event(crowd, office, http, url)  # warm-up: every connection's first event
            delivery = await _one_event(crowd, office, http, url)
        finally:
            await crowd.close()
    return FanoutMeasure(subscribers, len(delivery), delivery, single)


def rows(measure: FanoutMeasure) -> list[str]:
    def ms(samples: list[float], pct: float) -> str:
        return f"{percentile(samples, pct) * 1000:.0f} ms" if samples else "-"

    d, s = measure.delivery, measure.single
    ratio = f"{percentile(d, 95) / percentile(s, 95):.1f}x" if d and s else "-"
    return [
        f"| Fan-out: one event to {measure.subscribers} `orderChanged` subscribers on one process | Waybill "
        "| Baseline: 1 subscriber, same server | Ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| webhook -> subscriber p50 | {ms(d, 50)} | {ms(s, 50)} | - |",
        f"| webhook -> subscriber p95 (target < 1 s) | **{ms(d, 95)}** | {ms(s, 95)} | {ratio} |",
        f"| subscribers that got the event | {measure.received} of {measure.subscribers} | | |",
    ]


def fanout_process(kind: str, subscribers: int) -> FanoutMeasure:
    from bench import env

    return env.run_section(kind, lambda settings: measure_fanout(settings, subscribers=subscribers))
