"""Accounts and API keys.

Keys are long random secrets, so a fast SHA-256 of the whole key is safe to store (as GitHub
and Stripe do) and cheap to check on every request; argon2 is for low-entropy passwords.
The non-secret prefix finds the row; the hash comparison runs in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from adapters.persistence import models

KEY_SCHEME = "wb_live_"
PREFIX_LENGTH = 8
SECRET_LENGTH = 32
#: Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_URLSAFE = _ALPHABET + "-_"
_KEY_PATTERN = re.compile(
    rf"^{KEY_SCHEME}(?P<prefix>[{_ALPHABET}]{{{PREFIX_LENGTH}}})_(?P<secret>[{re.escape(_URLSAFE)}]{{{SECRET_LENGTH}}})$"
)


@dataclass(frozen=True)
class ApiPrincipal:
    account_id: int
    key_id: int
    scopes: tuple[str, ...]


async def create_account(name: str) -> int:
    account = await models.Account.create(name=name)
    return account.id


async def create_api_key(account_id: int, name: str, scopes: Sequence[str]) -> str:
    """Returns the full key; this is the only time it exists in clear."""
    for attempt in range(3):
        prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH))
        secret = "".join(secrets.choice(_URLSAFE) for _ in range(SECRET_LENGTH))
        key = f"{KEY_SCHEME}{prefix}_{secret}"
        try:
            await models.ApiKey.create(
                account_id=account_id, name=name, prefix=prefix, secret_hash=_hash(key), scopes=list(scopes)
            )
        except IntegrityError:  # a prefix collision: 62**8 makes a second one vanishingly rare
            if attempt == 2:
                raise
            continue
        return key
    raise AssertionError("unreachable")


async def authenticate_api_key(key: str, *, now: datetime | None = None) -> ApiPrincipal | None:
    """The principal behind a key; None for anything unknown, revoked or malformed (callers answer 401)."""
    match = _KEY_PATTERN.match(key or "")
    if match is None:
        return None
    row = await models.ApiKey.get_or_none(prefix=match["prefix"])
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(key)):
        return None
    now = now or datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await models.ApiKey.filter(id=row.id).update(last_used_at=now)
    return ApiPrincipal(account_id=row.account_id, key_id=row.id, scopes=tuple(row.scopes or ()))  # type: ignore[attr-defined]


async def revoke_api_key(account_id: int, key_id: int, *, now: datetime | None = None) -> bool:
    """True when a live key of this account was revoked."""
    count = await models.ApiKey.filter(id=key_id, account_id=account_id, revoked_at=None).update(
        revoked_at=now or datetime.now(UTC)
    )
    return count > 0


def key_prefix(key: str) -> str | None:
    """The public part of a key, safe to log and show in lists."""
    match = _KEY_PATTERN.match(key or "")
    return match["prefix"] if match else None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
