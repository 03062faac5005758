"""Admin app users and their sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults); a failed sign-in costs the same
whether the email exists or not (a dummy hash is verified for unknown emails). Session tokens
are random, kept only as a SHA-256 hash, and end at an absolute lifetime or after an idle
period, whichever comes first. Roles are read on every request, so a role change or a removal
takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from adapters.persistence import models
from adapters.persistence.accounts import ApiPrincipal
from domain.errors import DomainError, ErrorCode, NotFound

ROLES: dict[str, tuple[str, ...]] = {
    "OWNER": ("admin",),
    "STAFF": ("read_orders", "write_shipments", "manage_channels"),
    "READ_ONLY": ("read_orders",),
}
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 512
SESSION_LIFETIME = timedelta(seconds=float(os.environ.get("WAYBILL_SESSION_LIFETIME_SECONDS", 7 * 24 * 3600)))
SESSION_IDLE_TIMEOUT = timedelta(seconds=float(os.environ.get("WAYBILL_SESSION_IDLE_SECONDS", 2 * 3600)))
#: last_seen_at is written at most once a minute per session (reads stay reads).
SEEN_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionInfo:
    principal: ApiPrincipal
    email: str
    expires_at: datetime


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise DomainError(ErrorCode.INVALID, "email must be an address like name@example.com", ["input", "email"])
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise DomainError(ErrorCode.INVALID, f"role must be one of {', '.join(ROLES)}", ["input", "role"])
    return role


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password or "") <= MAX_PASSWORD_LENGTH:
        raise DomainError(
            ErrorCode.INVALID,
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            ["input", "password"],
        )


async def create_user(account_id: int, email: str, password: str, role: str) -> models.User:
    email = normalise_email(email)
    check_role(role)
    _check_password(password)
    try:
        return await models.User.create(
            account_id=account_id, email=email, password_hash=_hasher.hash(password), role=role
        )
    except IntegrityError as exc:
        raise DomainError(ErrorCode.CONFLICT, f"{email} already has a Waybill login", ["input", "email"]) from exc


async def update_role(account_id: int, user_id: int, role: str) -> models.User:
    check_role(role)
    async with in_transaction():
        user = await models.User.filter(id=user_id, account_id=account_id).select_for_update().first()
        if user is None:
            raise NotFound("User", ["input", "id"])
        if user.role == "OWNER" and role != "OWNER":
            await _keep_an_owner(account_id, user.id)
        user.role = role
        await user.save(update_fields=["role"])
    return user


async def remove_user(account_id: int, user_id: int) -> None:
    """Deletes the user and, with them, every session they hold (cascade): signed out at once."""
    async with in_transaction():
        user = await models.User.filter(id=user_id, account_id=account_id).select_for_update().first()
        if user is None:
            raise NotFound("User", ["input", "id"])
        if user.role == "OWNER":
            await _keep_an_owner(account_id, user.id)
        await models.Session.filter(user_id=user.id).delete()
        await user.delete()


async def _keep_an_owner(account_id: int, leaving_id: int) -> None:
    others = await models.User.filter(account_id=account_id, role="OWNER").exclude(id=leaving_id).count()
    if others == 0:
        raise DomainError(ErrorCode.INVALID, "An account keeps at least one owner", ["input", "id"])


async def verify_login(email: str, password: str) -> models.User | None:
    """The user, or None for an unknown email or a wrong password (indistinguishable to the caller)."""
    try:
        email = normalise_email(email)
    except DomainError:
        email = ""
    user = await models.User.get_or_none(email=email) if email else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        await user.save(update_fields=["password_hash"])
    return user


async def start_session(user: models.User, *, ip: str, user_agent: str, now: datetime | None = None) -> str:
    """The cookie token; only its hash is stored."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    await models.Session.create(
        user_id=user.id,
        account_id=user.account_id,  # type: ignore[attr-defined]
        token_hash=_hash(token),
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
        ip=ip[:64],
        user_agent=user_agent[:300],
    )
    user.last_login_at = now
    await user.save(update_fields=["last_login_at"])
    return token


async def session_for(token: str, *, now: datetime | None = None) -> SessionInfo | None:
    """The signed-in user behind a cookie token; None once expired, idle too long, or signed out."""
    if not token or len(token) > 100:
        return None
    row = await models.Session.filter(token_hash=_hash(token)).select_related("user", "account").first()
    if row is None:
        return None
    now = now or datetime.now(UTC)
    if now >= row.expires_at or now - row.last_seen_at >= SESSION_IDLE_TIMEOUT:
        await models.Session.filter(id=row.id).delete()
        return None
    if now - row.last_seen_at >= SEEN_RESOLUTION:
        await models.Session.filter(id=row.id).update(last_seen_at=now)
    principal = ApiPrincipal(
        account_id=row.account_id,  # type: ignore[attr-defined]
        key_id=None,
        scopes=ROLES.get(row.user.role, ()),
        mode=row.account.mode or "live",
        user_id=row.user.id,
        session_id=row.id,
        role=row.user.role,
    )
    return SessionInfo(principal=principal, email=row.user.email, expires_at=row.expires_at)


async def end_session(token: str) -> int | None:
    """Deletes the session; its id, or None when there was none."""
    row = await models.Session.get_or_none(token_hash=_hash(token or ""))
    if row is None:
        return None
    await row.delete()
    return row.id


def csrf_token_for(session_token: str) -> str:
    """The CSRF token that goes with a session: derived from the secret token, so only its holder can know it."""
    return hmac.new(session_token.encode(), b"waybill-csrf", hashlib.sha256).hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
