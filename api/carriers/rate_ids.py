"""Opaque rate ids: what `rates` hands out and `buyLabel(rateId:)` takes back (carrier and service)."""

from __future__ import annotations

import base64
import binascii
import json

from domain.errors import DomainError, ErrorCode


def rate_id(carrier: str, service: str) -> str:
    raw = json.dumps([carrier, service], separators=(",", ":")).encode()
    return "rate_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_rate_id(value: str) -> tuple[str, str]:
    """(carrier, service) inside an id from `rates`; INVALID names rateId otherwise."""
    try:
        if not value.startswith("rate_"):
            raise ValueError(value)
        body = value[len("rate_") :]
        carrier, service = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not isinstance(carrier, str) or not isinstance(service, str):
            raise ValueError(value)
        return carrier, service
    except (ValueError, TypeError, binascii.Error):
        raise DomainError(ErrorCode.INVALID, "rateId is not an id returned by `rates`", ["rateId"]) from None
