"""arq worker definition: `waybill worker` runs it alone; `waybill serve` runs it in-process by default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from arq import Worker
from arq.cron import cron

from adapters.config import Settings
from adapters.metrics import instrumented
from adapters.runtime import Runtime
from jobs.batches import buy_label_batch
from jobs.channels import check_connection, check_stored_connection
from jobs.forwarding import push_order
from jobs.notify import send_shipment_notifications
from jobs.outbox import deliver_outbox
from jobs.rates import quote_rates
from jobs.shipping import purchase_label, track_shipments, void_label
from jobs.sync import sync_channel
from jobs.tick import tick
from jobs.webhooks import process_webhook

log = logging.getLogger(__name__)

#: How often each worker records arq's health-check key (it expires a second later).
WORKER_HEARTBEAT_S = 5

FUNCTIONS = [
    sync_channel,
    deliver_outbox,
    purchase_label,
    void_label,
    track_shipments,
    check_connection,
    check_stored_connection,
    quote_rates,
    buy_label_batch,
    process_webhook,
    send_shipment_notifications,
    push_order,
]


def build_worker(runtime: Runtime, *, burst: bool = False) -> Worker:
    tick_every = max(1, int(runtime.settings.tick_seconds))
    return Worker(
        functions=[instrumented(function) for function in FUNCTIONS],
        # arq's unique cron job id is its name + the due time, in arq's global key space: named per namespace,
        # two deployments (or tests) sharing a Redis never swallow each other's tick, and N workers run it once.
        cron_jobs=[
            cron(
                instrumented(tick),
                name=f"cron:{runtime.settings.namespace}:tick",
                second=set(range(0, 60, tick_every)),
                run_at_startup=True,
            )
        ],
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
        health_check_interval=WORKER_HEARTBEAT_S,  # the key /ready?workers=1 reads
    )


async def stop_worker(worker: Worker, task: asyncio.Task[None], grace: float = 10.0) -> None:
    """Stop taking jobs, let running ones finish for `grace` seconds, cancel the rest.

    A cancelled job is not lost: arq runs it again once its in-progress mark expires.
    The Redis pool belongs to the runtime, so it is left open (arq's own close() would shut it).
    """
    worker.allow_pick_jobs = False
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=grace)
    worker.handle_sig(signal.SIGTERM)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    with contextlib.suppress(Exception):
        await worker.pool.delete(worker.health_check_key)


async def run_worker(settings: Settings) -> None:
    """A standalone worker process against REDIS_URL and DATABASE_URL; SIGTERM/SIGINT stop it gracefully."""
    runtime = Runtime(settings)
    await runtime.start()
    worker = build_worker(runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(worker.async_run())
    try:
        await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await stop_worker(worker, task)
        await runtime.stop()
