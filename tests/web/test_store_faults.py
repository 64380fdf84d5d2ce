"""A store that cannot take writes (disk full, read-only file): 503 without server paths, logged
once, reported by /healthz and /readyz, and everything back to normal once writes succeed."""

from __future__ import annotations

from typing import Any

import pytest

from newsroom.errors import StoreError
from tests.factories import CREATE_ID, article_input
from tests.web.conftest import Client, newsroom_of

SECRET_PATH = "/srv/secret-place/newsroom.db"


async def _create(client: Client) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = await client.post(
        "/graphql", json={"query": CREATE_ID, "variables": {"a": article_input()}}
    )
    return response.status, await response.json(), dict(response.headers)


async def test_a_failing_store_is_503_logged_once_reported_and_recovers(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Writes during a store fault answer 503 with Retry-After and no server path; the log holds
    the cause once; health says writes fail; the first successful write clears it all."""
    store = newsroom_of(client).store
    real_append = store.append

    async def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise StoreError(f"{SECRET_PATH}: the append was not written: database or disk is full")

    monkeypatch.setattr(store, "append", full_disk)
    for _ in range(3):
        status, body, headers = await _create(client)
        assert status == 503 and headers["Retry-After"] == "1", body
        assert body["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"
        assert SECRET_PATH not in str(body) and "disk is full" not in str(body)
    assert caplog.text.count("disk is full") == 1  # the cause, once: not one line per request
    health = await client.get("/healthz")
    report = await health.json()
    assert health.status == 503 and report["store"] == "writes failing"
    assert SECRET_PATH not in str(report)
    assert (await client.get("/readyz")).status == 503

    monkeypatch.setattr(store, "append", real_append)
    status, body, _ = await _create(client)
    assert status == 200 and body["data"]["createArticle"]["status"] == "ACCEPTED"
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["store"] == "running"
    assert (await client.get("/readyz")).status == 200


async def test_a_store_error_on_a_route_shows_no_path(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read route that meets a store fault answers 503 without the server's path."""
    store = newsroom_of(client).store

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError(f"{SECRET_PATH}: disk I/O error")

    monkeypatch.setattr(store, "read_all", broken)
    response = await client.post("/graphql", json={"query": "{ events(count: 1) { position } }"})
    body = await response.json()
    assert response.status == 503, body
    assert SECRET_PATH not in str(body) and "I/O" not in str(body)
