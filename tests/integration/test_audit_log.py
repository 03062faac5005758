"""The audit log: every mutation recorded with actor, objects and outcome, never a secret; owners only."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.persistence.accounts import create_account, create_api_key
from tests.support.harness import Harness

pytestmark = [pytest.mark.db, pytest.mark.queue]

LOG = """
query($first: Int, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id actor action objectIds outcome detail createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def entries(waybill: Harness, key: str | None = None, **variables: Any) -> list[dict[str, Any]]:
    data = await waybill.gql(LOG, variables, key=key)
    return [edge["node"] for edge in data["auditLog"]["edges"]]


async def test_mutations_are_recorded_with_actor_objects_and_outcome_but_no_secrets(waybill: Harness) -> None:
    me = (await waybill.gql("{ viewer { scopes } apiKeys { id } }"))["apiKeys"][0]["id"].rsplit("/", 1)[1]
    actor = f"api_key:{me}"

    missing = await waybill.gql(
        'mutation { buyLabel(input: {orderId: "gid://waybill/Order/999", idempotencyKey: "a1"}) { shipment { id } } }'
    )
    assert missing["buyLabel"]["shipment"] is None  # userErrors not even asked for: still recorded
    created = await waybill.gql(
        'mutation { createApiKey(input: {name: "erp", scopes: [READ_ORDERS]}) { key apiKey { id prefix } } }'
    )
    secret_key = created["createApiKey"]["key"]
    new_id = created["createApiKey"]["apiKey"]["id"]
    await waybill.gql(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { userErrors { code } } }",
        {"i": {"email": "x@audit.example", "password": "hunter2", "role": "STAFF"}},
    )
    await waybill.gql("mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code } } }", {"id": new_id})

    log = await entries(waybill)
    assert [(e["action"], e["outcome"]) for e in log] == [
        ("revokeApiKey", "ok"),
        ("createUser", "INVALID"),
        ("createApiKey", "ok"),
        ("buyLabel", "NOT_FOUND"),
    ]
    assert {e["actor"] for e in log} == {actor}
    revoke, user, create, buy = log
    assert buy["objectIds"] == ["gid://waybill/Order/999"]
    assert create["objectIds"] == [new_id] and revoke["objectIds"] == [new_id]
    assert create["detail"]["prefix"] == created["createApiKey"]["apiKey"]["prefix"]
    assert create["detail"]["scopes"] == ["read_orders"]
    assert user["detail"]["arguments"]["input"]["password"] == "[redacted]"
    everything = str(log)
    assert "hunter2" not in everything and secret_key not in everything and secret_key[-20:] not in everything

    about_key = await entries(waybill, filter={"objectId": new_id})
    assert [e["action"] for e in about_key] == ["revokeApiKey", "createApiKey"]
    assert await entries(waybill, filter={"actor": "api_key:424242"}) == []

    page = await waybill.gql(LOG, {"first": 1})
    assert page["auditLog"]["pageInfo"]["hasNextPage"] is True
    after = await entries(waybill, first=1, after=page["auditLog"]["pageInfo"]["endCursor"])
    assert [e["action"] for e in after] == ["createUser"]


async def test_the_log_is_for_owners_and_their_account_only(waybill: Harness) -> None:
    await waybill.gql('mutation { createApiKey(input: {name: "mine", scopes: [READ_ORDERS]}) { key } }')
    other_key = await create_api_key(await create_account("Other shop"), "theirs", ["admin"])
    assert await entries(waybill, key=other_key) == []

    reader = await create_api_key(waybill.account_id, "reader", ["read_orders", "write_shipments"])
    response = await waybill.http.post(
        f"{waybill.base_url}/graphql",
        json={"query": LOG},
        headers={"Authorization": f"Bearer {reader}"},
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "scope": "admin"}
