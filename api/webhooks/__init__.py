"""Platform webhooks: verified, recorded under their event id, handed to a worker (issue 4)."""

from __future__ import annotations

from starlette.routing import BaseRoute

#: Mounted at /webhooks by api/app.py.
ROUTES: list[BaseRoute] = []
