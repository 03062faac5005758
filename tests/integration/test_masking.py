"""A bug inside a resolver reaches the client as an id to quote, never as its message or trace."""

from __future__ import annotations

import logging

import pytest

from adapters.persistence.accounts import ApiPrincipal
from api.context import Context
from api.loaders import Loaders
from api.schema import schema
from tests.conftest import Database

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
