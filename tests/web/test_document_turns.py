"""New documents take turns: one at a time, each after a turn of the event loop, and a request
that finds no turn in time gets Busy (503 with Retry-After, or a WebSocket error message) while
cached documents keep being served."""

from __future__ import annotations

import asyncio
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


async def test_a_new_document_lets_the_loop_answer_what_arrived_before_it_is_parsed() -> None:
    """A new document takes its turn, then lets the loop run a task woken meanwhile (as a
    request that arrived is woken by reading it) before it is parsed."""
    operations = Operations(GraphQLLimits())
    order: list[str] = []
    parse = operations.document

    def document(text: str) -> Any:
        order.append("parsed")
        return parse(text)

    operations.document = document  # type: ignore[method-assign]
    preparing = asyncio.ensure_future(operations.prepare(NEW, None, {}))
    await asyncio.sleep(0)  # the task's first step: it took the turn and yielded
    assert operations.turns.held == 1 and order == []

    async def answer() -> None:
        order.append("answered")

    answered = asyncio.ensure_future(answer())  # woken now, after the document took its turn
    assert isinstance(await preparing, Prepared)
    await answered
    assert order == ["answered", "parsed"]
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
