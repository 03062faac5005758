"""Importing from a store that fails, refuses the token, changes orders, or is synced twice at once.

A channel that was never synced is also due for a scheduled sync at the next worker tick, so a
connect may be followed by a second (scheduled) run; assertions hold whichever run did the work.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arq.jobs import Job

from adapters.channels.shopify.client import ShopifyClient
from adapters.channels.shopify.fake import INVALID_TOKEN
from adapters.persistence import models
from adapters.runtime import Runtime
from api import ids
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

#: One failing sync: the client tries a 5xx GET this many times before the run gives up.
FAILURES_PER_SYNC = len(ShopifyClient.retry_backoff) + 1
DONE = ("SUCCEEDED", "FAILED")

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id state } userErrors { field message code } } }"""
SYNC = """
mutation($id: ID!) { syncChannel(input: {channelId: $id}) {
  syncRun { id status } userErrors { field message code }
} }"""
RUN_FIELDS = "id status trigger fetched created updated unchanged failed error"
RUNS = f"query($id: ID!) {{ syncRuns(channelId: $id) {{ {RUN_FIELDS} }} }}"
CHANNEL = "query($id: ID!) { channel(id: $id) { id state lastError lastSyncedAt } }"
ORDERS = "query { orders(first: 100) { edges { node { id number status } } } }"
ORDER = """
query($id: ID!) { order(id: $id) {
  id number status attentionReason
  shippingAddress { line1 city postalCode region countryCode }
  shipments { id status trackingNumber }
  channelWrites { kind status }
} }"""
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber } order { id status } userErrors { field message code }
} }"""


async def connect(waybill: Harness) -> str:
    token = waybill.shop.access_token
    result = (await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": token}))["connectChannel"]
    assert result["userErrors"] == []
    return str(result["channel"]["id"])


async def runs(waybill: Harness, channel_id: str) -> list[dict[str, Any]]:
    return (await waybill.gql(RUNS, {"id": channel_id}))["syncRuns"]  # type: ignore[no-any-return]


async def channel(waybill: Harness, channel_id: str) -> dict[str, Any]:
    return (await waybill.gql(CHANNEL, {"id": channel_id}))["channel"]  # type: ignore[no-any-return]


async def orders(waybill: Harness) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await waybill.gql(ORDERS))["orders"]["edges"]]


async def order(waybill: Harness, order_id: str) -> dict[str, Any]:
    return (await waybill.gql(ORDER, {"id": order_id}))["order"]  # type: ignore[no-any-return]


async def all_runs_done(waybill: Harness, channel_id: str) -> list[dict[str, Any]]:
    found = await runs(waybill, channel_id)
    assert found and all(run["status"] in DONE for run in found), found
    return found


async def run_done(waybill: Harness, channel_id: str, run_id: str) -> dict[str, Any]:
    (run,) = [run for run in await runs(waybill, channel_id) if run["id"] == run_id]
    assert run["status"] in DONE, run
    return run


async def sync(waybill: Harness, channel_id: str) -> dict[str, Any]:
    """syncChannel, then wait for that run to end."""
    result = (await waybill.gql(SYNC, {"id": channel_id}))["syncChannel"]
    assert result["userErrors"] == []
    run_id = result["syncRun"]["id"]
    return await eventually(lambda: run_done(waybill, channel_id, run_id))


async def connected_with(waybill: Harness, count: int) -> tuple[str, list[dict[str, Any]]]:
    """Connect, wait until `count` orders are in and every run has ended."""
    channel_id = await connect(waybill)

    async def imported() -> bool:
        found = await orders(waybill)
        assert len(found) == count, found
        return True

    await eventually(imported)
    await eventually(lambda: all_runs_done(waybill, channel_id))
    return channel_id, await orders(waybill)


async def order_events() -> int:
    return await models.Event.filter(type__startswith="ORDER_").count()


async def test_sync_against_a_failing_store_fails_readably_then_imports_each_order_once(waybill: Harness) -> None:
    shop = waybill.shop
    for _ in range(3):
        shop.add_order()
    shop.fail_next(FAILURES_PER_SYNC, 500, path_contains="/orders.json", method="GET")
    channel_id = await connect(waybill)

    async def failed() -> dict[str, Any]:
        current = await channel(waybill, channel_id)
        assert current["state"] == "ERROR", current
        return current

    broken = await eventually(failed)
    assert "500" in broken["lastError"] and "try again" in broken["lastError"], broken["lastError"]
    failed_runs = [run for run in await runs(waybill, channel_id) if run["status"] == "FAILED"]
    assert len(failed_runs) == 1, failed_runs
    assert failed_runs[0]["error"] == broken["lastError"]
    assert "Internal Server Error" in failed_runs[0]["error"]

    await eventually(lambda: all_runs_done(waybill, channel_id))
    recovered = await sync(waybill, channel_id)
    assert recovered["status"] == "SUCCEEDED", recovered
    assert (await channel(waybill, channel_id))["state"] == "CONNECTED"
    assert (await channel(waybill, channel_id))["lastError"] is None

    found = await orders(waybill)
    assert len(found) == len(shop.order_ids())
    assert sorted(o["number"] for o in found) == sorted(shop.order(i)["name"] for i in shop.order_ids())
    created = sum(run["created"] for run in await runs(waybill, channel_id))
    assert created == len(shop.order_ids()), "every order was created exactly once across all runs"


async def test_wrong_token_is_refused_at_connect_and_nothing_is_stored(waybill: Harness) -> None:
    result = (await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": "shpat_mistyped"}))["connectChannel"]
    assert result["channel"] is None
    (error,) = result["userErrors"]
    assert error["code"] == "CHANNEL_AUTH_FAILED", error
    assert "Shopify refused these credentials" in error["message"] and "401" in error["message"], error
    assert "shpat_mistyped" not in error["message"]
    assert (await waybill.gql("{ channels { id } }"))["channels"] == []


def revoke_after_connect(waybill: Harness) -> None:
    """The token works when connecting, then the merchant uninstalls the app: every order call is refused."""
    waybill.shop.fail_next(10_000, 401, errors=INVALID_TOKEN, path_contains="/orders.json")


async def test_revoked_token_needs_reauth_and_imports_nothing(waybill: Harness) -> None:
    waybill.shop.add_order()
    revoke_after_connect(waybill)
    channel_id = await connect(waybill)

    async def refused() -> dict[str, Any]:
        current = await channel(waybill, channel_id)
        assert current["state"] == "NEEDS_REAUTH", current
        return current

    current = await eventually(refused)
    assert "Reconnect the channel" in current["lastError"], current["lastError"]
    assert "401" in current["lastError"]
    # Every run ends FAILED saying why: the first with the store's answer; a run that waited for it
    # (a scheduled sync can start alongside the connect's) with the channel's state.
    ended = await eventually(lambda: all_runs_done(waybill, channel_id))
    assert all(run["status"] == "FAILED" and "Reconnect" in run["error"] for run in ended), ended
    assert await orders(waybill) == []


async def test_sync_channel_on_a_channel_needing_reauth_leaves_no_run_stuck(waybill: Harness, runtime: Runtime) -> None:
    revoke_after_connect(waybill)
    channel_id = await connect(waybill)

    async def needs_reauth() -> bool:
        assert (await channel(waybill, channel_id))["state"] == "NEEDS_REAUTH"
        return True

    await eventually(needs_reauth)
    result = (await waybill.gql(SYNC, {"id": channel_id}))["syncChannel"]
    if result["userErrors"]:  # refusing up front is a fine answer too
        assert "Reconnect" in result["userErrors"][0]["message"]
        return
    run_id = ids.decode("SyncRun", result["syncRun"]["id"], "id")
    job = Job(runtime.key(f"sync-run:{run_id}"), runtime.redis, _queue_name=runtime.settings.queue_name)
    await job.result(timeout=10, poll_delay=0.05)  # the job has run and returned
    run = await models.SyncRun.get(id=run_id)
    assert run.status == "FAILED", f"the job finished but the run is still {run.status}"
    assert run.error and "Reconnect" in run.error


async def test_resyncing_unchanged_orders_writes_nothing(waybill: Harness) -> None:
    count = 3
    for _ in range(count):
        waybill.shop.add_order()
    channel_id, _ = await connected_with(waybill, count)
    events_before = await order_events()

    second = await sync(waybill, channel_id)

    assert second["status"] == "SUCCEEDED", second
    assert (second["fetched"], second["unchanged"], second["created"], second["updated"]) == (count, count, 0, 0)
    assert await order_events() == events_before, "an unchanged order must not log ORDER_* events"
    assert len(await orders(waybill)) == count


async def test_store_changes_before_and_after_a_label(waybill: Harness) -> None:
    shop = waybill.shop
    placed = shop.add_order()
    channel_id, (found,) = await connected_with(waybill, 1)

    # Before a label: the store's new address wins.
    shop.set_address(placed["id"], address1="500 Market Street", city="San Francisco", zip="94105",
                     province="California", province_code="CA", country="United States", country_code="US")  # fmt: skip
    run = await sync(waybill, channel_id)
    assert run["status"] == "SUCCEEDED", run  # this run, or a scheduled one just before it, saw the change
    current = await order(waybill, found["id"])
    assert current["status"] == "READY_TO_SHIP"
    assert current["shippingAddress"]["line1"] == "500 Market Street"
    assert current["shippingAddress"]["city"] == "San Francisco"
    assert current["shippingAddress"]["postalCode"] == "94105"

    bought = (await waybill.gql(BUY, {"input": {"orderId": found["id"], "idempotencyKey": "k1"}}))["buyLabel"]
    assert bought["userErrors"] == [] and bought["order"]["status"] == "SHIPPING", bought

    async def tracking_on_store() -> bool:
        assert [f["status"] for f in shop.fulfillments(placed["id"])] == ["success"]
        assert (await order(waybill, found["id"]))["channelWrites"] == []
        return True

    await eventually(tracking_on_store)

    # After a label: the store cancels; the order is flagged, the label is kept.
    shop.cancel(placed["id"])
    run = await sync(waybill, channel_id)
    assert run["status"] == "SUCCEEDED", run
    current = await order(waybill, found["id"])
    assert current["status"] == "NEEDS_ATTENTION", current
    assert "cancelled" in (current["attentionReason"] or ""), current
    assert [s["status"] for s in current["shipments"]] == ["PURCHASED"]
    (label,) = waybill.carrier.labels.values()
    assert label.refund_status != "refunded", "the label was voided behind the merchant's back"
    assert await models.OutboxWrite.filter(kind="SHIPMENT_CANCELLED").count() == 0
    assert [f["status"] for f in shop.fulfillments(placed["id"])] == ["success"]


async def test_two_syncs_at_once_do_not_duplicate_orders(waybill: Harness) -> None:
    shop = waybill.shop
    channel_id, _ = await connected_with(waybill, 0)
    for _ in range(4):
        shop.add_order()

    first, second = await asyncio.gather(waybill.gql(SYNC, {"id": channel_id}), waybill.gql(SYNC, {"id": channel_id}))
    assert first["syncChannel"]["userErrors"] == [] and second["syncChannel"]["userErrors"] == []
    run_ids = {first["syncChannel"]["syncRun"]["id"], second["syncChannel"]["syncRun"]["id"]}
    assert len(run_ids) == 2

    ended = await eventually(lambda: all_runs_done(waybill, channel_id))
    mine = [run for run in ended if run["id"] in run_ids]
    assert [run["status"] for run in mine] == ["SUCCEEDED", "SUCCEEDED"], mine
    assert sum(run["created"] for run in ended) == 4, ended
    found = await orders(waybill)
    assert len(found) == 4
    assert len({o["number"] for o in found}) == 4
