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
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

CONNECT = """
mutation($input: ConnectChannelInput!) { connectChannel(input: $input) {
  channel { id kind platform state } userErrors { field message code }
} }"""
ORDERS = """
query { orders(first: 100) { edges { node { id externalId number status channel { id kind } } } } }"""
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber } order { status } userErrors { field message code }
} }"""
CANCEL = """
mutation($input: CancelLabelInput!) { cancelLabel(input: $input) {
  shipment { id status } order { status } userErrors { field message code }
} }"""
WRITES = "query($id: ID!) { order(id: $id) { channelWrites { kind status lastError } } }"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def connect_input(kind: ChannelKind, fake: FakeChannel, url: str) -> dict[str, Any]:
    spec = SPECS[kind]
    given = fake.credentials(url)
    fields = {camel(f.name): given[f.name] for f in spec.fields if given.get(f.name) is not None}
    return {"kind": kind.value, "name": f"My {spec.title}", "credentials": {camel(kind.value.lower()): fields}}


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
