"""GraphQL types for API keys and users. Built from rows of this account only; never a secret or a hash."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import strawberry

from adapters.persistence import models
from adapters.persistence.accounts import public_prefix
from api import ids


@strawberry.enum(description="What an API key (or a user's role) allows. ADMIN allows everything.")
class ApiScope(StrEnum):
    READ_ORDERS = "read_orders"
    WRITE_SHIPMENTS = "write_shipments"
    MANAGE_CHANNELS = "manage_channels"
    ADMIN = "admin"


@strawberry.enum(description="LIVE keys open live accounts; TEST keys open test (sandbox) accounts only.")
class ApiKeyMode(StrEnum):
    LIVE = "live"
    TEST = "test"


@strawberry.enum(description="What a user of the admin app may do.")
class UserRole(StrEnum):
    OWNER = "OWNER"
    STAFF = "STAFF"
    READ_ONLY = "READ_ONLY"


@strawberry.type(description="An API key. The secret itself is shown once, when it is made, and never again.")
class ApiKey:
    id: strawberry.ID = strawberry.field(description="Global id of the key.")
    name: str = strawberry.field(description="What the key is for.")
    prefix: str = strawberry.field(description="The public start of the key (wb_live_<prefix>), safe to show.")
    mode: ApiKeyMode = strawberry.field(description="LIVE or TEST.")
    scopes: list[ApiScope] = strawberry.field(description="What the key may do.")
    created_at: datetime = strawberry.field(description="When it was made.")
    created_by: str | None = strawberry.field(description="Who made it: user:<id>, api_key:<id> or cli.")
    last_used_at: datetime | None = strawberry.field(description="Last request with it (to the minute).")
    expires_at: datetime | None = strawberry.field(description="It stops working at this time, if set.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")
    rotated_from_id: strawberry.ID | None = strawberry.field(description="The key this one replaced, if rotated.")
    active: bool = strawberry.field(description="Neither revoked nor expired: it works now.")

    @classmethod
    def from_row(cls, row: models.ApiKey, now: datetime | None = None) -> ApiKey:
        now = now or datetime.now(UTC)
        known = {scope.value for scope in ApiScope}
        return cls(
            id=strawberry.ID(ids.encode("ApiKey", row.id)),
            name=row.name,
            prefix=public_prefix(row),
            mode=ApiKeyMode(row.mode or "live"),
            scopes=[ApiScope(scope) for scope in row.scopes or [] if scope in known],
            created_at=row.created_at,
            created_by=row.created_by or None,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            rotated_from_id=strawberry.ID(ids.encode("ApiKey", row.rotated_from_id)) if row.rotated_from_id else None,
            active=row.revoked_at is None and (row.expires_at is None or row.expires_at > now),
        )


@strawberry.type(description="Someone who signs in to the admin app.")
class User:
    id: strawberry.ID = strawberry.field(description="Global id of the user.")
    email: str = strawberry.field(description="Sign-in email, unique across Waybill.")
    role: UserRole = strawberry.field(description="OWNER (everything), STAFF (orders, labels, channels), READ_ONLY.")
    created_at: datetime = strawberry.field(description="When the user was added.")
    last_login_at: datetime | None = strawberry.field(description="Last successful sign-in.")

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(ids.encode("User", row.id)),
            email=row.email,
            role=UserRole(row.role),
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )
