"""The query baseline: a plain Starlette endpoint answering the same JSON as `orders(first: N)`.

Same auth check (prefix lookup + SHA-256 compare), same ordering, same three reads (orders, their lines,
their shipments), straight SQL on one connection (sqlite3, or asyncpg on PostgreSQL), no ORM, no GraphQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.addresses import FIELD_NAMES

ORDER_SQL = (
    "SELECT id, number, status, status_rank, channel_created_at, customer_name, customer_email, currency, total,"
    " shipping_address FROM orders WHERE account_id = {0} ORDER BY status_rank ASC, channel_created_at DESC, id DESC"
    " LIMIT {1}"
)
LINE_SQL = (
    "SELECT id, order_id, sku, title, quantity, quantity_shipped, unit_price FROM order_lines"
    " WHERE order_id IN ({0}) ORDER BY order_id, position, id"
)
SHIPMENT_SQL = (
    "SELECT id, order_id, status, carrier, service, tracking_number FROM shipments"
    " WHERE order_id IN ({0}) AND account_id = {1} ORDER BY id"
)
KEY_SQL = "SELECT account_id, secret_hash, revoked_at FROM api_keys WHERE prefix = {0}"
#: The same field names as the GraphQL Address type.
ADDRESS_KEYS = FIELD_NAMES


class Reader(Protocol):
    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]: ...
    def marks(self, start: int, count: int) -> str: ...
    async def close(self) -> None: ...


class SqliteReader:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False)

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        return self.conn.execute(sql, tuple(args)).fetchall()

    def marks(self, start: int, count: int) -> str:
        return ", ".join("?" * count)

    async def close(self) -> None:
        self.conn.close()


class PostgresReader:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> PostgresReader:
        return cls(await asyncpg.connect(url))

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        return list(await self.conn.fetch(sql, *args))

    def marks(self, start: int, count: int) -> str:
        return ", ".join(f"${start + i}" for i in range(count))

    async def close(self) -> None:
        await self.conn.close()


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _cursor(rank: int, created: Any, pk: int) -> str:
    raw = json.dumps([rank, _time(created).isoformat(), pk])
    return base64.urlsafe_b64encode(raw.encode()).decode()


async def _account(reader: Reader, authorization: str | None) -> int | None:
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    key = authorization[7:].strip()
    if not key.startswith("wb_live_") or key.count("_") < 3:
        return None
    prefix = key[len("wb_live_") :].split("_", 1)[0]
    rows = await reader.fetch(KEY_SQL.format(reader.marks(1, 1)), [prefix])
    if not rows or rows[0][2] is not None:
        return None
    digest = hashlib.sha256(key.encode()).hexdigest()
    return int(rows[0][0]) if hmac.compare_digest(str(rows[0][1]), digest) else None


async def orders_page(reader: Reader, account_id: int, first: int) -> dict[str, Any]:
    rows = await reader.fetch(ORDER_SQL.format(reader.marks(1, 1), reader.marks(2, 1)), [account_id, first + 1])
    page = rows[:first]
    ids = [row[0] for row in page]
    lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    shipments: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for line in await reader.fetch(LINE_SQL.format(reader.marks(1, len(ids))), ids):
            lines[line[1]].append(
                {
                    "id": f"gid://waybill/OrderLine/{line[0]}",
                    "sku": line[2],
                    "title": line[3],
                    "quantity": line[4],
                    "quantityShipped": line[5],
                    "unitPrice": line[6],
                }
            )
        sql = SHIPMENT_SQL.format(reader.marks(1, len(ids)), reader.marks(len(ids) + 1, 1))
        for ship in await reader.fetch(sql, [*ids, account_id]):
            shipments[ship[1]].append(
                {
                    "id": f"gid://waybill/Shipment/{ship[0]}",
                    "status": ship[2],
                    "carrier": ship[3],
                    "service": ship[4],
                    "trackingNumber": ship[5],
                }
            )
    edges = []
    for pk, number, status, rank, created, name, email, currency, total, address in page:
        stored = _json(address)
        edges.append(
            {
                "cursor": _cursor(rank, created, pk),
                "node": {
                    "id": f"gid://waybill/Order/{pk}",
                    "number": number,
                    "status": status,
                    "customerName": name,
                    "customerEmail": email,
                    "currency": currency,
                    "total": total,
                    "shippingAddress": {out: stored.get(key) for key, out in ADDRESS_KEYS.items()} if stored else None,
                    "lines": lines[pk],
                    "shipments": shipments[pk],
                },
            }
        )
    page_info = {"hasNextPage": len(rows) > first, "endCursor": edges[-1]["cursor"] if edges else None}
    return {"orders": {"edges": edges, "pageInfo": page_info}}


def raw_app(reader: Reader) -> Starlette:
    async def orders(request: Request) -> JSONResponse:
        account_id = await _account(reader, request.headers.get("authorization"))
        if account_id is None:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
        body = await request.json()
        first = int(body.get("variables", {}).get("first", 50))
        return JSONResponse({"data": await orders_page(reader, account_id, first)})

    return Starlette(routes=[Route("/orders", orders, methods=["POST"])])
