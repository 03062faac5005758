"""Accounts and API keys.

Keys are long random secrets, so a fast SHA-256 of the whole key is safe to store (as GitHub
and Stripe do) and cheap to check on every request; argon2 is for low-entropy passwords.
The non-secret prefix finds the row; the hash comparison runs in constant time.

A key reads `wb_<mode>_<prefix>_<secret><checksum>`: mode `live` or `test`, 8 base62 characters
of public prefix, 32 of secret and a 6-character base62 CRC32 of everything before it (GitHub's
token format), so a typo or a made-up string is refused without a database lookup and secret
scanners can tell a real Waybill key from noise. Keys made before the checksum
(`wb_live_<prefix>_<32 url-safe characters>`) keep working unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from adapters.persistence import models
from domain.errors import DomainError, ErrorCode

MODES = ("live", "test")
KEY_SCHEME = "wb_live_"  # kept for callers that build or recognise live keys
PREFIX_LENGTH = 8
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
#: What a key may do; admin implies every other scope.
SCOPES = ("read_orders", "write_shipments", "manage_channels", "admin")
ADMIN = "admin"
#: Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: rotateApiKey keeps the old key working at most this long.
MAX_OVERLAP = timedelta(days=30)

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_URLSAFE = _ALPHABET + "-_"
_KEY_PATTERN = re.compile(
    rf"^wb_(?P<mode>live|test)_(?P<prefix>[{_ALPHABET}]{{{PREFIX_LENGTH}}})_"
    rf"(?P<rest>[{_ALPHABET}]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}|[{re.escape(_URLSAFE)}]{{{SECRET_LENGTH}}})$"
)


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling: an API key (key_id) or a signed-in user (user_id, session_id)."""

    account_id: int
    key_id: int | None
    scopes: tuple[str, ...]
    mode: str = "live"
    user_id: int | None = None
    session_id: int | None = None
    role: str | None = None

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"api_key:{self.key_id}"

    def has(self, scope: str) -> bool:
        return covers(self.scopes, [scope])


def covers(held: Iterable[str], wanted: Iterable[str]) -> bool:
    """True when `held` allows every scope in `wanted` (admin allows all)."""
    held = set(held)
    return ADMIN in held or set(wanted) <= held


def checksum(body: str) -> str:
    """Base62 CRC32 of the key body, zero-padded to 6 characters."""
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def looks_like_key(key: str) -> bool:
    """Well-formed with a valid checksum (or a pre-checksum live key): worth a database lookup."""
    match = _KEY_PATTERN.match(key or "")
    if match is None:
        return False
    if len(match["rest"]) == SECRET_LENGTH:
        return match["mode"] == "live"  # legacy keys were all live
    return hmac.compare_digest(key[-CHECKSUM_LENGTH:], checksum(key[:-CHECKSUM_LENGTH]))


async def create_account(name: str, mode: str = "live") -> int:
    if mode not in MODES:
        raise DomainError(ErrorCode.INVALID, f"mode must be one of {', '.join(MODES)}", ["mode"])
    account = await models.Account.create(name=name, mode=mode)
    return account.id


def validate_scopes(scopes: Sequence[str], field: list[str] | None = None) -> list[str]:
    """Known scopes, deduplicated in the order given; INVALID names the first unknown one."""
    if not scopes:
        raise DomainError(ErrorCode.INVALID, "A key needs at least one scope", field or ["scopes"])
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise DomainError(
            ErrorCode.INVALID, f"Unknown scope {unknown[0]!r}: use {', '.join(SCOPES)}", field or ["scopes"]
        )
    return list(dict.fromkeys(scopes))


async def issue_api_key(
    account_id: int,
    name: str,
    scopes: Sequence[str],
    *,
    mode: str | None = None,
    expires_at: datetime | None = None,
    created_by: str = "",
    rotated_from_id: int | None = None,
) -> tuple[str, models.ApiKey]:
    """A new key and its row; the full key exists in clear only in this return value."""
    scopes = validate_scopes(scopes)
    account = await models.Account.get(id=account_id)
    account_mode = account.mode or "live"
    mode = mode or account_mode
    if mode not in MODES:
        raise DomainError(ErrorCode.INVALID, f"mode must be one of {', '.join(MODES)}", ["mode"])
    if mode != account_mode:
        raise DomainError(
            ErrorCode.INVALID, f"This is a {account_mode} account: it takes only {account_mode} keys", ["mode"]
        )
    for attempt in range(3):
        prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH))
        secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
        body = f"wb_{mode}_{prefix}_{secret}"
        key = body + checksum(body)
        try:
            row = await models.ApiKey.create(
                account_id=account_id,
                name=name,
                prefix=prefix,
                secret_hash=_hash(key),
                scopes=scopes,
                mode=mode,
                expires_at=expires_at,
                created_by=created_by,
                rotated_from_id=rotated_from_id,
            )
        except IntegrityError:  # a prefix collision: 62**8 makes a second one vanishingly rare
            if attempt == 2:
                raise
            continue
        return key, row
    raise AssertionError("unreachable")


async def create_api_key(
    account_id: int,
    name: str,
    scopes: Sequence[str],
    *,
    mode: str | None = None,
    expires_at: datetime | None = None,
    created_by: str = "",
) -> str:
    """Returns the full key; this is the only time it exists in clear."""
    key, _ = await issue_api_key(account_id, name, scopes, mode=mode, expires_at=expires_at, created_by=created_by)
    return key


async def authenticate_api_key(key: str, *, now: datetime | None = None) -> ApiPrincipal | None:
    """The principal behind a key; None for anything unknown, revoked, expired or malformed (callers answer 401).

    No cache: a revoke or an expiry takes effect on the very next request.
    """
    if not looks_like_key(key):
        return None
    match = _KEY_PATTERN.match(key)
    assert match is not None
    row = await models.ApiKey.filter(prefix=match["prefix"]).select_related("account").first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(key)):
        return None
    now = now or datetime.now(UTC)
    if row.expires_at is not None and now >= row.expires_at:
        return None
    mode = row.mode or "live"
    if mode != match["mode"] or (row.account.mode or "live") != mode:
        return None  # a test key never opens a live account, nor the other way round
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await models.ApiKey.filter(id=row.id).update(last_used_at=now)
    return ApiPrincipal(
        account_id=row.account_id,  # type: ignore[attr-defined]
        key_id=row.id,
        scopes=tuple(row.scopes or ()),
        mode=mode,
    )


async def revoke_api_key(account_id: int, key_id: int, *, now: datetime | None = None) -> bool:
    """True when a live key of this account was revoked."""
    count = await models.ApiKey.filter(id=key_id, account_id=account_id, revoked_at=None).update(
        revoked_at=now or datetime.now(UTC)
    )
    return count > 0


async def rotate_api_key(
    account_id: int, key_id: int, overlap: timedelta, *, created_by: str = "", now: datetime | None = None
) -> tuple[str, models.ApiKey, models.ApiKey] | None:
    """A new key with the old one's name, scopes, mode and expiry; the old one stops working after `overlap`.

    None when the account has no such key still in use.
    """
    now = now or datetime.now(UTC)
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise DomainError(
            ErrorCode.INVALID,
            f"overlapSeconds must be between 0 and {int(MAX_OVERLAP.total_seconds())}",
            ["input", "overlapSeconds"],
        )
    async with in_transaction():
        old = await models.ApiKey.filter(id=key_id, account_id=account_id, revoked_at=None).first()
        if old is None or (old.expires_at is not None and old.expires_at <= now):
            return None
        key, new = await issue_api_key(
            account_id,
            old.name,
            old.scopes or [],
            mode=old.mode or "live",
            expires_at=old.expires_at,
            created_by=created_by,
            rotated_from_id=old.id,
        )
        ends = now + overlap
        old.expires_at = min(old.expires_at, ends) if old.expires_at else ends
        await old.save(update_fields=["expires_at"])
    return key, new, old


async def list_api_keys(account_id: int) -> list[models.ApiKey]:
    return await models.ApiKey.filter(account_id=account_id).order_by("-id")


def public_prefix(row: models.ApiKey) -> str:
    """`wb_live_<prefix>`: how a key is shown in lists and logs."""
    return f"wb_{row.mode or 'live'}_{row.prefix}"


def key_prefix(key: str) -> str | None:
    """The public part of a key, safe to log and show in lists."""
    match = _KEY_PATTERN.match(key or "")
    return match["prefix"] if match else None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
