"""createApiKey, revokeApiKey, rotateApiKey, createUser, updateUserRole, removeUser (scope: admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import strawberry

from adapters.persistence import accounts, models, users
from adapters.persistence.accounts import covers, public_prefix
from api import ids
from api.context import Context, Info
from api.errors import UserError, refusals
from api.keys.types import ApiKey, ApiKeyMode, ApiScope, User, UserRole
from domain.errors import DomainError, ErrorCode, NotFound

SCOPE = "admin"


@strawberry.input(description="A new API key for a partner or a script.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for, e.g. the partner's name.")
    scopes: list[ApiScope] = strawberry.field(description="What it may do; never more than the caller may do.")
    expires_at: datetime | None = strawberry.field(default=None, description="It stops working at this time.")
    mode: ApiKeyMode | None = strawberry.field(
        default=None, description="LIVE or TEST; must be the account's mode (the default)."
    )


@strawberry.type(description="Result of createApiKey.")
class CreateApiKeyPayload:
    key: str | None = strawberry.field(description="The full key. Shown this once: store it now.")
    api_key: ApiKey | None = strawberry.field(description="The key's details.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Revoke a key: refused from the very next request.")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key.")


@strawberry.type(description="Result of revokeApiKey.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The revoked key.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Replace a key with a new one; the old one keeps working for the overlap.")
class RotateApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key to replace.")
    overlap_seconds: int = strawberry.field(
        default=3600, description="How long the old key keeps working (0: stops at once; at most 30 days)."
    )


@strawberry.type(description="Result of rotateApiKey.")
class RotateApiKeyPayload:
    key: str | None = strawberry.field(description="The new full key. Shown this once: store it now.")
    api_key: ApiKey | None = strawberry.field(description="The new key's details.")
    previous_key: ApiKey | None = strawberry.field(description="The old key, with the time it stops working.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Give someone a sign-in to the admin app.")
class CreateUserInput:
    email: str = strawberry.field(description="Their email, unique across Waybill.")
    password: str = strawberry.field(description="At least 10 characters; stored as an argon2 hash only.")
    role: UserRole = strawberry.field(description="What they may do.")


@strawberry.type(description="Result of createUser.")
class CreateUserPayload:
    user: User | None = strawberry.field(description="The new user.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Change what a user may do; effective on their next request.")
class UpdateUserRoleInput:
    id: strawberry.ID = strawberry.field(description="The user.")
    role: UserRole = strawberry.field(description="The new role.")


@strawberry.type(description="Result of updateUserRole.")
class UpdateUserRolePayload:
    user: User | None = strawberry.field(description="The user with the new role.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (e.g. the last owner).")


@strawberry.input(description="Remove a user; their sessions end at once.")
class RemoveUserInput:
    id: strawberry.ID = strawberry.field(description="The user.")


@strawberry.type(description="Result of removeUser.")
class RemoveUserPayload:
    removed_user_id: strawberry.ID | None = strawberry.field(description="The id of the removed user.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (e.g. the last owner).")


def _note(context: Context, field: str, **detail: object) -> None:
    """Details for this mutation's audit entry (api.audit.recorder): never a secret."""
    context.audit[field] = {**context.audit.get(field, {}), **detail}


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
    context = info.context

    async def run() -> tuple[str, ApiKey]:
        context.require(SCOPE)
        assert context.principal is not None
        name = input.name.strip()
        if not name or len(name) > 200:
            raise DomainError(ErrorCode.INVALID, "name must be 1 to 200 characters", ["input", "name"])
        wanted = [scope.value for scope in input.scopes]
        if not covers(context.principal.scopes, wanted):
            extra = next(scope for scope in wanted if not covers(context.principal.scopes, [scope]))
            raise DomainError(
                ErrorCode.FORBIDDEN,
                f"A key cannot get the {extra} scope: the caller does not have it",
                ["input", "scopes"],
            )
        expires_at = input.expires_at
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            if expires_at <= datetime.now(UTC):
                raise DomainError(ErrorCode.INVALID, "expiresAt must be in the future", ["input", "expiresAt"])
        try:
            key, row = await accounts.issue_api_key(
                context.account_id,
                name,
                wanted,
                mode=input.mode.value if input.mode else None,
                expires_at=expires_at,
                created_by=context.actor,
            )
        except DomainError as exc:  # the account's mode, an unknown scope: name the input field
            raise DomainError(exc.code, exc.message, ["input", *(exc.field or [])]) from exc
        _note(context, "createApiKey", prefix=public_prefix(row), scopes=wanted)
        return key, ApiKey.from_row(row)

    result, errors = await refusals(run)
    return CreateApiKeyPayload(
        key=result[0] if result else None, api_key=result[1] if result else None, user_errors=errors
    )


async def _own_key(context: Context, key_id: strawberry.ID) -> models.ApiKey:
    pk = ids.decode("ApiKey", key_id, "id")
    row = await models.ApiKey.get_or_none(id=pk, account_id=context.account_id)
    if row is None:
        raise NotFound("API key", ["input", "id"])
    return row


async def revoke_api_key(info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
    context = info.context

    async def run() -> ApiKey:
        context.require(SCOPE)
        row = await _own_key(context, input.id)
        if not await accounts.revoke_api_key(context.account_id, row.id):
            raise DomainError(ErrorCode.INVALID, "This key is already revoked", ["input", "id"])
        await row.refresh_from_db()
        _note(context, "revokeApiKey", prefix=public_prefix(row))
        return ApiKey.from_row(row)

    key, errors = await refusals(run)
    return RevokeApiKeyPayload(api_key=key, user_errors=errors)


async def rotate_api_key(info: Info, input: RotateApiKeyInput) -> RotateApiKeyPayload:
    context = info.context

    async def run() -> tuple[str, ApiKey, ApiKey]:
        context.require(SCOPE)
        row = await _own_key(context, input.id)
        rotated = await accounts.rotate_api_key(
            context.account_id, row.id, timedelta(seconds=input.overlap_seconds), created_by=context.actor
        )
        if rotated is None:
            raise DomainError(ErrorCode.INVALID, "Only a key still in use can be rotated", ["input", "id"])
        key, new, old = rotated
        _note(
            context,
            "rotateApiKey",
            prefix=public_prefix(new),
            previous=public_prefix(old),
            overlapSeconds=input.overlap_seconds,
        )
        return key, ApiKey.from_row(new), ApiKey.from_row(old)

    result, errors = await refusals(run)
    if result is None:
        return RotateApiKeyPayload(key=None, api_key=None, previous_key=None, user_errors=errors)
    return RotateApiKeyPayload(key=result[0], api_key=result[1], previous_key=result[2], user_errors=errors)


async def create_user(info: Info, input: CreateUserInput) -> CreateUserPayload:
    context = info.context

    async def run() -> User:
        context.require(SCOPE)
        return User.from_row(await users.create_user(context.account_id, input.email, input.password, input.role.value))

    user, errors = await refusals(run)
    return CreateUserPayload(user=user, user_errors=errors)


async def update_user_role(info: Info, input: UpdateUserRoleInput) -> UpdateUserRolePayload:
    context = info.context

    async def run() -> User:
        context.require(SCOPE)
        pk = ids.decode("User", input.id, "id")
        return User.from_row(await users.update_role(context.account_id, pk, input.role.value))

    user, errors = await refusals(run)
    return UpdateUserRolePayload(user=user, user_errors=errors)


async def remove_user(info: Info, input: RemoveUserInput) -> RemoveUserPayload:
    context = info.context

    async def run() -> strawberry.ID:
        context.require(SCOPE)
        pk = ids.decode("User", input.id, "id")
        await users.remove_user(context.account_id, pk)
        return input.id

    removed, errors = await refusals(run)
    return RemoveUserPayload(removed_user_id=removed, user_errors=errors)


@strawberry.type
class KeyMutations:
    create_api_key: CreateApiKeyPayload = strawberry.mutation(
        resolver=create_api_key, description="Make an API key (owners, admin scope). The key is shown once."
    )
    revoke_api_key: RevokeApiKeyPayload = strawberry.mutation(
        resolver=revoke_api_key, description="Revoke an API key: refused from the very next request."
    )
    rotate_api_key: RotateApiKeyPayload = strawberry.mutation(
        resolver=rotate_api_key, description="A new key in place of an old one; the old one works for the overlap."
    )
    create_user: CreateUserPayload = strawberry.mutation(
        resolver=create_user, description="Give someone a sign-in to the admin app (owners only)."
    )
    update_user_role: UpdateUserRolePayload = strawberry.mutation(
        resolver=update_user_role, description="Change a user's role (owners only); an account keeps one owner."
    )
    remove_user: RemoveUserPayload = strawberry.mutation(
        resolver=remove_user, description="Remove a user and end their sessions (owners only)."
    )
