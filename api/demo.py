"""`waybill serve --demo`: a local account, an admin key, a sandbox Shopify store making orders, the sandbox carrier.

The sandbox store lives in this process's memory, so each start connects a fresh one and
disables the previous demo store (its orders stay visible, its channel no longer syncs).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from adapters.runtime import Runtime
from domain import model
from jobs.sync import start_sync_run

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "Demo merchant"
DEMO_CHANNEL = "Sandbox Shopify"
NEW_ORDER_EVERY_S = (10.0, 25.0)
DEMO_INTERVAL_S = 60


async def start_demo(runtime: Runtime, sandboxes: dict[str, Any], self_url: str) -> asyncio.Task[None]:
    store = sandboxes["shopify"]
    store._next_id = 5_100_000_001 + random.randrange(10**9) * 1000  # fresh ids for a fresh store
    _seed(store)
    account = await models.Account.filter(name=DEMO_ACCOUNT).first()
    account_id = account.id if account else await create_account(DEMO_ACCOUNT)
    key = await create_api_key(account_id, "demo admin", ["read_orders", "write_shipments", "manage_channels", "admin"])
    await models.Channel.filter(account_id=account_id, name=DEMO_CHANNEL).update(
        state=model.ConnectionState.DISABLED.value
    )
    async with runtime.uow("demo") as uow:
        channel = await uow.channels.add(
            model.Channel(
                id=0,
                account_id=account_id,
                kind=model.ChannelKind.SHOPIFY,
                name=DEMO_CHANNEL,
                sync_interval_seconds=DEMO_INTERVAL_S,
            ),
            {"shop_url": f"{self_url}/sandbox/shopify", "access_token": store.access_token},
        )
    await start_sync_run(runtime, account_id, channel.id, model.SyncTrigger.MANUAL)
    print(
        "\n"
        "  Waybill demo is running.\n"
        f"  GraphiQL:  {self_url}/graphql\n"
        f"  API key:   {key}\n"
        '  In GraphiQL, add the header {"Authorization": "Bearer <API key>"} and run:\n'
        "    { orders(first: 10) { edges { node { id number status lines { title quantity } } } } }\n",
        flush=True,
    )
    return asyncio.create_task(_make_orders(runtime, store, channel.id, account_id), name="waybill-demo-orders")


def _seed(store: Any) -> None:
    """A few orders of every kind a newcomer should see: ready, held, paid later."""
    for _ in range(6):
        store.add_random_order()
    held = store.add_order()
    store.hold(held["id"])


async def _make_orders(runtime: Runtime, store: Any, channel_id: int, account_id: int) -> None:
    """A few new orders a minute, each synced at once as a store webhook would trigger."""
    while True:
        await asyncio.sleep(random.uniform(*NEW_ORDER_EVERY_S))
        store.add_random_order()
        try:
            await start_sync_run(runtime, account_id, channel_id, model.SyncTrigger.WEBHOOK)
        except Exception:  # the demo store keeps going; the next tick syncs anyway
            log.exception("demo: could not start a sync")
