"""Platform webhooks (orders) and carrier webhooks (tracking): verified before anything is stored."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from api.webhooks.carriers import carrier_webhook
from api.webhooks.channels import channel_webhook

#: Mounted at /webhooks by api/app.py.
ROUTES: list[BaseRoute] = [
    Route("/channels/{channel_id:int}", channel_webhook, methods=["POST"]),
    Route("/carriers/{carrier_account_id:int}", carrier_webhook, methods=["POST"]),
]
