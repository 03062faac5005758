"""A worker process SIGKILLed in the middle of an import and of a write-back; another worker finishes.

"Mid" is a condition (the fake has seen the stalled request and the run is RUNNING), never a sleep.
The killed worker leaves its Redis locks and in-progress jobs behind: the second one must not wait
for them longer than a polling interval, and must neither lose nor repeat anything.
"""

from __future__ import annotations

import pytest

from adapters.channels.shopify.fake import FakeShopify
from domain.model import ChannelKind
from tests.conftest import Database
from tests.support.harness import eventually
from tests.support.processes import (
    imported_once,
    shipped_once,
    waybill_stack,
    writes_delivered,
)
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db]

#: The stalled request outlives the kill and the takeover but not the test (uvicorn waits for it on exit).
STALL_S = 20.0
#: The channel polls every 60 s (the shortest interval); a crash may cost one interval, not more.
TAKEOVER_WITHIN = 75.0


async def test_a_worker_killed_mid_import_is_taken_over_without_losing_or_doubling_orders(db: Database) -> None:
    shop = FakeShopify()
    external_ids = {shop.create_order([(f"SKU-{i}", f"Item {i}", 1)]) for i in range(12)}
    # Hold detection reads the page's fulfillment orders in one GraphQL call: the sync hangs on it.
    shop.delay_next(1, STALL_S, path_contains="/graphql.json", method="POST")
    async with serve_app(shop.app) as shop_url, waybill_stack(db) as stack:
        api = stack.api
        channel_id = await api.connect(ChannelKind.SHOPIFY, shop, shop_url)

        async def mid_import() -> str:
            assert any(path.endswith("/graphql.json") for _, path, _ in shop.requests)
            running = [run["id"] for run in await api.runs(channel_id) if run["status"] == "RUNNING"]
            assert running
            return str(running[0])

        cut_off = await eventually(mid_import, within=30)
        await stack.group.crash_worker()
        await stack.group.worker()

        runs = await eventually(lambda: imported_once(api, channel_id, external_ids), within=TAKEOVER_WITHIN)
        # The run the kill cut off is never left RUNNING: either the tick resumed it from the cursor (its
        # worker's lock lapsed) and it finished, or another run took the channel first and closed it as
        # interrupted. Which one wins is a race; either way every order is in once (imported_once).
        (cut,) = [run for run in runs if run["id"] == cut_off]
        assert cut["status"] == "SUCCEEDED" or "Interrupted" in (cut["error"] or ""), runs


async def test_a_worker_killed_mid_write_back_is_taken_over_and_the_store_ships_once(db: Database) -> None:
    shop = FakeShopify()
    external_ids = {shop.create_order([(f"SKU-{i}", f"Item {i}", 1)]) for i in range(3)}
    async with serve_app(shop.app) as shop_url, waybill_stack(db) as stack:
        api = stack.api
        channel_id = await api.connect(ChannelKind.SHOPIFY, shop, shop_url)
        await eventually(lambda: imported_once(api, channel_id, external_ids), within=30)
        orders = await api.orders()
        shop.delay_next(1, STALL_S, path_contains="/fulfillments.json", method="POST")
        labels = {}
        for i, order in enumerate(orders):
            bought = await api.buy(order["id"], f"killed-{i}")
            labels[order["externalId"]] = bought["shipment"]["trackingNumber"]

        def in_flight() -> int:
            return sum(
                1 for method, path, _ in shop.requests if method == "POST" and path.endswith("/fulfillments.json")
            )

        async def mid_write() -> bool:
            assert in_flight() >= 1
            return True

        await eventually(mid_write, within=30)
        await stack.group.crash_worker()
        await stack.group.worker()

        async def delivered() -> bool:
            await writes_delivered(len(labels))
            shipped_once(shop, labels)
            return True

        await eventually(delivered, within=45)
        assert len(stack.carrier.labels) == len(labels)
