"""HTTP hardening: body limits while streaming, CORS for configured admin origins only, security headers.

A webhook with a bad signature is refused with 401 and nothing stored:
tests/integration/test_webhooks.py::test_a_missigned_or_unsigned_webhook_is_refused_and_stores_nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from adapters.config import Settings
from adapters.persistence import models
from adapters.persistence.accounts import create_account, create_api_key
from api.app import create_app
from api.http_security import GRAPHQL_JSON_LIMIT, WEBHOOK_LIMIT
from api.http_security import middleware as http_middleware
from tests.conftest import Database
from tests.support import harness as support
from tests.support.harness import Harness
from tests.support.servers import serve_app

pytestmark = [pytest.mark.db, pytest.mark.queue]

ADMIN = "https://admin.example.com"


def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            yield b" " * min(size, total - sent)
            sent += size

    return stream()


async def test_an_oversized_graphql_body_is_413_even_without_content_length(waybill: Harness) -> None:
    auth = {"Authorization": f"Bearer {waybill.api_key}", "Content-Type": "application/json"}
    declared = await waybill.http.post(
        f"{waybill.base_url}/graphql", content=b" " * (GRAPHQL_JSON_LIMIT + 1), headers=auth
    )
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    # Chunked: no Content-Length to trust, the bytes are counted as they arrive.
    streamed = await waybill.http.post(
        f"{waybill.base_url}/graphql", content=chunks(GRAPHQL_JSON_LIMIT + 100_000), headers=auth
    )
    assert streamed.status_code == 413 and str(GRAPHQL_JSON_LIMIT) in streamed.text


async def test_an_oversized_webhook_is_413_and_nothing_is_stored(waybill: Harness) -> None:
    response = await waybill.http.post(
        f"{waybill.base_url}/webhooks/channels/1",
        content=chunks(WEBHOOK_LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert await models.WebhookDelivery.all().count() == 0


async def test_a_csv_upload_may_be_larger_than_a_json_document(waybill: Harness) -> None:
    """Multipart uploads have their own, larger limit: a 2 MB CSV reaches importOrdersCsv."""
    operations = '{"query": "mutation($f: Upload!) { importOrdersCsv(input: {file: $f}) { created userErrors { code } } }", "variables": {"f": null}}'
    csv = b"order_number,sku\n" + b"x" * (2 * 1024 * 1024)
    response = await waybill.http.post(
        f"{waybill.base_url}/graphql",
        data={"operations": operations, "map": '{"0": ["variables.f"]}'},
        files={"0": ("orders.csv", csv, "text/csv")},
        headers={"Authorization": f"Bearer {waybill.api_key}"},
    )
    assert response.status_code == 200, response.text


async def test_security_headers_on_every_response(waybill: Harness) -> None:
    for response in [
        await waybill.http.get(f"{waybill.base_url}/health"),
        await waybill.http.post(f"{waybill.base_url}/graphql", json={"query": "{ viewer { accountName } }"}),
        await waybill.http.get(f"{waybill.base_url}/labels/1.pdf"),
    ]:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain http on loopback
    page = await waybill.http.get(f"{waybill.base_url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    # GraphiQL's own scripts (unpkg) may load; nothing else.
    assert "script-src 'self' 'unsafe-inline' https://unpkg.com" in page.headers["content-security-policy"]


async def test_cors_answers_only_the_configured_admin_origins(migrated_database: Database) -> None:
    settings = replace(support.test_settings(migrated_database.data_dir, migrated_database.url), admin_origins=(ADMIN,))
    async with serve_app(create_app(settings, embedded_worker=False)) as url, httpx.AsyncClient() as http:
        key = await create_api_key(await create_account("Cors"), "test", ["admin"])
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = await http.options(f"{url}/graphql", headers={"Origin": ADMIN, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ADMIN
        assert allowed.headers["access-control-allow-credentials"] == "true"

        refused = await http.options(f"{url}/graphql", headers={"Origin": "https://evil.example", **preflight})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers

        simple = await http.post(
            f"{url}/graphql",
            json={"query": "{ viewer { accountName } }"},
            headers={"Origin": "https://evil.example", "Authorization": f"Bearer {key}"},
        )
        assert "access-control-allow-origin" not in simple.headers
        ok = await http.post(
            f"{url}/graphql",
            json={"query": "{ viewer { accountName } }"},
            headers={"Origin": ADMIN, "Authorization": f"Bearer {key}"},
        )
        assert ok.headers["access-control-allow-origin"] == ADMIN


@pytest.mark.parametrize(
    "origins",
    [
        "*",
        "null",
        f"{ADMIN},*",
        "admin.example.com",
        f"{ADMIN}/app",
        "https://*.example.com",
        "ftp://admin.example.com",
    ],
)
def test_wildcard_null_and_malformed_admin_origins_are_refused_at_startup(
    origins: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYBILL_ADMIN_ORIGINS", origins)
    with pytest.raises(SystemExit, match="WAYBILL_ADMIN_ORIGINS"):
        Settings()
    # Settings built in code (no environment to check) are refused when the app is built.
    bad = next(origin for origin in origins.split(",") if origin != ADMIN)
    with pytest.raises(ValueError, match="WAYBILL_ADMIN_ORIGINS"):
        http_middleware((ADMIN, bad))


def test_listed_http_and_https_origins_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYBILL_ADMIN_ORIGINS", f"{ADMIN}/, http://localhost:5173,http://127.0.0.1:8080")
    assert Settings().admin_origins == (ADMIN, "http://localhost:5173", "http://127.0.0.1:8080")
