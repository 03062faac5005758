"""Settings from the environment, read once; embedded defaults need none of them."""

from __future__ import annotations

import os
import re
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


def _bool(name: str) -> bool | None:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be true or false, got {raw!r}")


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip().rstrip("/") for item in os.environ.get(name, "").split(",") if item.strip())


_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_ORIGIN = re.compile(rf"^https?://(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?$")


def origin_problem(origin: str) -> str | None:
    """Why a CORS origin is refused, or None: only http(s)://host[:port] (lowercase, as browsers send it).

    With credentials allowed, Starlette answers '*' by reflecting any origin, and 'null' is what
    sandboxed iframes and file:// pages send: either would let any page use a signed-in session.
    """
    if origin in ("*", "null"):
        return f"{origin!r} is not allowed (it would let any page use a signed-in session); list each admin origin"
    match = _ORIGIN.match(origin)
    if match is None or not 0 < int(match["port"] or 443) < 65536:
        return f"{origin!r} is not an origin: write http(s)://host[:port] in lowercase, e.g. https://admin.example.com"
    return None


def _origins(name: str) -> tuple[str, ...]:
    origins = _list(name)
    for origin in origins:
        problem = origin_problem(origin)
        if problem:
            raise SystemExit(f"{name}: {problem}")
    return origins


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
    #: A webhook still unprocessed this long after it arrived is queued again (its job was lost, or its
    #: worker killed mid-job); a second run is harmless, the import is idempotent.
    webhook_rescue_seconds: float = field(default_factory=lambda: _float("WAYBILL_WEBHOOK_RESCUE_SECONDS", 30.0))
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
    #: GraphQL introspection (and the GraphiQL page, which needs it): on in development, off in production.
    introspection: bool | None = field(default_factory=lambda: _bool("WAYBILL_INTROSPECTION"))
    #: Query cost (Shopify's leaky bucket): points a key holds at most, and points restored per second.
    cost_bucket_capacity: float = field(default_factory=lambda: _float("WAYBILL_COST_BUCKET_CAPACITY", 1000.0))
    cost_restore_rate: float = field(default_factory=lambda: _float("WAYBILL_COST_RESTORE_RATE", 50.0))
    #: Browser origins of admin apps allowed to call the API (CORS), comma-separated http(s)://host[:port]
    #: (never * or null: credentials are allowed); none by default.
    admin_origins: tuple[str, ...] = field(default_factory=lambda: _origins("WAYBILL_ADMIN_ORIGINS"))

    @property
    def queue_name(self) -> str:
        return f"{self.namespace}:queue"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.production
