"""auditLog: the account's audit entries, newest first (scope: admin, checked by api.auth.permissions)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from adapters.persistence import audit, models
from api import ids
from api.context import Info
from api.limits.pages import page_size
from api.orders.types import PageInfo
from domain.errors import DomainError, ErrorCode


@strawberry.type(description="One thing someone did: who, what, to which objects, and how it ended.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Global id of the entry.")
    actor: str = strawberry.field(description="user:<id>, api_key:<id> or cli.")
    action: str = strawberry.field(description="The mutation (e.g. buyLabel) or event (login, logout, ...).")
    object_ids: list[strawberry.ID] = strawberry.field(description="Global ids of the objects it touched.")
    outcome: str = strawberry.field(description="ok, the userErrors codes (comma-separated), or ERROR.")
    detail: JSON | None = strawberry.field(
        description="The arguments, secrets redacted, and details (e.g. a key prefix)."
    )
    ip: str | None = strawberry.field(description="The client's address, when it came over HTTP.")
    created_at: datetime = strawberry.field(description="When it happened.")

    @classmethod
    def from_row(cls, row: models.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(ids.encode("AuditEntry", row.id)),
            actor=row.actor,
            action=row.action,
            object_ids=[strawberry.ID(value) for value in row.object_ids.split()],
            outcome=row.outcome,
            detail=row.detail,
            ip=row.ip or None,
            created_at=row.created_at,
        )


@strawberry.type(description="An audit entry in a connection.")
class AuditEntryEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: AuditEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of audit entries, newest first.")
class AuditEntryConnection:
    edges: list[AuditEntryEdge] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")


@strawberry.input(description="Narrow the audit log.")
class AuditLogFilter:
    actor: str | None = strawberry.field(default=None, description="Only this actor, e.g. user:3 or api_key:7.")
    object_id: strawberry.ID | None = strawberry.field(default=None, description="Only entries touching this object.")


def _cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["audit", entry_id]).encode()).decode()


def _decode(cursor: str) -> int:
    try:
        kind, entry_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if kind != "audit" or not isinstance(entry_id, int):
            raise ValueError(cursor)
    except (ValueError, TypeError) as exc:
        raise DomainError(ErrorCode.INVALID, "after is not a cursor returned by auditLog", ["after"]) from exc
    return entry_id


@strawberry.type
class AuditQueries:
    @strawberry.field(description="Who did what in your account, newest first (admin).")
    async def audit_log(
        self, info: Info, first: int | None = None, after: str | None = None, filter: AuditLogFilter | None = None
    ) -> AuditEntryConnection:
        size = page_size(first)
        rows = await audit.entries(
            info.context.account_id,
            limit=size + 1,
            before_id=_decode(after) if after else None,
            actor=filter.actor if filter else None,
            object_id=str(filter.object_id) if filter and filter.object_id else None,
        )
        edges = [AuditEntryEdge(cursor=_cursor(row.id), node=AuditEntry.from_row(row)) for row in rows[:size]]
        return AuditEntryConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=len(rows) > size, end_cursor=edges[-1].cursor if edges else None),
        )
