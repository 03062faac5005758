"""Account A tries every operation of the schema on account B's ids: each answers exactly like an id
that exists nowhere (no hint that B's object exists), and B's data is unchanged afterwards.

The table of operations is tests/security/operations.py; a schema field without an entry fails
`test_every_operation_of_the_schema_has_an_isolation_entry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets

from adapters.channels.shopify.webhooks import sign_webhook
from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from adapters.persistence.users import create_user
from api import ids
from api.schema import schema
from domain import model
from tests.security.operations import MUTATIONS, QUERIES, SUBSCRIPTIONS, Op, covered
from tests.support.harness import Harness, eventually

ACCOUNT_B = "Account B (secret name)"
MISSING_PK = 987_654


def test_every_operation_of_the_schema_has_an_isolation_entry() -> None:
    graphql = schema._schema
    for root, table in ((graphql.query_type, QUERIES), (graphql.mutation_type, MUTATIONS)):
        assert root is not None
        missing = sorted(set(root.fields) - covered(table))
        assert not missing, (
            f"{root.name} fields without a cross-account entry: {missing}. Add each to tests/security/operations.py "
            "(an Op with the operation text using account B's {order}/{channel}/... ids, or scoped=False)."
        )
    assert graphql.subscription_type is not None
    missing = sorted(set(graphql.subscription_type.fields) - covered(SUBSCRIPTIONS))
    assert not missing, f"Subscription fields without an entry in tests/security/operations.py: {missing}"


@dataclass
class AccountB:
    key: str
    account_id: int
    gids: dict[str, str]
    markers: list[str]  # strings only B's data contains: none may reach A
    channel_pk: int
    webhook_secret: str


HEADER = "order_number,order_date,status,customer_email,ship_name,ship_line1,ship_city,ship_region,ship_postal_code,ship_country,sku,title,quantity,weight_grams\n"
IMPORT = "mutation($input: ImportOrdersCsvInput!) { importOrdersCsv(input: $input) { created syncRun { id } rowErrors { message } userErrors { field message code } } }"


def rows(prefix: str, numbers: range) -> str:
    return "".join(
        f"{prefix}{n},2026-11-20,unfulfilled,{prefix.lower()}{n}@example.com,Buyer {n},{n} Main St,Portland,OR,97201,US,"
        f"SKU-{prefix}{n},Thing {prefix}{n},1,400\n"
        for n in numbers
    )


async def upload(harness: Harness, key: str, csv_text: str, channel_id: str | None = None) -> dict[str, Any]:
    operations = {"query": IMPORT, "variables": {"input": {"file": None, "channelId": channel_id}}}
    response = await harness.http.post(
        f"{harness.base_url}/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": ("orders.csv", csv_text.encode(), "text/csv")},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def account_b(harness: Harness) -> AccountB:
    """Account B with one of everything: orders, a label, a batch, channels, a carrier, a template."""
    account_id = await create_account(ACCOUNT_B)
    key = await create_api_key(account_id, "b", ["admin"])
    imported = (await upload(harness, key, HEADER + rows("BZ", range(7001, 7004))))["data"]["importOrdersCsv"]
    assert imported["created"] == 3, imported
    orders = await harness.gql("{ orders(first: 10) { edges { node { id number lines { id } } } } }", key=key)
    nodes = {edge["node"]["number"]: edge["node"] for edge in orders["orders"]["edges"]}
    bought = await harness.gql(
        'mutation($o: ID!) { buyLabel(input: {orderId: $o, idempotencyKey: "b-1"}) { shipment { id status } userErrors { code } } }',
        {"o": nodes["BZ7001"]["id"]},
        key=key,
    )
    assert bought["buyLabel"]["shipment"]["status"] == "PURCHASED", bought
    batch = await harness.gql(
        'mutation($o: ID!) { buyLabels(input: {orders: [{orderId: $o}], idempotencyKey: "b-batch"}) { batch { id } } }',
        {"o": nodes["BZ7002"]["id"]},
        key=key,
    )
    batch_id = batch["buyLabels"]["batch"]["id"]

    async def batch_done() -> bool:
        found = await harness.gql("query($b: ID!) { labelBatch(id: $b) { status } }", {"b": batch_id}, key=key)
        return bool(found["labelBatch"]["status"] == "DONE")

    await eventually(batch_done, within=30)
    runtime = harness.runtime
    await models.CarrierAccount.create(
        account_id=account_id,
        carrier="EASYPOST",
        name="bz-carrier",
        credentials=runtime.secrets.encrypt({"api_key": "x"}),
    )
    await harness.gql(
        'mutation { updateNotificationTemplate(input: {kind: SHIPPED, subject: "BZ {{ order_number }}", body: "BZ secret body"}) { userErrors { code } } }',
        key=key,
    )
    secret = "bz-webhook-secret"
    async with runtime.uow("test") as uow:
        shop = await uow.channels.add(
            model.Channel(id=0, account_id=account_id, kind=model.ChannelKind.SHOPIFY, name="BZ shop"),
            {"shop_url": "http://127.0.0.1:9", "access_token": "bz", "webhook_secret": secret},
        )
    csv_channel = (await harness.gql("{ channels { id kind } }", key=key))["channels"]
    csv_gid = next(c["id"] for c in csv_channel if c["kind"] == "CSV")
    shipment_gid = bought["buyLabel"]["shipment"]["id"]
    key_row = await models.ApiKey.filter(account_id=account_id).first()
    assert key_row is not None
    user = await create_user(account_id, "b-owner@b.example", "long enough pass", "OWNER")
    gids = {
        "order": nodes["BZ7001"]["id"],
        "line": nodes["BZ7003"]["lines"][0]["id"],
        "shipment": shipment_gid,
        "channel": csv_gid,
        "batch": batch_id,
        "api_key": ids.encode("ApiKey", key_row.id),
        "user": ids.encode("User", user.id),
    }
    markers = [ACCOUNT_B, "BZ7", "bz-carrier", "BZ shop", "BZ secret", *gids.values(), ids.encode("Channel", shop.id)]
    return AccountB(key, account_id, gids, markers, shop.id, secret)


def fill(text: str, gids: dict[str, str]) -> str:
    for name, value in gids.items():
        text = text.replace("{" + name + "}", value)
    return text


def missing_gids(gids: dict[str, str]) -> dict[str, str]:
    return {name: value.rsplit("/", 1)[0] + f"/{MISSING_PK}" for name, value in gids.items()}


def normalised(body: dict[str, Any], gids: dict[str, str]) -> str:
    text = json.dumps({k: v for k, v in body.items() if k != "extensions"}, sort_keys=True)
    for name, value in gids.items():
        text = text.replace(json.dumps(value)[1:-1], f"<{name}>")
    return text


async def snapshot(account_id: int) -> dict[str, Any]:
    """Everything of B's that an operation of A's could change."""
    found: dict[str, Any] = {"account": await models.Account.filter(id=account_id).values()}
    for table in (
        models.Order,
        models.OrderLine,
        models.Shipment,
        models.Channel,
        models.LabelBatch,
        models.SyncRun,
        models.CarrierAccount,
        models.NotificationTemplate,
        models.WebhookDelivery,
        models.ApiKey,
        models.User,
    ):
        query = (
            table.filter(order__account_id=account_id)
            if table is models.OrderLine
            else table.filter(account_id=account_id)
        )
        found[table.__name__] = [
            {k: v for k, v in row.items() if not k.startswith(BACKGROUND)}
            for row in sorted(await query.values(), key=lambda row: row["id"])
            if row.get("trigger") != model.SyncTrigger.SCHEDULE.value  # the tick's own syncs of B's shop
        ]
    return found


#: Columns the worker changes by itself meanwhile (tracking polls, the tick's syncs): not A's doing.
BACKGROUND = ("updated_at", "version", "tracking", "next_", "last_", "consecutive", "state", "sync_cursor")


async def ask(harness: Harness, op: Op, gids: dict[str, str]) -> dict[str, Any]:
    if op.text == "multipart":
        return await upload(harness, harness.api_key, HEADER + rows("AZ", range(1, 2)), gids["channel"])
    response = await harness.http.post(
        f"{harness.base_url}/graphql",
        json={"query": fill(op.text, gids)},
        headers={"Authorization": f"Bearer {harness.api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.db
@pytest.mark.queue
async def test_no_operation_of_account_a_reaches_account_b(waybill: Harness) -> None:
    b = await account_b(waybill)
    before = await snapshot(b.account_id)
    missing = missing_gids(b.gids)
    problems: list[str] = []
    for name, op in {**QUERIES, **MUTATIONS}.items():
        attack = await ask(waybill, op, b.gids)
        leaked = [marker for marker in b.markers if marker in json.dumps(attack)]
        if leaked:
            problems.append(f"{name}: the answer shows account B's {leaked}: {attack}")
        if op.scoped:
            control = await ask(waybill, op, missing)
            if normalised(attack, b.gids) != normalised(control, missing):
                problems.append(f"{name}: B's id answers {attack} but a missing id answers {control}")
    after = await snapshot(b.account_id)
    changed = [
        f"{table}: {[(a, b) for a, b in zip(before[table], after[table], strict=False) if a != b] or after[table][len(before[table]) :]}"
        for table in before
        if before[table] != after[table]
    ]
    assert not problems, "\n".join(problems)
    assert not changed, f"account A's operations changed account B's {changed}"


@pytest.mark.db
@pytest.mark.queue
async def test_label_downloads_and_webhooks_of_another_account_are_not_found(waybill: Harness) -> None:
    b = await account_b(waybill)
    shipment = ids.decode("Shipment", b.gids["shipment"], "shipment")
    batch = ids.decode("LabelBatch", b.gids["batch"], "batch")
    auth_a = {"Authorization": f"Bearer {waybill.api_key}"}
    auth_b = {"Authorization": f"Bearer {b.key}"}
    for path, missing_path in (
        (f"/labels/{shipment}.pdf", f"/labels/{MISSING_PK}.pdf"),
        (f"/labels/{shipment}.zpl", f"/labels/{MISSING_PK}.zpl"),
        (f"/labels/batches/{batch}.pdf", f"/labels/batches/{MISSING_PK}.pdf"),
    ):
        owner = await waybill.http.get(waybill.base_url + path, headers=auth_b)
        assert owner.status_code == 200 and owner.content, path  # the file is there for its owner
        attack = await waybill.http.get(waybill.base_url + path, headers=auth_a)
        control = await waybill.http.get(waybill.base_url + missing_path, headers=auth_a)
        assert (attack.status_code, attack.text) == (control.status_code, control.text) == (404, control.text), path

    # A's own Shopify channel and secret, signing a webhook for B's channel: refused, nothing stored.
    async with waybill.runtime.uow("test") as uow:
        await uow.channels.add(
            model.Channel(id=0, account_id=waybill.account_id, kind=model.ChannelKind.SHOPIFY, name="A shop"),
            {"shop_url": "http://127.0.0.1:9", "access_token": "a", "webhook_secret": "a-secret"},
        )
    body = json.dumps({"id": 4242, "name": "#4242", "line_items": []}).encode()
    headers = {"X-Shopify-Topic": "orders/updated", "X-Shopify-Webhook-Id": "iso-1", "Content-Type": "application/json"}
    url = f"{waybill.base_url}/webhooks/channels/{b.channel_pk}"
    forged = await waybill.http.post(
        url, content=body, headers={**headers, "X-Shopify-Hmac-Sha256": sign_webhook(body, "a-secret")}
    )
    assert forged.status_code == 401, forged.text
    assert await models.WebhookDelivery.filter(channel_id=b.channel_pk).count() == 0
    genuine = await waybill.http.post(
        url, content=body, headers={**headers, "X-Shopify-Hmac-Sha256": sign_webhook(body, b.webhook_secret)}
    )
    assert genuine.status_code == 200, (
        genuine.text
    )  # the same delivery with B's secret is accepted: the refusal was the key


@contextlib.asynccontextmanager
async def subscription(harness: Harness, query: str) -> AsyncIterator[list[dict[str, Any]]]:
    """All messages of one subscription as account A (next, error, complete) while the block runs."""
    url = harness.base_url.replace("http://", "ws://") + "/graphql"
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {harness.api_key}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))

        async def read() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] in ("next", "error", "complete"):
                    messages.append(message)

        task = asyncio.create_task(read())
        try:
            yield messages
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def completed(messages: list[dict[str, Any]], within: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while not any(m["type"] in ("complete", "error") for m in messages):
        assert time.monotonic() < deadline, f"subscription did not end: {messages}"
        await asyncio.sleep(0.02)
    return [{k: v for k, v in m.items() if k != "id"} for m in messages]


@pytest.mark.db
@pytest.mark.queue
async def test_subscriptions_never_deliver_another_accounts_events(waybill: Harness) -> None:
    b = await account_b(waybill)
    missing = missing_gids(b.gids)
    batch_op = SUBSCRIPTIONS["labelBatchProgress"].text
    async with subscription(waybill, fill(batch_op, b.gids)) as attack:
        attack_messages = await completed(attack)
    async with subscription(waybill, fill(batch_op, missing)) as control:
        assert attack_messages == await completed(control)

    runs_of_b = SUBSCRIPTIONS["syncRunProgress"].text.replace("{channel}", ids.encode("Channel", b.channel_pk))
    async with (
        subscription(waybill, SUBSCRIPTIONS["orderChanged"].text) as orders,
        subscription(waybill, runs_of_b) as filtered,
        subscription(waybill, "subscription { syncRunProgress { id status } }") as runs,
    ):

        async def a_saw(number: str) -> bool:
            return number in json.dumps(orders)

        async def upload_as_a(number: int) -> None:
            await upload(waybill, waybill.api_key, HEADER + rows("AZ", range(number, number + 1)))

        # A's own order arriving proves the subscriptions are live before B's events happen.
        await upload_as_a(10)
        await eventually(lambda: a_saw("AZ10"), within=15)
        await upload(waybill, b.key, HEADER + rows("BZ", range(7100, 7102)), b.gids["channel"])
        shop = ids.encode("Channel", b.channel_pk)
        synced = await waybill.gql(
            "mutation($c: ID!) { syncChannel(input: {channelId: $c}) { syncRun { id } userErrors { code } } }",
            {"c": shop},
            key=b.key,
        )
        b.markers.append(synced["syncChannel"]["syncRun"]["id"])
        await upload_as_a(11)
        await eventually(lambda: a_saw("AZ11"), within=15)
        everything = json.dumps([orders, filtered, runs])
        assert not [marker for marker in b.markers if marker in everything], everything
        assert filtered == [], filtered
