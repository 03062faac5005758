"""The HTTP app: /graphql (GraphiQL, graphql-transport-ws), label downloads, health, demo sandboxes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from adapters.config import Settings
from adapters.persistence import models
from adapters.persistence.accounts import ApiPrincipal
from adapters.persistence.repositories import TortoiseLabelRepository
from adapters.runtime import Runtime
from api import observability, webhooks
from api.auth import routes as auth_routes
from api.auth.principals import LABEL_SCOPES_NEEDED, CsrfRefused, may_download_labels, principal_from_ws_params
from api.auth.principals import principal_from as caller_of
from api.context import Context
from api.http_security import middleware as http_middleware
from api.limits.batch import BatchLimit
from api.loaders import Loaders
from api.schema import schema
from jobs.worker import build_worker, stop_worker

log = logging.getLogger(__name__)

LABEL_TYPES = {"pdf": ("PDF", "application/pdf"), "zpl": ("ZPL", "text/plain; charset=utf-8")}


def bearer(value: str | None) -> str | None:
    if not value or not value.lower().startswith("bearer "):
        return None
    return value[7:].strip() or None


async def principal_from(request: Request | WebSocket) -> ApiPrincipal | None:
    """A bearer API key, or the admin app's session cookie (api/auth/principals.py)."""
    return await caller_of(request)


class WaybillGraphQL(BatchLimit, GraphQL[Context, None]):
    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.introspection_enabled else None,  # off in production
            keep_alive=True,
            keep_alive_interval=15,
            # CSV uploads (importOrdersCsv). Safe from CSRF: AuthGate wants X-CSRF-Token on every cookie POST.
            multipart_uploads_enabled=True,
        )
        self.runtime = runtime

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = await principal_from(request)
        return Context(
            runtime=self.runtime,
            principal=principal,
            loaders=Loaders(principal.account_id if principal else None),
            request=request,
            response=response,
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Browsers cannot set headers on a WebSocket: the key may come in connection_init."""
        params = context.connection_params or {}
        if context.principal is None:
            context.principal = await principal_from_ws_params(context.request, params)
            context.loaders = Loaders(context.principal.account_id if context.principal else None)
        if context.principal is None:
            message = "A valid API key (Authorization: Bearer ...) or a session with its X-CSRF-Token is required"
            raise ConnectionRejectionError({"message": message})
        return None


class AuthGate:
    """401 for any GraphQL request without a valid key; the GraphiQL page itself is served."""

    def __init__(self, app: WaybillGraphQL) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            wants_page = (
                self.app.graphql_ide is not None
                and request.method == "GET"
                and "query" not in request.query_params
                and "text/html" in request.headers.get("accept", "")
            )
            if not wants_page:
                try:
                    principal = await caller_of(request, check_csrf=True)
                except CsrfRefused:
                    await auth_routes.csrf_refusal()(scope, receive, send)
                    return
                if principal is None:
                    response = JSONResponse(
                        {
                            "errors": [
                                {
                                    "message": "A valid API key is required: Authorization: Bearer <key>",
                                    "extensions": {"code": "UNAUTHENTICATED"},
                                }
                            ]
                        },
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                    await response(scope, receive, send)
                    return
                scope["waybill.principal"] = principal
        await self.app(scope, receive, send)


async def download_label(request: Request) -> Response:
    principal = await principal_from(request)
    if principal is None:
        return JSONResponse({"error": "A valid API key is required"}, status_code=401)
    if not may_download_labels(principal):
        return JSONResponse({"error": LABEL_SCOPES_NEEDED}, status_code=403)
    kind = LABEL_TYPES.get(request.path_params["fmt"])
    if kind is None:
        return JSONResponse({"error": "Label format must be pdf or zpl"}, status_code=404)
    content = await TortoiseLabelRepository().get(principal.account_id, request.path_params["shipment_id"], kind[0])
    if content is None:
        return JSONResponse({"error": "Label not found"}, status_code=404)
    return Response(content, media_type=kind[1], headers={"Cache-Control": "private, max-age=3600"})


async def download_batch(request: Request) -> Response:
    """The merged PDF of a buyLabels batch, within the key's account only."""
    principal = await principal_from(request)
    if principal is None:
        return JSONResponse({"error": "A valid API key is required"}, status_code=401)
    if not may_download_labels(principal):
        return JSONResponse({"error": LABEL_SCOPES_NEEDED}, status_code=403)
    rows = await models.LabelBatch.filter(
        id=request.path_params["batch_id"], account_id=principal.account_id
    ).values_list("merged_pdf", flat=True)
    if not rows or not rows[0]:
        return JSONResponse({"error": "Batch labels not found"}, status_code=404)
    return Response(bytes(rows[0]), media_type="application/pdf", headers={"Cache-Control": "private, max-age=3600"})


def create_app(
    settings: Settings | None = None,
    *,
    demo: bool = False,
    embedded_worker: bool | None = None,
    self_url: str | None = None,
) -> Starlette:
    """`embedded_worker` defaults to True without REDIS_URL: one process does everything.

    `self_url` is where this server can reach itself (the mounted sandboxes live there).
    """
    settings = settings or Settings()
    runtime = Runtime(settings)
    self_url = (settings.public_url or self_url or "http://127.0.0.1:8000").rstrip("/")
    graphql = WaybillGraphQL(runtime, settings)
    run_worker = embedded_worker if embedded_worker is not None else settings.redis_url is None
    sandbox_mounts, sandboxes = _sandboxes(settings, demo)
    if "carrier" in sandboxes:
        runtime.sandbox_carrier_url = f"{self_url}/sandbox/carrier"

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        worker_task = None
        worker = None
        if run_worker:
            worker = build_worker(runtime)
            worker_task = asyncio.create_task(worker.async_run(), name="waybill-worker")
        app.state.runtime = runtime
        demo_task = None
        if demo:
            from api.demo import start_demo

            demo_task = await start_demo(runtime, sandboxes, self_url)
        try:
            yield
        finally:
            if demo_task is not None:
                demo_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await demo_task
            if worker is not None and worker_task is not None:
                await stop_worker(worker, worker_task)
            await runtime.stop()

    routes = [
        *observability.ROUTES,  # /health, /ready, /metrics
        Route("/labels/batches/{batch_id:int}.pdf", download_batch),
        Route("/labels/{shipment_id:int}.{fmt}", download_label),
        Route("/graphql", AuthGate(graphql), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Mount("/webhooks", routes=webhooks.ROUTES),
        Mount("/auth", routes=auth_routes.ROUTES),
        *sandbox_mounts,
    ]
    middleware = [*observability.middleware(), *http_middleware(settings.admin_origins)]  # request ids outermost
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.runtime = runtime
    app.state.sandboxes = sandboxes
    return app


def _sandboxes(settings: Settings, demo: bool) -> tuple[list[Mount], dict[str, Any]]:
    """The sandbox carrier (unless one is configured) and, in demo, a sandbox Shopify store."""
    from adapters.carriers.sandbox.fake import SandboxCarrier

    mounts: list[Mount] = []
    sandboxes: dict[str, Any] = {}
    if settings.sandbox_carrier_url is None:
        sandboxes["carrier"] = SandboxCarrier()
        mounts.append(Mount("/sandbox/carrier", app=sandboxes["carrier"].app))
    if demo:
        from adapters.channels.shopify.fake import FakeShopify

        sandboxes["shopify"] = FakeShopify()
        mounts.append(Mount("/sandbox/shopify", app=sandboxes["shopify"].app))
    return mounts, sandboxes
