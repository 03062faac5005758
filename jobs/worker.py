"""arq worker definition: `waybill worker` runs it alone; `waybill serve` runs it in-process by default."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq import Worker
from arq.cron import cron

from adapters.config import Settings
from adapters.runtime import Runtime
from jobs.outbox import deliver_outbox
from jobs.shipping import purchase_label, track_shipments, void_label
from jobs.sync import sync_channel
from jobs.tick import tick

log = logging.getLogger(__name__)

FUNCTIONS = [sync_channel, deliver_outbox, purchase_label, void_label, track_shipments]


def build_worker(runtime: Runtime, *, burst: bool = False) -> Worker:
    tick_every = max(1, int(runtime.settings.tick_seconds))
    return Worker(
        functions=FUNCTIONS,  # type: ignore[arg-type]
        cron_jobs=[cron(tick, second=set(range(0, 60, tick_every)), run_at_startup=True)],  # type: ignore[arg-type]
        redis_pool=runtime.redis,
        ctx={"runtime": runtime},
        queue_name=runtime.settings.queue_name,
        handle_signals=False,
        poll_delay=0.05,
        max_jobs=20,
        job_timeout=300,
        keep_result=120,
        max_tries=8,
        burst=burst,
    )


async def run_worker(settings: Settings) -> None:
    """A standalone worker process against REDIS_URL and DATABASE_URL."""
    runtime = Runtime(settings)
    await runtime.start()
    worker = build_worker(runtime)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass
    finally:
        await worker.close()
        await runtime.stop()
