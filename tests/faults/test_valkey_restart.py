"""Valkey crashes and comes back (same port, empty: no persistence) while an import and write-backs run.

Its own Valkey always, even when REDIS_URL is set: the machine's Redis is never restarted. The API
and worker processes must recover by themselves; jobs lost with Redis are re-created from the
database by the tick; no order and no write is lost or doubled.
"""

from __future__ import annotations

import pytest

from adapters.channels.shopify.fake import FakeShopify
from adapters.persistence import models
from domain.model import ChannelKind
from tests.conftest import Database
from tests.support.harness import eventually
from tests.support.processes import imported_once, shipped_once, waybill_stack, writes_delivered
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db]

STALL_S = 4.0
#: Past the client's own patience (MAX_RETRY_AFTER, 10 s): the outbox defers the write as a job in Valkey.
LONG_RETRY_AFTER = 11.0


async def test_valkey_restarted_mid_import_and_mid_write_back_loses_nothing(db: Database) -> None:
    shop = FakeShopify()
    external_ids = {shop.create_order([(f"SKU-{i}", f"Item {i}", 1)]) for i in range(10)}
    shop.delay_next(1, STALL_S, path_contains="/graphql.json", method="POST")
    async with serve_app(shop.app) as shop_url, waybill_stack(db) as stack:
        api, valkey = stack.api, stack.valkey
        channel_id = await api.connect(ChannelKind.SHOPIFY, shop, shop_url)

        async def mid_import() -> bool:
            assert any(path.endswith("/graphql.json") for _, path, _ in shop.requests)
            assert "RUNNING" in [run["status"] for run in await api.runs(channel_id)]
            return True

        await eventually(mid_import, within=30)
        valkey.crash()
        valkey.start()
        await eventually(lambda: imported_once(api, channel_id, external_ids), within=45)

        # Write-backs: one POST stalls while Valkey goes away; two are throttled long enough to be
        # waiting as deferred jobs in Valkey when it comes back empty.
        orders = await api.orders()
        shop.delay_next(1, STALL_S, path_contains="/fulfillments.json", method="POST")
        shop.throttle_next(2, LONG_RETRY_AFTER, path_contains="/fulfillments.json", method="POST")
        labels = {}
        for i, order in enumerate(orders[:3]):
            bought = await api.buy(order["id"], f"valkey-{i}")
            labels[order["externalId"]] = bought["shipment"]["trackingNumber"]

        async def stalled_and_deferred() -> bool:
            posts = [
                path for method, path, _ in shop.requests if method == "POST" and path.endswith("/fulfillments.json")
            ]
            assert len(posts) >= 3, posts
            retrying = await models.OutboxWrite.filter(status="PENDING", attempts__gte=1).count()
            assert retrying >= 2, retrying
            return True

        await eventually(stalled_and_deferred, within=30)
        valkey.crash()
        valkey.start()

        async def delivered() -> bool:
            await writes_delivered(len(labels))
            shipped_once(shop, labels)
            return True

        await eventually(delivered, within=60)
        assert len(stack.carrier.labels) == len(labels)
        died = [(path.name, p.returncode) for p, path in stack.group.started if p.returncode is not None]
        assert died == [], f"a process did not survive the restart: {died}\n{stack.group.logs()}"
