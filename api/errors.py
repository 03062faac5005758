"""`userErrors` for every mutation: domain refusals become data, never top-level errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from adapters.persistence.repositories import ConcurrentUpdate
from domain.errors import DomainError
from domain.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode", description="Why a mutation was refused.")


@strawberry.type(description="A refusal the caller can act on: which input, why, and a stable code.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path to the input field at fault, if any.")
    message: str = strawberry.field(description="What is wrong, in words a merchant understands.")
    code: ErrorCode = strawberry.field(description="Stable machine-readable reason.")  # type: ignore[valid-type]


def user_error(exc: DomainError) -> UserError:
    return UserError(field=exc.field, message=exc.message, code=exc.code)


T = TypeVar("T")


async def refusals(action: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """Runs a command; a DomainError becomes a userErrors entry, anything else stays a bug.

    A concurrent change of the same order is retried once, then reported as CONFLICT.
    """
    for attempt in range(2):
        try:
            return await action(), []
        except DomainError as exc:
            return None, [user_error(exc)]
        except ConcurrentUpdate:
            if attempt == 1:
                message = "The order was changed by someone else at the same time; try again"
                return None, [UserError(field=None, message=message, code=DomainErrorCode.CONFLICT)]
    raise AssertionError("unreachable")
