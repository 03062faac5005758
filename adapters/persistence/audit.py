"""The audit log: who did what to which objects, per account. Never secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from adapters.persistence import models

log = logging.getLogger("waybill.audit")

#: Input fields whose values never reach the log, at any depth.
SECRET_WORDS = ("password", "credential", "token", "secret", "apikey", "api_key", "key")


def is_secret_field(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(word in lowered for word in SECRET_WORDS) and lowered not in ("idempotencykey", "idempotency_key")


def scrub(value: Any) -> Any:
    """A copy without secret fields (their values become "[redacted]")."""
    if isinstance(value, dict):
        return {k: "[redacted]" if is_secret_field(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


async def record(
    account_id: int,
    actor: str,
    action: str,
    *,
    object_ids: Iterable[str] = (),
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    """Writes one entry; a failure is logged, never turned into a failed request (the change already happened)."""
    ids = list(dict.fromkeys(object_ids))
    try:
        await models.AuditEntry.create(
            account_id=account_id,
            actor=actor[:100],
            action=action[:100],
            object_ids=f" {' '.join(ids)} " if ids else "",
            outcome=outcome[:200],
            detail=scrub(detail) if detail else None,
            ip=ip[:64],
        )
    except Exception:
        log.exception("could not write the audit entry %s by %s on account %s", action, actor, account_id)


async def entries(
    account_id: int, *, limit: int, before_id: int | None = None, actor: str | None = None, object_id: str | None = None
) -> list[models.AuditEntry]:
    """Newest first; `before_id` pages on."""
    rows = models.AuditEntry.filter(account_id=account_id)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    if actor:
        rows = rows.filter(actor=actor)
    if object_id:
        rows = rows.filter(object_ids__contains=f" {object_id} ")
    return await rows.order_by("-id").limit(limit)
