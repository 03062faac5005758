"""The fake Shopify store in its own process, on loopback, like a real remote store.

In-process (as the e2e tests run it) the store's own work (deep copies of every order it serves, its
uvicorn) would share the event loop and the profile with Waybill and be counted as Waybill's cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True)
class ShopHandle:
    url: str
    access_token: str
    orders: int
    lines: int

    async def requests(self, since: int = 0) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, query) of every request the store received, from index `since`."""
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{self.url}/_bench/requests", params={"since": since})
            response.raise_for_status()
            return [(m, p, q) for m, p, q in response.json()]

    async def request_count(self) -> int:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{self.url}/_bench/requests/count")
            response.raise_for_status()
            return int(response.json())


def _serve(orders: int, seed: int, conn: Connection) -> None:
    """Child process: stock the store, tell the parent where it is, serve until terminated."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from bench.env import stocked_shop
    from bench.serve import free_port

    shop, lines = stocked_shop(orders, seed)

    async def requests(request: Request) -> JSONResponse:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse([list(item) for item in shop.requests[since:]])

    async def count(request: Request) -> JSONResponse:
        return JSONResponse(len(shop.requests))

    app = Starlette(
        routes=[
            Route("/_bench/requests", requests),
            Route("/_bench/requests/count", count),
            Mount("/", app=shop.app),
        ]
    )
    port = free_port()
    conn.send((port, shop.access_token, lines))
    conn.close()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


@contextlib.asynccontextmanager
async def shop_process(orders: int, seed: int = 7) -> AsyncIterator[ShopHandle]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_serve, args=(orders, seed, child), name="bench-fake-shopify", daemon=True)
    process.start()
    child.close()
    try:
        info: Any = await asyncio.to_thread(_receive, parent)
        port, token, lines = info
        handle = ShopHandle(f"http://127.0.0.1:{port}", token, orders, lines)
        await _wait_ready(handle, process)
        yield handle
    finally:
        parent.close()
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn shuts down cleanly
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5)


def _receive(conn: Connection) -> Any:
    if not conn.poll(STARTUP_TIMEOUT):
        raise RuntimeError("the fake store process did not start")
    return conn.recv()


async def _wait_ready(handle: ShopHandle, process: Any) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            await handle.request_count()
            return
        except httpx.TransportError:
            if not process.is_alive():
                raise RuntimeError("the fake store process exited") from None
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
