"""Channel writes through the outbox while the store fails: retried with backoff, in order, once each.

The whole app runs on loopback (API + in-process worker) against a FakeShopify store whose failures
are injected per request. The Shopify client retries a 5xx a few times itself (ShopifyClient.retry_backoff);
the tests inject more failures than that so the outbox's own retry (jobs/outbox.py) is exercised too.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pytest

from adapters.channels.shopify.client import MAX_THROTTLE_RETRIES, ShopifyClient
from adapters.persistence import models
from adapters.runtime import Runtime
from api import ids
from jobs.outbox import deliver_outbox
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

#: How many POSTs one outbox attempt makes before the client gives the failure back to the outbox.
POSTS_PER_ATTEMPT = len(ShopifyClient.retry_backoff) + 1

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id state } userErrors { field message code } } }"""
ORDERS = "query { orders(first: 50) { edges { node { id number status } } } }"
ORDER = """
query($id: ID!) { order(id: $id) {
  id number status
  shipments { id status trackingNumber }
  channelWrites { kind status attempts lastError }
} }"""
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber } order { id status } userErrors { field message code }
} }"""
CANCEL = """
mutation($id: ID!) { cancelLabel(input: {shipmentId: $id}) {
  shipment { id status } order { id status } userErrors { field message code }
} }"""
SKIP = "mutation($id: ID!) { skipShipping(input: {orderId: $id}) { order { id status } userErrors { code } } }"


class TimedLog(list[Any]):
    """Stands in for FakeShopify.requests: also notes when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic())
        super().append(item)


@pytest.fixture
def waybill(waybill: Harness) -> Harness:
    """The shared harness, with the store's request log timestamped (for Retry-After checks)."""
    waybill.shop.requests = TimedLog()
    return waybill


async def connect_and_import(waybill: Harness, count: int = 1) -> list[dict[str, Any]]:
    result = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []

    async def imported() -> list[dict[str, Any]]:
        nodes = [edge["node"] for edge in (await waybill.gql(ORDERS))["orders"]["edges"]]
        assert len(nodes) == count, nodes
        return nodes

    return await eventually(imported)


async def order(waybill: Harness, order_id: str) -> dict[str, Any]:
    return (await waybill.gql(ORDER, {"id": order_id}))["order"]  # type: ignore[no-any-return]


async def buy(waybill: Harness, order_id: str, key: str) -> dict[str, Any]:
    bought = (await waybill.gql(BUY, {"input": {"orderId": order_id, "idempotencyKey": key}}))["buyLabel"]
    assert bought["userErrors"] == [], bought
    assert bought["shipment"]["status"] == "PURCHASED", bought
    return bought  # type: ignore[no-any-return]


async def writes_settled(waybill: Harness, order_id: str) -> dict[str, Any]:
    """Nothing pending or failed any more for the order."""
    current = await order(waybill, order_id)
    assert current["channelWrites"] == [], current["channelWrites"]
    return current


def posts(waybill: Harness, suffix: str) -> list[int]:
    """Indexes in the store's request log of the POSTs whose path ends with `suffix`."""
    return [
        i for i, (method, path, _) in enumerate(waybill.shop.requests) if method == "POST" and path.endswith(suffix)
    ]


def create_posts(waybill: Harness) -> list[int]:
    return [i for i in posts(waybill, "/fulfillments.json") if "/orders/" not in waybill.shop.requests[i][1]]


async def outbox_rows(order_id: str, kind: str | None = None) -> list[models.OutboxWrite]:
    query = models.OutboxWrite.filter(order_id=ids.decode("Order", order_id, "id"))
    if kind is not None:
        query = query.filter(kind=kind)
    return await query.order_by("id")


async def event_types(order_id: str) -> list[str]:
    rows = await models.Event.filter(order_id=ids.decode("Order", order_id, "id")).order_by("id")
    return [row.type for row in rows]


async def test_fulfillment_post_failing_three_times_is_delivered_once(waybill: Harness) -> None:
    placed = waybill.shop.add_order()
    (found,) = await connect_and_import(waybill)
    failures = 3
    waybill.shop.fail_next(failures, 500, path_contains="fulfillments.json", method="POST")

    bought = await buy(waybill, found["id"], "label-500s")
    await eventually(lambda: writes_settled(waybill, found["id"]))

    fulfillments = waybill.shop.fulfillments(placed["id"])
    assert [(f["status"], f["tracking_number"]) for f in fulfillments] == [
        ("success", bought["shipment"]["trackingNumber"])
    ]
    assert len(create_posts(waybill)) == failures + 1, "every failed POST was retried, the last one landed"
    (row,) = await outbox_rows(found["id"], "SHIPMENT_CREATED")
    failed_attempts = math.ceil(failures / POSTS_PER_ATTEMPT)
    assert row.status == "DELIVERED"
    assert row.attempts == failed_attempts + 1 > 1, "the outbox itself retried, not only the client"
    assert "CHANNEL_WRITE_RETRYING" in await event_types(found["id"])


async def test_throttled_fulfillment_post_is_delivered_once_after_the_wait(waybill: Harness) -> None:
    placed = waybill.shop.add_order()
    (found,) = await connect_and_import(waybill)
    # The client waits out a few 429s itself; the last one (a longer Retry-After) goes back to the outbox,
    # which must wait at least that long, beyond its own jitter (at most 0.5 s on a first retry).
    client_wait, outbox_wait = 0.3, 1.2
    waybill.shop.throttle_next(MAX_THROTTLE_RETRIES, client_wait, path_contains="fulfillments.json", method="POST")
    waybill.shop.throttle_next(1, outbox_wait, path_contains="fulfillments.json", method="POST")

    bought = await buy(waybill, found["id"], "label-429")
    await eventually(lambda: writes_settled(waybill, found["id"]))

    fulfillments = waybill.shop.fulfillments(placed["id"])
    assert [(f["status"], f["tracking_number"]) for f in fulfillments] == [
        ("success", bought["shipment"]["trackingNumber"])
    ]
    attempts = create_posts(waybill)
    assert len(attempts) == MAX_THROTTLE_RETRIES + 2, "four 429s, then one POST that landed"
    times = waybill.shop.requests.times  # type: ignore[attr-defined]
    gaps = [times[later] - times[earlier] for earlier, later in itertools.pairwise(attempts)]
    tolerance = 0.05  # timer granularity
    assert all(gap >= client_wait - tolerance for gap in gaps[:-1]), gaps
    assert gaps[-1] >= outbox_wait - tolerance, f"the outbox retried before Retry-After: {gaps}"
    (row,) = await outbox_rows(found["id"], "SHIPMENT_CREATED")
    assert (row.status, row.attempts) == ("DELIVERED", 2)


async def test_store_rejecting_for_good_fails_the_write_without_retrying(waybill: Harness, runtime: Runtime) -> None:
    waybill.shop.add_order()
    (found,) = await connect_and_import(waybill)
    reason = "Invalid fulfillment order line item quantity requested."
    waybill.shop.fail_next(50, 422, errors={"line_items": [reason]}, path_contains="fulfillments.json", method="POST")

    await buy(waybill, found["id"], "label-422")

    async def failed() -> dict[str, Any]:
        (write,) = (await order(waybill, found["id"]))["channelWrites"]
        assert write["status"] == "FAILED", write
        return write  # type: ignore[no-any-return]

    write = await eventually(failed)
    assert write["kind"] == "SHIPMENT_CREATED"
    assert write["attempts"] == 1
    assert "422" in write["lastError"] and reason in write["lastError"], write["lastError"]
    assert "CHANNEL_WRITE_FAILED" in await event_types(found["id"])

    # Nothing picks it up again: a fresh drain of the order finds nothing to do, and while the
    # worker keeps ticking (the carrier sees its tracking polls) the store sees no further POST.
    assert await deliver_outbox({"runtime": runtime}, ids.decode("Order", found["id"], "id")) == "empty"
    polls_before = len([r for r in waybill.carrier.requests if r[1].startswith("/v1/trackers/")])

    async def ticked_twice() -> bool:
        polls = len([r for r in waybill.carrier.requests if r[1].startswith("/v1/trackers/")])
        assert polls >= polls_before + 2, polls
        return True

    # An unscanned label is asked about every 8 tracking intervals (jobs/shipping.py TRACK_EVERY): allow for two.
    await eventually(ticked_twice, within=40)
    assert len(create_posts(waybill)) == 1
    (row,) = await outbox_rows(found["id"], "SHIPMENT_CREATED")
    assert (row.status, row.attempts) == ("FAILED", 1)


async def test_writes_of_one_order_reach_the_store_in_order(waybill: Harness) -> None:
    placed = waybill.shop.add_order()
    (found,) = await connect_and_import(waybill)
    waybill.shop.fail_next(2 * POSTS_PER_ATTEMPT, 500, path_contains="fulfillments.json", method="POST")

    bought = await buy(waybill, found["id"], "label-then-void")
    cancelled = (await waybill.gql(CANCEL, {"id": bought["shipment"]["id"]}))["cancelLabel"]
    assert cancelled["userErrors"] == []
    assert cancelled["shipment"]["status"] == "VOIDED"
    assert waybill.shop.fulfillments(placed["id"]) == [], "precondition: the first write was still failing"
    assert [r.kind for r in await outbox_rows(found["id"])] == ["SHIPMENT_CREATED", "SHIPMENT_CANCELLED"]

    await eventually(lambda: writes_settled(waybill, found["id"]))

    fulfillments = waybill.shop.fulfillments(placed["id"])
    assert [f["status"] for f in fulfillments] == ["cancelled"]
    assert fulfillments[0]["tracking_number"] == bought["shipment"]["trackingNumber"]
    created, cancels = create_posts(waybill), posts(waybill, "/cancel.json")
    assert len(cancels) == 1 and cancels[0] > created[-1], "the cancel went out after the create landed"
    delivered = [
        (e.data["kind"])
        for e in await models.Event.filter(
            order_id=ids.decode("Order", found["id"], "id"), type="CHANNEL_WRITE_DELIVERED"
        ).order_by("id")
    ]
    assert delivered == ["SHIPMENT_CREATED", "SHIPMENT_CANCELLED"]
    assert waybill.shop.order(placed["id"])["fulfillment_status"] is None


async def test_skip_shipping_while_the_store_is_down_fulfils_once(waybill: Harness) -> None:
    placed = waybill.shop.add_order()
    (found,) = await connect_and_import(waybill)
    # Every fulfillment call fails, GETs included (a sync, which never calls these, cannot use them up).
    # The client retries each call and the whole write a few times: this is more than one outbox attempt.
    calls_per_attempt = POSTS_PER_ATTEMPT * POSTS_PER_ATTEMPT
    waybill.shop.fail_next(calls_per_attempt + 1, 503, path_contains="/fulfillments")

    skipped = (await waybill.gql(SKIP, {"id": found["id"]}))["skipShipping"]
    assert skipped == {"order": {"id": found["id"], "status": "DELIVERED"}, "userErrors": []}

    await eventually(lambda: writes_settled(waybill, found["id"]))

    fulfillments = waybill.shop.fulfillments(placed["id"])
    assert [f["status"] for f in fulfillments] == ["success"]
    assert waybill.shop.order(placed["id"])["fulfillment_status"] == "fulfilled"
    assert len(create_posts(waybill)) == 1
    (row,) = await outbox_rows(found["id"], "ORDER_FULFILLED")
    assert row.status == "DELIVERED" and row.attempts > 1, row.attempts


async def test_a_revoked_token_pauses_the_write_and_asks_for_a_reconnect(waybill: Harness) -> None:
    waybill.shop.add_order()
    (found,) = await connect_and_import(waybill)
    waybill.shop.fail_next(
        1, 401, errors="[API] Invalid API key or access token", path_contains="fulfillments.json", method="POST"
    )

    await buy(waybill, found["id"], "label-401")

    async def paused() -> dict[str, Any]:
        (write,) = (await order(waybill, found["id"]))["channelWrites"]
        assert write["status"] == "PENDING" and write["lastError"], write
        return write  # type: ignore[no-any-return]

    write = await eventually(paused)
    assert "Invalid API key" in write["lastError"]
    channels = (await waybill.gql("{ channels { state lastError } }"))["channels"]
    assert channels[0]["state"] == "NEEDS_REAUTH"
    assert "Reconnect" in channels[0]["lastError"]
    (row,) = await outbox_rows(found["id"], "SHIPMENT_CREATED")
    assert row.status == "PENDING", "the write waits for the reconnect; it is not given up"
    assert len(create_posts(waybill)) == 1, "one refused POST, then it waits"
    assert [waybill.shop.fulfillments(i) for i in waybill.shop.order_ids()] == [[]], "nothing was created"
