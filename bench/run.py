"""One backend's benchmarks, in a process of its own (see backend_process)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import warnings
from pathlib import Path

from bench import env, report
from bench.caches import measure_caches
from bench.importing import measure_import, profile_import
from bench.profiling import REPO
from bench.query import add_shipments, measure_query
from bench.shop_process import shop_process

PROFILED_ORDERS = 10_000


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def run_backend(kind: str, args: argparse.Namespace, root: Path) -> report.BackendResult:
    log(f"{kind}: placing {args.orders} orders in the fake store (its own process)")
    result = report.BackendResult(kind, [])
    profile_dir = REPO / "bench" / "out" / kind
    async with shop_process(args.orders) as shop:
        for rep in range(args.repeat):
            last = rep == args.repeat - 1
            async with env.fresh_database(kind, root) as database:
                settings = env.settings_for(database)
                async with env.started_runtime(settings) as runtime:
                    tenant = await env.create_tenant(runtime, shop.url, shop.access_token)
                    measure = await measure_import(runtime, database, shop, tenant, database.data_dir)
                    result.imports.append(measure)
                    log(
                        f"{kind}: import {rep + 1}/{args.repeat}: {measure.first.seconds:.2f} s end to end, "
                        f"{measure.first.persist_seconds:.2f} s persisting, raw insert {measure.raw_insert:.3f} s"
                    )
                    if last:
                        await add_shipments(tenant.account_id)
                if last:
                    log(f"{kind}: query benchmark, {args.requests} requests to each app")
                    result.query = await measure_query(
                        settings,
                        database,
                        tenant,
                        page_size=args.page_size,
                        requests=args.requests,
                        profile_dir=None if args.no_profile else profile_dir,
                    )
                    if result.query.profile is not None:
                        result.profiles.append(result.query.profile)
        if kind == "sqlite":  # no database involved: once is enough
            log("parse/validate cache benchmark")
            result.caches = await measure_caches()
    if not args.no_profile:
        # The profilers' own cost grows with the run: a smaller store gives the same shares much sooner.
        profiled = min(args.orders, PROFILED_ORDERS)
        log(f"{kind}: profiled import of {profiled} orders")
        async with shop_process(profiled) as small:
            async with env.fresh_database(kind, root) as database:
                async with env.started_runtime(env.settings_for(database)) as runtime:
                    tenant = await env.create_tenant(runtime, small.url, small.access_token)
                    result.profiles.insert(0, await profile_import(runtime, small, tenant, profile_dir))
    return result


async def _backend(kind: str, args: argparse.Namespace) -> report.BackendResult:
    async with env.scratch_dir() as root:
        return await run_backend(kind, args, root)


def backend_process(kind: str, args: argparse.Namespace) -> report.BackendResult:
    """One process per backend: tortoise keeps per-model SQL built for the first engine it was
    initialised with, so SQLite then PostgreSQL in one process sends "?" placeholders to PostgreSQL."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")  # unclosed sockets or files would show here
    return asyncio.run(_backend(kind, args))
