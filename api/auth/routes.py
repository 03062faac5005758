"""`POST /auth/login`, `POST /auth/logout`, `GET /auth/session` for the admin app.

The session cookie is HttpOnly and SameSite=Lax, and Secure when the request came over HTTPS (uvicorn
takes X-Forwarded-Proto from the proxies in FORWARDED_ALLOW_IPS) or when WAYBILL_SECURE_COOKIES=1.
Sign-in attempts are counted per email in Redis, atomically and before the password is checked (so
concurrent guesses cannot all slip through): after MAX_FAILURES in FAILURE_WINDOW the email is
refused with 429 until the window ends, even with the right password. A success clears the count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.persistence import audit, models
from adapters.persistence.users import (
    SESSION_LIFETIME,
    csrf_token_for,
    end_session,
    session_for,
    start_session,
    verify_login,
)
from api import ids
from api.auth.principals import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, client_ip, csrf_matches

log = logging.getLogger(__name__)

MAX_FAILURES = 10
FAILURE_WINDOW_SECONDS = 15 * 60
BAD_LOGIN = "Wrong email or password"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or os.environ.get("WAYBILL_SECURE_COOKIES") == "1"


def _error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


def failures_key(runtime: Any, email: str) -> str:
    """The Redis counter of failed sign-ins for an email (hashed: no addresses in Redis)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return str(runtime.key(f"login-failures:{digest}"))


def _failures_key(request: Request, email: str) -> str:
    return failures_key(request.app.state.runtime, email)


# One atomic step: count the attempt, start the window on the first one; the count and seconds left.
_COUNT_ATTEMPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('TTL', KEYS[1])}
"""


async def _count_attempt(request: Request, email: str) -> tuple[int, int]:
    """This attempt's number in the window (counted before the password is checked) and the seconds left."""
    try:
        count, ttl = await request.app.state.runtime.redis.eval(
            _COUNT_ATTEMPT, 1, _failures_key(request, email), FAILURE_WINDOW_SECONDS
        )
    except RedisError:  # no Redis, no rate limit: sign-in must not depend on it
        log.warning("login rate limit unavailable", exc_info=True)
        return 0, 0
    return int(count), int(ttl)


async def _clear_attempts(request: Request, email: str) -> None:
    try:
        await request.app.state.runtime.redis.delete(_failures_key(request, email))
    except RedisError:
        log.warning("login rate limit unavailable", exc_info=True)


async def login(request: Request) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "Send JSON: Content-Type: application/json")
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "The body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "The body must be a JSON object with email and password")
    for name in ("email", "password"):
        if not isinstance(body.get(name), str) or not body[name]:
            return _error(400, f"{name} is required (a string)", name)
    email, password = body["email"], body["password"]
    attempt, seconds_left = await _count_attempt(request, email)
    if attempt > MAX_FAILURES:
        return _error(
            429,
            "Too many failed sign-ins for this email; try again later",
            headers={"Retry-After": str(seconds_left if seconds_left > 0 else FAILURE_WINDOW_SECONDS)},
        )
    user = await verify_login(email, password)
    if user is None:
        known = await models.User.get_or_none(email=email.strip().lower())
        if known is not None:
            await audit.record(
                known.account_id,  # type: ignore[attr-defined]
                f"user:{known.id}",
                "login",
                object_ids=[ids.encode("User", known.id)],
                outcome="WRONG_PASSWORD",
                ip=client_ip(request),
            )
        return _error(401, BAD_LOGIN)
    await _clear_attempts(request, email)
    token = await start_session(user, ip=client_ip(request), user_agent=request.headers.get("user-agent", ""))
    info = await session_for(token)
    assert info is not None
    await audit.record(
        info.principal.account_id,
        info.principal.actor,
        "login",
        object_ids=[ids.encode("User", user.id)],
        ip=client_ip(request),
    )
    response = JSONResponse(_session_body(info, token))
    secure = _secure(request)
    max_age = int(SESSION_LIFETIME.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure)
    response.set_cookie(
        CSRF_COOKIE, csrf_token_for(token), max_age=max_age, httponly=False, samesite="lax", secure=secure
    )
    return response


async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    info = await session_for(token) if token else None
    if info is not None:
        if not csrf_matches(token, request.headers.get(CSRF_HEADER)):
            return _error(403, "The X-CSRF-Token header must carry the waybill_csrf cookie's value")
        await end_session(token)
        await audit.record(
            info.principal.account_id,
            info.principal.actor,
            "logout",
            object_ids=[ids.encode("User", info.principal.user_id or 0)],
            ip=client_ip(request),
        )
    response = JSONResponse({"signedOut": info is not None})
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(request))
    response.delete_cookie(CSRF_COOKIE, samesite="lax", secure=_secure(request))
    return response


async def current_session(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    info = await session_for(token) if token else None
    if info is None:
        return _error(401, "Not signed in")
    return JSONResponse(_session_body(info, token))


def _session_body(info: Any, token: str) -> dict[str, Any]:
    principal = info.principal
    return {
        "user": {"id": ids.encode("User", principal.user_id), "email": info.email, "role": principal.role},
        "accountId": ids.encode("Account", principal.account_id),
        "scopes": list(principal.scopes),
        "csrfToken": csrf_token_for(token),
        "expiresAt": info.expires_at.isoformat(),
    }


ROUTES = [
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/session", current_session, methods=["GET"]),
]


def csrf_refusal() -> JSONResponse:
    """A cookie-authenticated POST to /graphql without the session's CSRF token."""
    message = "Cookie sessions must send the waybill_csrf cookie's value in the X-CSRF-Token header"
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": "CSRF_FAILED"}}]}, status_code=403)
