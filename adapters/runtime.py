"""Everything a process (API or worker) holds open: database, Redis, event bus, HTTP clients.

Built once at start-up; the API keeps it on `app.state`, the worker in its ctx.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from adapters import registry
from adapters.bus import EventBus
from adapters.config import Settings
from adapters.notifications.triggers import enqueue_after_commit
from adapters.persistence import db, models
from adapters.persistence.events import events_after, record_to_dict
from adapters.persistence.secrets import SecretBox
from adapters.persistence.uow import TortoiseUnitOfWork
from adapters.queue import EmbeddedValkey, connect
from domain.ports import CarrierClient, ChannelClient

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.valkey: EmbeddedValkey | None = None
        self.redis_url = settings.redis_url
        self._redis: ArqRedis | None = None
        self._bus: EventBus | None = None
        self._http: httpx.AsyncClient | None = None
        self._secrets: SecretBox | None = None
        #: Where the sandbox carrier answers: configured, or the API's own mount (workers reach it
        #: through WAYBILL_PUBLIC_URL); an API process serving it sets this itself.
        public = f"{settings.public_url.rstrip('/')}/sandbox/carrier" if settings.public_url else None
        self.sandbox_carrier_url: str | None = settings.sandbox_carrier_url or public

    async def start(self, *, migrate: bool = True) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.redis_url is None:
            self.valkey = EmbeddedValkey(self.settings.data_dir)
            self.redis_url = self.valkey.start()
        await db.init_db(self.settings.database_url, self.settings.data_dir, migrate=migrate)
        self._redis = await connect(self.redis_url, self.settings.queue_name)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                self.settings.http_timeout_seconds, connect=min(5.0, self.settings.http_timeout_seconds)
            )
        )
        self._secrets = SecretBox.from_env(self.settings.data_dir)
        self._bus = EventBus(self._redis, self._backlog, _latest_event_id, self.key("events"))

    async def stop(self) -> None:
        if self._bus is not None:
            await self._bus.aclose()
        if self._http is not None:
            await self._http.aclose()
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            await self._redis.connection_pool.disconnect()
        await db.close_db()
        if self.valkey is not None:
            self.valkey.stop()
            self.valkey = None

    @property
    def redis(self) -> ArqRedis:
        assert self._redis is not None, "runtime not started"
        return self._redis

    @property
    def bus(self) -> EventBus:
        assert self._bus is not None, "runtime not started"
        return self._bus

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "runtime not started"
        return self._http

    @property
    def secrets(self) -> SecretBox:
        assert self._secrets is not None, "runtime not started"
        return self._secrets

    def key(self, name: str) -> str:
        """A Redis key in this deployment's namespace."""
        return f"{self.settings.namespace}:{name}"

    def uow(self, actor: str = "system") -> DispatchingUnitOfWork:
        return DispatchingUnitOfWork(self, actor)

    async def after_commit(self, uow: TortoiseUnitOfWork) -> None:
        """Publish what was committed and hand owed channel writes to a worker, at once."""
        await self.bus.publish([record_to_dict(record) for record in uow.committed_events])
        for order_id in uow.committed_write_orders:
            try:
                await self.enqueue_outbox(order_id)
            except (RedisError, OSError) as exc:  # committed already: the tick delivers it
                log.warning("could not enqueue delivery for order %s (%s); the tick will", order_id, exc)
        # Labels bought or delivered: the buyer's e-mail goes out now (the tick's sweep catches a lost enqueue).
        await enqueue_after_commit(self, uow.committed_events)

    async def enqueue_outbox(self, order_id: int, defer_by: float | None = None) -> None:
        """Right after a commit: a fresh job (a drain already running must not swallow it).

        Deferred (retry, busy, waiting): one job per order and due second, so every chain
        that computes the same due time collapses into one instead of multiplying.
        """
        if defer_by is None:
            await self.redis.enqueue_job("deliver_outbox", order_id)
            return
        due = int(time.time() + defer_by)
        await self.redis.enqueue_job(
            "deliver_outbox", order_id, _job_id=self.key(f"outbox:{order_id}:{due}"), _defer_by=defer_by
        )

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None, defer_by: float | None = None) -> Any:
        """Job ids are namespaced too: arq keeps them (and refuses repeats) across queues."""
        namespaced = self.key(job_id) if job_id else None
        return await self.redis.enqueue_job(function, *args, _job_id=namespaced, _defer_by=defer_by)

    async def channel_client(self, channel_id: int) -> tuple[ChannelClient, Any]:
        """The client for a stored channel, credentials decrypted only in memory."""
        return await registry.channel_client(self, channel_id)

    async def carrier_client(self, account_id: int, carrier: str) -> CarrierClient:
        """The sandbox or one of the account's configured carriers, by the merchant's name for it."""
        client, _ = await registry.account_carrier(self, account_id, carrier)
        return client

    async def _backlog(self, account_id: int, after_id: int) -> list[dict[str, Any]]:
        return [record_to_dict(r) for r in await events_after(account_id, after_id, limit=500)]


class DispatchingUnitOfWork(TortoiseUnitOfWork):
    """A unit of work that, once committed, publishes its events and enqueues its writes."""

    def __init__(self, runtime: Runtime, actor: str) -> None:
        super().__init__(actor=actor, secret_box=runtime.secrets)
        self._runtime = runtime

    async def __aexit__(self, *exc: Any) -> None:
        await super().__aexit__(*exc)
        if exc[0] is None:
            await self._runtime.after_commit(self)


async def _latest_event_id(account_id: int) -> int:
    """Where a new subscriber starts: after the account's newest event."""
    newest = await models.Event.filter(account_id=account_id).order_by("-id").first().values_list("id", flat=True)
    return int(newest) if newest else 0
