"""Tortoise configuration: an embedded SQLite file by default, PostgreSQL when a URL says so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

APP_LABEL = "models"
MODELS_MODULE = "adapters.persistence.models"
MIGRATIONS_MODULE = "adapters.persistence.migrations"
SQLITE_FILENAME = "waybill.sqlite3"

#: Applied to every SQLite connection: WAL lets readers run beside the writer, busy_timeout makes a
#: second process wait for the write lock instead of failing at once, foreign keys are off by default.
SQLITE_PRAGMAS: dict[str, Any] = {
    "journal_mode": "WAL",
    "busy_timeout": 5000,
    "foreign_keys": "ON",
}

POSTGRES_SCHEMES = ("postgres", "postgresql", "asyncpg")


def is_postgres(database_url: str | None) -> bool:
    return bool(database_url) and str(database_url).split("://", 1)[0] in POSTGRES_SCHEMES


def database_config(database_url: str | None, data_dir: Path) -> dict[str, Any]:
    """The dict `Tortoise.init(config=...)` takes; creates `data_dir` for the embedded database."""
    return {
        "connections": {"default": _connection(database_url, data_dir)},
        "apps": {
            APP_LABEL: {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str | None, data_dir: Path) -> dict[str, Any]:
    if not database_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return _sqlite(data_dir / SQLITE_FILENAME)
    scheme = database_url.split("://", 1)[0]
    if scheme in POSTGRES_SCHEMES:
        expanded = expand_db_url(database_url)
        return {"engine": "tortoise.backends.asyncpg", "credentials": expanded["credentials"]}
    if scheme == "sqlite":
        path = Path(database_url.split("://", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        return _sqlite(path)
    raise ValueError(f"Unsupported DATABASE_URL scheme {scheme!r}: use postgres:// or leave it unset for SQLite")


def _sqlite(path: Path) -> dict[str, Any]:
    # Tortoise's SQLite client runs every credential other than file_path as `PRAGMA key=value`.
    # Tortoise's SQLite backend with BEGIN IMMEDIATE transactions: see adapters/persistence/sqlite_engine.
    return {"engine": "adapters.persistence.sqlite_engine", "credentials": {"file_path": str(path), **SQLITE_PRAGMAS}}


def __getattr__(name: str) -> Any:
    """`TORTOISE_ORM` for the tortoise CLI (`tortoise -c adapters.persistence.config.TORTOISE_ORM ...`).

    Computed on access, from the same environment as the app, so importing this module has no side effect.
    """
    if name == "TORTOISE_ORM":
        data_dir = Path(os.environ.get("WAYBILL_DATA_DIR", "./var")).resolve()
        return database_config(os.environ.get("DATABASE_URL") or None, data_dir)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
