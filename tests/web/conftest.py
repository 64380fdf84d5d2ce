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


@pytest.fixture
def gql(client: TestClient[web.Request, web.Application]) -> Query:
    """POST a GraphQL document; return the parsed JSON reply (asserting a JSON content type)."""

    async def run(
        query: str, variables: dict[str, Any] | None = None, status: int = 200
    ) -> dict[str, Any]:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        assert response.content_type == "application/json"
        body: dict[str, Any] = await response.json()
        assert response.status == status, body
        return body

    return run


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
