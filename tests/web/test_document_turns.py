"""New documents take turns: one at a time, each parsed on a worker thread while the event loop
goes on, and a request that finds no turn in time gets Busy (503 with Retry-After, or a WebSocket error message) while
cached documents keep being served."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from newsroom.config import GraphQLLimits
from newsroom.errors import Busy
from newsroom.web.graphql.pipeline import OPERATIONS, Operations, Prepared

Client = TestClient[web.Request, web.Application]
CACHED = "{ articles(count: 1) { id } }"
NEW = "{ articles(count: 2) { id title } }"


async def test_the_loop_goes_on_while_a_new_document_is_parsed() -> None:
    """A new document is parsed and validated on a worker thread: while its parse is stuck, the
    event loop still runs other work; once it finishes, the operation is prepared."""
    operations = Operations(GraphQLLimits())
    release = threading.Event()
    parse = operations._parse

    def stuck(text: str) -> Any:
        release.wait(10)
        return parse(text)

    operations._parse = stuck  # type: ignore[method-assign]
    preparing = asyncio.ensure_future(operations.prepare(NEW, None, {}))
    await asyncio.sleep(0)  # its first step: it takes the turn and hands the parse to a thread
    assert operations.turns.held == 1

    async def answer() -> str:
        return "answered"

    assert await asyncio.wait_for(answer(), 5) == "answered"  # the loop is not held
    assert not preparing.done()
    release.set()
    assert isinstance(await preparing, Prepared)
    assert operations.turns.held == 0


async def test_a_new_document_without_a_turn_is_busy_and_cached_ones_are_served() -> None:
    """While the turn is taken beyond the wait, a new document is Busy; a cached one is not."""
    operations = Operations(replace(GraphQLLimits(), new_documents_wait=0.01))
    for _ in range(2):  # a document is cached the second time it comes
        await operations.prepare(CACHED, None, {})
    async with operations.turns.turn():
        with pytest.raises(Busy, match="busy with new GraphQL documents"):
            await operations.prepare(NEW, None, {})
        assert isinstance(await operations.prepare(CACHED, None, {}), Prepared)
    assert isinstance(await operations.prepare(NEW, None, {}), Prepared)


async def _post(client: Client, query: str) -> tuple[int, dict[str, str], Any]:
    response = await client.post("/graphql", json={"query": query})
    return response.status, dict(response.headers), await response.json()


async def test_over_http_busy_is_503_with_retry_after(client: Client) -> None:
    """POST /graphql with a new document while no turn comes is 503 with Retry-After and a
    message; a cached document still gets its 200."""
    for _ in range(2):
        assert (await _post(client, CACHED))[0] == 200
    operations = client.app[OPERATIONS]
    operations.turns.wait = 0
    async with operations.turns.turn():
        status, headers, body = await _post(client, NEW)
        assert status == 503 and headers["Retry-After"] == "1", body
        assert "busy with new GraphQL documents" in body["errors"][0]["message"]
        status, _, body = await _post(client, CACHED)
        assert status == 200 and len(body["data"]["articles"]) == 1
    assert (await _post(client, NEW))[0] == 200


async def test_over_a_websocket_busy_is_an_error_message(client: Client) -> None:
    """A subscription with a new document while no turn comes gets an error message with the
    BUSY code, and the connection stays open."""
    ws = await client.ws_connect("/graphql", protocols=("graphql-transport-ws",))
    await ws.send_json({"type": "connection_init"})
    assert (await ws.receive_json(timeout=5)) == {"type": "connection_ack"}
    operations = client.app[OPERATIONS]
    operations.turns.wait = 0
    async with operations.turns.turn():
        query = "subscription { articleEvents { position } }"
        await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
        message = await ws.receive_json(timeout=5)
    assert (message["id"], message["type"]) == ("s", "error")
    assert message["payload"][0]["extensions"] == {"code": "BUSY"}
    await ws.send_json({"type": "ping"})
    assert (await ws.receive_json(timeout=5)) == {"type": "pong"}
    await ws.close()


async def test_a_burst_of_the_same_new_document_is_parsed_once_and_never_busy() -> None:
    """32 requests arriving at once with the same new document (clients starting after a
    deploy) share one parse: none is told Busy, however short the turn's wait, and the document
    is cached afterwards."""
    operations = Operations(replace(GraphQLLimits(), new_documents_wait=0.001))
    parses = 0
    first_time = operations._first_time

    def counted(*args: Any) -> Any:
        nonlocal parses
        parses += 1
        return first_time(*args)

    operations._first_time = counted  # type: ignore[method-assign]
    results = await asyncio.gather(*(operations.prepare(NEW, None, {}) for _ in range(32)))
    assert all(isinstance(result, Prepared) for result in results)
    assert parses == 1
    assert operations.cache.get(NEW) is not None
