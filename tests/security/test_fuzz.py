"""1,000+ generated operations over real HTTP against one production-mode app: valid and invalid
queries and mutations from the schema, random text, broken documents, wrong variable types.

None may answer 5xx or show a stack trace or a file path; a masked bug carries an id to quote.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries

from adapters.persistence.accounts import create_account, create_api_key
from api.app import create_app
from api.schema import schema
from tests.conftest import Database
from tests.support import harness as support
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

EXAMPLES = 1000
SCHEMA = schema._schema
#: Mutations that wait on a worker calling a platform or a carrier (up to 20 s each) are fuzzed invalid only.
SLOW = {"connectChannel", "reconnectChannel", "testChannelConnection", "buyLabel", "buyLabels", "cancelLabel"}
UPLOADS = {"importOrdersCsv"}  # needs a multipart request, not a JSON document
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "DateTime": st.sampled_from(["2026-01-01T00:00:00Z", "not a date", "2026-13-45T99:00:00"]).map(
        lambda v: graphql.StringValueNode(value=v)
    ),
    "JSON": st.just(graphql.StringValueNode(value="{}")),
    "Upload": st.just(graphql.NullValueNode()),
}
TRACE = re.compile(r"Traceback|File \"|\.py\b|/work/|site-packages|line \d+, in ")

valid_mutations = sorted(set(SCHEMA.mutation_type.fields) - SLOW - UPLOADS)  # type: ignore[union-attr]
valid_queries = sorted(set(SCHEMA.query_type.fields) - {"rates"})  # type: ignore[union-attr]


def documents() -> st.SearchStrategy[dict[str, Any]]:
    as_body = lambda query: {"query": query}  # noqa: E731
    positive = st.one_of(
        queries(SCHEMA, fields=valid_queries, custom_scalars=SCALARS),
        mutations(SCHEMA, fields=valid_mutations, custom_scalars=SCALARS),
    ).map(as_body)
    negative = st.one_of(
        queries(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
        mutations(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
    ).map(as_body)
    broken = st.tuples(queries(SCHEMA, fields=valid_queries, custom_scalars=SCALARS), st.integers(1, 200)).map(
        lambda pair: {"query": str(pair[0])[: pair[1]]}
    )
    noise = st.text(max_size=200).map(as_body)
    wrong_variables = st.fixed_dictionaries(
        {
            "query": st.just(
                "query($n: Int, $id: ID!) { orders(first: $n) { edges { cursor } } order(id: $id) { id } }"
            ),
            "variables": st.dictionaries(
                st.sampled_from(["n", "id", "other"]),
                st.one_of(st.text(max_size=20), st.integers(), st.none(), st.lists(st.integers(), max_size=3)),
            ),
        }
    )
    shapes = st.one_of(
        st.just({"query": None}),
        st.just({"query": 42}),
        st.just({"variables": "nope"}),
        st.builds(lambda q: {"query": "{ viewer { accountName } }", "operationName": q}, st.text(max_size=10)),
    )
    return st.one_of(positive, negative, broken, noise, wrong_variables, shapes)


@contextlib.asynccontextmanager
async def production_app(database: Database) -> AsyncIterator[tuple[str, str]]:
    settings_ = replace(
        support.test_settings(database.data_dir, database.url),
        environment="production",
        http_timeout_seconds=1,
        cost_bucket_capacity=1_000_000,  # the fuzzer is one key sending 1,000 requests: no throttling here
        cost_restore_rate=1_000_000,
    )
    async with serve_app(create_app(settings_)) as url:
        yield url, await create_api_key(await create_account("Fuzz"), "fuzz", ["admin"])


async def test_generated_operations_never_break_the_server_or_show_internals(migrated_database: Database) -> None:
    async with production_app(migrated_database) as (url, key):
        seen = {"count": 0, "masked": 0}

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(body=documents())
        def one(body: dict[str, Any]) -> None:
            response = client.post(f"{url}/graphql", json=body, headers={"Authorization": f"Bearer {key}"})
            seen["count"] += 1
            assert response.status_code < 500, (body, response.status_code, response.text)
            assert not TRACE.search(response.text), (body, response.text)
            if response.headers.get("content-type", "").startswith("application/json"):
                for error in response.json().get("errors") or [] if isinstance(response.json(), dict) else []:
                    if (error.get("extensions") or {}).get("code") == "INTERNAL_ERROR":
                        seen["masked"] += 1
                        assert re.fullmatch(r"[0-9a-f]{12}", error["extensions"]["errorId"]), error

        # Hypothesis drives a plain function: it runs in a thread while this loop serves the app.
        with httpx.Client(timeout=30) as client:
            await asyncio.to_thread(one)
        assert seen["count"] >= EXAMPLES
