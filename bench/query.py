"""Query benchmark: `orders(first: 100)` with lines, address and shipments over HTTP, against a raw endpoint.

Both apps are served by uvicorn on loopback in this process, hit by one httpx client, interleaved
request by request so the machine's noise lands on both alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from adapters.config import Settings
from adapters.persistence import models
from api.app import create_app
from bench.env import Database, Tenant
from bench.profiling import Profile, profiling
from bench.raw_api import PostgresReader, Reader, SqliteReader, raw_app
from bench.serve import free_port, serve_app
from bench.sqlcount import counting_queries
from bench.stats import percentile

ORDERS_QUERY = """
query($first: Int!) { orders(first: $first) {
  edges { cursor node {
    id number status customerName customerEmail currency total
    shippingAddress { name company line1 line2 city region postalCode countryCode phone }
    lines { id sku title quantity quantityShipped unitPrice }
    shipments { id status carrier service trackingNumber }
  } }
  pageInfo { hasNextPage endCursor }
} }"""


@dataclass
class Latencies:
    samples: list[float]
    queries_per_request: float
    bytes_per_response: int

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    @property
    def rps(self) -> float:
        """Sequential requests per second: one client, one request in flight."""
        return len(self.samples) / sum(self.samples) if self.samples else float("nan")


@dataclass
class QueryMeasure:
    page_size: int
    requests: int
    app: Latencies
    raw: Latencies
    same_json: bool
    query_log: list[str]
    profile: Profile | None = None
    queries_at_10: float = 0.0


async def add_shipments(account_id: int, every: int = 3) -> int:
    """A label on every `every`-th order, so the shipments loader has rows to return."""
    order_ids = await models.Order.filter(account_id=account_id).order_by("id").values_list("id", flat=True)
    rows = [
        models.Shipment(
            account_id=account_id,
            order_id=order_id,
            carrier="sandbox",
            service="ground",
            idempotency_key=f"bench-{order_id}",
            status="PURCHASED",
            tracking_number=f"1ZBENCH{order_id:010d}",
            tracking_url=f"https://track.example/1ZBENCH{order_id:010d}",
            cost="7.50",
            currency="USD",
        )
        for order_id in list(order_ids)[::every]
    ]
    await models.Shipment.bulk_create(rows, batch_size=500)
    return len(rows)


async def _reader(database: Database) -> Reader:
    if database.kind == "sqlite":
        return SqliteReader(database.sqlite_path)
    assert database.url is not None
    return await PostgresReader.connect(database.url)


async def measure_query(
    settings: Settings,
    database: Database,
    tenant: Tenant,
    *,
    page_size: int,
    requests: int,
    warmup: int = 20,
    profile_dir: Path | None = None,
) -> QueryMeasure:
    port = free_port()
    app = create_app(settings, embedded_worker=False, self_url=f"http://127.0.0.1:{port}")
    reader = await _reader(database)
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    body = {"query": ORDERS_QUERY, "variables": {"first": page_size}}
    try:
        async with (
            serve_app(app, port=port) as app_url,
            serve_app(raw_app(reader)) as raw_url,
            httpx.AsyncClient(timeout=30, headers=headers) as http,
        ):
            targets = {"app": f"{app_url}/graphql", "raw": f"{raw_url}/orders"}

            async def call(name: str) -> tuple[float, httpx.Response]:
                started = time.perf_counter()
                response = await http.post(targets[name], json=body)
                elapsed = time.perf_counter() - started
                if response.status_code != 200 or "errors" in response.json():
                    raise RuntimeError(f"{name} answered {response.status_code}: {response.text[:300]}")
                return elapsed, response

            for _ in range(warmup):
                await call("app")
                await call("raw")
            with counting_queries() as counter:
                probes = 5
                for _ in range(probes):
                    _, app_response = await call("app")
            app_queries = len(counter.messages) / probes
            with counting_queries() as small:  # a constant number of statements: the same at another page size
                await http.post(targets["app"], json={**body, "variables": {"first": 10}})
            queries_at_10 = float(len(small.messages))
            _, raw_response = await call("raw")
            same = app_response.json() == raw_response.json()
            samples: dict[str, list[float]] = {"app": [], "raw": []}
            for i in range(requests):
                for name in ("app", "raw") if i % 2 == 0 else ("raw", "app"):
                    samples[name].append((await call(name))[0])
            profile = None
            if profile_dir is not None:
                async with profiling("query", profile_dir) as profile:
                    for _ in range(min(requests, 50)):
                        await call("app")
    finally:
        await reader.close()
    return QueryMeasure(
        page_size=page_size,
        requests=requests,
        app=Latencies(samples["app"], app_queries, len(app_response.content)),
        raw=Latencies(samples["raw"], 4.0, len(raw_response.content)),  # key, orders, lines, shipments
        same_json=same,
        query_log=counter.messages[: int(app_queries)],
        profile=profile,
        queries_at_10=queries_at_10,
    )
