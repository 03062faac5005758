"""schema.graphql is what clients read: it must match the code, and everything in it must say what it is."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    introspection_types,
    specified_scalar_types,
)
from strawberry.printer import print_schema

from api.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def exported_schema() -> str:
    """Exactly what `make schema` (strawberry export-schema --output) writes: the printed schema plus a newline."""
    return print_schema(schema) + "\n"


def documented_types() -> list[GraphQLNamedType]:
    """Our own types: graphql's introspection types and the built-in scalars document themselves."""
    return [
        named
        for name, named in sorted(schema._schema.type_map.items())
        if name not in introspection_types and name not in specified_scalar_types and not name.startswith("__")
    ]


def test_schema_file_matches_the_code() -> None:
    on_disk = SCHEMA_FILE.read_text(encoding="utf-8")
    expected = exported_schema()
    if on_disk != expected:
        diff = "".join(
            difflib.unified_diff(
                on_disk.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                fromfile="schema.graphql",
                tofile="exported from api.schema:schema",
                n=1,
            )
        )
        pytest.fail(f"schema.graphql is stale: run `make schema` and commit the result.\n{diff[:4000]}")


def test_the_walk_below_sees_the_whole_api() -> None:
    """Guards the description checks: they would pass vacuously if the type map were not what we think."""
    names = {named.name for named in documented_types()}
    assert {"Query", "Mutation", "Order", "OrderLine", "Address", "Shipment", "Channel", "OrderStatus"} <= names
    assert not names & {"String", "Int", "Boolean", "ID", "Float", "__Type", "__Schema"}


@pytest.mark.parametrize(
    "named",
    [pytest.param(named, id=named.name) for named in documented_types()],
)
def test_every_type_has_a_description(named: GraphQLNamedType) -> None:
    assert (named.description or "").strip(), f"type {named.name} has no description"


FieldedType = GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType


@pytest.mark.parametrize(
    "named", [pytest.param(named, id=named.name) for named in documented_types() if isinstance(named, FieldedType)]
)
def test_every_field_has_a_description(named: FieldedType) -> None:
    assert named.fields, f"{named.name} has no fields"
    undocumented = [name for name, field in named.fields.items() if not (field.description or "").strip()]
    assert not undocumented, f"fields of {named.name} without a description: {undocumented}"
