"""Process-wide logging: text for a terminal, JSON lines for a log shipper (`WAYBILL_LOG_FORMAT=json`).

Every line carries the request id of the HTTP request it belongs to, or the arq job id in a worker
(contextvars, so concurrent requests never mix them), and passes a redaction filter: bearer tokens,
API keys, passwords in URLs and `secret=`/`token=` values are masked before anything is written.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

#: The HTTP request being served (X-Request-ID in and out); "-" outside one.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("waybill_request_id", default="-")
#: The arq job being run (its job id); "-" outside one.
job_id: contextvars.ContextVar[str] = contextvars.ContextVar("waybill_job_id", default="-")

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s%(job_suffix)s]: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id", "job_id")

_SECRETS = [
    # Authorization: Bearer wb_live_..., and any API key shown on its own.
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[redacted]"),
    (re.compile(r"\bwb_(live|test)_[A-Za-z0-9_-]{8,}"), r"wb_\1_[redacted]"),
    # scheme://user:password@host (DATABASE_URL, REDIS_URL, WAYBILL_SMTP_URL).
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@"), r"\1[redacted]@"),
    # password=..., secret: ..., access_token=..., api_key="..." in messages and payload dumps.
    (
        re.compile(
            r"(?i)([\"']?\b[a-z_]*(?:password|secret|token|api_?key|client_secret)[\"']?\s*[:=]\s*[\"']?)[^\"'\s,&}]+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Adds request_id/job_id to every record and masks secrets in its message (and traceback text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        job = getattr(record, "job_id", "-")
        record.job_suffix = "" if job == "-" else f" job {job}"
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))  # a traceback's locals may hold a URL with its password


class JsonLineFormatter(JsonFormatter):
    def formatException(self, ei: Any) -> str | list[str]:  # type: ignore[override]
        formatted = super().formatException(ei)
        return redact(formatted) if isinstance(formatted, str) else [redact(line) for line in formatted]


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonLineFormatter(
            list(JSON_FIELDS),
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "color_message", "job_suffix"],  # uvicorn's ANSI copy of the message
        )
    return TextFormatter(TEXT_FORMAT)


def log_format(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    fmt = (environ.get("WAYBILL_LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise SystemExit(f"WAYBILL_LOG_FORMAT must be text or json, got {fmt!r}")
    return fmt


def configure(level: str | None = None, fmt: str | None = None, stream: Any = None) -> logging.Handler:
    """Replaces the root handlers with one stderr handler; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt or log_format()))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("WAYBILL_LOG_LEVEL") or "INFO").upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request to the stores is noise
    return handler
