"""A WebSocket authenticates once; its subscriptions still stop when the key is revoked or expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.persistence import models
from adapters.persistence.accounts import create_api_key
from api.auth import liveness
from domain.model import ChannelKind
from tests.support.channels import CONNECT, connect_input
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

ORDER_CHANGED = "subscription { orderChanged { type order { number } } }"
REVOKE = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code message } } }"
KEYS = "{ apiKeys { id name } }"


def numbers(messages: list[dict[str, Any]]) -> list[str]:
    return [m["data"]["orderChanged"]["order"]["number"] for m in messages if (m.get("data") or {}).get("orderChanged")]


async def import_one(waybill: Harness, channel_id: str | None) -> tuple[str, str]:
    """Places an order in the shop and syncs it in; the channel id and the order's number."""
    external_id = waybill.shop.create_order([("SKU-S", "Socket test", 1)])
    number = str(waybill.shop.order(external_id)["name"])
    if channel_id is None:
        connected = await waybill.gql(
            CONNECT, {"input": connect_input(ChannelKind.SHOPIFY, waybill.shop, waybill.shop_url)}
        )
        channel_id = connected["connectChannel"]["channel"]["id"]
    else:
        await waybill.gql(
            "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { userErrors { code } } }", {"id": channel_id}
        )
    assert channel_id is not None
    return channel_id, number


@pytest.mark.parametrize("ending", ["revoked", "expired"])
async def test_an_open_subscription_ends_when_its_key_stops_being_valid(
    waybill: Harness, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    monkeypatch.setattr(liveness, "RECHECK_SECONDS", 0.2)
    dashboard_key = await create_api_key(waybill.account_id, "dashboard", ["read_orders"])
    async with waybill.subscribe(ORDER_CHANGED, key=dashboard_key) as subscriber:
        channel_id, first = await import_one(waybill, None)

        async def delivered() -> bool:
            assert first in numbers(subscriber.messages), subscriber.messages
            return True

        await eventually(delivered)
        row = await models.ApiKey.get(account_id=waybill.account_id, name="dashboard")
        if ending == "revoked":
            key_id = next(k["id"] for k in (await waybill.gql(KEYS))["apiKeys"] if k["name"] == "dashboard")
            assert (await waybill.gql(REVOKE, {"id": key_id}))["revokeApiKey"]["userErrors"] == []
        else:
            await models.ApiKey.filter(id=row.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

        async def ended() -> bool:
            errors = [e for m in subscriber.messages for e in m.get("errors") or []]
            assert any((e.get("extensions") or {}).get("code") == "UNAUTHENTICATED" for e in errors), (
                subscriber.messages
            )
            return True

        await eventually(ended)
        _, second = await import_one(waybill, channel_id)
        await eventually(lambda: _imported(waybill, second))
        assert second not in numbers(subscriber.messages), "an event reached a socket whose key is no longer valid"


async def _imported(waybill: Harness, number: str) -> bool:
    found = await waybill.gql("query($q: String) { orders(first: 5, query: $q) { nodes { number } } }", {"q": number})
    return any(node["number"] == number for node in found["orders"]["nodes"])
