"""Who is calling: a bearer API key, or the admin app's session cookie (with its CSRF token on POSTs).

Double-submit CSRF: the `waybill_csrf` cookie (readable by the page's script) must come back in the
`X-CSRF-Token` header on every cookie-authenticated POST. The token is derived from the secret session
token, so a cookie planted by a sibling subdomain cannot match. Bearer keys need no CSRF token: a
browser never adds them to a cross-site request by itself.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import HTTPConnection

from adapters.persistence.accounts import ApiPrincipal, authenticate_api_key
from adapters.persistence.users import csrf_token_for, session_for

SESSION_COOKIE = "waybill_session"
CSRF_COOKIE = "waybill_csrf"
CSRF_HEADER = "x-csrf-token"
PRINCIPAL_SCOPE_KEY = "waybill.principal"


def bearer(value: str | None) -> str | None:
    if not value or not value.lower().startswith("bearer "):
        return None
    return value[7:].strip() or None


class CsrfRefused(Exception):
    """A cookie-authenticated POST without the matching X-CSRF-Token header."""


async def principal_from(connection: HTTPConnection, *, check_csrf: bool = False) -> ApiPrincipal | None:
    """The caller of an HTTP request or WebSocket handshake; None when unauthenticated.

    A bearer header wins over a cookie. With `check_csrf`, a cookie-authenticated POST without the
    right token raises CsrfRefused (the session itself stays valid).
    """
    cached = connection.scope.get(PRINCIPAL_SCOPE_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    key = bearer(connection.headers.get("authorization"))
    if key:
        return await authenticate_api_key(key)
    token = connection.cookies.get(SESSION_COOKIE)
    if not token or connection.scope["type"] == "websocket":
        return None  # a socket proves its session in connection_init (principal_from_ws_params)
    info = await session_for(token)
    if info is None:
        return None
    if (
        check_csrf
        and connection.scope.get("method") == "POST"
        and not csrf_matches(token, connection.headers.get(CSRF_HEADER))
    ):
        raise CsrfRefused
    return info.principal


def csrf_matches(session_token: str, presented: str | None, cookie: str | None = None) -> bool:
    expected = csrf_token_for(session_token)
    if not presented or not hmac.compare_digest(presented, expected):
        return False
    return cookie is None or hmac.compare_digest(cookie, expected)


async def principal_from_ws_params(connection: HTTPConnection, params: dict[str, Any]) -> ApiPrincipal | None:
    """graphql-transport-ws `connection_init`: a bearer key, or the session cookie of the handshake plus the
    CSRF token in the payload (browsers send cookies on cross-site WebSocket handshakes; they cannot read
    the CSRF cookie, so a hijacked socket never authenticates)."""
    key = bearer(str(params.get("Authorization") or params.get("authorization") or ""))
    if key:
        return await authenticate_api_key(key)
    token = connection.cookies.get(SESSION_COOKIE)
    presented = params.get("X-CSRF-Token") or params.get("csrfToken")
    if not token or not isinstance(presented, str) or not csrf_matches(token, presented):
        return None
    info = await session_for(token)
    return info.principal if info else None


def client_ip(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else ""


LABEL_SCOPES_NEEDED = "Label downloads need the read_orders or write_shipments scope"


def may_download_labels(principal: ApiPrincipal) -> bool:
    """Whoever bought a label (write_shipments) or may read orders may print it."""
    return principal.has("read_orders") or principal.has("write_shipments")
