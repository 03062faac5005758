"""A bug inside a resolver reaches the client as an id to quote, never as its message or trace."""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx
import pytest

from adapters.persistence.accounts import ApiPrincipal, create_account, create_api_key
from api.app import create_app
from api.context import Context
from api.loaders import Loaders
from api.schema import schema
from tests.conftest import Database
from tests.support import harness as support
from tests.support.servers import serve_app

pytestmark = pytest.mark.db


async def test_a_bug_is_masked_with_an_id_that_is_in_the_log(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    # A key whose account vanished: `viewer` hits DoesNotExist, an internal error.
    ghost = ApiPrincipal(account_id=424242, key_id=1, scopes=("admin",))
    context = Context(runtime=None, principal=ghost, loaders=Loaders(424242))  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="waybill.api.bugs"):
        result = await schema.execute("{ viewer { accountName } }", context_value=context)

    assert result.errors is not None
    (error,) = result.errors
    error_id = error.extensions["errorId"]  # type: ignore[index]
    assert error.message == f"Internal error (reference {error_id}); it has been logged."
    assert "DoesNotExist" not in error.message and "Account" not in error.message
    assert any(error_id in record.getMessage() and record.exc_info for record in caplog.records)


async def test_refusals_and_validation_errors_are_not_masked(db: Database) -> None:
    principal = ApiPrincipal(account_id=1, key_id=1, scopes=("admin",))
    context = Context(runtime=None, principal=principal, loaders=Loaders(1))  # type: ignore[arg-type]

    too_many = await schema.execute("{ orders(first: 1000) { edges { cursor } } }", context_value=context)
    assert too_many.errors is not None
    assert "first must be between 1 and 250" in too_many.errors[0].message

    unknown = await schema.execute("{ nope }", context_value=context)
    assert unknown.errors is not None and "nope" in unknown.errors[0].message


TYPOS = {
    "query": "{ ordrs(first: 1) { edges { cursor } } orders(frist: 1) { edges { cursor } } }",
}


async def messages_from(database: Database, environment: str) -> list[str]:
    settings = replace(support.test_settings(database.data_dir, database.url), environment=environment)
    async with serve_app(create_app(settings, embedded_worker=False)) as url, httpx.AsyncClient() as http:
        key = await create_api_key(await create_account(f"Typos {environment}"), "test", ["admin"])
        body = (await http.post(f"{url}/graphql", json=TYPOS, headers={"Authorization": f"Bearer {key}"})).json()
    return [error["message"] for error in body["errors"]]


@pytest.mark.queue
async def test_production_cuts_did_you_mean_suggestions_from_validation_errors(migrated_database: Database) -> None:
    development = await messages_from(migrated_database, "development")
    assert all("Did you mean" in message for message in development), development

    production = await messages_from(migrated_database, "production")
    assert sorted(production) == [
        "Cannot query field 'ordrs' on type 'Query'.",
        "Unknown argument 'frist' on field 'Query.orders'.",
    ], production

    # The same document again (a validation cache hit): the cached errors were copied, not cut.
    assert await messages_from(migrated_database, "development") == development
