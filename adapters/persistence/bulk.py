"""Multi-row `INSERT ... RETURNING` through a tortoise connection: one statement per chunk of rows.

The ORM's `create` is one round trip, one model instance and one pypika build per row; an import page
of 250 orders, their lines and their events is a few statements here. Values go through each field's
`to_db_value` (JSON encoding, length checks), Python-side defaults are filled in like the ORM does, and
timestamps declared `auto_now`/`auto_now_add` are set to one `now` for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import BigIntField, CharField, DatetimeField, Field, IntField, JSONField, SmallIntField
from tortoise.models import Model

#: Bound parameters per statement: well under SQLite's 32,766 and PostgreSQL's 32,767.
MAX_PARAMETERS = 16_000

_Convert = Callable[[Any], Any]
_Column = tuple[str, str, Field[Any], _Convert]  # field name, column, field, Python -> database value
_columns_cache: dict[type[Model], list[_Column]] = {}
_sql_cache: dict[tuple[str, str, int, tuple[str, ...]], str] = {}


def _converter(field: Field[Any]) -> _Convert:
    """`field.to_db_value`, skipped for the values it would pass through unchanged (a str within the
    length, an int; a dict or list for JSON is just encoded): a too-long value still fails, naming the field."""
    slow = field.to_db_value
    if isinstance(field, CharField):
        limit = field.max_length

        def text(value: Any) -> Any:
            if value is None or (type(value) is str and len(value) <= limit):
                return value
            return slow(value, None)  # type: ignore[arg-type]

        return text
    if isinstance(field, IntField | SmallIntField | BigIntField):

        def number(value: Any) -> Any:
            return value if value is None or type(value) is int else slow(value, None)  # type: ignore[arg-type]

        return number
    if isinstance(field, JSONField) and not field.validators:
        encode = field.encoder

        def document(value: Any) -> Any:
            if value is None or isinstance(value, str | bytes):
                return slow(value, None)  # type: ignore[arg-type]
            return encode(value)

        return document
    return lambda value: slow(value, None)  # type: ignore[arg-type]


def _columns(model: type[Model]) -> list[_Column]:
    columns = _columns_cache.get(model)
    if columns is None:
        meta = model._meta
        columns = [
            (name, column, meta.fields_map[name], _converter(meta.fields_map[name]))
            for name, column in meta.fields_db_projection.items()
            if not (name == meta.pk_attr and meta.pk.generated)
        ]
        _columns_cache[model] = columns
    return columns


_Getter = Callable[[dict[str, Any]], Any]


def _getter(column: _Column, now: datetime) -> _Getter:
    """row -> database value of one column, with the ORM's defaults for a value the row does not give."""
    name, _, field, convert = column
    if isinstance(field, DatetimeField):
        if field.auto_now or field.auto_now_add:
            return lambda row: row.get(name) or now
        return lambda row: row.get(name)
    default = field.default
    if callable(default):
        return lambda row: convert(row[name] if name in row else default())
    return lambda row: convert(row.get(name, default))


def _sql(db: BaseDBAsyncClient, table: str, columns: Sequence[str], rows: int, returning: Sequence[str]) -> str:
    postgres = db.capabilities.dialect != "sqlite"
    key = (db.capabilities.dialect, table, rows, (*columns, "|", *returning))
    sql = _sql_cache.get(key)
    if sql is None:
        width = len(columns)
        if postgres:
            groups = ("(" + ",".join(f"${row * width + i + 1}" for i in range(width)) + ")" for row in range(rows))
        else:
            one = "(" + ",".join("?" * width) + ")"
            groups = (one for _ in range(rows))
        quoted = ",".join(f'"{column}"' for column in columns)
        sql = f'INSERT INTO "{table}" ({quoted}) VALUES {",".join(groups)}'
        if returning:
            sql += " RETURNING " + ",".join(f'"{column}"' for column in returning)
        _sql_cache[key] = sql
    return sql


async def insert_rows(
    db: BaseDBAsyncClient,
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str] = ("id",),
    *,
    now: datetime | None = None,
) -> list[tuple[Any, ...]]:
    """Inserts `rows` (dicts of field name -> Python value) and returns the `returning` columns of each,
    converted to Python values, in the order the rows were given. IntegrityError propagates (tortoise's)."""
    if not rows:
        return []
    now = now or datetime.now(UTC)
    columns = _columns(model)
    names = [column[1] for column in columns]
    getters = [_getter(column, now) for column in columns]
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    meta = model._meta
    back: list[Callable[[Any], Any]] = [
        meta.fields_map[meta.fields_db_projection_reverse[column]].to_python_value for column in returning
    ]
    table = meta.db_table
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values: list[Any] = []
        for row in chunk:
            values.extend([get(row) for get in getters])
        sql = _sql(db, table, names, len(chunk), returning)
        if not returning:
            await db.execute_query(sql, values)
            continue
        # execute_query_dict fetches on every backend: tortoise's asyncpg execute_query runs an INSERT
        # with `execute()`, which drops the RETURNING rows.
        result = await db.execute_query_dict(sql, values)
        if len(result) != len(chunk):
            raise RuntimeError(f"INSERT INTO {table} returned {len(result)} rows for {len(chunk)}")
        out.extend(
            tuple(convert(record[name]) for name, convert in zip(returning, back, strict=True)) for record in result
        )
    return out
