"""Admin app sign-in over real HTTP: cookies, CSRF, roles, expiry, logout, rate limit; the operator commands."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from adapters.config import Settings
from adapters.persistence import models
from adapters.persistence.accounts import create_account
from adapters.persistence.db import close_db, init_db
from adapters.persistence.secrets import KEY_FILENAME, SECRET_KEY_ENV, SecretBox, SecretKeyError, read_key_file
from adapters.persistence.users import create_user
from api.auth.routes import FAILURE_WINDOW_SECONDS, MAX_FAILURES, failures_key
from api.cli import _rotate_secret_key
from tests.conftest import Database
from tests.support.harness import Harness

pytestmark = [pytest.mark.db, pytest.mark.queue]

PASSWORD = "correct horse battery"
ORDERS = {"query": "{ orders(first: 1) { edges { node { id } } } }"}
WAYBILL = Path(sys.executable).parent / "waybill"


@pytest.fixture
async def browser(waybill: Harness) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, like a browser tab of the admin app."""
    async with httpx.AsyncClient(base_url=waybill.base_url, timeout=30) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_sign_in_cookie_csrf_and_sign_out(waybill: Harness, browser: httpx.AsyncClient) -> None:
    await create_user(waybill.account_id, "Owner@Shop.example", PASSWORD, "OWNER")

    wrong = await browser.post("/auth/login", json={"email": "owner@shop.example", "password": "nope nope nope"})
    unknown = await browser.post("/auth/login", json={"email": "ghost@shop.example", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Wrong email or password"}
    missing = await browser.post("/auth/login", json={"email": "owner@shop.example"})
    assert (missing.status_code, missing.json()["field"]) == (400, "password")
    form = await browser.post("/auth/login", data={"email": "owner@shop.example", "password": PASSWORD})
    assert form.status_code == 415  # a cross-site HTML form cannot sign anyone in

    response = await browser.post("/auth/login", json={"email": "owner@shop.example", "password": PASSWORD})
    assert response.status_code == 200
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies["waybill_session"] and "samesite=lax" in cookies["waybill_session"]
    assert "secure" not in cookies["waybill_session"]  # plain http on loopback
    assert "httponly" not in cookies["waybill_csrf"]  # the page's script reads it
    csrf = response.json()["csrfToken"]
    assert browser.cookies["waybill_csrf"] == csrf
    assert response.json()["user"]["role"] == "OWNER" and response.json()["scopes"] == ["admin"]

    async with httpx.AsyncClient(base_url=waybill.base_url) as other_tab:
        behind_proxy = await other_tab.post(
            "/auth/login",
            json={"email": "owner@shop.example", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert all("secure" in c.lower() for c in behind_proxy.headers.get_list("set-cookie"))

    session = await browser.get("/auth/session")
    assert session.status_code == 200 and session.json()["user"]["email"] == "owner@shop.example"
    refused = await browser.post("/graphql", json=ORDERS)
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "CSRF_FAILED"
    forged = await browser.post("/graphql", json=ORDERS, headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403
    upload = await browser.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {
                    "query": "mutation($f: Upload!) { importOrdersCsv(input: {file: $f}) { userErrors { code } } }",
                    "variables": {"f": None},
                }
            ),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": ("orders.csv", b"number\n1\n", "text/csv")},
    )
    assert upload.status_code == 403  # multipart needs the token too
    allowed = await browser.post("/graphql", json=ORDERS, headers={"X-CSRF-Token": csrf})
    assert allowed.status_code == 200 and "errors" not in allowed.json()
    assert (await browser.get("/graphql", params={"query": "{ viewer { scopes } }"})).status_code == 200

    assert (await browser.post("/auth/logout")).status_code == 403
    out = await browser.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200 and out.json() == {"signedOut": True}
    assert (await browser.get("/auth/session")).status_code == 401
    browser.cookies.set("waybill_session", response.cookies["waybill_session"])  # a copied cookie is dead too
    assert (await browser.post("/graphql", json=ORDERS, headers={"X-CSRF-Token": csrf})).status_code == 401

    log = await waybill.gql('{ auditLog(filter: {actor: "user:1"}) { edges { node { action outcome } } } }')
    actions = [(e["node"]["action"], e["node"]["outcome"]) for e in log["auditLog"]["edges"]]
    assert ("logout", "ok") in actions and ("login", "ok") in actions and ("login", "WRONG_PASSWORD") in actions


async def test_roles_map_to_scopes_and_changes_apply_at_once(waybill: Harness, browser: httpx.AsyncClient) -> None:
    owner = await create_user(waybill.account_id, "owner@roles.example", PASSWORD, "OWNER")
    csrf = (await sign_in(browser, "owner@roles.example"))["csrfToken"]

    async def gql(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 200, response.text
        return response.json()

    created = await gql(
        browser,
        csrf,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id role } userErrors { field code } } }",
        {"i": {"email": "clerk@roles.example", "password": PASSWORD, "role": "READ_ONLY"}},
    )
    clerk_id = created["data"]["createUser"]["user"]["id"]
    short = await gql(
        browser,
        csrf,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { userErrors { field code } } }",
        {"i": {"email": "new@roles.example", "password": "short", "role": "STAFF"}},
    )
    assert short["data"]["createUser"]["userErrors"] == [{"field": ["input", "password"], "code": "INVALID"}]

    async with httpx.AsyncClient(base_url=waybill.base_url, timeout=30) as clerk:
        clerk_csrf = (await sign_in(clerk, "clerk@roles.example"))["csrfToken"]
        assert "errors" not in await gql(clerk, clerk_csrf, ORDERS["query"])
        buy = 'mutation { buyLabel(input: {orderId: "gid://waybill/Order/1", idempotencyKey: "x"}) { userErrors { message code } } }'
        refused = (await gql(clerk, clerk_csrf, buy))["data"]["buyLabel"]["userErrors"][0]
        assert refused["code"] == "FORBIDDEN" and "write_shipments" in refused["message"]
        keys = await gql(clerk, clerk_csrf, "{ apiKeys { id } }")
        assert keys["errors"][0]["extensions"] == {"code": "FORBIDDEN", "scope": "admin"}

        promote = (
            "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } userErrors { code } } }"
        )
        await gql(browser, csrf, promote, {"i": {"id": clerk_id, "role": "STAFF"}})
        refused = (await gql(clerk, clerk_csrf, buy))["data"]["buyLabel"]["userErrors"][0]
        assert refused["code"] != "FORBIDDEN"  # staff may buy labels: the next request already knows

        demote_self = await gql(
            browser, csrf, promote, {"i": {"id": f"gid://waybill/User/{owner.id}", "role": "STAFF"}}
        )
        assert demote_self["data"]["updateUserRole"]["userErrors"] == [{"code": "INVALID"}]  # the last owner

        removed = await gql(
            browser,
            csrf,
            "mutation($i: RemoveUserInput!) { removeUser(input: $i) { removedUserId } }",
            {"i": {"id": clerk_id}},
        )
        assert removed["data"]["removeUser"]["removedUserId"] == clerk_id
        gone = await clerk.post("/graphql", json=ORDERS, headers={"X-CSRF-Token": clerk_csrf})
        assert gone.status_code == 401

    other_account = await create_account("Someone else")
    await create_user(other_account, "stranger@else.example", PASSWORD, "OWNER")
    listed = await gql(browser, csrf, "{ users { email role } }")
    assert sorted(u["email"] for u in listed["data"]["users"]) == ["owner@roles.example"]


async def test_sessions_expire_idle_out_and_sockets_need_the_csrf_token(
    waybill: Harness, browser: httpx.AsyncClient
) -> None:
    user = await create_user(waybill.account_id, "idle@shop.example", PASSWORD, "STAFF")
    csrf = (await sign_in(browser, "idle@shop.example"))["csrfToken"]
    assert (await browser.get("/auth/session")).status_code == 200
    await models.Session.filter(user_id=user.id).update(last_seen_at=datetime.now(UTC) - timedelta(hours=3))
    assert (await browser.post("/graphql", json=ORDERS, headers={"X-CSRF-Token": csrf})).status_code == 401

    await sign_in(browser, "idle@shop.example")
    await models.Session.filter(user_id=user.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await browser.get("/auth/session")).status_code == 401
    assert await models.Session.filter(user_id=user.id).count() == 0

    # A WebSocket handshake carries the cookie even from a cross-site page: connection_init must prove
    # the session with its CSRF token, which such a page cannot read.
    csrf = (await sign_in(browser, "idle@shop.example"))["csrfToken"]
    cookie = f"waybill_session={browser.cookies['waybill_session']}"
    url = waybill.base_url.replace("http://", "ws://") + "/graphql"

    async def init(payload: dict[str, Any]) -> dict[str, Any]:
        async with websockets.connect(
            url,
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            additional_headers={"Cookie": cookie},
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                return json.loads(await asyncio.wait_for(ws.recv(), 10))  # type: ignore[no-any-return]
            except websockets.ConnectionClosed as closed:
                return {"closed": closed.rcvd.code if closed.rcvd else None}

    assert (await init({}))["closed"] == 4403
    assert (await init({"X-CSRF-Token": csrf}))["type"] == "connection_ack"


async def test_failed_sign_ins_are_rate_limited_per_email(waybill: Harness, browser: httpx.AsyncClient) -> None:
    await create_user(waybill.account_id, "target@shop.example", PASSWORD, "OWNER")
    for _ in range(2):
        bad = await browser.post("/auth/login", json={"email": "target@shop.example", "password": "guess guess"})
        assert bad.status_code == 401
    counter = failures_key(waybill.runtime, "target@shop.example")
    assert int(await waybill.runtime.redis.get(counter)) == 2
    assert 0 < await waybill.runtime.redis.ttl(counter) <= FAILURE_WINDOW_SECONDS
    await waybill.runtime.redis.incrby(counter, MAX_FAILURES - 3)  # seven more guesses, without hashing seven times
    last = await browser.post("/auth/login", json={"email": "Target@shop.example", "password": "guess guess"})
    assert last.status_code == 401
    locked = await browser.post("/auth/login", json={"email": "target@shop.example", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    await create_user(waybill.account_id, "bystander@shop.example", PASSWORD, "OWNER")
    await sign_in(browser, "bystander@shop.example")  # another email is not affected


async def test_concurrent_wrong_passwords_cannot_outrun_the_lockout(
    waybill: Harness, browser: httpx.AsyncClient
) -> None:
    await create_user(waybill.account_id, "raced@shop.example", PASSWORD, "OWNER")
    wrong = {"email": "raced@shop.example", "password": "guess guess"}

    answers = await asyncio.gather(*(browser.post("/auth/login", json=wrong) for _ in range(MAX_FAILURES + 5)))

    statuses = sorted(answer.status_code for answer in answers)
    # Each attempt is counted before its password is checked: only MAX_FAILURES ever reach argon2.
    assert statuses == [401] * MAX_FAILURES + [429] * 5, statuses
    assert (await browser.post("/auth/login", json={**wrong, "password": PASSWORD})).status_code == 429


async def test_a_successful_sign_in_clears_the_failure_count(waybill: Harness, browser: httpx.AsyncClient) -> None:
    await create_user(waybill.account_id, "forgetful@shop.example", PASSWORD, "OWNER")
    counter = failures_key(waybill.runtime, "forgetful@shop.example")
    await waybill.runtime.redis.set(counter, MAX_FAILURES - 1, ex=FAILURE_WINDOW_SECONDS)
    await sign_in(browser, "forgetful@shop.example")
    assert await waybill.runtime.redis.get(counter) is None


async def test_cli_creates_a_user_with_the_password_from_the_environment(
    migrated_database: Database, tmp_path: Path
) -> None:
    await init_db(migrated_database.url, migrated_database.data_dir)
    account_id = await create_account("CLI shop")
    await close_db()
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAYBILL_")}
    env.pop("DATABASE_URL", None)
    env.update(WAYBILL_DATA_DIR=str(migrated_database.data_dir), WAYBILL_PASSWORD=PASSWORD)
    if migrated_database.url:
        env["DATABASE_URL"] = migrated_database.url

    async def run(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(WAYBILL), *args, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
        return process.returncode or 0, out.decode(), err.decode()

    code, out, err = await run(
        "create-user", "--account-id", str(account_id), "--email", "boss@cli.example", "--role", "owner"
    )
    assert code == 0, err
    assert "boss@cli.example" in out and PASSWORD not in out + err
    await init_db(migrated_database.url, migrated_database.data_dir)
    try:
        user = await models.User.get(email="boss@cli.example")
        assert (user.account_id, user.role) == (account_id, "OWNER")  # type: ignore[attr-defined]
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
        assert await models.AuditEntry.filter(account_id=account_id, actor="cli", action="createUser").exists()
    finally:
        await close_db()


async def test_rotate_secret_key_re_encrypts_every_credential_and_keeps_them_readable(
    migrated_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    data_dir, url = migrated_database.data_dir, migrated_database.url
    await init_db(url, data_dir)
    old_box = SecretBox.from_env(data_dir)
    account_id = await create_account("Rotating shop")
    channel = await models.Channel.create(
        account_id=account_id, kind="SHOPIFY", name="S", credentials=old_box.encrypt({"access_token": "shpat_1"})
    )
    carrier = await models.CarrierAccount.create(
        account_id=account_id, carrier="easypost", name="E", credentials=old_box.encrypt({"api_key": "EZ_1"})
    )
    await close_db()

    settings = Settings(data_dir=data_dir, database_url=url)
    assert await _rotate_secret_key(settings) == 0  # the key file: a new key, the old one dropped after the sweep
    keys = read_key_file(data_dir / KEY_FILENAME)
    assert len(keys) == 1
    new_box = SecretBox(keys)

    monkeypatch.setenv(SECRET_KEY_ENV, f"{SecretBox.generate_key()},{keys[0].decode()}")  # an operator's own keys
    assert await _rotate_secret_key(settings) == 0
    newest = SecretBox([os.environ[SECRET_KEY_ENV].split(",")[0].encode()])

    await init_db(url, data_dir)
    try:
        channel_token = (await models.Channel.get(id=channel.id)).credentials
        carrier_token = (await models.CarrierAccount.get(id=carrier.id)).credentials
    finally:
        await close_db()
    assert newest.decrypt(channel_token) == {"access_token": "shpat_1"}
    assert newest.decrypt(carrier_token) == {"api_key": "EZ_1"}
    for stale in (old_box, new_box):
        with pytest.raises(SecretKeyError):
            stale.decrypt(channel_token)
