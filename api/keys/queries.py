"""apiKeys and users (scope: admin, checked by api.auth.permissions before they resolve)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from adapters.persistence import accounts, models
from api.context import Info
from api.keys.types import ApiKey, User


@strawberry.type
class KeyQueries:
    @strawberry.field(description="Your account's API keys, newest first, revoked and expired ones included (admin).")
    async def api_keys(self, info: Info, include_inactive: bool = True) -> list[ApiKey]:
        now = datetime.now(UTC)
        keys = [ApiKey.from_row(row, now) for row in await accounts.list_api_keys(info.context.account_id)]
        return keys if include_inactive else [key for key in keys if key.active]

    @strawberry.field(description="The admin app users of your account (admin).")
    async def users(self, info: Info) -> list[User]:
        rows = await models.User.filter(account_id=info.context.account_id).order_by("id")
        return [User.from_row(row) for row in rows]
