"""One contract for every channel kind: its client against its fake platform over real loopback HTTP.

Each test drives the fake through the FakeChannel protocol and the client through the ChannelClient
port, exactly as the sync and the outbox do, so a new adapter passes only if it behaves like the rest.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from adapters.channels.base import ChannelSpec, FakeChannel, MemoryCredentialStore
from adapters.channels.catalog import SPECS
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind, ChannelOrder
from domain.ports import ChannelAuthFailed, ChannelClient, ChannelThrottled, ChannelUnsupported, Tracking
from tests.contract.kinds import FAKES, NO_REMOTE_API, NO_RETRY_AFTER
from tests.support.servers import serve_app

PAGE_SIZE = 3
UPS_1 = Tracking(
    company="UPS",
    number="1Z999AA10123456784",
    url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
    carrier="ups",
    service="Ground",
)
UPS_2 = Tracking(company="UPS", number="1Z999AA10123456791", url="https://www.ups.com/track?tracknum=1Z999AA10123456791", carrier="ups", service="Ground")  # fmt: skip
THREE_LINES = [("TOTE", "Canvas Tote", 2), ("MUG", "Enamel Mug", 1), ("BEANIE", "Wool Beanie", 1)]


@dataclass
class Rig:
    kind: ChannelKind
    spec: ChannelSpec
    fake: FakeChannel
    base_url: str
    store: MemoryCredentialStore
    client: ChannelClient
    http: httpx.AsyncClient

    def new_client(self, store: MemoryCredentialStore | None = None) -> ChannelClient:
        store = store or MemoryCredentialStore(self.store.credentials)
        return self.spec.build_client(store.credentials, http=self.http, store=store, page_size=PAGE_SIZE)


@pytest.fixture(params=sorted(FAKES), ids=lambda kind: kind.value.lower())
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    kind: ChannelKind = request.param
    spec, fake = SPECS[kind], FAKES[kind]()
    async with serve_app(fake.app) as base_url, httpx.AsyncClient(timeout=5.0) as http:
        store = MemoryCredentialStore({**spec.defaults, **fake.credentials(base_url)})
        client = spec.build_client(store.credentials, http=http, store=store, page_size=PAGE_SIZE)
        try:
            yield Rig(kind, spec, fake, base_url, store, client, http)
        finally:
            await client.aclose()


async def all_orders(client: ChannelClient, since: datetime | None = None) -> tuple[list[ChannelOrder], int]:
    orders: list[ChannelOrder] = []
    page: str | None = None
    pages = 0
    while True:
        result = await client.list_orders(since, page)
        pages += 1
        assert not result.unreadable, result.unreadable
        orders.extend(result.orders)
        assert pages < 50, "paging never ended"
        if not result.next_page:
            return orders, pages
        page = result.next_page


def active(rig: Rig, external_id: str) -> list[str | None]:
    return [s.tracking_number for s in rig.fake.shipments(external_id) if not s.cancelled]


def test_every_kind_is_covered() -> None:
    assert set(FAKES) | NO_REMOTE_API == set(SPECS), "a channel kind has no fake in tests/contract/kinds.py"
    assert set(SPECS) == set(ChannelKind), "a ChannelKind has no adapter in adapters/channels/catalog.py"


async def test_check_connection_names_the_store(rig: Rig) -> None:
    assert (await rig.client.check_connection()).strip()


async def test_pages_to_the_end_and_returns_each_order_once(rig: Rig) -> None:
    created = [rig.fake.create_order([(f"SKU-{i}", f"Product {i}", 1 + i % 3)]) for i in range(7)]
    orders, pages = await all_orders(rig.client)
    ids = [order.external_id for order in orders]
    assert sorted(ids) == sorted(created), "every order once, none twice"
    assert pages >= 3, f"7 orders in pages of {PAGE_SIZE} took {pages} page(s)"
    by_id = {order.external_id: order for order in orders}
    assert [line.quantity for line in by_id[created[4]].lines] == [2]


async def test_incremental_cursor_returns_only_what_changed(rig: Rig) -> None:
    first, second, third = (rig.fake.create_order([("A", "Alpha", 1)]) for _ in range(3))
    orders, _ = await all_orders(rig.client)
    cursor = max(order.channel_updated_at for order in orders)
    rig.fake.touch_order(first)
    fresh = rig.fake.create_order([("B", "Beta", 2)])
    changed, _ = await all_orders(rig.client, since=cursor)
    ids = {order.external_id for order in changed}
    assert {first, fresh} <= ids, "the touched and the new order"
    assert second not in ids, "an order untouched since before the cursor is not fetched again"
    assert third in ids or max(o.channel_updated_at for o in orders if o.external_id == third) == cursor


async def test_split_shipment_lands_as_two_shipments(rig: Rig) -> None:
    if not rig.spec.can(Can.WRITE_BACK):
        pytest.skip("no write back")
    order_id = rig.fake.create_order(THREE_LINES)
    tote, mug, beanie = rig.fake.line_ids(order_id)
    first = await rig.client.create_fulfillment(order_id, [(tote, 2), (mug, 1)], UPS_1, order_complete=False)
    if rig.spec.can(Can.PARTIAL_LINES):
        assert not rig.fake.is_shipped(order_id), "one line is still to ship"
    second = await rig.client.create_fulfillment(order_id, [(beanie, 1)], UPS_2, order_complete=True)
    assert first != second
    shipments = [s for s in rig.fake.shipments(order_id) if not s.cancelled]
    assert [s.tracking_number for s in shipments] == [UPS_1.number, UPS_2.number]
    if rig.spec.can(Can.PARTIAL_LINES):
        assert [s.lines for s in shipments] == [{tote: 2, mug: 1}, {beanie: 1}]
    assert rig.fake.is_shipped(order_id)


async def test_a_repeated_write_creates_nothing_twice(rig: Rig) -> None:
    if not rig.spec.can(Can.WRITE_BACK):
        pytest.skip("no write back")
    order_id = rig.fake.create_order(THREE_LINES)
    first = await rig.client.create_fulfillment(order_id, None, UPS_1)
    again = await rig.client.create_fulfillment(order_id, None, UPS_1)
    assert again == first
    assert active(rig, order_id) == [UPS_1.number]
    assert rig.fake.is_shipped(order_id)
    await rig.client.mark_delivered(order_id, first)  # where the platform records delivery


async def test_hand_delivery_marks_the_order_shipped_without_tracking(rig: Rig) -> None:
    if not rig.spec.can(Can.WRITE_BACK):
        pytest.skip("no write back")
    order_id = rig.fake.create_order([("A", "Alpha", 1)])
    await rig.client.create_fulfillment(order_id, None, None)
    assert rig.fake.is_shipped(order_id)


async def test_undo_where_the_platform_allows_it_and_a_clear_refusal_where_not(rig: Rig) -> None:
    if not rig.spec.can(Can.WRITE_BACK):
        pytest.skip("no write back")
    order_id = rig.fake.create_order(THREE_LINES)
    fulfillment_id = await rig.client.create_fulfillment(order_id, None, UPS_1)
    if not rig.spec.can(Can.UNDO_SHIPMENT):
        with pytest.raises(ChannelUnsupported) as refused:
            await rig.client.cancel_fulfillment(order_id, fulfillment_id)
        assert rig.spec.title in refused.value.message and len(refused.value.message) > 40, refused.value.message
        assert not refused.value.retryable
        assert active(rig, order_id) == [UPS_1.number], "nothing changed on the platform"
        return
    await rig.client.cancel_fulfillment(order_id, fulfillment_id)
    assert active(rig, order_id) == [], "the tracking is gone"
    assert not rig.fake.is_shipped(order_id), "back to unfulfilled"
    await rig.client.cancel_fulfillment(order_id, fulfillment_id)  # a repeat is a no-op


async def test_expired_token_is_refreshed_and_a_rotated_token_is_saved(rig: Rig) -> None:
    if not rig.spec.can(Can.TOKEN_REFRESH):
        pytest.skip("tokens do not expire on this platform")
    rig.fake.create_order([("A", "Alpha", 1)])
    before = dict(rig.store.credentials)
    rig.fake.expire_access_token()
    orders, _ = await all_orders(rig.client)
    assert len(orders) == 1
    assert rig.fake.refreshes >= 1 and rig.store.saves >= 1
    assert rig.store.credentials != before, "the new tokens were saved"
    # A process started from what was saved (e.g. after a restart) can refresh again: a rotated refresh
    # token that was used but not saved would be dead by now.
    rig.fake.expire_access_token()
    restarted = rig.new_client()
    try:
        assert len((await all_orders(restarted))[0]) == 1
    finally:
        await restarted.aclose()


async def test_revoked_access_is_an_auth_failure_with_a_readable_message(rig: Rig) -> None:
    rig.fake.create_order([("A", "Alpha", 1)])
    rig.fake.revoke()
    with pytest.raises(ChannelAuthFailed) as refused:
        await rig.client.list_orders(None)
    assert len(refused.value.message) > 10 and not refused.value.retryable
    with pytest.raises(ChannelAuthFailed):
        await rig.client.check_connection()


async def test_throttling_is_honoured_without_a_storm(rig: Rig) -> None:
    rig.fake.create_order([("A", "Alpha", 1)])
    before = rig.fake.throttled
    rig.fake.throttle_next(2, 0.3)
    started = time.monotonic()
    try:
        orders, _ = await all_orders(rig.client)
    except ChannelThrottled as exc:  # the platform asked for longer than a call should wait: the job defers
        assert exc.retry_after and exc.retry_after > 0
        assert rig.fake.throttled - before <= 2
        return
    assert len(orders) == 1
    assert rig.fake.throttled - before == 2, "each 429 was waited out, and nothing more was refused"
    if rig.kind not in NO_RETRY_AFTER:
        assert time.monotonic() - started >= 0.3, "the client waited as long as the platform asked"
