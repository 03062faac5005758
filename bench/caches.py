"""Parse/validate cache: the same operation executed repeatedly, with the app's schema (ParserCache,
ValidationCache, depth and alias rules added once) and with the same schema minus the two caches.

Parsing and validation are counted by wrapping graphql-core's `Parser.parse_document` and the `validate`
strawberry calls, so "skipped" is a count, not an inference from timings. The operation is the query
benchmark's `orders(first: 100)`; it runs without a viewer, so execution stops at the permission check
and the timing is parse + validate + the extensions' bookkeeping, what the caches are for.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import strawberry
import strawberry.schema.schema as strawberry_schema
from graphql.language.parser import Parser
from strawberry.extensions import ParserCache, ValidationCache

from bench.query import ORDERS_QUERY


@dataclass
class CacheMeasure:
    operations: int
    cached_seconds: float
    uncached_seconds: float
    cached_parses: int
    cached_validations: int
    uncached_parses: int
    uncached_validations: int


@contextlib.contextmanager
def counting() -> Iterator[dict[str, int]]:
    counts = {"parse": 0, "validate": 0}
    parse_document, validate = Parser.parse_document, strawberry_schema.validate

    def counted_parse(self: Parser) -> Any:
        counts["parse"] += 1
        return parse_document(self)

    def counted_validate(*args: Any, **kwargs: Any) -> Any:
        counts["validate"] += 1
        return validate(*args, **kwargs)

    Parser.parse_document = counted_parse  # type: ignore[method-assign]
    strawberry_schema.validate = counted_validate  # type: ignore[assignment]
    try:
        yield counts
    finally:
        Parser.parse_document = parse_document  # type: ignore[method-assign]
        strawberry_schema.validate = validate


def _without_caches(schema: strawberry.Schema) -> strawberry.Schema:
    extensions = []
    for extension in schema.extensions:
        made = extension() if callable(extension) and not isinstance(extension, type) else extension
        if isinstance(made, ParserCache | ValidationCache):
            continue
        extensions.append(extension)
    return strawberry.Schema(
        query=schema.query,  # type: ignore[arg-type]
        mutation=schema.mutation,  # type: ignore[arg-type]
        subscription=schema.subscription,  # type: ignore[arg-type]
        extensions=extensions,
        config=schema.config,
    )


async def _run(schema: strawberry.Schema, operations: int) -> tuple[float, dict[str, int]]:
    variables = {"first": 100}
    for name in ("strawberry.execution", "waybill.api.bugs"):  # each run ends at the missing viewer
        logging.getLogger(name).setLevel(logging.CRITICAL)
    await schema.execute(ORDERS_QUERY, variable_values=variables)  # warm: the first parse/validate fills the caches
    with counting() as counts:
        started = time.perf_counter()
        for _ in range(operations):
            await schema.execute(ORDERS_QUERY, variable_values=variables)
        return time.perf_counter() - started, dict(counts)


async def measure_caches(operations: int = 300) -> CacheMeasure:
    from api.schema import schema

    cached_s, cached = await _run(schema, operations)
    uncached_s, uncached = await _run(_without_caches(schema), operations)
    return CacheMeasure(
        operations=operations,
        cached_seconds=cached_s,
        uncached_seconds=uncached_s,
        cached_parses=cached["parse"],
        cached_validations=cached["validate"],
        uncached_parses=uncached["parse"],
        uncached_validations=uncached["validate"],
    )


def rows(measure: CacheMeasure) -> list[str]:
    n = measure.operations
    per = 1e6 / n
    return [
        f"| Parse/validate cache (`orders(first: 100)` x {n}, same run) | With the caches (the app) "
        "| Same schema without ParserCache/ValidationCache | Ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| time per operation (parse + validate + extensions, no execution) | {measure.cached_seconds * per:.0f} us "
        f"| {measure.uncached_seconds * per:.0f} us | {measure.uncached_seconds / measure.cached_seconds:.1f}x faster |",
        f"| documents parsed | {measure.cached_parses} | {measure.uncached_parses} | - |",
        f"| validations run (depth + alias rules on) | {measure.cached_validations} "
        f"| {measure.uncached_validations} | - |",
    ]
