"""A merchant with one store on every kind: all orders in one `orders` query, and a label bought for
any of them reaches the right platform in that platform's format. Real server, real fakes, real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.channels.base import FakeChannel
from adapters.channels.catalog import SPECS
from domain.model import ChannelCapability as Can
from domain.model import ChannelKind
from tests.contract.kinds import FAKES
from tests.support.channels import CONNECT, RUNS, camel, connect_input
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

ORDERS = """
query { orders(first: 100) { edges { node { id externalId number status channel { id kind } } } } }"""
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber } order { status } userErrors { field message code }
} }"""
WEBHOOK_URL = "query($id: ID!) { channel(id: $id) { webhookUrl } }"
CANCEL = """
mutation($input: CancelLabelInput!) { cancelLabel(input: $input) {
  shipment { id status } order { status } userErrors { field message code }
} }"""
WRITES = "query($id: ID!) { order(id: $id) { channelWrites { kind status lastError } } }"


@contextlib.asynccontextmanager
async def served(fakes: dict[ChannelKind, FakeChannel]) -> AsyncIterator[dict[ChannelKind, str]]:
    async with contextlib.AsyncExitStack() as stack:
        yield {kind: await stack.enter_async_context(serve_app(fake.app)) for kind, fake in fakes.items()}


async def test_every_channel_in_one_account_and_labels_reach_each_platform(waybill: Harness) -> None:
    fakes = {kind: FAKES[kind]() for kind in sorted(FAKES)}
    expected: dict[ChannelKind, str] = {
        kind: fake.create_order([("TOTE", "Canvas Tote", 1), ("MUG", "Enamel Mug", 2)]) for kind, fake in fakes.items()
    }
    async with served(fakes) as urls:
        channel_ids: dict[str, ChannelKind] = {}
        for kind, fake in fakes.items():
            result = (await waybill.gql(CONNECT, {"input": connect_input(kind, fake, urls[kind])}))["connectChannel"]
            assert result["userErrors"] == [], (kind, result["userErrors"])
            assert result["channel"]["platform"] == SPECS[kind].title
            channel_ids[result["channel"]["id"]] = kind
            shown = await waybill.gql(WEBHOOK_URL, {"id": result["channel"]["id"]})
            assert (shown["channel"]["webhookUrl"] is None) is (SPECS[kind].webhooks is None), (kind, shown)

        async def all_imported() -> dict[ChannelKind, dict[str, Any]]:
            edges = (await waybill.gql(ORDERS))["orders"]["edges"]
            found = {channel_ids[e["node"]["channel"]["id"]]: e["node"] for e in edges}
            assert set(found) == set(fakes), f"orders so far from {sorted(found)}"
            return found

        found = await eventually(all_imported, within=60)
        for kind, node in found.items():
            assert node["externalId"] == expected[kind] and node["channel"]["kind"] == kind.value
            assert node["status"] == "READY_TO_SHIP", (kind, node)

        for kind, node in found.items():
            bought = await waybill.gql(BUY, {"input": {"orderId": node["id"], "idempotencyKey": f"e2e-{kind}"}})
            result = bought["buyLabel"]
            assert result["userErrors"] == [], (kind, result["userErrors"])
            number = result["shipment"]["trackingNumber"]
            fake = fakes[kind]

            async def on_platform(fake: FakeChannel = fake, kind: ChannelKind = kind, number: str = number) -> bool:
                shipments = fake.shipments(expected[kind])
                assert [s.tracking_number for s in shipments if not s.cancelled] == [number], (kind, shipments)
                assert fake.is_shipped(expected[kind]), kind
                return True

            await eventually(on_platform, within=30)
            writes = (await waybill.gql(WRITES, {"id": node["id"]}))["order"]["channelWrites"]
            assert all(w["status"] != "FAILED" for w in writes), (kind, writes)
            await undo_or_refusal(waybill, kind, fake, expected[kind], result["shipment"]["id"])


async def undo_or_refusal(
    waybill: Harness, kind: ChannelKind, fake: FakeChannel, external_id: str, shipment_id: str
) -> None:
    """cancelLabel: the platform takes the shipment back, or Waybill refuses before voiding anything."""
    result = (await waybill.gql(CANCEL, {"input": {"shipmentId": shipment_id}}))["cancelLabel"]
    if not SPECS[kind].can(Can.UNDO_SHIPMENT):
        (error,) = result["userErrors"]
        assert error["code"] == "UNSUPPORTED" and SPECS[kind].title in error["message"], (kind, error)
        assert [s.tracking_number for s in fake.shipments(external_id) if not s.cancelled], "nothing was undone"
        return
    assert result["userErrors"] == [] and result["shipment"]["status"] == "VOIDED", (kind, result)

    async def taken_back() -> bool:
        assert [s for s in fake.shipments(external_id) if not s.cancelled] == [], kind
        assert not fake.is_shipped(external_id), kind
        return True

    await eventually(taken_back, within=30)


CHANNEL = "query($id: ID!) { channel(id: $id) { state lastError } }"
TEST_CONNECTION = """
mutation($id: ID!) { testChannelConnection(input: {channelId: $id}) {
  ok storeName userErrors { field message code }
} }"""
API_KINDS = sorted(FAKES)


@pytest.mark.parametrize("kind", API_KINDS, ids=lambda kind: kind.value.lower())
async def test_wrong_credentials_are_refused_at_connect_saying_what_to_fix(waybill: Harness, kind: ChannelKind) -> None:
    fake = FAKES[kind]()
    async with serve_app(fake.app) as url:
        given = connect_input(kind, fake, url)
        fields = given["credentials"][camel(kind.value.lower())]
        secrets = [camel(f.name) for f in SPECS[kind].fields if f.secret and camel(f.name) in fields]
        assert secrets, "every API channel has a secret"
        for name in secrets:
            fields[name] = f"wrong-{fields[name]}"
        result = (await waybill.gql(CONNECT, {"input": given}))["connectChannel"]
    assert result["channel"] is None
    (error,) = result["userErrors"]
    assert error["code"] == "CHANNEL_AUTH_FAILED", (kind, error)
    assert error["message"].startswith(f"{SPECS[kind].title} refused these credentials"), error["message"]
    assert not any(fields[name] in error["message"] for name in secrets), "a secret is never echoed"
    assert (await waybill.gql("{ channels { id } }"))["channels"] == []


@pytest.mark.parametrize("kind", API_KINDS, ids=lambda kind: kind.value.lower())
async def test_revoked_access_puts_only_that_channel_in_needs_reauth(waybill: Harness, kind: ChannelKind) -> None:
    fake = FAKES[kind]()
    fake.create_order([("TOTE", "Canvas Tote", 1)])
    async with serve_app(fake.app) as url:
        result = (await waybill.gql(CONNECT, {"input": connect_input(kind, fake, url)}))["connectChannel"]
        assert result["userErrors"] == []
        channel_id = result["channel"]["id"]
        checked = (await waybill.gql(TEST_CONNECTION, {"id": channel_id}))["testChannelConnection"]
        assert checked["ok"] and checked["storeName"] and checked["userErrors"] == [], checked

        async def first_sync_done() -> bool:
            runs = (await waybill.gql(RUNS, {"id": channel_id}))["syncRuns"]
            assert runs and all(run["status"] == "SUCCEEDED" for run in runs), runs
            return True

        await eventually(first_sync_done, within=30)
        fake.revoke()
        await waybill.gql(
            "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { syncRun { id } } }", {"id": channel_id}
        )

        async def needs_reauth() -> dict[str, Any]:
            channel = (await waybill.gql(CHANNEL, {"id": channel_id}))["channel"]
            assert channel["state"] == "NEEDS_REAUTH", channel
            return channel  # type: ignore[no-any-return]

        channel = await eventually(needs_reauth, within=30)
        assert "Reconnect the channel" in channel["lastError"], channel["lastError"]
        runs = (await waybill.gql(RUNS, {"id": channel_id}))["syncRuns"]
        assert runs[0]["status"] == "FAILED" and "Reconnect" in runs[0]["error"], runs[0]
        checked = (await waybill.gql(TEST_CONNECTION, {"id": channel_id}))["testChannelConnection"]
    assert not checked["ok"] and checked["userErrors"][0]["code"] == "CHANNEL_AUTH_FAILED", checked
