"""POST /webhooks/channels/{channel_id}: a platform tells Waybill an order changed.

Verified with the channel's webhook secret, recorded under the platform's event id (the unique
(channel, event_id) index drops redeliveries, also when they race), handed to `process_webhook`,
answered at once. No platform call and no order write happen here: those are the worker's.
"""

from __future__ import annotations

import hashlib
import logging

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.exceptions import IntegrityError

from adapters.channels.catalog import spec_for
from adapters.persistence import models
from adapters.runtime import Runtime
from domain.model import ConnectionState

log = logging.getLogger(__name__)

#: Shopify's largest order payloads stay well below this; anything bigger is refused unread.
MAX_BODY_BYTES = 1024 * 1024


class TooLarge(Exception):
    pass


def answer(status: str, code: int = 200) -> Response:
    return JSONResponse({"status": status}, status_code=code)


NOT_FOUND = {"error": "Not found"}  # the same for every reason: no hint whether the channel exists


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def channel_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        body = await read_body(request)
    except TooLarge:
        return JSONResponse({"error": f"Webhook bodies are limited to {MAX_BODY_BYTES} bytes"}, status_code=413)
    channel = await models.Channel.get_or_none(id=request.path_params["channel_id"])
    spec = spec_for(channel.kind) if channel is not None else None
    hooks = spec.webhooks if spec is not None else None
    if channel is None or hooks is None or channel.state == ConnectionState.DISABLED.value:
        return JSONResponse(NOT_FOUND, status_code=404)
    headers = request.headers
    if hooks.is_ping(headers, body):
        return answer("ping")
    credentials = runtime.secrets.decrypt(channel.credentials) if channel.credentials else {}
    secret = str(credentials.get(hooks.secret_field) or "")
    if not secret:  # webhooks are not set up for this channel: nothing could ever verify
        return JSONResponse(NOT_FOUND, status_code=404)
    if not hooks.verify(headers, body, secret):
        return JSONResponse({"error": "Invalid or missing webhook signature"}, status_code=401)
    event_id = hooks.event_id(headers) or "sha256:" + hashlib.sha256(body).hexdigest()
    try:
        delivery = await models.WebhookDelivery.create(
            account_id=channel.account_id,
            channel_id=channel.id,
            event_id=event_id[:200],
            topic=hooks.topic(headers, body)[:100],
            body=body.decode("utf-8", errors="replace"),
        )
    except IntegrityError:
        return answer("duplicate")
    try:
        await runtime.enqueue("process_webhook", delivery.id, job_id=f"webhook:{delivery.id}")
    except (RedisError, OSError) as exc:
        # Unrecorded is better than recorded and never processed: the platform redelivers after a 5xx.
        log.warning("webhook %s of channel %s not queued (%s); asking for a redelivery", event_id, channel.id, exc)
        await models.WebhookDelivery.filter(id=delivery.id).delete()
        return JSONResponse({"error": "Temporarily unavailable; deliver again later"}, status_code=503)
    return answer("accepted")
