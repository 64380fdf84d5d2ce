"""The full GraphQL API: every mutation and its failure codes, time travel, pages, the log, read-your-writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from newsroom.app import Newsroom
from newsroom.web.inputs import global_id
from tests.factories import CREATE_ID, article_input
from tests.web.conftest import Query

Client = TestClient[web.Request, web.Application]
PAYLOAD = "{ id name status error code position version article { title status version } }"
ARTICLE = {
    "title": "Storm nears the coast",
    "body": "Forecasters expect landfall tonight.",
    "category": "weather",
    "author_id": "4",
    "author_name": "Sam Forecast",
}


async def mutate(
    gql: Query, field: str, args: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    signature = "($a: ArticleInput!)" if variables and "a" in variables else ""
    body = await gql(f"mutation{signature} {{ r: {field}({args}) {PAYLOAD} }}", variables)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["r"]
    return result


async def test_the_life_of_an_article_through_every_mutation(gql: Query) -> None:
    """Draft, edit, publish, correct, retract: each replies with the article as the views show it."""
    created = await mutate(gql, "createDraft", "article: $a", {"a": ARTICLE})
    assert (created["status"], created["name"], created["version"]) == (
        "ACCEPTED",
        "ArticleDraftCreated",
        1,
    )
    assert created["article"] == {"title": "Storm nears the coast", "status": "DRAFT", "version": 1}
    article_id = created["id"]
    edited = await mutate(
        gql, "updateDraft", f'id: "{article_id}", changes: {{title: "Storm makes landfall"}}'
    )
    assert (edited["name"], edited["article"]["title"]) == (
        "ArticleDraftUpdated",
        "Storm makes landfall",
    )
    published = await mutate(gql, "publishArticle", f'id: "{article_id}", expected_version: 2')
    assert (published["name"], published["article"]["status"]) == ("ArticlePublished", "PUBLISHED")
    corrected = await mutate(
        gql, "updateArticle", f'id: "{article_id}", changes: {{body: "It is over."}}'
    )
    assert (corrected["name"], corrected["version"]) == ("ArticleUpdated", 4)
    retracted = await mutate(gql, "retractArticle", f'id: "{article_id}", reason: "Wrong storm"')
    assert (retracted["name"], retracted["article"]["status"], retracted["position"]) == (
        "ArticleRetracted", "RETRACTED", 12,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "args", "code"),
    [
        ("publishArticle", 'id: "99"', "NOT_FOUND"),
        ("publishArticle", 'id: "1"', "INVALID_TRANSITION"),
        ("updateArticle", 'id: "6", changes: {title: "Back"}', "INVALID_TRANSITION"),
        (
            "updateArticle",
            'id: "1", changes: {title: "New"}, expected_version: 7',
            "VERSION_CONFLICT",
        ),
        ("updateArticle", 'id: "1", changes: {category: "Bad Slug"}', "VALIDATION_FAILED"),
        ("updateDraft", 'id: "4", changes: {}', "VALIDATION_FAILED"),
        ("retractArticle", 'id: "4", reason: "never out"', "INVALID_TRANSITION"),
        ("retractArticle", 'id: "1", reason: "   "', "VALIDATION_FAILED"),
        (
            "createArticle",
            'article: {id: "2", title: "t", body: "b", category: "c", author_id: 1, author_name: "n"}',
            "ALREADY_EXISTS",
        ),
        (
            "createDraft",
            'article: {title: "t", body: "b", category: "c", author_id: 1, author_name: "n"}, expected_version: 3',
            "VALIDATION_FAILED",
        ),
    ],
)
async def test_each_failure_has_its_code(
    gql: Query, newsroom: Newsroom, field: str, args: str, code: str
) -> None:
    """Refused commands answer FAILED with a machine-readable code, and write nothing."""
    result = await mutate(gql, field, args)
    assert (result["status"], result["code"]) == ("FAILED", code), result
    assert result["error"]
    assert await newsroom.store.head() == 7


async def test_idempotency_key_on_any_mutation(gql: Query, newsroom: Newsroom) -> None:
    """The same key replays the first result; a different command with it is refused."""
    first = await mutate(
        gql, "updateArticle", 'id: "1", changes: {title: "Once"}, idempotency_key: "u1"'
    )
    again = await mutate(
        gql, "updateArticle", 'id: "1", changes: {title: "Once"}, idempotency_key: "u1"'
    )
    assert (again["status"], again["position"], again["version"]) == (
        "ACCEPTED",
        first["position"],
        2,
    )
    other = await mutate(
        gql, "updateArticle", 'id: "1", changes: {title: "Twice"}, idempotency_key: "u1"'
    )
    assert other["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await newsroom.store.head() == 8


async def test_time_travel_returns_the_exact_earlier_state(gql: Query) -> None:
    """article(id, version) folds the stream up to that version; the latest stays current."""
    await mutate(
        gql, "updateArticle", 'id: "1", changes: {title: "Second title", body: "New body"}'
    )
    body = await gql(
        '{ old: article(id: "1", version: 1) { title body version status }'
        '  new: article(id: "1") { title version } }'
    )
    assert body["data"]["old"] == {
        "title": "My article title 1", "body": "some articl text here 1", "version": 1, "status": "PUBLISHED",
    }  # fmt: skip
    assert body["data"]["new"] == {"title": "Second title", "version": 2}
    missing = await gql('{ article(id: "1", version: 9) { title } }')
    assert missing["data"]["article"] is None
    bad = await gql('{ article(id: "1", version: 0) { title } }', refused=True)
    assert "version must be 1 or more" in bad["errors"][0]["message"]


async def test_global_ids_and_history(gql: Query) -> None:
    """article(id:) takes the global id it hands out; history lists every event with its changes."""
    body = await gql(
        f'{{ article(id: "{global_id(6)}") {{ id global_id url history {{ version type changes }} }} }}'
    )
    article = body["data"]["article"]
    assert (article["id"], article["global_id"]) == ("6", global_id(6))
    assert article["url"].endswith("/environment/my-article-title-6-6")
    assert [(h["version"], h["type"]) for h in article["history"]] == [
        (1, "ArticleCreated"),
        (2, "ArticleRetracted"),
    ]
    assert article["history"][1]["changes"]["reason"] == "Retracted in the seed's demo data"


async def _page(gql: Query, after: str | None) -> dict[str, Any]:
    cursor = f', after: "{after}"' if after else ""
    body = await gql(
        f"{{ articleConnection(first: 3{cursor}) {{ totalCount edges {{ cursor node {{ id }} }}"
        " pageInfo { hasNextPage endCursor } } }"
    )
    page: dict[str, Any] = body["data"]["articleConnection"]
    return page


async def test_pages_never_repeat_or_skip_while_articles_arrive(gql: Query) -> None:
    """Walking the pages while new articles are published sees each older article exactly once."""
    for n in range(8):
        await mutate(
            gql,
            "createArticle",
            f'article: {{title: "Older {n}", body: "b", category: "news", author_id: 1, author_name: "n"}}',
        )
    expected = [a["id"] for a in (await gql("{ articles(count: 50) { id } }"))["data"]["articles"]]
    seen: list[str] = []
    after = None
    while True:
        page = await _page(gql, after)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        await mutate(
            gql,
            "createArticle",
            'article: {title: "Newer", body: "b", category: "news", author_id: 1, author_name: "n"}',
        )
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    bad = await gql('{ articleConnection(after: "nonsense!") { totalCount } }', refused=True)
    assert "cursor" in bad["errors"][0]["message"]


async def test_the_log_can_be_browsed(gql: Query) -> None:
    """events(after, count, stream) pages through the log with positions, types and data."""
    body = await gql(
        '{ all: events(after: 5, count: 2) { position stream type data }  one: events(stream: "article-6") { version type } }'
    )
    assert [(e["position"], e["type"]) for e in body["data"]["all"]] == [
        (6, "ArticleCreated"),
        (7, "ArticleRetracted"),
    ]
    assert body["data"]["all"][0]["data"]["title"] == "My article title 6"
    assert [e["type"] for e in body["data"]["one"]] == ["ArticleCreated", "ArticleRetracted"]
    too_many = await gql("{ events(count: 1001) { position } }", refused=True)
    assert "count must be between 1 and 1000" in too_many["errors"][0]["message"]


async def test_min_position_waits_then_answers_or_fails_clearly(client: Client) -> None:
    """A read asking for a future position waits (bounded); a bad header is a 400."""
    query = {"query": "{ articles { id } }"}
    reached = await client.post("/graphql", json=query, headers={"Newsroom-Min-Position": "7"})
    assert reached.status == 200 and reached.headers["Newsroom-Position"] == "7"
    ahead = await client.post("/graphql", json=query, headers={"Newsroom-Min-Position": "99"})
    assert ahead.status == 503
    assert "did not reach 99" in (await ahead.json())["errors"][0]["message"]
    bad = await client.post("/graphql", json=query, headers={"Newsroom-Min-Position": "soon"})
    assert bad.status == 400


async def test_a_waiting_read_sees_a_later_write(client: Client, gql: Query) -> None:
    """A read that waits for position 8 is answered once a write reaches it."""
    query = {"query": '{ article(id: "7") { title } }'}
    reader = asyncio.create_task(
        client.post("/graphql", json=query, headers={"Newsroom-Min-Position": "8"})
    )
    await mutate(
        gql,
        "createArticle",
        'article: {title: "Late", body: "b", category: "news", author_id: 1, author_name: "n"}',
    )
    response = await reader
    assert (await response.json())["data"]["article"] == {"title": "Late"}


async def test_unencodable_text_does_not_stop_the_store(client: TestClient, gql: Query) -> None:
    """A lone surrogate in the variables (here as a stream name) is refused with a 400 naming
    it, before GraphQL or the store sees it; writes keep working."""
    query = "query($s: String) { events(stream: $s) { position } }"
    reply = await client.post("/graphql", json={"query": query, "variables": {"s": "\ud800"}})
    assert reply.status == 400
    assert "lone surrogate" in (await reply.json())["errors"][0]["message"]
    created = (await gql(CREATE_ID, {"a": article_input()}))["data"]["createArticle"]
    assert created["status"] == "ACCEPTED"


async def test_timed_out_waits_leave_no_waiter_behind(client: Client, newsroom: Newsroom) -> None:
    """A read that gave up waiting for a far position leaves no live waiter in the projector,
    and given-up entries never outnumber the rest (the heap is rebuilt without them). The
    checkpointer's own waiter (the next checkpoint's position) stays."""
    for _ in range(3):
        response = await client.post(
            "/graphql",
            json={"query": "{ articles { id } }"},
            headers={"Newsroom-Min-Position": "999999"},
        )
        assert response.status == 503
    articles = next(p for p in newsroom.views.projectors if p.name == "articles")
    live = [position for position, _, future in articles._waiters if not future.done()]
    assert 999999 not in live
    assert articles._given_up * 2 <= len(articles._waiters)


async def test_log_event_data_holds_only_business_fields(gql: Query) -> None:
    """events().data carries the event's fields, not its class attributes."""
    body = await gql("{ events(count: 1) { data } }")
    assert set(body["data"]["events"][0]["data"]) == {
        "article_id", "title", "body", "category", "author_id", "author_name", "created_at",
    }  # fmt: skip
