"""HTTP hardening for every route: body size limits, CORS for admin apps only, security headers.

The body limit counts bytes as they stream in (a missing or lying Content-Length changes nothing)
and answers 413 with a JSON error before the route has read, parsed or stored anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from adapters.config import origin_problem

KIB = 1024
MIB = 1024 * KIB
#: GraphQL JSON documents (with variables): far above any legitimate operation.
GRAPHQL_JSON_LIMIT = 1 * MIB
#: importOrdersCsv multipart uploads: the CSV itself may be up to 10 MB (adapters/channels/csv_upload/parser.py).
MULTIPART_LIMIT = 20 * MIB
#: Platform and carrier webhooks: Shopify's largest order payloads stay well below this.
WEBHOOK_LIMIT = 1 * MIB
#: Anything else (label downloads, health, sandboxes) has no business sending a large body.
DEFAULT_LIMIT = 1 * MIB

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def body_limit_for(path: str, content_type: str) -> int:
    """The largest request body a route accepts."""
    if path.startswith("/webhooks/"):
        return WEBHOOK_LIMIT
    if path == "/graphql" and content_type.startswith("multipart/form-data"):
        return MULTIPART_LIMIT
    if path == "/graphql":
        return GRAPHQL_JSON_LIMIT
    return DEFAULT_LIMIT


class _TooLarge(Exception):
    pass


def _too_large_body(limit: int) -> bytes:
    message = f"The request body is larger than this endpoint accepts ({limit} bytes)"
    return json.dumps(
        {"errors": [{"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE", "limit": limit}}]}
    ).encode()


class BodyLimit:
    """413 for a body over the route's limit: refused on Content-Length, or cut off while streaming."""

    def __init__(self, app: Any, limit_for: Callable[[str, str], int] = body_limit_for) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        limit = self.limit_for(scope.get("path", ""), headers.get("content-type", "").lower())
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watching_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _TooLarge:
            if not started:
                await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    body = _too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: JSON, PDFs, ZPL: nothing to render, nothing to load.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
#: The GraphiQL page (development only): its scripts and styles come from unpkg, plus one inline script.
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https://unpkg.com; "
    "font-src 'self' data: https://unpkg.com; connect-src 'self' ws: wss:; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HSTS = "max-age=63072000; includeSubDomains"


class SecurityHeaders:
    """nosniff, no referrer, no framing, a CSP on every response; HSTS when served over https."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != b"server"]
                present = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                csp = GRAPHIQL_CSP if content_type.startswith(b"text/html") else API_CSP
                wanted = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", csp.encode()),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
                if https:
                    wanted.append((b"strict-transport-security", HSTS.encode()))
                headers.extend((k, v) for k, v in wanted if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def middleware(admin_origins: Sequence[str]) -> list[Middleware]:
    """Outermost first: headers on every answer (413s and CORS refusals too), then CORS, then the body limit."""
    stack = [Middleware(SecurityHeaders)]
    for origin in admin_origins:  # Settings built in code skip the environment's check: never reflect any origin
        problem = origin_problem(origin)
        if problem:
            raise ValueError(f"WAYBILL_ADMIN_ORIGINS (admin_origins): {problem}")
    if admin_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(admin_origins),
                allow_credentials=True,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
                expose_headers=["Retry-After"],
                max_age=600,
            )
        )
    stack.append(Middleware(BodyLimit))
    return stack
