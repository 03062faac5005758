"""EasyPost-compatible carrier: httpx client, pure mapper and a fake server speaking the v2 API."""

from __future__ import annotations

from adapters.carriers.easypost.client import DEFAULT_BASE_URL, EasyPostClient, EasyPostRequestRejected
from adapters.carriers.easypost.fake import FakeEasyPost
from adapters.carriers.easypost.mapper import parse_webhook, sign_webhook, verify_webhook

__all__ = [
    "DEFAULT_BASE_URL",
    "EasyPostClient",
    "EasyPostRequestRejected",
    "FakeEasyPost",
    "parse_webhook",
    "sign_webhook",
    "verify_webhook",
]
