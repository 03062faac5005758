"""Several deployments (or tests) on one Redis: each gets its own scheduled tick, once per period."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

import pytest

from adapters.runtime import Runtime
from jobs.worker import build_worker
from tests.conftest import Database
from tests.scale.test_multi_process import shared_redis
from tests.support import harness

pytestmark = [pytest.mark.db, pytest.mark.queue]


async def test_two_namespaces_on_one_redis_both_schedule_their_tick_and_two_workers_schedule_it_once(
    db: Database,
) -> None:
    """arq's unique cron id is global to the Redis: named per namespace so one never swallows the other's."""
    run = secrets.token_hex(4)
    async with shared_redis(db) as url:
        base = harness.test_settings(db.data_dir, db.url)
        runtimes = [Runtime(replace(base, redis_url=url, namespace=f"wbcron-{n}-{run}")) for n in ("a", "b")]
        twin = Runtime(replace(base, redis_url=url, namespace=f"wbcron-a-{run}"))  # a second worker of "a"
        for runtime in (*runtimes, twin):
            await runtime.start(migrate=False)
        try:
            workers = [build_worker(runtime) for runtime in (*runtimes, twin)]
            due = datetime.now(tz=workers[0].timezone)
            for worker in workers:  # the same due time, as every worker of a deployment computes it
                await worker.run_cron(due, 0.5)
            first, second = runtimes
            assert await first.redis.zcard(first.settings.queue_name) == 1  # two workers of "a": one tick
            assert await second.redis.zcard(second.settings.queue_name) == 1  # "b" has its own
        finally:
            for runtime in (*runtimes, twin):
                await runtime.redis.delete(runtime.settings.queue_name)
                async for key in runtime.redis.scan_iter(match=f"arq:job:cron:{runtime.settings.namespace}:*"):
                    await runtime.redis.delete(key)
                await runtime.stop()
