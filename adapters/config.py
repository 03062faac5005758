"""Settings from the environment, read once; embedded defaults need none of them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("WAYBILL_DATA_DIR", "./var")).resolve())
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL") or None)
    public_url: str | None = field(default_factory=lambda: os.environ.get("WAYBILL_PUBLIC_URL") or None)
    environment: str = field(default_factory=lambda: os.environ.get("WAYBILL_ENV", "development"))
    #: How often the worker looks for channels due a sync, outbox writes due a retry, parcels to track.
    tick_seconds: float = field(default_factory=lambda: _float("WAYBILL_TICK_SECONDS", 5.0))
    tracking_interval_seconds: float = field(default_factory=lambda: _float("WAYBILL_TRACKING_INTERVAL_SECONDS", 60.0))
    #: How long a worker waits for a channel or carrier to answer before treating the call as lost.
    http_timeout_seconds: float = field(default_factory=lambda: _float("WAYBILL_HTTP_TIMEOUT_SECONDS", 15.0))
    #: Where the built-in sandbox carrier answers; unset, the API serves it itself under /sandbox/carrier.
    sandbox_carrier_url: str | None = field(
        default_factory=lambda: os.environ.get("WAYBILL_SANDBOX_CARRIER_URL") or None
    )
    #: Customer e-mails: smtp://user:pass@host:port, smtps://... for TLS, ?starttls=1 to upgrade; unset, none
    #: are sent (recorded as SKIPPED). Kept out of repr: it holds the password.
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("WAYBILL_SMTP_URL") or None, repr=False)
    #: The default sender of customer e-mails (an account may set its own).
    mail_from: str = field(default_factory=lambda: os.environ.get("WAYBILL_MAIL_FROM") or "waybill@localhost")
    #: Prefix of every Redis key, queue and pub/sub channel: several deployments (or tests) can share a Redis.
    namespace: str = field(default_factory=lambda: os.environ.get("WAYBILL_NAMESPACE", "waybill"))

    @property
    def queue_name(self) -> str:
        return f"{self.namespace}:queue"

    @property
    def production(self) -> bool:
        return self.environment == "production"
