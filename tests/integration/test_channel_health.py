"""Channel health over GraphQL: backoff on repeated failures, reconnectChannel resuming from the cursor, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.persistence import models
from api import ids
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", credentials: {shopify: {shopUrl: $url, accessToken: $token}}
}) { channel { id } userErrors { field message code } } }"""
RECONNECT = """
mutation($input: ReconnectChannelInput!) { reconnectChannel(input: $input) {
  channel { id state lastError consecutiveFailures } userErrors { field message code }
} }"""
SYNC = "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { syncRun { id } userErrors { code message } } }"
CHANNEL = "query($id: ID!) { channel(id: $id) { state lastError consecutiveFailures nextSyncAt stale lastSyncedAt } }"
RUNS = "query($id: ID!) { syncRuns(channelId: $id) { id status error created trigger durationSeconds cursorBefore cursorAfter } }"
ORDERS = "query { orders(first: 50) { edges { node { number } } } }"


async def connect(waybill: Harness) -> str:
    result = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []
    return str(result["connectChannel"]["channel"]["id"])


async def channel(waybill: Harness, channel_id: str) -> dict[str, Any]:
    return (await waybill.gql(CHANNEL, {"id": channel_id}))["channel"]  # type: ignore[no-any-return]


async def runs_done(waybill: Harness, channel_id: str) -> list[dict[str, Any]]:
    runs = (await waybill.gql(RUNS, {"id": channel_id}))["syncRuns"]
    assert runs and all(run["status"] in ("SUCCEEDED", "FAILED") for run in runs), runs
    return runs  # type: ignore[no-any-return]


async def test_repeated_failures_back_off_and_show_on_the_channel_until_a_success(waybill: Harness) -> None:
    channel_id = await connect(waybill)
    await eventually(lambda: runs_done(waybill, channel_id))
    waybill.shop.fail_next(10_000, 503, path_contains="/orders.json")
    gaps = []
    for failures in (1, 2, 3):
        before = len(await runs_done(waybill, channel_id))
        await waybill.gql(SYNC, {"id": channel_id})

        async def failed_again(before: int = before, failures: int = failures) -> dict[str, Any]:
            runs = await runs_done(waybill, channel_id)
            assert len(runs) > before and runs[0]["status"] == "FAILED", runs[0]
            current = await channel(waybill, channel_id)
            assert current["consecutiveFailures"] == failures, current
            return current

        current = await eventually(failed_again, within=30)
        assert current["state"] == "ERROR" and "will try again in" in current["lastError"], current
        gaps.append(datetime.fromisoformat(current["nextSyncAt"]) - datetime.now(UTC))
    assert gaps[0] < gaps[1] < gaps[2], f"each failure waits longer: {gaps}"
    assert "3 failures in a row" in current["lastError"]

    waybill.shop._injections.clear()  # the store is back
    waybill.shop.add_order()
    await waybill.gql(SYNC, {"id": channel_id})

    async def healthy() -> dict[str, Any]:
        current = await channel(waybill, channel_id)
        assert current["state"] == "CONNECTED" and current["consecutiveFailures"] == 0, current
        return current

    current = await eventually(healthy, within=30)
    assert current["lastError"] is None and not current["stale"]


async def test_reconnect_checks_the_credentials_and_resumes_from_the_cursor(waybill: Harness) -> None:
    waybill.shop.add_order()
    channel_id = await connect(waybill)
    await eventually(lambda: runs_done(waybill, channel_id))
    cursor = (await models.Channel.get(id=ids.decode("Channel", channel_id, "id"))).sync_cursor
    assert cursor is not None
    waybill.shop.revoke()  # the merchant uninstalled the app
    waybill.shop.add_order()
    await waybill.gql(SYNC, {"id": channel_id})

    async def needs_reauth() -> bool:
        assert (await channel(waybill, channel_id))["state"] == "NEEDS_REAUTH"
        return True

    await eventually(needs_reauth, within=30)
    still_revoked = (await waybill.gql(RECONNECT, {"input": {"channelId": channel_id}}))["reconnectChannel"]
    assert [e["code"] for e in still_revoked["userErrors"]] == ["CHANNEL_AUTH_FAILED"], still_revoked
    assert (await channel(waybill, channel_id))["state"] == "NEEDS_REAUTH", "a failed reconnect changes nothing"

    waybill.shop.access_token = "shpat_reinstalled"
    fresh = {"shopify": {"shopUrl": waybill.shop_url, "accessToken": "shpat_reinstalled"}}
    result = await waybill.gql(RECONNECT, {"input": {"channelId": channel_id, "credentials": fresh}})
    result = result["reconnectChannel"]
    assert result["userErrors"] == [] and result["channel"]["state"] == "CONNECTED", result
    assert result["channel"]["consecutiveFailures"] == 0

    async def both_orders() -> bool:
        edges = (await waybill.gql(ORDERS))["orders"]["edges"]
        assert len(edges) == 2, edges
        return True

    await eventually(both_orders, within=30)
    # The orders show once their page commits; the run itself ends a moment later.
    finished = await eventually(lambda: runs_done(waybill, channel_id))
    latest = finished[0]
    assert latest["status"] == "SUCCEEDED" and latest["durationSeconds"] >= 0
    assert latest["cursorAfter"] >= latest["cursorBefore"]
    resumed = await models.SyncRun.get(id=ids.decode("SyncRun", latest["id"], "id"))
    assert resumed.cursor_before == cursor, "the sync resumed from the stored cursor"


async def test_a_channel_without_a_successful_sync_for_three_intervals_is_stale(waybill: Harness) -> None:
    channel_id = await connect(waybill)
    await eventually(lambda: runs_done(waybill, channel_id))
    assert not (await channel(waybill, channel_id))["stale"]
    pk = ids.decode("Channel", channel_id, "id")
    await models.Channel.filter(id=pk).update(last_synced_at=datetime.now(UTC) - timedelta(seconds=3 * 300 + 60))
    assert (await channel(waybill, channel_id))["stale"]
