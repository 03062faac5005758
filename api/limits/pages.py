"""One rule for every `first:` argument: 1 to 250, a clear error naming the field otherwise."""

from __future__ import annotations

from domain.errors import DomainError, ErrorCode

DEFAULT_PAGE = 50
MAX_PAGE = 250


def page_size(first: int | None, default: int = DEFAULT_PAGE) -> int:
    if first is None:
        return default
    if first < 1 or first > MAX_PAGE:
        raise DomainError(ErrorCode.INVALID, f"first must be between 1 and {MAX_PAGE}", ["first"])
    return first
