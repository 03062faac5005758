"""API keys over real HTTP: format and checksum, scopes, expiry, revocation, rotation, test mode."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.persistence import models
from adapters.persistence.accounts import (
    ApiPrincipal,
    authenticate_api_key,
    checksum,
    create_account,
    create_api_key,
    looks_like_key,
)
from api.context import Context
from api.loaders import Loaders
from api.schema import schema
from tests.conftest import Database
from tests.security.operations import MUTATIONS
from tests.support.harness import Harness, eventually

pytestmark = [pytest.mark.db, pytest.mark.queue]

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    key
    apiKey { id name prefix mode scopes createdBy expiresAt revokedAt active }
    userErrors { field message code }
  }
}"""
REVOKE = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt active } userErrors { code } } }"
ROTATE = """
mutation($id: ID!, $overlap: Int!) {
  rotateApiKey(input: {id: $id, overlapSeconds: $overlap}) {
    key apiKey { id rotatedFromId active } previousKey { id expiresAt active } userErrors { field code }
  }
}"""
ORDERS = "{ orders(first: 1) { edges { node { id } } } }"


async def post(waybill: Harness, query: str, variables: dict[str, Any] | None = None, *, key: str) -> Any:
    response = await waybill.http.post(
        f"{waybill.base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response


async def new_key(waybill: Harness, scopes: list[str], **extra: Any) -> tuple[str, dict[str, Any]]:
    data = await waybill.gql(CREATE, {"input": {"name": "partner", "scopes": scopes, **extra}})
    payload = data["createApiKey"]
    assert payload["userErrors"] == [], payload
    return payload["key"], payload["apiKey"]


async def test_a_key_is_shown_once_listed_without_its_secret_and_refused_right_after_revoke(waybill: Harness) -> None:
    key, api_key = await new_key(waybill, ["READ_ORDERS"])
    assert key.startswith("wb_live_") and api_key["prefix"] == key[: len("wb_live_") + 8]
    assert api_key["scopes"] == ["READ_ORDERS"] and api_key["mode"] == "LIVE" and api_key["active"]
    assert api_key["createdBy"].startswith("api_key:")
    assert (await post(waybill, ORDERS, key=key)).status_code == 200

    listed = await waybill.gql("{ apiKeys { id prefix name scopes lastUsedAt } }")
    mine = next(k for k in listed["apiKeys"] if k["id"] == api_key["id"])
    assert mine["lastUsedAt"] is not None
    assert key[len(api_key["prefix"]) :] not in str(listed)

    revoked = await waybill.gql(REVOKE, {"id": api_key["id"]})
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    assert revoked["revokeApiKey"]["apiKey"]["active"] is False
    refused = await post(waybill, ORDERS, key=key)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await waybill.gql(REVOKE, {"id": api_key["id"]}))["revokeApiKey"]["userErrors"] == [{"code": "INVALID"}]


async def test_an_expired_key_is_refused(waybill: Harness) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    key, api_key = await new_key(waybill, ["READ_ORDERS"], expiresAt=expires.isoformat())
    assert (await post(waybill, ORDERS, key=key)).status_code == 200
    assert await authenticate_api_key(key, now=expires - timedelta(seconds=1)) is not None
    assert await authenticate_api_key(key, now=expires) is None

    # The hour passes (moved in the database rather than waited for):
    prefix = api_key["prefix"].split("_")[-1]
    await models.ApiKey.filter(prefix=prefix).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await post(waybill, ORDERS, key=key)).status_code == 401

    past = await waybill.gql(
        CREATE, {"input": {"name": "late", "scopes": ["READ_ORDERS"], "expiresAt": "2020-01-01T00:00:00Z"}}
    )
    assert past["createApiKey"]["key"] is None
    assert past["createApiKey"]["userErrors"][0]["field"] == ["input", "expiresAt"]


async def test_a_missing_scope_is_forbidden_and_the_error_names_it(waybill: Harness) -> None:
    writer, _ = await new_key(waybill, ["WRITE_SHIPMENTS"])
    reader, _ = await new_key(waybill, ["READ_ORDERS"])

    body = (await post(waybill, ORDERS, key=writer)).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "scope": "read_orders"}
    assert "read_orders" in body["errors"][0]["message"]
    # Through a fragment, or next to an allowed field, is no way around it.
    sneaky = "query { viewer { scopes } ...F } fragment F on Query { channels { id } }"
    assert (await post(waybill, sneaky, key=writer)).json()["errors"][0]["extensions"]["scope"] == "read_orders"
    viewer = (await post(waybill, "{ viewer { scopes } }", key=writer)).json()
    assert viewer["data"]["viewer"]["scopes"] == ["write_shipments"]

    channels_only, _ = await new_key(waybill, ["MANAGE_CHANNELS"])
    label = await waybill.http.get(
        f"{waybill.base_url}/labels/1.pdf", headers={"Authorization": f"Bearer {channels_only}"}
    )
    assert label.status_code == 403 and "read_orders" in label.json()["error"]
    label = await waybill.http.get(f"{waybill.base_url}/labels/1.pdf", headers={"Authorization": f"Bearer {writer}"})
    assert label.status_code == 404  # allowed to ask; there is no such label

    admin_only = (await post(waybill, "{ apiKeys { id } }", key=reader)).json()
    assert admin_only["errors"][0]["extensions"] == {"code": "FORBIDDEN", "scope": "admin"}
    refused = (await post(waybill, CREATE, {"input": {"name": "x", "scopes": ["ADMIN"]}}, key=reader)).json()
    assert refused["data"]["createApiKey"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert "admin" in refused["data"]["createApiKey"]["userErrors"][0]["message"]
    buy = 'mutation { buyLabel(input: {orderId: "gid://waybill/Order/1", idempotencyKey: "k"}) { userErrors { message code } } }'
    bought = (await post(waybill, buy, key=reader)).json()["data"]["buyLabel"]["userErrors"][0]
    assert bought["code"] == "FORBIDDEN" and "write_shipments" in bought["message"]

    async with dataclasses.replace(waybill, api_key=writer).subscribe(
        "subscription { orderChanged { eventId } }"
    ) as subscriber:

        async def refusal() -> Any:
            return subscriber.messages

        messages = await eventually(refusal, within=10)
    error = messages[0].get("errors", messages[0].get("error"))
    assert "read_orders" in str(error) and "FORBIDDEN" in str(error)


async def test_rotation_keeps_the_old_key_for_the_overlap_only(waybill: Harness) -> None:
    old_key, old = await new_key(waybill, ["READ_ORDERS"])
    rotated = (await waybill.gql(ROTATE, {"id": old["id"], "overlap": 3600}))["rotateApiKey"]
    assert rotated["userErrors"] == [] and rotated["apiKey"]["rotatedFromId"] == old["id"]
    new_key_ = rotated["key"]
    assert new_key_ != old_key
    ends = datetime.fromisoformat(rotated["previousKey"]["expiresAt"])
    assert timedelta(minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=1)
    for key in (old_key, new_key_):
        assert (await post(waybill, ORDERS, key=key)).status_code == 200

    again = (await waybill.gql(ROTATE, {"id": rotated["apiKey"]["id"], "overlap": 0}))["rotateApiKey"]
    assert (await post(waybill, ORDERS, key=new_key_)).status_code == 401  # overlap 0: gone at once
    assert (await post(waybill, ORDERS, key=again["key"])).status_code == 200
    too_long = (await waybill.gql(ROTATE, {"id": again["apiKey"]["id"], "overlap": 10**9}))["rotateApiKey"]
    assert too_long["userErrors"] == [{"field": ["input", "overlapSeconds"], "code": "INVALID"}]


async def test_keys_carry_a_checksum_old_keys_still_work_and_test_keys_open_test_accounts_only(
    waybill: Harness,
) -> None:
    key = await create_api_key(waybill.account_id, "script", ["read_orders"])
    body, check = key[:-6], key[-6:]
    assert checksum(body) == check and looks_like_key(key)
    for typo in (body + check[::-1], key[:20] + ("a" if key[20] != "a" else "b") + key[21:]):
        assert not looks_like_key(typo)  # refused before any database lookup

    legacy = "wb_live_LegacyK1_" + "abcdefghijklmnopqrstuvwxyz-_0123"
    await models.ApiKey.create(
        account_id=waybill.account_id,
        name="before checksums",
        prefix="LegacyK1",
        secret_hash=hashlib.sha256(legacy.encode()).hexdigest(),
        scopes=["read_orders"],
    )
    assert (await post(waybill, ORDERS, key=legacy)).status_code == 200

    mismatch = await waybill.gql(CREATE, {"input": {"name": "t", "scopes": ["READ_ORDERS"], "mode": "TEST"}})
    assert mismatch["createApiKey"]["userErrors"][0]["field"] == ["input", "mode"]

    sandbox = await create_account("Sandbox shop", mode="test")
    test_key = await create_api_key(sandbox, "dev", ["admin"])
    assert test_key.startswith("wb_test_")
    viewer = await waybill.gql("{ viewer { accountId } }", key=test_key)
    assert viewer["viewer"]["accountId"] == f"gid://waybill/Account/{sandbox}"
    # The same secret under the other mode is not a key at all.
    live_twin = "wb_live_" + test_key[len("wb_test_") : -6]
    assert await authenticate_api_key(live_twin + checksum(live_twin)) is None
    # A key whose account changed mode (or a row written by hand) does not cross over.
    await models.Account.filter(id=sandbox).update(mode="live")
    assert (await post(waybill, ORDERS, key=test_key)).status_code == 401


async def test_every_mutation_refuses_a_caller_without_its_scope(db: Database) -> None:
    """Generic: each mutation of the schema, as a key whose only scope is one no mutation needs."""
    account_id = await create_account("Scopeless shop")
    nobody = ApiPrincipal(account_id=account_id, key_id=1, scopes=("read_nothing",))
    unchecked = []
    for name, op in MUTATIONS.items():
        if op.text == "multipart":
            continue
        context = Context(runtime=None, principal=nobody, loaders=Loaders(account_id))  # type: ignore[arg-type]
        result = await schema.execute(op.text, context_value=context)
        payload = next(iter((result.data or {}).values()), None) or {}
        codes = [error["code"] for error in payload.get("userErrors", [])]
        if codes != ["FORBIDDEN"]:
            unchecked.append(f"{name}: {codes or result.errors}")
    assert not unchecked, "mutations that do not check a scope first:\n" + "\n".join(unchecked)
