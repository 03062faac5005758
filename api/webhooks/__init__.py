"""Platform webhooks: verified, recorded under their event id, handed to a worker (issue 4)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from api.webhooks.channels import channel_webhook

#: Mounted at /webhooks by api/app.py.
ROUTES: list[BaseRoute] = [
    Route("/channels/{channel_id:int}", channel_webhook, methods=["POST"]),
]
