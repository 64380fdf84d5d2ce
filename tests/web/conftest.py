"""Web fixtures: the real aiohttp application on a temporary store, through aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from newsroom.app import Newsroom
from newsroom.config import Settings
from newsroom.web.app import NEWSROOM, create_app
from tests.factories import FakeClock

Query = Callable[..., Awaitable[dict[str, Any]]]
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def app(tmp_path: Path) -> web.Application:
    return create_app(Settings(store=f"sqlite:///{tmp_path}/newsroom.db"), clock=FakeClock())


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def newsroom(client: TestClient[web.Request, web.Application], app: web.Application) -> Newsroom:
    return app[NEWSROOM]


GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def gql(client: TestClient[web.Request, web.Application]) -> Query:
    """POST a GraphQL document as application/json; return the parsed reply (asserting the
    content type and a 200, which the spec gives every well-formed request in this media type).

    With `refused=True`, the reply must be a GraphQL request error instead (see `refusal`)."""

    async def run(
        query: str, variables: dict[str, Any] | None = None, refused: bool = False
    ) -> dict[str, Any]:
        payload = {"query": query, "variables": variables}
        if refused:
            return await refusal(client, payload)
        response = await client.post("/graphql", json=payload)
        assert response.content_type == "application/json"
        body: dict[str, Any] = await response.json()
        assert response.status == 200 and "data" in body, body
        return body

    return run


async def refusal(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    """POST an operation that GraphQL must refuse before it runs (a request error); assert the
    spec's answer in both media types (application/json: 200; application/graphql-response+json:
    400; both errors and no `data`) and return the reply's body."""
    plain = await client.post("/graphql", json=payload)
    body: dict[str, Any] = await plain.json()
    assert (plain.status, plain.content_type) == (200, "application/json"), body
    assert "data" not in body and body["errors"], body
    strict = await client.post("/graphql", json=payload, headers={"Accept": GRAPHQL_RESPONSE})
    assert (strict.status, strict.content_type) == (400, GRAPHQL_RESPONSE)
    assert (await strict.json())["errors"] == body["errors"]
    return body


SITE = "https://news.example"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def site(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Client]:
    """An empty newsroom (no demo) published at https://news.example, on the `clock` fixture."""
    settings = Settings(
        store=f"sqlite:///{tmp_path}/site.db",
        demo=False,
        base_url=SITE,
        site_name="The Example Times",
    )
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        yield client


def newsroom_of(client: Client) -> Newsroom:
    return client.app[NEWSROOM]  # type: ignore[index]
