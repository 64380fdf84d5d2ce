"""Subscriptions over WebSocket with the graphql-transport-ws protocol, through aiohttp's client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from newsroom.web.app import NEWSROOM
from tests.web.conftest import Query

Client = TestClient[web.Request, web.Application]
PROTOCOL = "graphql-transport-ws"
EVENTS = "subscription($after: Int) { articleEvents(after: $after) { position type stream } }"


async def _connect(client: Client) -> Any:
    ws = await client.ws_connect("/graphql", protocols=(PROTOCOL,))
    await ws.send_json({"type": "connection_init"})
    assert (await ws.receive_json(timeout=5)) == {"type": "connection_ack"}
    return ws


async def test_catch_up_then_live(client: Client, gql: Query) -> None:
    """after: 0 replays the demo events in order, then a new write arrives as the next message."""
    ws = await _connect(client)
    await ws.send_json(
        {"id": "s1", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"after": 0}}}
    )
    positions = []
    for _ in range(7):
        message = await ws.receive_json(timeout=5)
        assert (message["id"], message["type"]) == ("s1", "next")
        positions.append(message["payload"]["data"]["articleEvents"]["position"])
    assert positions == [1, 2, 3, 4, 5, 6, 7]
    await gql(
        'mutation { createArticle(article: {title: "Live", body: "b", category: "news", author_id: 1, author_name: "n"}) { status } }'
    )
    live = await ws.receive_json(timeout=5)
    assert live["payload"]["data"]["articleEvents"] == {
        "position": 8,
        "type": "ArticleCreated",
        "stream": "article-7",
    }
    await ws.send_json({"id": "s1", "type": "complete"})
    assert (await ws.receive_json(timeout=5)) == {"id": "s1", "type": "complete"}
    await ws.send_json({"type": "ping"})
    assert (await ws.receive_json(timeout=5)) == {"type": "pong"}
    await ws.close()


async def test_article_published_sends_the_article(client: Client, gql: Query) -> None:
    """articlePublished(category) sends articles of that category as they go public."""
    ws = await _connect(client)
    query = 'subscription { articlePublished(category: "science") { id title status } }'
    await ws.send_json({"id": "p", "type": "subscribe", "payload": {"query": query}})
    # The subscription starts at the log head when the server gets to it; write until it shows.
    for attempt in range(50):
        for category in ("sport", "science"):
            await gql(
                f'mutation {{ createArticle(article: {{title: "{category} {attempt}", body: "b", category: "{category}", author_id: 1, author_name: "n"}}) {{ status }} }}'
            )
        try:
            message = await ws.receive_json(timeout=0.2)
            break
        except TimeoutError:
            continue
    article = message["payload"]["data"]["articlePublished"]
    assert article["title"].startswith("science") and article["status"] == "PUBLISHED"
    await ws.close()


async def test_protocol_violations_close_with_the_spec_codes(client: Client) -> None:
    """Subscribe before init is 4401, a duplicate id 4409, a second init 4429, garbage 4400."""
    ws = await client.ws_connect("/graphql", protocols=(PROTOCOL,))
    await ws.send_json({"id": "x", "type": "subscribe", "payload": {"query": EVENTS}})
    assert (await ws.receive(timeout=5)).type == WSMsgType.CLOSE and ws.close_code == 4401

    ws = await _connect(client)
    await ws.send_json({"id": "x", "type": "subscribe", "payload": {"query": EVENTS}})
    await ws.send_json({"id": "x", "type": "subscribe", "payload": {"query": EVENTS}})
    while (message := await ws.receive(timeout=5)).type != WSMsgType.CLOSE:
        pass
    assert ws.close_code == 4409

    ws = await _connect(client)
    await ws.send_json({"type": "connection_init"})
    await ws.receive(timeout=5)
    assert ws.close_code == 4429

    ws = await _connect(client)
    await ws.send_str("not json")
    await ws.receive(timeout=5)
    assert ws.close_code == 4400
    del message


async def test_errors_in_a_subscribe_are_error_messages(client: Client) -> None:
    """A bad document or a mutation over the socket gets an `error` message, and the socket stays."""
    ws = await _connect(client)
    await ws.send_json(
        {"id": "a", "type": "subscribe", "payload": {"query": "subscription { nope }"}}
    )
    error = await ws.receive_json(timeout=5)
    assert (error["id"], error["type"]) == ("a", "error") and "nope" in error["payload"][0][
        "message"
    ]
    await ws.send_json(
        {"id": "b", "type": "subscribe", "payload": {"query": "{ articles { id } }"}}
    )
    error = await ws.receive_json(timeout=5)
    assert "by POST" in error["payload"][0]["message"]
    await ws.send_json({"type": "ping"})
    assert (await ws.receive_json(timeout=5))["type"] == "pong"
    await ws.close()


async def test_a_number_too_long_to_read_in_a_subscribe_is_an_error_message(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Over the socket too, a number Python cannot read is an `error` naming the limit, with
    no ERROR line (one per subscribe, 16 at a time, filled the log at 4 MB/s)."""
    ws = await _connect(client)
    document = "subscription { articleEvents(after: " + "9" * 4301 + ") { type } }"
    for n in range(3):
        await ws.send_json({"id": str(n), "type": "subscribe", "payload": {"query": document}})
        error = await ws.receive_json(timeout=5)
        assert error["type"] == "error" and "the limit is 40" in error["payload"][0]["message"]
    await ws.close()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_a_close_reason_that_repeats_a_long_type_is_cut_to_the_frame_limit(
    client: Client,
) -> None:
    """The close frame's reason names the client's message type; a 300-character type is cut
    so the reason stays within the 123 bytes a close frame may carry (RFC 6455, 5.5)."""
    ws = await _connect(client)
    await ws.send_json({"type": "é" * 300})
    closed = await ws.receive(timeout=5)
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, 4400)
    assert 0 < len(closed.extra.encode()) <= 123, closed.extra


async def test_a_missing_init_times_out_with_4408(client: Client) -> None:
    """A client that never sends connection_init is closed with 4408 after the init timeout."""
    ws = await client.ws_connect("/graphql", protocols=(PROTOCOL,))
    message = await ws.receive(timeout=10)
    assert message.type == WSMsgType.CLOSE and ws.close_code == 4408


async def test_a_socket_without_the_subprotocol_is_refused(client: Client) -> None:
    """Without graphql-transport-ws the socket closes with 4406."""
    ws = await client.ws_connect("/graphql")
    await ws.receive(timeout=5)
    assert ws.close_code == 4406


async def test_one_connection_runs_at_most_16_operations(client: Client) -> None:
    """The 17th concurrent subscription on one socket gets an error message, not a replay."""
    ws = await client.ws_connect("/graphql", protocols=("graphql-transport-ws",))
    await ws.send_json({"type": "connection_init"})
    await ws.receive_json(timeout=5)
    query = {"query": "subscription { articleEvents { position } }"}
    for n in range(17):
        await ws.send_json({"id": str(n), "type": "subscribe", "payload": query})
    message = await ws.receive_json(timeout=5)
    assert (message["id"], message["type"]) == ("16", "error")
    assert "at most 16" in message["payload"][0]["message"]
    await ws.close()


async def test_a_ping_does_not_skip_the_init_deadline(client: Client) -> None:
    """A client that pings but never sends connection_init is still closed with 4408."""
    ws = await client.ws_connect("/graphql", protocols=("graphql-transport-ws",))
    await ws.send_json({"type": "ping"})
    while (await ws.receive(timeout=10)).type != WSMsgType.CLOSE:
        pass
    assert ws.close_code == 4408


async def test_a_deeply_nested_message_closes_with_4400_and_logs_no_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A message nested 1,500 levels is an invalid message (4400), not a server error."""
    ws = await client.ws_connect("/graphql", protocols=(PROTOCOL,))
    await ws.send_str('{"type": "connection_init", "payload": ' + "[" * 1500 + "]" * 1500 + "}")
    ended = (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
    while (await ws.receive(timeout=5)).type not in ended:
        pass
    assert ws.close_code == 4400
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    assert (await client.get("/healthz")).status == 200


async def test_a_subscription_on_a_stopped_view_ends_with_that_error(
    client: Client, gql: Query, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the articles view has stopped, a subscription that needs it ends with an error that
    says so (and its code), not with "internal error" and a logged traceback."""
    log = (await gql("{ events(count: 100) { position type stream } }"))["data"]["events"]
    later = next(e for e in log if e["type"] in ("ArticlePublished", "ArticleRetracted"))
    created = next(e["position"] for e in log if e["stream"] == later["stream"])
    newsroom = client.app[NEWSROOM]

    def broken(*_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(newsroom.views.articles, "apply", broken)
    await gql(
        'mutation { createArticle(article: {title: "t", body: "b", category: "news", author_id: 1, author_name: "n"}) { status } }'
    )  # the articles view stops on this event
    ws = await _connect(client)
    query = 'subscription($a: Int) { articleEvents(after: $a, category: "news") { position } }'
    payload = {"query": query, "variables": {"a": created}}
    await ws.send_json({"id": "e", "type": "subscribe", "payload": payload})
    message = await ws.receive_json(timeout=5)
    assert (message["id"], message["type"]) == ("e", "error"), message
    assert "articles view stopped" in message["payload"][0]["message"]
    assert message["payload"][0]["extensions"]["code"] == "VIEW_FAILED"
    await ws.close()


async def test_the_handshake_carries_the_request_id(client: Client) -> None:
    """The 101 reply is sent by the WebSocket handler itself (the guard cannot add a header to
    a reply already sent), with the request id as every other reply: the client's, or a new one."""
    handshake = {
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": PROTOCOL,
    }  # fmt: skip
    given = await client.get("/graphql", headers={**handshake, "X-Request-Id": "ws-trace-7"})
    assert given.status == 101 and given.headers["X-Request-Id"] == "ws-trace-7"
    given.close()
    made = await client.get("/graphql", headers=handshake)
    assert made.status == 101 and re.fullmatch("[0-9a-f]{20}", made.headers["X-Request-Id"])
    made.close()
