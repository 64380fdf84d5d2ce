"""What one client may claim through the API: reply bytes, replays, WebSockets, subscriptions."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from newsroom.config import Settings
from newsroom.web.app import create_app
from newsroom.web.graphql.http import WRITES
from newsroom.web.graphql.websocket import SOCKETS_BY_ADDRESS
from newsroom.web.search import SEARCHES
from tests.factories import article_created, create_article
from tests.web.conftest import Client, newsroom_of, refusal

PROTOCOL = "graphql-transport-ws"
BODY = "Ünïcode text. " * 700  # 9,800 characters, 11,200 bytes of UTF-8
REPLAY = "subscription { articleEvents(after: 0) { position } }"


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[Client]:
    """A newsroom of 20 articles with 11 KB bodies, and small limits."""
    settings = Settings(
        store=f"sqlite:///{tmp_path}/bounds.db",
        demo=False,
        max_reply_bytes=64 * 1024,
        max_replays=1,
        max_websockets=2,
        max_subscriptions=3,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        commands = newsroom_of(client).commands
        for n in range(20):
            await commands.handle(create_article(title=f"Story {n}", body=BODY))
        yield client


async def _post(client: Client, query: str) -> tuple[int, dict[str, Any]]:
    response = await client.post("/graphql", json={"query": query})
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_a_reply_within_the_cap_carries_its_bodies(small: Client) -> None:
    """Five 11 KB bodies fit in 64 KiB: the reply carries them all."""
    status, body = await _post(small, "{ articles(count: 5) { body } }")
    assert status == 200
    assert [a["body"] for a in body["data"]["articles"]] == [BODY] * 5


async def test_a_reply_past_the_cap_is_one_error_without_data(small: Client) -> None:
    """Ten 11 KB bodies would pass 64 KiB (counted in UTF-8 bytes): one error names the cap."""
    status, body = await _post(small, "{ articles(count: 10) { id title body } }")
    assert status == 200
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "REPLY_TOO_LARGE"
    assert "65,536 bytes" in error["message"]


async def test_a_mutation_past_the_cap_keeps_every_outcome_and_nulls_the_text(
    small: Client,
) -> None:
    """Writes past the cap are done all the same (mutations run one after the other), so the
    reply keeps each one's outcome, id and position: only the articles past the cap are null,
    each with the error. (Without data, a client could not tell what was written, and a retry
    without idempotency keys would write it twice.)"""
    creates = " ".join(
        f"c{n}: createArticle(article: $a) {{ id status position article {{ body }} }}"
        for n in range(8)
    )
    article = {"title": "New", "body": BODY, "category": "x", "author_id": 1, "author_name": "A"}
    head = await newsroom_of(small).store.head()
    response = await small.post(
        "/graphql",
        json={
            "query": f"mutation($a: ArticleCreatedInput!) {{ {creates} }}",
            "variables": {"a": article},
        },
    )
    status, body = response.status, await response.json()
    assert status == 200
    outcomes = [body["data"][f"c{n}"] for n in range(8)]
    assert [o["status"] for o in outcomes] == ["ACCEPTED"] * 8
    assert [o["position"] for o in outcomes] == list(range(head + 1, head + 9))
    assert await newsroom_of(small).store.head() == head + 8
    kept = [o["article"] for o in outcomes if o["article"] is not None]
    assert kept == [{"body": BODY}] * 5  # 5 x 11.2 KB fit in 64 KiB, the sixth does not
    codes = {(e["path"][0], e["extensions"]["code"]) for e in body["errors"]}
    assert codes == {(f"c{n}", "REPLY_TOO_LARGE") for n in range(5, 8)}


async def test_event_data_counts_against_the_cap(small: Client) -> None:
    """The log's `data` counts too: twenty events with 11 KB bodies are refused."""
    _, body = await _post(small, "{ events(count: 20) { position data } }")
    assert body["errors"][0]["extensions"]["code"] == "REPLY_TOO_LARGE"
    _, body = await _post(small, "{ events(count: 20) { position } }")  # no text: fine
    assert len(body["data"]["events"]) == 20


async def test_text_fields_cost_more_than_small_ones(small: Client) -> None:
    """Asking for the data of 1,000 events is the most one query may cost; twice that is refused
    before anything is read."""
    body = await refusal(
        small, {"query": "{ a: events(count: 1000) { data } b: events(count: 1000) { data } }"}
    )
    assert "maximum cost" in body["errors"][0]["message"]
    status, _ = await _post(
        small, "{ a: events(count: 1000) { position } b: events(count: 1000) { position } }"
    )
    assert status == 200


async def _connect(client: Client) -> Any:
    ws = await client.ws_connect("/graphql", protocols=(PROTOCOL,))
    await ws.send_json({"type": "connection_init"})
    assert (await ws.receive_json(timeout=5)) == {"type": "connection_ack"}
    return ws


async def test_a_replay_without_a_free_turn_is_told_busy(small: Client) -> None:
    """With every replay turn taken, a subscription that would replay the log waits its second,
    then gets an error message with code BUSY; once a turn is free, it replays every event."""
    replays = newsroom_of(small).history.replays
    await replays.acquire()  # the one turn, held as a long replay would hold it
    ws = await _connect(small)
    await ws.send_json({"id": "a", "type": "subscribe", "payload": {"query": REPLAY}})
    refused = await ws.receive_json(timeout=5)
    assert (refused["id"], refused["type"]) == ("a", "error")
    assert refused["payload"][0]["extensions"]["code"] == "BUSY"
    replays.release()
    await ws.send_json({"id": "b", "type": "subscribe", "payload": {"query": REPLAY}})
    positions = [
        (await ws.receive_json(timeout=5))["payload"]["data"]["articleEvents"]["position"]
        for _ in range(20)
    ]
    assert positions == list(range(1, 21))
    assert replays.held == 0  # caught up: the turn is given back while it follows live
    await ws.close()


async def test_subscriptions_are_capped_over_all_connections(small: Client) -> None:
    """max_subscriptions counts every connection's subscriptions; one more gets BUSY at once."""
    live = "subscription { articlePublished { id } }"
    first, second = await _connect(small), await _connect(small)
    for n, ws in enumerate((first, first, second)):
        await ws.send_json({"id": f"s{n}", "type": "subscribe", "payload": {"query": live}})
    await second.send_json({"id": "over", "type": "subscribe", "payload": {"query": live}})
    refused = await second.receive_json(timeout=5)
    assert (refused["id"], refused["type"]) == ("over", "error")
    assert refused["payload"][0]["extensions"]["code"] == "BUSY"
    await first.close()
    await second.close()


async def test_websockets_past_the_cap_get_503(small: Client) -> None:
    """With max_websockets 2, a third upgrade is answered 503 with Retry-After; once one closes,
    a new one is accepted."""
    first, second = await _connect(small), await _connect(small)
    response = await small.get(
        "/graphql",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Protocol": PROTOCOL,
        },
    )
    assert response.status == 503
    assert response.headers["Retry-After"]
    assert "WebSocket" in (await response.json())["errors"][0]["message"]
    await first.close()
    assert (await first.receive()).type in (WSMsgType.CLOSED, WSMsgType.CLOSE)
    third = await _connect(small)
    await third.close()
    await second.close()


async def test_a_long_subscription_holds_no_more_memory_per_event(tmp_path: Path) -> None:
    """A subscription's memory does not grow with the events it has sent: from its 500th to its
    2,000th event, what the process holds grows by less than 400 KB (graphql-core's shared memo
    used to add about 1.2 KB an event, 1.8 MB here)."""
    settings = Settings(store=f"sqlite:///{tmp_path}/long.db", demo=False, replay_rate=10**6)
    async with TestClient(TestServer(create_app(settings))) as client:
        store = newsroom_of(client).store
        for n in range(1, 2_001):
            await store.append(f"article-{n}", [article_created(n)], 0)
        ws = await _connect(client)
        query = "subscription { articleEvents(after: 0) { position type stream data } }"
        await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
        tracemalloc.start()
        try:
            for _ in range(500):
                await ws.receive_json(timeout=5)
            gc.collect()
            before, _ = tracemalloc.get_traced_memory()
            for _ in range(1_500):
                last = await ws.receive_json(timeout=5)
            gc.collect()
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert last["payload"]["data"]["articleEvents"]["position"] == 2_000
        assert after - before < 400 * 1024
        await ws.close()


async def test_one_address_holds_at_most_its_websockets(tmp_path: Path) -> None:
    """With a per-address cap of 1 (loopback counted), a second socket from the same address is
    refused with 503; the count goes back to 0 once the first closes, and a new one is let in."""
    settings = Settings(
        store=f"sqlite:///{tmp_path}/ws.db", max_websockets_per_address=1, limit_loopback=True
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        first = await _connect(client)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/graphql", protocols=(PROTOCOL,))
        assert refused.value.status == 503
        await first.close()
        by_address = client.app[SOCKETS_BY_ADDRESS]  # type: ignore[index]
        for _ in range(500):  # the server's handler finishes just after the close handshake
            if not by_address:
                break
            await asyncio.sleep(0.01)
        assert not by_address
        second = await _connect(client)
        await second.close()


async def test_mutations_past_their_turns_get_503(small: Client) -> None:
    """With every write turn taken, a mutation waits its second, then gets 503 with Retry-After;
    queries are not held up by it."""
    writes = small.app[WRITES]  # type: ignore[index]
    for _ in range(writes.capacity):
        await writes.acquire()
    mutation = (
        'mutation { createArticle(article: {title: "T", body: "B", category: "news", '
        'author_id: 1, author_name: "A"}) { status } }'
    )
    response = await small.post("/graphql", json={"query": mutation})
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert "busy with writes" in (await response.json())["errors"][0]["message"]
    status, _ = await _post(small, "{ articles(count: 1) { id } }")
    assert status == 200
    for _ in range(writes.capacity):
        writes.release()
    response = await small.post("/graphql", json={"query": mutation})
    assert (await response.json())["data"]["createArticle"]["status"] == "ACCEPTED"


async def test_a_search_without_a_turn_gets_503(small: Client) -> None:
    """Searches take turns (they run on the event loop): with the turn held, a search over HTTP
    and one over GraphQL each get 503 with Retry-After; with it free, both answer."""
    turns = small.app[SEARCHES]  # type: ignore[index]
    await turns.acquire()
    response = await small.get("/search", params={"q": "story"})
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    status, body = await _post(small, '{ search(query: "story") { total } }')
    assert status == 503
    assert body["errors"][0]["extensions"]["code"] == "BUSY"
    turns.release()
    assert (await small.get("/search", params={"q": "story"})).status == 200
    status, body = await _post(small, '{ search(query: "story") { total } }')
    assert (status, body["data"]["search"]["total"]) == (200, 20)
