"""Write-back: `buyLabel` -> the shipment on the channel, p50/p95.

Waybill (API + in-process worker), a fake back office and the sandbox carrier are served by uvicorn on
loopback in this process. N orders are imported by signed webhooks; then, one order at a time, the clock
runs from the `buyLabel` POST until the fake store holds the order's shipment with the label's tracking
number (polled in memory every 2 ms: the fake is in this process). Baseline, same run: the same POST
round trip to a plain Starlette endpoint that reads the body (the HTTP floor), and the `buyLabel` answer
itself (label bought, write queued) to show what the write-back adds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass

import httpx

from adapters.carriers.sandbox.fake import SandboxCarrier
from adapters.carriers.sandbox.rules import SandboxSchedule
from adapters.channels.back_office.fake import FakeBackOffice
from adapters.config import Settings
from adapters.persistence import models
from api.app import create_app
from bench.stats import percentile
from bench.webhooks import LINES, _all_processed, _connect_channel, _serve, baseline_app

BUY = """mutation($id: ID!, $key: String!) { buyLabel(input: {orderId: $id, idempotencyKey: $key}) {
  shipment { trackingNumber } userErrors { code message } } }"""
WARM = 3
POLL_S = 0.002
WRITE_TIMEOUT = 30.0


@dataclass
class WritebackMeasure:
    labels: int
    answered: list[float]  # buyLabel POST -> response (label bought), seconds
    written: list[float]  # buyLabel POST -> shipment on the store, seconds
    floor: list[float]  # plain endpoint round trip


async def measure_writeback(settings: Settings, labels: int = 50) -> WritebackMeasure:
    office = FakeBackOffice(rate_limit=10**9)
    never = 1e9
    carrier = SandboxCarrier(
        schedule=SandboxSchedule(pre_transit_s=never, in_transit_s=never, out_for_delivery_s=never)
    )
    async with _serve(carrier.app) as carrier_url, _serve(office.app) as office_url:
        app = create_app(dataclasses.replace(settings, sandbox_carrier_url=carrier_url), embedded_worker=True)
        async with _serve(app) as base, _serve(baseline_app()) as plain, httpx.AsyncClient(timeout=60) as http:
            channel_id, key = await _connect_channel(app, office, office_url)
            hook = f"{base}/webhooks/channels/{channel_id}"
            external_ids = [office.create_order(LINES) for _ in range(WARM + labels)]
            for external_id in external_ids:
                headers, body = office.webhook(external_id, "order.created")
                assert (await http.post(hook, headers=headers, content=body)).status_code == 200
            assert await _all_processed(channel_id, len(external_ids)), "the orders were not all imported"
            rows = await models.Order.filter(channel_id=channel_id).values_list("id", "external_id")
            auth = {"Authorization": f"Bearer {key}"}
            answered: list[float] = []
            written: list[float] = []
            floor: list[float] = []
            for i, (pk, external_id) in enumerate(sorted(rows)):
                started = time.perf_counter()
                await http.post(f"{plain}/webhooks/channels/{channel_id}", content=b"{}")
                plain_took = time.perf_counter() - started
                variables = {"id": f"gid://waybill/Order/{pk}", "key": f"writeback-{pk}"}
                started = time.perf_counter()
                response = await http.post(f"{base}/graphql", json={"query": BUY, "variables": variables}, headers=auth)
                took = time.perf_counter() - started
                payload = response.json()["data"]["buyLabel"]
                assert payload["userErrors"] == [], payload
                tracking = payload["shipment"]["trackingNumber"]
                while not any(s.tracking_number == tracking for s in office.shipments(external_id)):
                    if time.perf_counter() - started > WRITE_TIMEOUT:
                        raise AssertionError(f"order {external_id}: no shipment on the store after {WRITE_TIMEOUT} s")
                    await asyncio.sleep(POLL_S)
                if i >= WARM:
                    answered.append(took)
                    written.append(time.perf_counter() - started)
                    floor.append(plain_took)
    return WritebackMeasure(labels, answered, written, floor)


def rows(measure: WritebackMeasure) -> list[str]:
    def ms(samples: list[float], pct: float) -> str:
        return f"{percentile(samples, pct) * 1000:.0f} ms" if samples else "-"

    w, a, f = measure.written, measure.answered, measure.floor
    ratio = f"{percentile(w, 95) / percentile(f, 95):.0f}x" if w and f else "-"
    return [
        f"| `buyLabel` -> shipment on the store ({measure.labels} labels, one at a time) | Waybill "
        "| Baseline: plain endpoint round trip | Ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| `buyLabel` answered (label bought) p50 / p95 | {ms(a, 50)} / {ms(a, 95)} | | |",
        f"| write-back p50 | {ms(w, 50)} | {ms(f, 50)} | - |",
        f"| write-back p95 (target < 2 s) | **{ms(w, 95)}** | {ms(f, 95)} | {ratio} |",
    ]


def writeback_process(kind: str, labels: int) -> WritebackMeasure:
    from bench import env

    return env.run_section(kind, lambda settings: measure_writeback(settings, labels=labels))


if __name__ == "__main__":
    print("\n".join(rows(writeback_process("sqlite", 30))))
