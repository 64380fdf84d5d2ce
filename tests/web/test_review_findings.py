"""Regressions for what a review of the API found: each input once broke something."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from newsroom.app import Newsroom
from tests.web.conftest import Query

Client = TestClient[web.Request, web.Application]
CREATE = (
    "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { id status code error } }"
)


def article(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "t",
        "body": "b",
        "category": "news",
        "author_id": 1,
        "author_name": "n",
        **overrides,
    }


async def test_unencodable_text_does_not_stop_the_store(gql: Query) -> None:
    """A lone surrogate sent to the store fails that read alone; writes keep working."""
    body = await gql("query($s: String) { events(stream: $s) { position } }", {"s": "\ud800"})
    assert body["errors"]
    created = (await gql(CREATE, {"a": article()}))["data"]["createArticle"]
    assert created["status"] == "SUCCEEDED"


async def test_unused_fragments_count_against_the_field_limit(client: Client) -> None:
    """A big fragment no operation uses is refused before validation, quickly."""
    query = (
        "query { __typename } fragment F on Query { " + " ".join(["articles { id }"] * 1237) + " }"
    )
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query})
    assert response.status == 400
    assert "fields" in (await response.json())["errors"][0]["message"]
    assert time.perf_counter() - started < 0.5


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
    while (message := await ws.receive(timeout=10)).type != WSMsgType.CLOSE:
        pass
    assert ws.close_code == 4408


async def test_a_failed_create_with_the_last_id_leaves_automatic_ids_working(gql: Query) -> None:
    """A refused create naming the highest id does not move the server's id counter."""
    refused = (await gql(CREATE, {"a": article(id=str(2**31 - 1), title=" ")}))["data"][
        "createArticle"
    ]
    assert refused["status"] == "FAILED"
    created = (await gql(CREATE, {"a": article()}))["data"]["createArticle"]
    assert (created["status"], created["id"]) == ("SUCCEEDED", "7")


async def test_variable_defaults_count_in_the_cost(client: Client) -> None:
    """A list size given by a variable's default is costed like any other."""
    query = (
        "query($c: Int = 1000) { "
        + " ".join(f"e{i}: events(count: $c) {{ position }}" for i in range(6))
        + " }"
    )
    response = await client.post("/graphql", json={"query": query})
    assert response.status == 400
    assert "cost" in (await response.json())["errors"][0]["message"]
    fine = await client.post(
        "/graphql", json={"query": "query($c: Int = 5) { articles(count: $c) { id } }"}
    )
    assert fine.status == 200


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($a: String) { articleConnection(after: $a) { totalCount } }", {"a": 5}),
        (CREATE, {"a": "x"}),
        (CREATE, {}),
    ],
)
async def test_wrong_variables_are_400_with_a_message(
    client: Client, query: str, variables: dict[str, Any]
) -> None:
    """Variables of the wrong kind are a 400 that says which, never an internal error."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = await response.json()
    assert response.status == 400, body
    assert "internal" not in body["errors"][0]["message"]


async def test_huge_json_numbers_are_a_400(client: Client) -> None:
    """An integer with thousands of digits is refused as unusable JSON."""
    data = b'{"query": "{ __typename }", "variables": {"a": ' + b"1" * 5000 + b"}}"
    response = await client.post(
        "/graphql", data=data, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400


async def test_negative_expected_version_is_a_validation_failure(gql: Query) -> None:
    """expected_version -1 is refused in the payload, not an internal error."""
    body = await gql(
        'mutation { updateArticle(id: 1, changes: {title: "x"}, expected_version: -1) { status code } }'
    )
    assert body["data"]["updateArticle"] == {"status": "FAILED", "code": "VALIDATION_FAILED"}


async def test_timed_out_waits_leave_no_waiter_behind(client: Client, newsroom: Newsroom) -> None:
    """A read that gave up waiting for a far position leaves nothing queued in the projector."""
    for _ in range(3):
        response = await client.post(
            "/graphql",
            json={"query": "{ articles { id } }"},
            headers={"Newsroom-Min-Position": "999999"},
        )
        assert response.status == 503
    assert newsroom.projectors["articles"]._waiters == []


async def test_log_event_data_holds_only_business_fields(gql: Query) -> None:
    """events().data carries the event's fields, not its class attributes."""
    body = await gql("{ events(count: 1) { data } }")
    assert set(body["data"]["events"][0]["data"]) == {
        "article_id", "title", "body", "category", "author_id", "author_name", "created_at",
    }  # fmt: skip
