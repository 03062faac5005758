"""Prometheus metrics, one registry per process: the API serves it at /metrics, a worker on --metrics-port.

Labels are low cardinality on purpose: route templates (`/labels/{shipment_id:int}.{fmt}`), operation
names the clients chose, job function names, statuses. Never an id, a URL or an account.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from arq import Retry
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from adapters import logging as waybill_logging

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "waybill_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "waybill_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
GRAPHQL_OPERATIONS = Counter(
    "waybill_graphql_operations",
    "GraphQL operations executed, by operation type and name (anonymous when unnamed).",
    ["type", "name"],
    registry=REGISTRY,
)
GRAPHQL_ERRORS = Counter(
    "waybill_graphql_errors",
    "GraphQL operations that answered with top-level errors, by operation type and name.",
    ["type", "name"],
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "waybill_job_runs",
    "Worker job runs, by function and outcome (ok, retry, error, cancelled).",
    ["function", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "waybill_job_duration_seconds",
    "Time a worker job run took, by function.",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
#: Read from the database when /metrics is scraped (the API), so every replica shows the same backlog.
OUTBOX_PENDING = Gauge(
    "waybill_outbox_pending", "Channel write-backs committed and not yet accepted by the channel.", registry=REGISTRY
)
WEBHOOK_DELIVERIES = Gauge(
    "waybill_webhook_deliveries",
    "Recorded channel webhook deliveries by status (RECEIVED is the backlog).",
    ["status"],
    registry=REGISTRY,
)
SYNC_RUNS = Gauge(
    "waybill_sync_runs", "Sync runs by status (QUEUED, RUNNING, SUCCEEDED, FAILED).", ["status"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge("waybill_queue_depth", "Jobs waiting in the arq queue (due or deferred).", registry=REGISTRY)

#: Names that are safe as a label value (a client's operation name is free text: cap and clean it).
MAX_NAME = 64


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    cleaned = "".join(c for c in name[:MAX_NAME] if c.isalnum() or c == "_")
    return cleaned or "anonymous"


def instrumented(function: Any) -> Any:  # arq's WorkerCoroutine protocol, which a wrapper cannot spell
    """A job that counts its runs by outcome, times them, and puts its job id in every log line it writes."""
    name = function.__name__

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        token = waybill_logging.job_id.set(str(ctx.get("job_id") or "-"))
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await function(ctx, *args, **kwargs)
            outcome = "ok"
            return result
        except Retry:
            outcome = "retry"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            JOB_RUNS.labels(name, outcome).inc()
            JOB_DURATION.labels(name).observe(time.perf_counter() - started)
            waybill_logging.job_id.reset(token)

    return run
