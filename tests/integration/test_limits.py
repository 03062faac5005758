"""GraphQL limits over real HTTP: query cost, the per-key leaky bucket, page sizes, batches, introspection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from adapters.persistence.accounts import create_account, create_api_key
from api.app import create_app
from api.limits.batch import MAX_BATCH_OPERATIONS
from api.limits.extension import MAX_QUERY_COST
from tests.conftest import Database
from tests.support import harness as support
from tests.support.harness import Harness
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

ORDERS = "query($n: Int) { orders(first: $n) { edges { node { id number } } pageInfo { hasNextPage } } }"


async def post(harness: Harness, body: Any, key: str | None = None) -> httpx.Response:
    return await harness.http.post(
        f"{harness.base_url}/graphql", json=body, headers={"Authorization": f"Bearer {key or harness.api_key}"}
    )


async def test_every_response_carries_its_cost_and_the_bucket(waybill: Harness) -> None:
    body = (await post(waybill, {"query": ORDERS, "variables": {"n": 10}})).json()

    cost = body["extensions"]["cost"]
    # orders 1 + 10 nodes + pageInfo 1; nothing came back, so the actual cost is the two objects.
    assert cost["requestedQueryCost"] == 12
    assert cost["actualQueryCost"] == 2
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 1000 and status["restoreRate"] == 50
    assert 988 <= status["currentlyAvailable"] <= 1000


async def test_a_query_over_the_maximum_cost_is_refused_before_it_runs(waybill: Harness) -> None:
    # orders 1 + 125 x (node 1 + lines 3 + shipments 3 + channel 1): unpaged lists count 3 items.
    query = "{ orders(first: 125) { edges { node { id lines { id } shipments { id } channel { id } } } } }"
    body = (await post(waybill, {"query": query})).json()

    (error,) = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] == 1001 and error["extensions"]["maximumCost"] == MAX_QUERY_COST
    assert "1001" in error["message"] and body["data"] is None


@pytest.mark.parametrize(
    "query",
    [
        "{ orders(first: 251) { edges { cursor } } }",
        "{ syncRuns(first: 251) { id } }",
        "{ shipments(first: 0) { id } }",
    ],
    ids=["orders", "syncRuns", "shipments"],
)
async def test_every_page_size_is_capped_at_250_with_an_error_naming_first(waybill: Harness, query: str) -> None:
    body = (await post(waybill, {"query": query})).json()

    assert body["errors"][0]["message"] == "first must be between 1 and 250", body


async def test_a_batch_is_limited_and_the_refusal_names_the_limit(waybill: Harness) -> None:
    small = await post(waybill, [{"query": "{ viewer { accountName } }"}] * 2)
    assert small.status_code == 200
    assert [item["data"]["viewer"]["accountName"] for item in small.json()] == ["Test shop"] * 2

    big = await post(waybill, [{"query": "{ viewer { accountName } }"}] * (MAX_BATCH_OPERATIONS + 1))
    assert big.status_code == 400
    assert f"at most {MAX_BATCH_OPERATIONS} operations" in big.text


@contextlib.asynccontextmanager
async def app_with(database: Database, **overrides: Any) -> AsyncIterator[tuple[str, str, httpx.AsyncClient]]:
    """A Waybill with some settings changed (no worker: these tests only talk to the API)."""
    settings = replace(support.test_settings(database.data_dir, database.url), **overrides)
    async with serve_app(create_app(settings, embedded_worker=False)) as base_url, httpx.AsyncClient() as http:
        key = await create_api_key(await create_account("Limits"), "test", ["admin"])
        yield base_url, key, http


SKIP = 'mutation { skipShipping(input: {orderId: "gid://waybill/Order/999999"}) { userErrors { code } } }'


async def test_a_key_that_spent_its_bucket_is_throttled_with_the_time_to_wait(migrated_database: Database) -> None:
    async with app_with(migrated_database, cost_bucket_capacity=30, cost_restore_rate=0.5) as (url, key, http):
        other = await create_api_key(await create_account("Neighbour"), "test", ["admin"])

        async def ask(with_key: str) -> httpx.Response:
            return await http.post(
                f"{url}/graphql", json={"query": SKIP}, headers={"Authorization": f"Bearer {with_key}"}
            )

        # A mutation costs 10, its userErrors list 1 per item (3 asked for, unpaged): 13 requested, 11 used.
        for _ in range(2):
            body = (await ask(key)).json()
            assert body["data"]["skipShipping"]["userErrors"][0]["code"] == "NOT_FOUND", body
            assert body["extensions"]["cost"]["actualQueryCost"] == 11
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 11

        throttled = await ask(key)
        body = throttled.json()
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "THROTTLED", body
        wait = error["extensions"]["retryAfterSeconds"]
        available = body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
        assert available < 13 and 0 < wait <= (13 - available) / 0.5 + 0.1
        assert "Retry in" in error["message"] and body["data"] is None
        assert throttled.status_code == 200 and int(throttled.headers["retry-after"]) >= 1

        # The bucket is per key: another key is not throttled by this one.
        assert "errors" not in (await ask(other)).json()


async def test_production_switches_introspection_and_graphiql_off(migrated_database: Database) -> None:
    async with app_with(migrated_database, environment="production") as (url, key, http):
        auth = {"Authorization": f"Bearer {key}"}
        body = (
            await http.post(f"{url}/graphql", json={"query": "{ __schema { types { name } } }"}, headers=auth)
        ).json()
        assert "introspection" in body["errors"][0]["message"].lower()
        page = await http.get(f"{url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 401  # no GraphiQL page to serve: a GET is just an unauthenticated query
        ok = (await http.post(f"{url}/graphql", json={"query": "{ viewer { accountName } }"}, headers=auth)).json()
        assert ok["data"]["viewer"]["accountName"] == "Limits"

    async with app_with(migrated_database, environment="production", introspection=True) as (url, key, http):
        auth = {"Authorization": f"Bearer {key}"}
        body = (
            await http.post(f"{url}/graphql", json={"query": "{ __schema { queryType { name } } }"}, headers=auth)
        ).json()
        assert body["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        # nodes is priced like edges: a page of 250 orders costs 250 items, not one.
        ("{ orders(first: 250) { nodes { id lines { id } } } }", {}, 1 + 250 * (1 + 3)),
        ("query($n: Int) { orders(first: $n) { nodes { id } } }", {"n": 10}, 1 + 10),
        # A whole float is an Int to graphql-core: the cost reads the coerced page size.
        ("query($n: Int) { orders(first: $n) { edges { node { id } } } }", {"n": 250.0}, 1 + 250),
        # Lists without a page argument count 3 items each, nested ones multiply.
        (
            "{ orders(first: 10) { edges { node { lines { id } shipments { id trackingEvents { status } } } } } }",
            {},
            1 + 10 * (1 + 3 + 3 * (1 + 3)),
        ),
        ("{ apiKeys { id } users { id } }", {}, 3 + 3),
    ],
    ids=["nodes", "nodes-variable", "float-first", "unpaged-lists", "top-level-lists"],
)
async def test_every_list_is_priced_by_its_page_or_a_fixed_size(
    waybill: Harness, query: str, variables: dict[str, Any], expected: int
) -> None:
    body = (await post(waybill, {"query": query, "variables": variables})).json()

    if expected > MAX_QUERY_COST:
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "MAX_COST_EXCEEDED" and error["extensions"]["cost"] == expected
    else:
        assert body["extensions"]["cost"]["requestedQueryCost"] == expected, body


async def test_an_answer_costing_more_than_requested_is_charged_the_difference(migrated_database: Database) -> None:
    settings = replace(
        support.test_settings(migrated_database.data_dir, migrated_database.url), cost_restore_rate=0.001
    )
    async with serve_app(create_app(settings, embedded_worker=False)) as url, httpx.AsyncClient() as http:
        account_id = await create_account("Many keys")
        key = await create_api_key(account_id, "test", ["admin"])
        for n in range(5):
            await create_api_key(account_id, f"extra {n}", ["read_orders"])
        auth = {"Authorization": f"Bearer {key}"}
        body = (await http.post(f"{url}/graphql", json={"query": "{ apiKeys { id } }"}, headers=auth)).json()

    cost = body["extensions"]["cost"]
    assert len(body["data"]["apiKeys"]) == 6, body
    assert cost["requestedQueryCost"] == 3 and cost["actualQueryCost"] == 6
    # Charged 3 up front and the 3 more the answer held: the bucket is down by 6, not 3.
    assert cost["throttleStatus"]["currentlyAvailable"] == 1000 - 6
