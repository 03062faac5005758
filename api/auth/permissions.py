"""Which scope each query and subscription needs, checked in one place before anything resolves.

Reads need `read_orders` unless listed in ROOT_FIELD_SCOPES; mutations check their own scope in the
resolver (`Context.require`) and answer with a FORBIDDEN user error. A read without its scope gets a
top-level error `{extensions: {code: "FORBIDDEN", scope: "<the missing scope>"}}` and no data at all,
so a partial answer never leaks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from adapters.persistence.accounts import covers

READ_SCOPE = "read_orders"
#: Root fields of Query and Subscription whose scope is not `read_orders`; None: any authenticated caller.
ROOT_FIELD_SCOPES: dict[str, str | None] = {
    "__typename": None,
    "__schema": None,
    "__type": None,
    "viewer": None,
    "apiKeys": "admin",
    "users": "admin",
    "auditLog": "admin",
}


def forbidden(scope: str, principal: Any) -> GraphQLError:
    who = "Your role" if getattr(principal, "user_id", None) is not None else "This API key"
    return GraphQLError(f"{who} does not have the {scope} scope", extensions={"code": "FORBIDDEN", "scope": scope})


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def root_fields(document: DocumentNode, selection_set: SelectionSetNode) -> Iterator[FieldNode]:
    """The root fields an operation selects, through fragments."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    stack = [selection_set]
    seen: set[str] = set()
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    stack.append(fragment.selection_set)


def missing_scope(document: DocumentNode, operation: OperationDefinitionNode, held: tuple[str, ...]) -> str | None:
    for node in root_fields(document, operation.selection_set):
        scope = ROOT_FIELD_SCOPES.get(node.name.value, READ_SCOPE)
        if scope is not None and not covers(held, [scope]):
            return scope
    return None


class ScopeGate(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        error = self._refusal()
        if error is not None:
            if ctx.operation_type is OperationType.SUBSCRIPTION:
                raise error
            ctx.result = ExecutionResult(data=None, errors=[error])
        yield

    def _refusal(self) -> GraphQLError | None:
        ctx = self.execution_context
        if ctx.operation_type is OperationType.MUTATION or ctx.graphql_document is None:
            return None
        operation = operation_of(ctx.graphql_document, ctx.operation_name)
        principal = getattr(ctx.context, "principal", None)
        if operation is None or principal is None:
            return None  # graphql-core reports a missing operation; no principal never gets past the gate
        scope = missing_scope(ctx.graphql_document, operation, principal.scopes)
        return forbidden(scope, principal) if scope else None
