"""What an operator relies on: /health, /ready naming the failed dependency, /metrics, request ids, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from arq import Retry

from adapters import logging as waybill_logging
from adapters import metrics
from api.app import create_app
from tests.conftest import Database
from tests.support import harness
from tests.support.harness import Harness, eventually
from tests.support.processes import own_valkey
from tests.support.servers import free_port, serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer, as `waybill serve` does with WAYBILL_LOG_FORMAT=json."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(waybill_logging.formatter("json"))
    handler.addFilter(waybill_logging.ContextFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.handlers[:], root.level = before, level


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_health_and_ready_answer_and_every_response_carries_a_request_id(waybill: Harness) -> None:
    health = await waybill.http.get(f"{waybill.base_url}/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await waybill.http.get(f"{waybill.base_url}/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}

    mine = await waybill.http.get(f"{waybill.base_url}/health", headers={"X-Request-ID": "lb-7f3a.01"})
    assert mine.headers["x-request-id"] == "lb-7f3a.01"  # a proxy's id is kept, to follow one request end to end
    forged = await waybill.http.get(
        f"{waybill.base_url}/health", headers={"X-Request-ID": "<script>alert(1)</script>" * 5}
    )
    assert re.fullmatch(r"[0-9a-f]{16}", forged.headers["x-request-id"]), forged.headers  # replaced, not echoed
    assert health.headers["x-request-id"] != ready.headers["x-request-id"]


async def test_ready_waits_for_a_worker_heartbeat_when_asked(waybill: Harness) -> None:
    """The harness runs the worker in-process: its arq heartbeat is in Redis within a poll or two."""

    async def workers_ok() -> bool:
        answer = await waybill.http.get(f"{waybill.base_url}/ready?workers=1")
        assert answer.status_code == 200, answer.text
        return answer.json()["checks"]["workers"] == "ok"

    await eventually(workers_ok, within=15)


async def test_ready_names_redis_when_it_is_down_while_health_stays_up(db: Database, json_log: io.StringIO) -> None:
    with own_valkey(db.data_dir) as valkey:
        settings = harness.test_settings(db.data_dir, db.url)
        settings = type(settings)(**{**settings.__dict__, "redis_url": valkey.url})
        port = free_port()
        app = create_app(settings, embedded_worker=False, self_url=f"http://127.0.0.1:{port}")
        async with serve_app(app, port=port) as base_url, httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{base_url}/ready")).status_code == 200
            valkey.crash()
            down = await http.get(f"{base_url}/ready", headers={"X-Request-ID": "probe-redis-down"})
            assert down.status_code == 503, down.text
            assert down.json()["failed"] == ["redis"], down.json()
            assert down.json()["checks"]["database"] == "ok"
            assert (await http.get(f"{base_url}/health")).status_code == 200  # liveness: do not restart it
            (warning,) = [line for line in lines(json_log) if str(line["message"]).startswith("not ready")]
            assert warning["request_id"] == "probe-redis-down" and warning["level"] == "WARNING", warning
            valkey.start()

            async def back() -> bool:
                return (await http.get(f"{base_url}/ready")).status_code == 200

            await eventually(back, within=20, interval=0.2)


async def test_metrics_count_routes_by_template_and_operations_by_name(waybill: Harness) -> None:
    await waybill.gql("query DashboardCounts { viewer { accountId } }")
    broken = {"query": "query Broken { viewer { nope } }"}
    headers = {"Authorization": f"Bearer {waybill.api_key}"}
    assert "errors" in (await waybill.http.post(f"{waybill.base_url}/graphql", json=broken, headers=headers)).json()
    await waybill.http.get(f"{waybill.base_url}/labels/987654.pdf", headers={"Authorization": "Bearer nope"})
    answer = await waybill.http.get(f"{waybill.base_url}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain"), answer.text
    text = answer.text
    assert 'waybill_graphql_operations_total{name="DashboardCounts",type="query"}' in text, text
    assert 'waybill_graphql_errors_total{name="Broken",type="query"} 1.0' in text, text
    assert 'route="/labels/{shipment_id:int}.{fmt}",status="401"' in text
    assert "987654" not in text  # ids never become label values
    assert re.search(r'waybill_http_request_duration_seconds_count\{method="POST",route="/graphql"\} [1-9]', text)
    assert "waybill_outbox_pending 0.0" in text

    async def tick_counted() -> bool:  # the in-process worker's cron, once its first run has ended
        scraped = (await waybill.http.get(f"{waybill.base_url}/metrics")).text
        return 'waybill_job_runs_total{function="tick",outcome="ok"}' in scraped

    await eventually(tick_counted, within=15, interval=0.2)


async def test_metrics_want_the_token_when_one_is_set(waybill: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYBILL_METRICS_TOKEN", "scrape-secret-1")
    refused = await waybill.http.get(f"{waybill.base_url}/metrics")
    assert refused.status_code == 401 and "WAYBILL_METRICS_TOKEN" in refused.text
    wrong = await waybill.http.get(f"{waybill.base_url}/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert wrong.status_code == 401
    allowed = await waybill.http.get(f"{waybill.base_url}/metrics", headers={"Authorization": "Bearer scrape-secret-1"})
    assert allowed.status_code == 200 and "waybill_http_requests_total" in allowed.text


async def test_a_job_logs_its_id_counts_its_outcome_and_secrets_are_masked(json_log: io.StringIO) -> None:
    async def probe_job(ctx: dict[str, object], fail: bool) -> str:
        logging.getLogger("jobs.probe").info("calling https://shop:hunter22@example.com with Bearer wb_live_abcdef123")
        if fail:
            raise Retry(defer=1)
        return "done"

    try:
        raise ConnectionError("could not reach postgres://waybill:s3cr3t-pw@db:5432/waybill")
    except ConnectionError:
        logging.getLogger("jobs.probe").exception("database down")
    job = metrics.instrumented(probe_job)
    assert await job({"job_id": "sync:42:123"}, False) == "done"
    with pytest.raises(Retry):
        await job({"job_id": "sync:42:124"}, True)
    logged = [line for line in lines(json_log) if line["logger"] == "jobs.probe"]
    assert [line["job_id"] for line in logged if line["message"] != "database down"] == ["sync:42:123", "sync:42:124"]
    text = json_log.getvalue()
    assert "hunter22" not in text and "abcdef123" not in text and "s3cr3t-pw" not in text, text
    assert "postgres://waybill:[redacted]@db" in text  # the traceback is kept, its password is not
    assert metrics.JOB_RUNS.labels("probe_job", "ok")._value.get() == 1
    assert metrics.JOB_RUNS.labels("probe_job", "retry")._value.get() == 1
    assert waybill_logging.job_id.get() == "-"  # reset after the job


def test_log_format_refuses_an_unknown_value() -> None:
    with pytest.raises(SystemExit, match="WAYBILL_LOG_FORMAT must be text or json"):
        waybill_logging.log_format({"WAYBILL_LOG_FORMAT": "xml"})
