"""Operating the API: request ids, metrics, /health (liveness), /ready (readiness), /metrics.

`/health` answers while the process is up, whatever its dependencies do (restart it only when this
fails). `/ready` checks what a request needs: the database answers, its migrations are all applied,
Redis answers; a load balancer sends traffic only to a replica that says 200. `/metrics` is the
Prometheus text format; with WAYBILL_METRICS_TOKEN set it wants `Authorization: Bearer <token>`, and
in production it is refused without one (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from strawberry.extensions import SchemaExtension
from tortoise import connections

from adapters import logging as waybill_logging
from adapters import metrics
from adapters.persistence import models
from adapters.persistence.config import database_config
from adapters.runtime import Runtime
from jobs.worker import WORKER_HEARTBEAT_S

log = logging.getLogger(__name__)

#: A caller's X-Request-ID is kept when it looks like an id (a proxy's, a client's); anything else is replaced.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Each readiness check gives up after this long: a hung database must make /ready fail, not hang.
CHECK_TIMEOUT_S = 2.0


class RequestContext:
    """Outermost ASGI middleware: a request id per HTTP request (X-Request-ID in and out, in every log
    line of the request) and the request's count and latency under its route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        request_id = given if REQUEST_ID.match(given) else secrets.token_hex(8)
        token = waybill_logging.request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
            waybill_logging.request_id.reset(token)


def route_template(scope: dict[str, Any]) -> str:
    """`/webhooks/channels/{channel_id:int}`, never the path itself (ids would explode the label count)."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    path = getattr(route, "path", "")
    if isinstance(route, Mount):  # a mounted app (the sandboxes) with its own routing: its prefix only
        return f"{mounted or route.path}/*"
    return f"{mounted}{path}" or "unmatched"


def middleware() -> list[Middleware]:
    return [Middleware(RequestContext)]


class OperationMetrics(SchemaExtension):
    """GraphQL operations by type and name, and those that answered with top-level errors."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # unparsable document: no operation to name
            kind = "invalid"
        name = metrics.operation_label(context.operation_name)
        metrics.GRAPHQL_OPERATIONS.labels(kind, name).inc()
        result = context.result
        if context.pre_execution_errors or (result is not None and result.errors):
            metrics.GRAPHQL_ERRORS.labels(kind, name).inc()


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """200 when this replica can serve; 503 naming each dependency that failed and why."""
    runtime: Runtime = request.app.state.runtime
    checks = {"database": _database(), "migrations": _migrations(runtime), "redis": _redis(runtime)}
    if request.query_params.get("workers") in ("1", "true"):
        checks["workers"] = _workers(runtime)
    names = list(checks)
    outcomes = await asyncio.gather(*(_timed(check) for check in checks.values()))
    report = dict(zip(names, outcomes, strict=True))
    failed = {name: outcome for name, outcome in report.items() if outcome != "ok"}
    if failed:
        log.warning("not ready: %s", failed)
        return JSONResponse({"status": "unavailable", "checks": report, "failed": sorted(failed)}, status_code=503)
    return JSONResponse({"status": "ok", "checks": report})


async def _timed(check: Any) -> str:
    try:
        return str(await asyncio.wait_for(check, CHECK_TIMEOUT_S))
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {waybill_logging.redact(str(exc))[:200]}"


async def _database() -> str:
    await connections.get("default").execute_query("SELECT 1")
    return "ok"


async def _migrations(runtime: Runtime) -> str:
    from tortoise.migrations.executor import MigrationExecutor

    apps = database_config(runtime.settings.database_url, runtime.settings.data_dir)["apps"]
    plan = await MigrationExecutor(connections.get("default"), apps).plan()
    pending = [step.migration.name for step in plan if not step.backward]
    return "ok" if not pending else f"not applied: {', '.join(pending)} (run `waybill migrate`)"


async def _redis(runtime: Runtime) -> str:
    await runtime.redis.ping()
    return "ok"


async def _workers(runtime: Runtime) -> str:
    """A worker records arq's health-check key every WORKER_HEARTBEAT_S with a short expiry: none, no worker."""
    beat = await runtime.redis.get(f"{runtime.settings.queue_name}:health-check")
    return "ok" if beat else f"no worker has reported within {WORKER_HEARTBEAT_S + 1}s"


async def serve_metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    expected = os.environ.get("WAYBILL_METRICS_TOKEN") or ""
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return JSONResponse(
                {"error": "Metrics need Authorization: Bearer <WAYBILL_METRICS_TOKEN>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif runtime.settings.production:
        return JSONResponse(
            {"error": "Set WAYBILL_METRICS_TOKEN to serve /metrics in production (docs/deploy.md)"}, status_code=403
        )
    await _refresh_backlog(runtime)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _refresh_backlog(runtime: Runtime) -> None:
    """The shared backlogs, read at scrape time; a failing read leaves the last value, it never fails the scrape."""
    try:
        metrics.OUTBOX_PENDING.set(await models.OutboxWrite.filter(status="PENDING").count())
        for status in ("RECEIVED", "PROCESSED", "FAILED"):
            count = await models.WebhookDelivery.filter(status=status).count()
            metrics.WEBHOOK_DELIVERIES.labels(status).set(count)
        for status in ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED"):
            metrics.SYNC_RUNS.labels(status).set(await models.SyncRun.filter(status=status).count())
        metrics.QUEUE_DEPTH.set(await runtime.redis.zcard(runtime.settings.queue_name))
    except Exception as exc:
        log.warning("metrics: could not read the backlogs (%s)", exc)


ROUTES = [
    Route("/health", health),
    Route("/ready", ready),
    Route("/metrics", serve_metrics),
]
