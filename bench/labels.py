"""Batch label buying: `buyLabels` for N orders, submit -> DONE, vs the same purchases made directly.

Waybill (API + in-process worker) is served by uvicorn on loopback in this process, as in the webhook
benchmark; the sandbox carrier runs in a process of its own (it renders every label with reportlab: in
this process that work would share the event loop with Waybill and be counted as Waybill's cost). N
orders are imported with one `importOrdersCsv` upload, a small batch warms everything up, then the clock
runs from the `buyLabels` POST until a `labelBatchProgress` subscriber sees DONE. The merged PDF must have
N pages and the carrier must have sold exactly N labels.

Baseline, same run, same carrier process: the same N purchases (the same request bodies, built from the
imported orders by `jobs.shipping.rate_request_for`) made with `SandboxCarrierClient.buy` (POST label +
PDF and ZPL downloads), one at a time and `jobs.batches.PARALLEL` at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import multiprocessing
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx
import websockets
from pypdf import PdfReader

from adapters.carriers.sandbox.client import SandboxCarrierClient
from adapters.config import Settings
from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from adapters.registry import SANDBOX_API_KEY
from api.app import create_app
from api.shipments.batch import MAX_BATCH
from bench import env
from bench.serve import free_port
from bench.webhooks import _serve
from domain.ports import RateRequest
from jobs.batches import PARALLEL
from jobs.shipping import rate_request_for

WARM = 5  # orders bought in an unmeasured batch first (and raw labels before the baseline)
STARTUP_TIMEOUT = 60.0
DONE_TIMEOUT = 300.0

HEADER = (
    "order_number,order_date,status,customer_email,ship_name,ship_line1,ship_city,ship_region,"
    "ship_postal_code,ship_country,sku,title,quantity,weight_grams\n"
)
IMPORT = (
    "mutation($input: ImportOrdersCsvInput!) { importOrdersCsv(input: $input) { created rowErrors { line message } } }"
)
ORDERS = (
    "query($after: String) { orders(first: 250, after: $after) "
    "{ edges { node { id number status } } pageInfo { hasNextPage endCursor } } }"
)
BUY_LABELS = """
mutation($input: BuyLabelsInput!) { buyLabels(input: $input) {
  batch { id status total } userErrors { field message code }
} }"""
PROGRESS = "subscription($id: ID!) { labelBatchProgress(batchId: $id) { status succeeded failed total } }"
BATCH = "query($id: ID!) { labelBatch(id: $id) { status succeeded failed mergedPdfUrl createdAt finishedAt } }"


@dataclass
class LabelMeasure:
    labels: int
    parallel: int
    import_seconds: float  # the importOrdersCsv upload of N + WARM orders
    submit_seconds: float  # the buyLabels round trip
    batch_seconds: float  # buyLabels POST -> DONE seen by the subscriber
    first_progress_seconds: float  # POST -> first item done seen by the subscriber
    progress_messages: int
    succeeded: int
    failed: int
    pdf_pages: int
    pdf_bytes: int
    pdf_seconds: float  # downloading the merged PDF
    carrier_sold: int  # labels the carrier sold during the batch
    raw_sequential: float  # N SandboxCarrierClient.buy calls, one at a time
    raw_parallel: float  # the same, PARALLEL at a time

    @property
    def ok(self) -> bool:
        n = self.labels
        return self.succeeded == n and self.failed == 0 and self.pdf_pages == n and self.carrier_sold == n


# --- the sandbox carrier, in a process of its own ------------------------------------------


def _carrier_serve(conn: Connection) -> None:
    """Child process: a SandboxCarrier whose parcels never move, plus a count of labels sold."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from adapters.carriers.sandbox.fake import SandboxCarrier
    from adapters.carriers.sandbox.rules import SandboxSchedule

    never = 1e9
    carrier = SandboxCarrier(
        schedule=SandboxSchedule(pre_transit_s=never, in_transit_s=never, out_for_delivery_s=never)
    )

    async def count(request: Request) -> JSONResponse:
        return JSONResponse(len(carrier.labels))

    app = Starlette(routes=[Route("/_bench/labels/count", count), Mount("/", app=carrier.app)])
    port = free_port()
    conn.send(port)
    conn.close()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


async def _sold(http: httpx.AsyncClient, carrier_url: str) -> int:
    response = await http.get(f"{carrier_url}/_bench/labels/count")
    response.raise_for_status()
    return int(response.json())


@contextlib.asynccontextmanager
async def carrier_process() -> AsyncIterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_carrier_serve, args=(child,), name="bench-sandbox-carrier", daemon=True)
    process.start()
    child.close()
    try:
        if not await asyncio.to_thread(parent.poll, STARTUP_TIMEOUT):
            raise RuntimeError("the sandbox carrier process did not start")
        url = f"http://127.0.0.1:{parent.recv()}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                try:
                    await _sold(http, url)
                    break
                except httpx.TransportError:
                    if not process.is_alive() or time.monotonic() > deadline:
                        raise RuntimeError("the sandbox carrier process did not answer") from None
                    await asyncio.sleep(0.05)
        yield url
    finally:
        parent.close()
        if process.is_alive():
            process.terminate()
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5)


# --- Waybill over HTTP ----------------------------------------------------------------------


def _csv(count: int, start: int = 5000) -> str:
    return HEADER + "".join(
        f"{n},2026-11-20,unfulfilled,b{n}@example.com,Buyer {n},{n} Main St,Portland,OR,97201,US,SKU-{n},Thing {n},1,400\n"
        for n in range(start, start + count)
    )


class _Api:
    def __init__(self, http: httpx.AsyncClient, base: str, key: str) -> None:
        self.http, self.base, self.key = http, base, key
        self.auth = {"Authorization": f"Bearer {key}"}

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.base}/graphql", json={"query": query, "variables": variables or {}}, headers=self.auth
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, response.text
        return body["data"]  # type: ignore[no-any-return]

    async def upload(self, csv_text: str) -> int:
        operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
        response = await self.http.post(
            f"{self.base}/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
            files={"0": ("orders.csv", csv_text.encode(), "text/csv")},
            headers=self.auth,
        )
        result = response.json()["data"]["importOrdersCsv"]
        assert response.status_code == 200 and result["rowErrors"] == [], response.text
        return int(result["created"])

    async def ready_orders(self) -> list[str]:
        """Global ids of the READY_TO_SHIP orders, by order number."""
        found: dict[int, str] = {}
        after = None
        while True:
            page = (await self.gql(ORDERS, {"after": after}))["orders"]
            found.update(
                {
                    int(e["node"]["number"]): e["node"]["id"]
                    for e in page["edges"]
                    if e["node"]["status"] == "READY_TO_SHIP"
                }
            )
            if not page["pageInfo"]["hasNextPage"]:
                return [found[number] for number in sorted(found)]
            after = page["pageInfo"]["endCursor"]

    async def submit(self, order_ids: list[str], key: str) -> str:
        wanted = [{"orderId": order_id} for order_id in order_ids]
        result = (await self.gql(BUY_LABELS, {"input": {"orders": wanted, "idempotencyKey": key}}))["buyLabels"]
        assert result["userErrors"] == [] and result["batch"]["total"] == len(order_ids), result
        return str(result["batch"]["id"])


@contextlib.asynccontextmanager
async def _subscriber(base: str, key: str) -> AsyncIterator[Any]:
    """An acknowledged graphql-transport-ws connection: opened before the clock starts."""
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        yield ws


async def _until_done(ws: Any, batch_id: str, started: float, op: str) -> tuple[float, float | None, int]:
    """Subscribes to the batch; returns (seconds to DONE, seconds to the first item done, messages)."""
    payload = {"query": PROGRESS, "variables": {"id": batch_id}}
    await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
    first: float | None = None
    messages = 0
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=DONE_TIMEOUT))
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        if message.get("type") == "error" or message.get("id") != op:
            assert message.get("type") != "error", message
            continue
        if message.get("type") == "complete":
            raise AssertionError("the subscription ended before the batch was DONE")
        progress = message["payload"]["data"]["labelBatchProgress"]
        messages += 1
        if first is None and progress["succeeded"] + progress["failed"] > 0:
            first = time.perf_counter() - started
        if progress["status"] == "DONE":
            return time.perf_counter() - started, first, messages


async def _batch(api: _Api, ws: Any, order_ids: list[str], key: str) -> tuple[str, float, float, float | None, int]:
    started = time.perf_counter()
    batch_id = await api.submit(order_ids, key)
    submitted = time.perf_counter() - started
    done, first, messages = await _until_done(ws, batch_id, started, key)
    return batch_id, submitted, done, first, messages


# --- the baseline: the carrier client alone ---------------------------------------------------


async def _raw(
    client: SandboxCarrierClient, requests: list[RateRequest], service: str, tag: str, parallel: int
) -> float:
    gate = asyncio.Semaphore(parallel)

    async def one(i: int, request: RateRequest) -> None:
        async with gate:
            label = await client.buy(request, service, f"bench-raw-{tag}-{i}")
        assert label.pdf and label.zpl and label.tracking_number, label

    started = time.perf_counter()
    await asyncio.gather(*(one(i, request) for i, request in enumerate(requests)))
    return time.perf_counter() - started


# --- the run --------------------------------------------------------------------------------


async def measure_labels(settings: Settings, labels: int = 200) -> LabelMeasure:
    async with carrier_process() as carrier_url:
        settings = dataclasses.replace(settings, sandbox_carrier_url=carrier_url)
        app = create_app(settings, embedded_worker=True)
        async with _serve(app) as base, httpx.AsyncClient(timeout=60) as http:
            account_id = await create_account("Label bench")
            api = _Api(http, base, await create_api_key(account_id, "bench", ["admin"]))
            started = time.perf_counter()
            created = await api.upload(_csv(WARM + labels))
            import_seconds = time.perf_counter() - started
            order_ids = await api.ready_orders()
            assert created == len(order_ids) == WARM + labels, (created, len(order_ids))
            warm_ids, measured_ids = order_ids[:WARM], order_ids[WARM:]

            async with _subscriber(base, api.key) as ws:
                await _batch(api, ws, warm_ids, "bench-warm")
                sold_before = await _sold(http, carrier_url)
                batch_id, submitted, batch_seconds, first, messages = await _batch(api, ws, measured_ids, "bench")
            carrier_sold = await _sold(http, carrier_url) - sold_before
            shown = (await api.gql(BATCH, {"id": batch_id}))["labelBatch"]
            started = time.perf_counter()
            pdf = await http.get(f"{base}{shown['mergedPdfUrl']}", headers=api.auth)
            pdf_seconds = time.perf_counter() - started
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text[:200]
            pages = len(PdfReader(io.BytesIO(pdf.content)).pages)

            # The same request bodies Waybill sent (read back untimed), on a client of its own.
            orders = await models.Order.filter(account_id=account_id).order_by("id")
            requests = [await rate_request_for(order) for order in orders]
            warm_requests, raw_requests = requests[:WARM], requests[WARM:]
            async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0)) as raw_http:
                client = SandboxCarrierClient(carrier_url, SANDBOX_API_KEY, http=raw_http)
                await _raw(client, warm_requests, "GROUND", "warm", PARALLEL)
                raw_parallel = await _raw(client, raw_requests, "GROUND", "parallel", PARALLEL)
                raw_sequential = await _raw(client, raw_requests, "GROUND", "sequential", 1)
    return LabelMeasure(
        labels=labels,
        parallel=PARALLEL,
        import_seconds=import_seconds,
        submit_seconds=submitted,
        batch_seconds=batch_seconds,
        first_progress_seconds=first if first is not None else float("nan"),
        progress_messages=messages,
        succeeded=int(shown["succeeded"]),
        failed=int(shown["failed"]),
        pdf_pages=pages,
        pdf_bytes=len(pdf.content),
        pdf_seconds=pdf_seconds,
        carrier_sold=carrier_sold,
        raw_sequential=raw_sequential,
        raw_parallel=raw_parallel,
    )


def rows(measure: LabelMeasure) -> list[str]:
    n = measure.labels

    def s(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"

    def per(seconds: float) -> str:
        return f"{s(seconds)} = {seconds / n * 1000:.1f} ms/label, {n / seconds:.0f} labels/s"

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}x" if b else "-"

    batch, par, seq = measure.batch_seconds, measure.raw_parallel, measure.raw_sequential
    checks = (
        f"succeeded {measure.succeeded}/{n}, failed {measure.failed}, merged PDF {measure.pdf_pages} pages "
        f"({measure.pdf_bytes / 1024:.0f} KiB, downloaded in {s(measure.pdf_seconds)}), carrier sold {measure.carrier_sold}"
    )
    return [
        f"| Label batch (`buyLabels`, {n} orders, sandbox carrier in its own process) | Waybill "
        "| Baseline: `SandboxCarrierClient.buy` (label + PDF + ZPL) | Ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| submit -> DONE (subscriber), {measure.parallel} at a time | **{per(batch)}** "
        f"| {measure.parallel} at a time: {per(par)} | **{ratio(batch, par)}** |",
        f"| same, vs the carrier calls one at a time | {s(batch)} | 1 at a time: {per(seq)} | {ratio(batch, seq)} |",
        f"| `buyLabels` round trip; first label seen by the subscriber | {s(measure.submit_seconds)}; "
        f"{s(measure.first_progress_seconds)} ({measure.progress_messages} progress messages) | - | - |",
        f"| `importOrdersCsv` of the {n + WARM} orders (setup, one upload) | {s(measure.import_seconds)} | - | - |",
        f"| every label bought, one page each, one label each | {'yes' if measure.ok else '**NO**'}: {checks} | | |",
    ]


async def _run(kind: str, args: argparse.Namespace) -> LabelMeasure:
    async with env.scratch_dir() as root, env.fresh_database(kind, root) as database:
        return await measure_labels(env.settings_for(database), labels=args.labels)


def label_process(kind: str, args: argparse.Namespace) -> LabelMeasure:
    """In a process of its own, like the other backends' runs (tortoise keeps per-engine SQL)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")
    if not 1 <= args.labels <= MAX_BATCH:
        raise ValueError(f"--labels must be 1 to {MAX_BATCH} (one batch)")
    return asyncio.run(_run(kind, args))
