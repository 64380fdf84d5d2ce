"""GraphQL over HTTP: the seed's queries verbatim, createArticle, and errors that name the problem."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from newsroom.app import Newsroom
from newsroom.web.graphql import pipeline
from newsroom.web.graphql.pipeline import OPERATIONS, Prepared
from tests.factories import CREATE_ID, article_input
from tests.web.conftest import Query, refusal

SEED_FIELDS = "id title body category author_id author_name status"
Client = TestClient[web.Request, web.Application]


def create(**overrides: Any) -> dict[str, Any]:
    article = {
        "title": "Harbour reopens",
        "body": "Ships are moving again.",
        "category": "business",
        "author_id": "7",
        "author_name": "Mo Writer",
    }
    article.update(overrides)
    return article


CREATE = """mutation($article: ArticleCreatedInput!) {
  createArticle(article: $article) { id name error status code position version }
}"""


async def test_seed_articles_query_lists_the_published_demo_articles(gql: Query) -> None:
    """The seed's default `articles` query returns the four published demo articles, newest first."""
    body = await gql(f"{{ articles {{ {SEED_FIELDS} }} }}")
    articles = body["data"]["articles"]
    assert [a["id"] for a in articles] == ["5", "3", "2", "1"]
    assert articles[-1] == {
        "id": "1",
        "title": "My article title 1",
        "body": "some articl text here 1",
        "category": "business",
        "author_id": "10",
        "author_name": "Pavel",
        "status": "PUBLISHED",
    }


async def test_seed_query_arguments(gql: Query) -> None:
    """category, count and status filter as in the seed; UNKNOWN matches nothing."""
    query = "query($c: String, $n: Int!, $s: ArticleStatus!) { articles(category: $c, count: $n, status: $s) { id } }"
    ask = lambda **v: gql(query, {"c": None, "n": 10, "s": "PUBLISHED", **v})  # noqa: E731
    assert [a["id"] for a in (await ask(c="business"))["data"]["articles"]] == ["3", "1"]
    assert [a["id"] for a in (await ask(n=2))["data"]["articles"]] == ["5", "3"]
    assert [a["id"] for a in (await ask(s="DRAFT"))["data"]["articles"]] == ["4"]
    assert [a["id"] for a in (await ask(s="RETRACTED"))["data"]["articles"]] == ["6"]
    assert (await ask(s="UNKNOWN"))["data"]["articles"] == []


@pytest.mark.parametrize("count", [0, 51, -3])
async def test_count_outside_1_to_50_is_an_error(gql: Query, count: int) -> None:
    """A count outside 1..50 is a request error naming count, before anything runs."""
    body = await gql(f"{{ articles(count: {count}) {{ id }} }}", refused=True)
    assert "data" not in body
    assert f"count must be between 1 and 50, got {count}" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION_FAILED"}


async def test_article_by_id_in_any_status(gql: Query) -> None:
    """`article(id:)` answers drafts and retractions; an unknown id is null; a bad id an error."""
    body = await gql(
        '{ a: article(id: "4") { id status } b: article(id: 6) { status } c: article(id: "99") { id } }'
    )
    assert body["data"] == {
        "a": {"id": "4", "status": "DRAFT"},
        "b": {"status": "RETRACTED"},
        "c": None,
    }
    bad = await gql('{ article(id: "abc") { id } }', refused=True)
    assert "id must be a positive whole number" in bad["errors"][0]["message"]


async def test_create_article_then_read_it_at_once(gql: Query) -> None:
    """createArticle replies ACCEPTED with id, event name, position and version; a read sees it."""
    reply = (await gql(CREATE, {"article": create()}))["data"]["createArticle"]
    assert reply == {
        "id": "7", "name": "ArticleCreated", "error": None, "status": "ACCEPTED",
        "code": None, "position": 8, "version": 1,
    }  # fmt: skip
    body = await gql('{ article(id: "7") { title author_id status } }')
    assert body["data"]["article"] == {
        "title": "Harbour reopens",
        "author_id": "7",
        "status": "PUBLISHED",
    }
    assert body["extensions"]["position"] == 8


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        ({"title": "  "}, "VALIDATION_FAILED", "title is required"),
        ({"category": "Not A Slug"}, "VALIDATION_FAILED", "lowercase slug"),
        ({"author_id": "abc"}, "VALIDATION_FAILED", "author_id must be a positive whole number"),
        ({"title": "a\u0001b"}, "VALIDATION_FAILED", "title contains the character U+0001"),
        ({"id": "1"}, "ALREADY_EXISTS", "article 1 already exists"),
        ({"id": "0"}, "VALIDATION_FAILED", "id must be a positive whole number"),
    ],
)
async def test_create_article_failures_are_in_the_payload(
    gql: Query, newsroom: Newsroom, overrides: dict[str, Any], code: str, message: str
) -> None:
    """A refused createArticle is status FAILED with a code and an error naming the field; nothing is written."""
    head = await newsroom.store.head()
    reply = (await gql(CREATE, {"article": create(**overrides)}))["data"]["createArticle"]
    assert (reply["status"], reply["code"]) == ("FAILED", code)
    assert message in reply["error"]
    assert await newsroom.store.head() == head


async def test_create_article_with_idempotency_key(gql: Query, newsroom: Newsroom) -> None:
    """Sending a key twice creates one article; the second reply repeats the first."""
    first = (await gql(CREATE, {"article": create(idempotency_key="abc")}))["data"]["createArticle"]
    again = (await gql(CREATE, {"article": create(idempotency_key="abc")}))["data"]["createArticle"]
    assert (again["id"], again["position"]) == (first["id"], first["position"])
    assert await newsroom.store.head() == first["position"]
    other = await gql(CREATE, {"article": create(title="Other", idempotency_key="abc")})
    assert other["data"]["createArticle"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_wrong_argument_types_are_graphql_errors(gql: Query) -> None:
    """Type errors in a document are reported by GraphQL validation, as a request error."""
    body = await gql('{ articles(count: "ten") { id } }', refused=True)
    assert "Int" in body["errors"][0]["message"]
    body = await gql("{ articles { nope } }", refused=True)
    assert "nope" in body["errors"][0]["message"]


async def test_every_reply_states_its_log_position(client: Client) -> None:
    """GraphQL replies carry the position in a Newsroom-Position header and in extensions."""
    response = await client.post("/graphql", json={"query": "{ articles { id } }"})
    body = await response.json()
    assert response.headers["Newsroom-Position"] == "7" == str(body["extensions"]["position"])


@pytest.mark.parametrize(
    ("data", "headers", "status", "message"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"\xff\xfe{}", {"Content-Type": "application/json"}, 400, "not valid UTF-8"),
        (
            b'[{"query": "{ articles { id } }"}]',
            {"Content-Type": "application/json"},
            400,
            "batched arrays",
        ),
        (
            b"query={articles{id}}",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "application/json",
        ),
        (b'{"variables": {}}', {"Content-Type": "application/json"}, 400, "'query' string"),
        (
            b'{"query": "{ articles { id } }", "variables": [1]}',
            {"Content-Type": "application/json"},
            400,
            "'variables'",
        ),
        (b'{"query": "' + b"x" * 70_000 + b'"}', {"Content-Type": "application/json"}, 413, ""),
    ],
)
async def test_bad_http_bodies_get_a_clear_4xx(
    client: Client,
    newsroom: Newsroom,
    data: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    """Malformed, oversized or wrongly typed bodies get a 4xx naming the problem; nothing is written."""
    response = await client.post("/graphql", data=data, headers=headers)
    assert response.status == status
    assert message in await response.text()
    assert await newsroom.store.head() == 7


async def test_a_failed_projection_is_reported_not_served(
    client: Client, gql: Query, newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the articles view breaks, health says where, queries error, and writes still land."""

    def broken(_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(newsroom.views.articles, "apply", broken)
    reply = (await gql(CREATE, {"article": create()}))["data"]["createArticle"]
    assert reply["status"] == "ACCEPTED"
    health = await client.get("/healthz")
    report = await health.json()
    assert health.status == 503
    assert report["projections"]["articles"]["failed_at"] == reply["position"]
    assert "simulated bug" in report["projections"]["articles"]["error"]
    assert (await client.get("/readyz")).status == 503
    body = await gql("{ articles { id } }")
    assert "articles view stopped at position 8" in body["errors"][0]["message"]


@pytest.mark.parametrize("bad_id", ["뒄\u0002G", "QXJ0aWNsZTp4", "Tm90aGluZzox", "%%%", " "])
async def test_odd_ids_are_validation_errors(gql: Query, bad_id: str) -> None:
    """Non-ASCII, undecodable or foreign global ids are a clear error, never an internal one (found by schemathesis)."""
    body = await gql("query($id: ID!) { article(id: $id) { id } }", {"id": bad_id}, refused=True)
    assert "id must be a positive whole number" in body["errors"][0]["message"]


class _Request:
    """Stands in for the aiohttp request: the context holds it, so it lives as long as that."""

    def __init__(self, app: web.Application) -> None:
        self.app = app


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("{ articles(count: 2) { id title } }", {}),
        (CREATE, {"article": create()}),
    ],
    ids=["query", "mutation"],
)
async def test_an_operation_leaves_no_reference_cycle(
    client: Client, newsroom: Newsroom, text: str, variables: dict[str, Any]
) -> None:
    """What a successful operation built (its context included) is freed by reference counting
    alone. graphql-core's executor references itself through the helpers it hands resolvers;
    left alone, that cycle kept every request's objects for the cyclic GC (docs/benchmarks.md
    §4). Called here without HTTP: `handle_graphql` adds nothing that could hold the context."""
    prepared = await client.app[OPERATIONS].prepare(text, None, variables)
    assert isinstance(prepared, Prepared)
    request = _Request(client.app)
    watched = weakref.ref(request)
    collecting = gc.isenabled()
    gc.disable()
    try:
        reply = await pipeline.execute(prepared, request)  # type: ignore[arg-type]
        assert "errors" not in reply and reply["data"]
        del request, reply
        assert watched() is None, "the context outlived the operation: a reference cycle holds it"
    finally:
        if collecting:
            gc.enable()


async def test_a_failed_create_with_the_last_id_leaves_automatic_ids_working(gql: Query) -> None:
    """A refused create naming the highest id does not move the server's id counter."""
    refused = (await gql(CREATE_ID, {"a": article_input(id=str(2**31 - 1), title=" ")}))["data"][
        "createArticle"
    ]
    assert refused["status"] == "FAILED"
    created = (await gql(CREATE_ID, {"a": article_input()}))["data"]["createArticle"]
    assert (created["status"], created["id"]) == ("ACCEPTED", "7")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($a: String) { articleConnection(after: $a) { totalCount } }", {"a": 5}),
        (CREATE_ID, {"a": "x"}),
        (CREATE_ID, {}),
    ],
)
async def test_wrong_variables_are_request_errors_with_a_message(
    client: Client, query: str, variables: dict[str, Any]
) -> None:
    """Variables of the wrong kind are a request error that says which (400 in
    application/graphql-response+json), never an internal error."""
    body = await refusal(client, {"query": query, "variables": variables})
    assert "$a" in body["errors"][0]["message"]
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
