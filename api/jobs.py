"""Mutations whose work runs in a worker (carrier and channel I/O) wait for it here, for a bounded time."""

from __future__ import annotations

import logging

from arq.jobs import Job

from adapters.runtime import Runtime

log = logging.getLogger(__name__)

WAIT_SECONDS = 25.0


async def wait_for_job(runtime: Runtime, job_id: str, wait_s: float = WAIT_SECONDS) -> object:
    """The job's result; None when it is still running after `wait_s` or failed (what it stored is the answer)."""
    job = Job(runtime.key(job_id), runtime.redis, _queue_name=runtime.settings.queue_name)
    try:
        return await job.result(timeout=wait_s, poll_delay=0.05)
    except TimeoutError:
        return None
    except Exception:
        log.exception("job %s failed", job_id)
        return None
