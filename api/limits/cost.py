"""Static query cost on a validated document, Shopify's model; and the actual cost from the result.

Scalars and enums cost 0, every object field 1, a top-level mutation field 10. A field with a
`first` argument multiplies the cost of the list it returns (its own list, or the `edges` and the
`nodes` of its connection) by the page size asked for, read from the coerced arguments (so
`first: $n` with `{"n": 250.0}` counts 250, as graphql-core runs it); the connection's `edges`
wrapper itself is free. A list without a page argument (`Order.lines`, `Order.shipments`,
`Shipment.trackingEvents`, `apiKeys`, `users`, `userErrors`...) counts UNPAGED_LIST_ITEMS items:
3, so that `orders(first: 100)` with lines, address and shipments (802) stays under the 1000
single-query maximum. The actual cost walks the same selections over the returned data, so lists
count what came back (introspection excepted: it is priced as requested), and an answer costing
more than was asked is charged the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
)
from graphql.error import GraphQLError
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

OBJECT_COST = 1
MUTATION_COST = 10
#: A `first` left out: the resolver's default page (50 for orders; syncRuns and shipments declare theirs).
DEFAULT_FIRST = 50
#: Items a list without a page argument is priced at (actual costs count what really came back).
UNPAGED_LIST_ITEMS = 3


def find_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((op for op in operations if op.name and op.name.value == operation_name), None)
    return operations[0] if len(operations) == 1 else None


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.variables = dict(variables or {})
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)
        # The values graphql-core will run with (250.0 for an Int is 250); None when they do not coerce
        # (execution refuses them then, and the untyped values above are the fallback).
        coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables or {}))
        self.coerced: VariableValues | None = coerced if isinstance(coerced, VariableValues) else None

    def root(self) -> GraphQLObjectType | None:
        return self.schema.get_root_type(self.operation.operation)

    def fields(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, seen: frozenset[str]
    ) -> list[tuple[FieldNode, GraphQLNamedType]]:
        """The fields of a selection set with the type they are looked up on (fragments flattened)."""
        found: list[tuple[FieldNode, GraphQLNamedType]] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                found.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                on = self.schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
                found.extend(self.fields(selection.selection_set, on or parent, seen))
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    on = self.schema.get_type(fragment.type_condition.name.value) or parent
                    found.extend(self.fields(fragment.selection_set, on, seen | {selection.name.value}))
        return found

    def page(self, field: FieldNode, field_def: Any, default: int) -> int:
        value: Any = None
        if self.coerced is not None:
            try:
                value = get_argument_values(field_def, field, self.coerced).get("first")
            except GraphQLError:  # an argument that does not coerce: execution refuses it
                value = None
        else:
            for argument in field.arguments or ():
                if argument.name.value == "first":
                    value = value_from_ast_untyped(argument.value, self.variables)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

    def cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        data: Any = None,
        measured: bool = False,
        pending_page: int | None = None,
        seen: frozenset[str] = frozenset(),
    ) -> int:
        total = 0
        is_root_mutation = parent is self.schema.mutation_type
        for field, on in self.fields(selection_set, parent, seen):
            name = field.name.value
            if name.startswith("__") and name != "__schema" and name != "__type":
                continue
            field_def = getattr(on, "fields", {}).get(name) if name not in ("__schema", "__type") else None
            if name == "__schema":
                field_type: Any = self.schema.get_type("__Schema")
                wrapped: Any = field_type
            elif name == "__type":
                field_type = self.schema.get_type("__Type")
                wrapped = field_type
            elif field_def is None:
                continue
            else:
                wrapped = get_nullable_type(field_def.type)
                field_type = get_named_type(field_def.type)
            if not hasattr(field_type, "fields"):  # scalar or enum (unions have no fields of their own either)
                if not field.selection_set:
                    continue
            key = field.alias.value if field.alias else name
            in_connection = on.name.endswith("Connection")
            connection_plumbing = name == "edges" and in_connection
            paged_by_connection = name in ("edges", "nodes") and in_connection
            base = MUTATION_COST if is_root_mutation else (0 if connection_plumbing else OBJECT_COST)
            has_first = field_def is not None and "first" in field_def.args
            page: int | None = None
            if has_first:
                declared = field_def.args["first"].default_value if field_def is not None else None
                page = self.page(field, field_def, declared if isinstance(declared, int) else DEFAULT_FIRST)
            elif paged_by_connection:
                page = pending_page
            is_list = isinstance(wrapped, GraphQLList)
            if is_list and page is None:
                page = UNPAGED_LIST_ITEMS
            # A list of objects costs 1 per item (the connection's edges are free: their node is the item).
            per_item = 0 if (connection_plumbing or not hasattr(field_type, "fields")) else OBJECT_COST
            if is_list:
                base = MUTATION_COST if is_root_mutation else 0
            if measured and name in ("__schema", "__type"):
                # Introspection is priced as requested: a schema's size is not the client's doing.
                total += base + self.cost(field.selection_set, field_type, None, False, None, seen)
                continue
            if measured:
                value = data.get(key) if isinstance(data, dict) else None
                if value is None and not is_root_mutation:
                    continue
                total += base
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if isinstance(item, dict):
                        extra = per_item if is_list else 0
                        total += extra + self.cost(field.selection_set, field_type, item, True, None, seen)
                continue
            child_page = page if (has_first and not is_list) else None
            children = self.cost(field.selection_set, field_type, None, False, child_page, seen)
            if is_list:
                total += base + (page or UNPAGED_LIST_ITEMS) * (per_item + children)
            else:
                total += base + children
        return total


def requested_cost(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int | None:
    """The most this operation can cost; None when the document names no single operation."""
    operation = find_operation(document, operation_name)
    if operation is None:
        return None
    walker = _Walker(schema, document, operation, variables or {})
    root = walker.root()
    return walker.cost(operation.selection_set, root) if root is not None else None


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    data: Any,
) -> int | None:
    """What the answer really held: lists count the items returned, missing objects nothing."""
    operation = find_operation(document, operation_name)
    if operation is None or not isinstance(data, dict):
        return None
    walker = _Walker(schema, document, operation, variables or {})
    root = walker.root()
    return walker.cost(operation.selection_set, root, data, True) if root is not None else None


def is_subscription(document: DocumentNode, operation_name: str | None) -> bool:
    operation = find_operation(document, operation_name)
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION
