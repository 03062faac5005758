"""Opaque global ids (`gid://waybill/Order/42`): clients never build them, and a wrong type is an error."""

from __future__ import annotations

from domain.errors import DomainError, ErrorCode

PREFIX = "gid://waybill/"


def encode(kind: str, pk: int) -> str:
    return f"{PREFIX}{kind}/{pk}"


def decode(kind: str, value: str, field: str) -> int:
    """The primary key inside a global id of `kind`; INVALID names the field otherwise."""
    head = f"{PREFIX}{kind}/"
    if not value.startswith(head) or not value[len(head) :].isdigit():
        raise DomainError(ErrorCode.INVALID, f"'{value}' is not a {kind} id (expected {head}<number>)", [field])
    return int(value[len(head) :])
