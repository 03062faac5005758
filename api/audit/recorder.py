"""One audit entry per mutation field, written after it ran: actor, mutation, object ids, outcome.

Every root field of Mutation is wrapped once at import (`install`), so a mutation added later is
recorded without doing anything; the wrapper only keeps the payload the resolver returned. The
`AuditMutations` extension then writes, per field: the object ids in its input and in its payload,
its outcome (`ok`, the userErrors codes, or `ERROR` for a top-level error), and its arguments with every
credential, password, token, secret and key value redacted. Queries are not recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from inspect import isawaitable
from typing import Any

from graphql import GraphQLSchema, value_from_ast_untyped
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from adapters.persistence import audit
from api.auth.permissions import operation_of, root_fields
from api.auth.principals import client_ip
from api.ids import PREFIX

log = logging.getLogger(__name__)
MAX_INPUT_CHARS = 4000


def install_audit(schema: GraphQLSchema) -> None:
    """Wraps every Mutation root resolver to keep what it returned on the context."""
    mutation = schema.mutation_type
    if mutation is None:
        return
    for field in mutation.fields.values():
        if field.resolve is not None and not getattr(field.resolve, "_waybill_audited", False):
            field.resolve = _keeping_result(field.resolve)


def _keeping_result(resolve: Callable[..., Any]) -> Callable[..., Any]:
    async def resolver(source: Any, info: Any, **kwargs: Any) -> Any:
        result = resolve(source, info, **kwargs)
        if isawaitable(result):
            result = await result
        results = getattr(info.context, "mutation_results", None)
        if isinstance(results, dict):
            results[str(info.path.key)] = result
        return result

    resolver._waybill_audited = True  # type: ignore[attr-defined]
    return resolver


def _gids(value: Any, depth: int = 0) -> Iterator[str]:
    """Global ids anywhere in an input value."""
    if isinstance(value, str):
        if value.startswith(PREFIX):
            yield value
    elif isinstance(value, dict) and depth < 6:
        for key, item in value.items():
            if not audit.is_secret_field(str(key)):
                yield from _gids(item, depth + 1)
    elif isinstance(value, list) and depth < 6:
        for item in value:
            yield from _gids(item, depth + 1)


def _payload_ids(payload: Any) -> Iterator[str]:
    """Ids of the objects a payload returns (one level down: payload.order.id, payload.shipments[].id)."""
    if not dataclasses.is_dataclass(payload):
        return
    for name, value in vars(payload).items():
        if name == "user_errors":
            continue
        for item in value if isinstance(value, list) else [value]:
            item_id = getattr(item, "id", None)
            if isinstance(item_id, str) and item_id.startswith(PREFIX):
                yield item_id


def _outcome(payload: Any, failed: bool) -> str:
    if failed:
        return "ERROR"
    errors = getattr(payload, "user_errors", None) or []
    codes = [str(getattr(getattr(e, "code", None), "value", getattr(e, "code", "INVALID"))) for e in errors]
    return ",".join(dict.fromkeys(codes)) or "ok"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    filename = getattr(value, "filename", None)  # an upload: its name, never its content
    return f"<file {filename}>" if filename else f"<{type(value).__name__}>"


class AuditMutations(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context
        context = ctx.context
        principal = getattr(context, "principal", None)
        if ctx.operation_type is not OperationType.MUTATION or principal is None or ctx.graphql_document is None:
            return
        operation = operation_of(ctx.graphql_document, ctx.operation_name)
        if operation is None:
            return
        results: dict[str, Any] = getattr(context, "mutation_results", {})
        notes: dict[str, dict[str, Any]] = getattr(context, "audit", {})
        errors = (ctx.result.errors if ctx.result else None) or []
        failed_keys = {str(e.path[0]) for e in errors if e.path}
        ip = client_ip(context.request) if getattr(context, "request", None) is not None else ""
        for node in root_fields(ctx.graphql_document, operation.selection_set):
            name = node.name.value
            if name.startswith("__"):
                continue
            response_key = node.alias.value if node.alias else name
            arguments = {
                arg.name.value: value_from_ast_untyped(arg.value, ctx.variables) for arg in node.arguments or ()
            }
            payload = results.get(response_key)
            scrubbed = audit.scrub(_jsonable(arguments))
            text = json.dumps(scrubbed, default=str)
            detail: dict[str, Any] = {"arguments": scrubbed if len(text) <= MAX_INPUT_CHARS else {"truncated": True}}
            detail.update(notes.get(name, {}))
            await audit.record(
                principal.account_id,
                principal.actor,
                name,
                object_ids=[*_gids(arguments), *_payload_ids(payload)],
                outcome=_outcome(payload, response_key in failed_keys or (payload is None and bool(errors))),
                detail=detail,
                ip=ip,
            )
