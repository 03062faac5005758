"""Tortoise's SQLite backend, with write transactions that take the write lock when they begin.

A unit of work reads, then writes. With SQLite's default deferred `BEGIN`, a second process that
committed between our read and our first write makes SQLite refuse the write at once ("database is
locked"): `busy_timeout` cannot help a transaction that already holds a read snapshot. `BEGIN
IMMEDIATE` takes the write lock up front, so a second process waits (busy_timeout) instead of
failing. Found by the multi-process fault tests (tests/faults) on the embedded SQLite default.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class WaybillSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = WaybillSqliteClient
