"""Rotating refresh tokens (Etsy) persisted through the database, one refresh at a time across clients."""

from __future__ import annotations

import asyncio

import pytest

from adapters.channels.etsy.fake import FakeEtsy
from adapters.persistence import models
from adapters.runtime import Runtime
from domain.model import ChannelKind
from tests.support.channels import CONNECT, RUNS, connect_input
from tests.support.harness import Harness, eventually
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]


async def stored(runtime: Runtime, channel_id: int) -> dict[str, object]:
    row = await models.Channel.get(id=channel_id)
    assert "refresh" not in row.credentials, "credentials are encrypted at rest"
    return runtime.secrets.decrypt(row.credentials)


async def test_a_rotated_refresh_token_is_saved_and_spent_once_by_concurrent_clients(
    waybill: Harness, runtime: Runtime
) -> None:
    fake = FakeEtsy()
    fake.create_order([("TOTE", "Canvas Tote", 1)])
    async with serve_app(fake.app) as url:
        given = connect_input(ChannelKind.ETSY, fake, url)
        result = (await waybill.gql(CONNECT, {"input": given}))["connectChannel"]
        assert result["userErrors"] == []
        gid = result["channel"]["id"]
        channel_id = int(gid.rsplit("/", 1)[1])

        async def synced() -> bool:
            runs = (await waybill.gql(RUNS, {"id": gid}))["syncRuns"]
            assert runs and runs[0]["status"] == "SUCCEEDED", runs
            return True

        await eventually(synced, within=30)
        before = await stored(runtime, channel_id)
        refreshes = fake.refreshes
        fake.expire_access_token()
        clients = [(await runtime.channel_client(channel_id))[0] for _ in range(4)]
        try:
            pages = await asyncio.gather(*(client.list_orders(None) for client in clients))
        finally:
            for client in clients:
                await client.aclose()
        assert all(len(page.orders) == 1 for page in pages), "every client got through"
        assert fake.refreshes == refreshes + 1, "four clients, one refresh: the others used the saved tokens"
        after = await stored(runtime, channel_id)
        assert after["refresh_token"] != before["refresh_token"], "the rotated refresh token was saved"
        # What was saved is alive: a later process refreshes with it.
        fake.expire_access_token()
        client, _ = await runtime.channel_client(channel_id)
        try:
            assert len((await client.list_orders(None)).orders) == 1
        finally:
            await client.aclose()
        assert fake.refreshes == refreshes + 2
