"""A store that answers 500s, stalls past the client timeout and throttles for a while, then recovers.

Real processes (an API, a worker) against a fake store served here. Every order still arrives once,
and every label bought through GraphQL reaches the store as exactly one shipment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.channels.back_office.fake import FakeBackOffice
from adapters.channels.base import FakeChannel
from adapters.channels.shopify.fake import FakeShopify
from domain.model import ChannelKind
from tests.conftest import Database
from tests.support.harness import eventually
from tests.support.processes import imported_once, shipped_once, waybill_stack, writes_delivered
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db]

#: The workers' HTTP timeout, shortened from the 15 s default so a stall costs seconds, not the test's minute.
HTTP_TIMEOUT_S = 3.0
#: Past that timeout: the request lands, the answer never comes back.
STALL_S = HTTP_TIMEOUT_S + 1.0
SYNC = "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { userErrors { code message } } }"


@dataclass(frozen=True)
class Store:
    """Where a kind's fake lists orders and takes shipments, for aiming faults."""

    kind: ChannelKind
    list_path: str
    write_path: str

    def build(self) -> FakeChannel:
        return FakeShopify() if self.kind is ChannelKind.SHOPIFY else FakeBackOffice()


STORES = [
    Store(ChannelKind.SHOPIFY, "/orders.json", "/fulfillments.json"),
    Store(ChannelKind.BACK_OFFICE, "/api/v1/orders", "/shipments"),
]


def throttle(fake: Any, n: int, retry_after: float, path: str, method: str) -> None:
    injector = getattr(fake, "faults", fake)  # the back office's FaultInjector takes paths; FakeShopify itself does
    injector.throttle_next(n, retry_after, path_contains=path, method=method)


def new_orders(fake: FakeChannel, count: int, start: int) -> set[str]:
    return {fake.create_order([(f"SKU-{i}", f"Item {i}", 1)]) for i in range(start, start + count)}


@pytest.mark.parametrize("store", STORES, ids=lambda store: store.kind.value.lower())
async def test_every_order_imported_once_and_every_label_written_once_through_a_flaky_store(
    db: Database, store: Store
) -> None:
    fake = store.build()
    external_ids = new_orders(fake, 8, 0)
    # The first sync: a 500 and two 429s on the listing, which the client rides out within the run.
    fake.fail_next(1, 500, path_contains=store.list_path, method="GET")  # type: ignore[attr-defined]
    throttle(fake, 2, 0.5, store.list_path, "GET")
    async with (
        serve_app(fake.app) as fake_url,
        waybill_stack(db, extra_env={"WAYBILL_HTTP_TIMEOUT_SECONDS": str(HTTP_TIMEOUT_S)}) as stack,
    ):
        api = stack.api
        channel_id = await api.connect(store.kind, fake, fake_url)
        await eventually(lambda: imported_once(api, channel_id, external_ids), within=40)
        first_batch = await api.orders()

        # Writes: more 500s than the client retries (so the outbox backs off), a 429, and one POST that
        # stalls past the timeout but lands: its retry must find it instead of shipping twice.
        fake.fail_next(3, 500, path_contains=store.write_path, method="POST")  # type: ignore[attr-defined]
        throttle(fake, 1, 1.0, store.write_path, "POST")
        fake.delay_next(1, STALL_S, path_contains=store.write_path, method="POST")  # type: ignore[attr-defined]
        # Meanwhile new orders arrive and a sync by hand meets a stalled listing and another 500.
        external_ids |= new_orders(fake, 6, 100)
        fake.delay_next(1, STALL_S, path_contains=store.list_path, method="GET")  # type: ignore[attr-defined]
        fake.fail_next(1, 503, path_contains=store.list_path, method="GET")  # type: ignore[attr-defined]
        synced = (await api.gql(SYNC, {"id": channel_id}))["syncChannel"]
        assert synced["userErrors"] == [], synced

        labels: dict[str, str] = {}
        bought = await asyncio.gather(*(api.buy(order["id"], f"flaky-{i}") for i, order in enumerate(first_batch[:4])))
        for order, result in zip(first_batch[:4], bought, strict=True):
            labels[order["externalId"]] = result["shipment"]["trackingNumber"]

        await eventually(lambda: imported_once(api, channel_id, external_ids), within=60)

        async def delivered() -> bool:
            await writes_delivered(len(labels))
            shipped_once(fake, labels)
            return True

        await eventually(delivered, within=60)
        assert len(stack.carrier.labels) == len(labels), "one label bought per order, however often retried"
        alive = [p.returncode for p, _ in stack.group.started]
        assert alive == [None, None], f"a process died: {stack.group.logs()}"
