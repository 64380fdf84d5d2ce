"""Subscriptions against a real server, spoken by an independent client library (gql + websockets)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import websockets
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.conftest import Launch, NewsroomProcess

pytestmark = pytest.mark.e2e

EVENTS = gql("subscription { articleEvents(after: 0) { position type stream } }")
CREATE = (
    'mutation { createArticle(article: {title: "%s", body: "b", category: "news", author_id: 1,'
    ' author_name: "n"}) { status position } }'
)


async def _post(server: NewsroomProcess, title: str) -> dict[str, object]:
    return await asyncio.to_thread(lambda: server.graphql(CREATE % title)["data"]["createArticle"])


def _transport(server: NewsroomProcess) -> WebsocketsTransport:
    url = server.url.replace("http://", "ws://") + "/graphql"
    return WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])


async def test_gql_client_catches_up_then_sees_a_write_within_100_ms(
    launch: Launch, tmp_path: Path
) -> None:
    """gql subscribes with after: 0, gets the 7 demo events, then a new event soon after its write."""
    server = launch(tmp_path / "db.sqlite")
    async with Client(transport=_transport(server)) as session:
        stream = session.subscribe(EVENTS)
        positions = [(await anext(stream))["articleEvents"]["position"] for _ in range(7)]
        assert positions == list(range(1, 8))
        delays = []
        for n in range(5):
            reply = await _post(server, f"live {n}")
            replied = time.perf_counter()
            event = (await anext(stream))["articleEvents"]
            delays.append(time.perf_counter() - replied)
            assert (event["position"], event["type"]) == (reply["position"], "ArticleCreated")
        await stream.aclose()  # gql waits for every listener to end before it closes
        assert max(delays) < 0.1, delays
    assert server.terminate() == 0


async def test_a_client_that_stops_reading_does_not_delay_writes(
    launch: Launch, tmp_path: Path
) -> None:
    """A subscriber that never reads its socket leaves mutations as fast as without it."""
    server = launch(tmp_path / "db.sqlite")
    for n in range(50):  # warm up first: the first measured batch must not pay for it
        await _post(server, f"warm-up {n}")
    url = server.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as stalled:
        await stalled.send(json.dumps({"type": "connection_init"}))
        await stalled.recv()
        query = "subscription { articleEvents(after: 0) { position type data } }"
        await stalled.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
        )
        # from here on the stalled client reads nothing
        started = time.perf_counter()
        for n in range(200):
            assert (await _post(server, f"while stalled {n}"))["status"] == "ACCEPTED"
        stalled_rate = 200 / (time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(200):
        await _post(server, f"alone {n}")
    alone_rate = 200 / (time.perf_counter() - started)
    # A write held up by the stalled socket would wait out its send timeout (seconds): the rate
    # would fall a hundredfold. A third leaves room for this machine's own swings.
    assert stalled_rate > alone_rate / 3, (stalled_rate, alone_rate)
    assert server.terminate() == 0
