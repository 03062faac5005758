"""The raw-insert baseline: the same order and line rows, written with plain executemany, page by page.

Same pages as the sync (250 orders, one transaction each), same schema (a copy of the migrated one),
same pragmas; ids are learned with one SELECT per page, as a careful bulk importer would.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from adapters.persistence.config import SQLITE_PRAGMAS

PAGE = 250


def sqlite_snapshot(database: Path, target: Path) -> None:
    """A consistent copy of the database as it is now (schema, account, channel), while the app holds it open."""
    source = sqlite3.connect(database)
    try:
        source.execute("VACUUM INTO ?", (str(target),))
    finally:
        source.close()


def _chunks(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def sqlite_insert(source: Path, snapshot: Path, scratch: Path, *, with_events: bool) -> float:
    """Seconds to write the rows `source` holds into a fresh copy of `snapshot`."""
    shutil.copyfile(snapshot, scratch)
    src = sqlite3.connect(source)
    try:
        orders = src.execute("SELECT * FROM orders ORDER BY id").fetchall()
        order_cols = [d[0] for d in src.execute("SELECT * FROM orders LIMIT 0").description]
        lines = src.execute("SELECT * FROM order_lines ORDER BY id").fetchall()
        line_cols = [d[0] for d in src.execute("SELECT * FROM order_lines LIMIT 0").description]
        events = src.execute("SELECT * FROM events WHERE type = 'ORDER_IMPORTED' ORDER BY id").fetchall()
        event_cols = [d[0] for d in src.execute("SELECT * FROM events LIMIT 0").description]
    finally:
        src.close()
    o_id, o_ext, o_chan = (order_cols.index(name) for name in ("id", "external_id", "channel_id"))
    l_order = line_cols.index("order_id")
    e_order = event_cols.index("order_id")
    lines_of: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for line in lines:
        lines_of[line[l_order]].append(line)
    events_of: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for event in events:
        events_of[event[e_order]].append(event)
    o_keep = [i for i, name in enumerate(order_cols) if name != "id"]
    l_keep = [i for i, name in enumerate(line_cols) if name not in ("id", "order_id")]
    e_keep = [i for i, name in enumerate(event_cols) if name not in ("id", "order_id")]
    insert_order = _insert("orders", [order_cols[i] for i in o_keep])
    insert_line = _insert("order_lines", ["order_id", *(line_cols[i] for i in l_keep)])
    insert_event = _insert("events", ["order_id", *(event_cols[i] for i in e_keep)])

    dst = sqlite3.connect(scratch, isolation_level=None)
    try:
        for pragma, value in {**SQLITE_PRAGMAS, "journal_size_limit": 16384}.items():
            dst.execute(f"PRAGMA {pragma}={value}")
        started = time.perf_counter()
        for page in _chunks(orders, PAGE):
            dst.execute("BEGIN")
            dst.executemany(insert_order, [tuple(row[i] for i in o_keep) for row in page])
            marks = ",".join("?" * len(page))
            new_ids = dict(
                dst.execute(
                    f"SELECT external_id, id FROM orders WHERE channel_id = ? AND external_id IN ({marks})",
                    (page[0][o_chan], *(row[o_ext] for row in page)),
                ).fetchall()
            )
            dst.executemany(
                insert_line,
                [(new_ids[row[o_ext]], *(line[i] for i in l_keep)) for row in page for line in lines_of[row[o_id]]],
            )
            if with_events:
                dst.executemany(
                    insert_event,
                    [
                        (new_ids[row[o_ext]], *(event[i] for i in e_keep))
                        for row in page
                        for event in events_of[row[o_id]]
                    ],
                )
            dst.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        dst.close()


def _insert(table: str, columns: Sequence[str], *, numbered: bool = False) -> str:
    """INSERT with ? (sqlite3) or $1, $2... (asyncpg) placeholders."""
    marks = ", ".join(f"${i + 1}" if numbered else "?" for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


async def postgres_insert(url: str, *, with_events: bool) -> float:
    """The same, on PostgreSQL, with COPY (`copy_records_to_table`) into empty LIKE-copies of the tables
    (indexes and defaults, no foreign keys); ids of a page's orders learned with one SELECT."""
    conn = await asyncpg.connect(url)
    try:
        for table in ("orders", "order_lines", "events"):
            await conn.execute(f"DROP TABLE IF EXISTS bench_{table}")
            await conn.execute(f"CREATE TABLE bench_{table} (LIKE {table} INCLUDING ALL)")
        orders = await conn.fetch("SELECT * FROM orders ORDER BY id")
        lines = await conn.fetch("SELECT * FROM order_lines ORDER BY id")
        events = await conn.fetch("SELECT * FROM events WHERE type = 'ORDER_IMPORTED' ORDER BY id")
        if not orders:
            return float("nan")
        o_cols = [c for c in orders[0].keys() if c != "id"]
        l_cols = [c for c in (lines[0].keys() if lines else []) if c not in ("id", "order_id")]
        e_cols = [c for c in (events[0].keys() if events else []) if c not in ("id", "order_id")]
        lines_of: dict[int, list[Any]] = defaultdict(list)
        for line in lines:
            lines_of[line["order_id"]].append(line)
        events_of: dict[int, list[Any]] = defaultdict(list)
        for event in events:
            events_of[event["order_id"]].append(event)
        started = time.perf_counter()
        for page in _chunks(orders, PAGE):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "bench_orders", records=[tuple(row[c] for c in o_cols) for row in page], columns=o_cols
                )
                found = await conn.fetch(
                    "SELECT external_id, id FROM bench_orders WHERE channel_id = $1 AND external_id = ANY($2::text[])",
                    page[0]["channel_id"],
                    [row["external_id"] for row in page],
                )
                new_ids = {r["external_id"]: r["id"] for r in found}
                await conn.copy_records_to_table(
                    "bench_order_lines",
                    records=[
                        (new_ids[row["external_id"]], *(line[c] for c in l_cols))
                        for row in page
                        for line in lines_of[row["id"]]
                    ],
                    columns=["order_id", *l_cols],
                )
                if with_events:
                    await conn.copy_records_to_table(
                        "bench_events",
                        records=[
                            (new_ids[row["external_id"]], *(event[c] for c in e_cols))
                            for row in page
                            for event in events_of[row["id"]]
                        ],
                        columns=["order_id", *e_cols],
                    )
        return time.perf_counter() - started
    finally:
        for table in ("orders", "order_lines", "events"):
            await conn.execute(f"DROP TABLE IF EXISTS bench_{table}")
        await conn.close()
