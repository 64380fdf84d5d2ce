"""Bad input over HTTP gets a 4xx or a FAILED payload naming the problem; never a 500 or a write."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.e2e

CREATE = """
mutation Create($article: ArticleCreatedInput!) {
  createArticle(article: $article) { id name error status code position version }
}
"""
GOOD_ARTICLE = {
    "title": "A perfectly good title",
    "body": "A perfectly good body.",
    "category": "world-news",
    "author_id": "7",
    "author_name": "Good Author",
}
GRAPHQL_JSON = json.dumps({"query": "{ articles { id } }"}).encode()

# (name, body bytes, content type): requests that are broken before GraphQL sees them.
BROKEN_REQUESTS = [
    ("invalid JSON", b'{"query": "{ articles { id } }"', "application/json"),
    ("wrong content type", GRAPHQL_JSON, "text/plain"),
    ("form content type", b"query=%7B+articles+%7B+id+%7D+%7D",
     "application/x-www-form-urlencoded"),
    ("JSON array (batch)", b"[" + GRAPHQL_JSON + b"]", "application/json"),
    ("JSON string", b'"{ articles { id } }"', "application/json"),
    ("not UTF-8", b'{"query": "\xff\xfe"}', "application/json"),
    ("empty body", b"", "application/json"),
    ("query not a string", b'{"query": 42}', "application/json"),
    ("variables not an object", b'{"query": "{ articles { id } }", "variables": [1]}',
     "application/json"),
    ("body over the size cap", b'{"query": "' + b" " * (65 * 1024) + b'{ articles { id } }"}',
     "application/json"),
    ("JSON nested 1,500 levels", b'{"query": "{ articles { id } }", "variables": {"a": '
     + b"[" * 1500 + b"]" * 1500 + b"}}", "application/json"),
]  # fmt: skip

# (name, body): well-formed requests whose document GraphQL refuses before running it.
REFUSED_DOCUMENTS = [
    ("GraphQL syntax error", b'{"query": "{ articles { id "}'),
    ("unknown field", b'{"query": "{ articles { id salary } }"}'),
    ("count out of range", b'{"query": "{ articles(count: 51) { id } }"}'),
]

# (field the error must name, overrides of a good article): commands the domain must refuse.
BAD_ARTICLES = [
    ("title", {"title": "   "}),
    ("title", {"title": ""}),
    ("category", {"category": "Not A Slug"}),
    ("author_id", {"author_id": "abc"}),
    ("author_id", {"author_id": "-3"}),
    ("title", {"title": "bell \u0001 in the title"}),
    ("body", {"body": "nul \u0000 in the body"}),
    ("author_name", {"author_name": " "}),
]


@pytest.fixture(scope="module")
def server(module_launch: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One server, with the demo articles, shared by every case of this module."""
    store: Path = tmp_path_factory.mktemp("bad-input") / "db.sqlite"
    running = module_launch(store)
    yield running
    assert running.terminate() == 0, running.stderr()


def error_messages(body: bytes) -> list[str]:
    """The `errors[].message` strings of a JSON error reply."""
    reply = json.loads(body)
    assert isinstance(reply, dict), reply
    messages = [e["message"] for e in reply.get("errors", [])]
    assert messages and all(isinstance(m, str) and m for m in messages), reply
    return messages


@pytest.mark.parametrize(
    ("body", "content_type"),
    [pytest.param(body, ctype, id=name) for name, body, ctype in BROKEN_REQUESTS],
)
def test_broken_request_gets_a_4xx_and_writes_nothing(
    server: Any, body: bytes, content_type: str
) -> None:
    """A malformed POST /graphql gets a 4xx error without a traceback, and the log is unchanged."""
    head = server.head()
    status, reply = server.request("POST", "/graphql", body, content_type)
    assert 400 <= status < 500, (status, reply)
    assert b"Traceback" not in reply
    if status != 413:  # aiohttp itself refuses an oversized body, in plain text
        error_messages(reply)
    assert server.head() == head


@pytest.mark.parametrize(
    ("media", "expected"),
    [("application/json", 200), ("application/graphql-response+json", 400)],
)
@pytest.mark.parametrize("body", [pytest.param(b, id=name) for name, b in REFUSED_DOCUMENTS])
def test_a_refused_document_is_a_graphql_error_and_writes_nothing(
    server: Any, body: bytes, media: str, expected: int
) -> None:
    """A document GraphQL refuses is a GraphQL response with errors and no data: 200 as
    application/json, 400 as application/graphql-response+json; nothing is written."""
    head = server.head()
    status, reply = server.request("POST", "/graphql", body, "application/json", {"Accept": media})
    assert status == expected, (status, reply)
    error_messages(reply)
    assert "data" not in json.loads(reply)
    assert server.head() == head


@pytest.mark.parametrize(
    ("field", "overrides"),
    [pytest.param(field, o, id=f"{field}={next(iter(o.values()))!r}") for field, o in BAD_ARTICLES],
)
def test_invalid_article_fails_naming_the_field_and_writes_nothing(
    server: Any, field: str, overrides: dict[str, str]
) -> None:
    """createArticle with a bad field fails naming the field (FAILED, or a GraphQL request error
    when the value does not even fit its type); nothing is written."""
    head = server.head()
    payload = json.dumps({"query": CREATE, "variables": {"article": GOOD_ARTICLE | overrides}})
    status, body = server.request("POST", "/graphql", payload.encode(), "application/json")
    assert status == 200, (status, body)  # application/json: every well-formed request
    reply = json.loads(body)
    if "data" in reply:
        assert "errors" not in reply, reply
        outcome = reply["data"]["createArticle"]
        assert outcome["status"] == "FAILED", outcome
        assert outcome["id"] is None and outcome["position"] is None, outcome
        assert field in outcome["error"], outcome
        assert outcome["code"] == "VALIDATION_FAILED", outcome
    else:
        assert any(field in m for m in error_messages(body)), body
    assert server.head() == head


def test_good_article_still_succeeds_after_bad_input(server: Any) -> None:
    """After all the bad input the server still accepts a valid article, appending one event."""
    head = server.head()
    reply = server.graphql(CREATE, {"article": GOOD_ARTICLE})
    outcome = reply["data"]["createArticle"]
    assert outcome["status"] == "ACCEPTED", outcome
    assert outcome["position"] == head + 1
    assert server.head() == head + 1


def test_article_query_with_a_bad_id_is_an_error_not_a_500(server: Any) -> None:
    """article(id: "abc") answers a GraphQL error that names the id, not an internal error."""
    payload = json.dumps({"query": '{ article(id: "abc") { id } }'}).encode()
    status, body = server.request("POST", "/graphql", payload, "application/json")
    assert status == 200, (status, body)
    messages = error_messages(body)
    assert any("id" in m for m in messages), messages
    assert "internal error" not in messages


@pytest.mark.parametrize(
    ("path", "headers", "status", "says"),
    [
        ("/graphql?query=" + "%7B" * 3000, {}, 414, "send long documents by POST"),
        ("/graphql", {"X-Padding": "p" * 9000}, 431, "a header is longer than 8190 bytes"),
    ],
    ids=["URL", "header"],
)
def test_a_line_past_the_limit_is_a_json_4xx_that_says_so(
    server: Any, path: str, headers: dict[str, str], status: int, says: str
) -> None:
    """A GET /graphql whose URL (or a header) is past aiohttp's 8,190-byte line limit gets a
    414 (or 431) whose JSON names the limit, and the server logs no traceback for it."""
    got, body = server.request("GET", path, headers=headers)
    assert got == status, (got, body)
    assert says in error_messages(body)[0]
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX\x01Y: 1\r\n\r\n",
    ],
    ids=["NUL in a header", "raw bytes in the URL", "control byte in a name"],
)
def test_a_request_that_is_not_http_is_a_json_400_without_a_traceback(
    server: Any, raw: bytes
) -> None:
    """Malformed requests never reach a route (nor its rate limit): each gets a JSON 400 and
    writes no traceback to the log, so one client sending them cannot fill it."""
    before = server.stderr().count("\n")
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(raw)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.split()[1] == b"400", reply  # as HTTP/1.0: aiohttp could not read the version
        assert json.loads(body)["errors"][0]["message"] == "the request is not valid HTTP/1.1"
    log = server.stderr()
    assert "Traceback" not in log and "Error handling request" not in log
    assert log.count("\n") - before < 20  # not a line per request at the default level


QUERY_BY_GET = "/graphql?" + urlencode({
    "query": "query($v: ArticleStatus!) { articles(status: $v) { id } }",
    "variables": '{"v": "\\ud800"}',
})  # fmt: skip
MUTATION_BY_POST = (
    b'{"query": "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { position } }",'
    b' "variables": {"a": {"\\ud800": 1}}}'
)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", QUERY_BY_GET, None), ("POST", "/graphql", MUTATION_BY_POST)],
    ids=["GET variables", "POST variables"],
)
def test_a_lone_surrogate_in_json_is_a_400_not_a_500(
    server: Any, method: str, path: str, body: bytes | None
) -> None:
    """`"\\ud800"` is valid JSON syntax but not text: graphql-core would quote it in an error
    that no reply can carry, so it is refused where the JSON is read (no token needed to try)."""
    media = None if body is None else "application/json"
    status, reply = server.request(method, path, body, media, {"Accept": "application/json"})
    assert status == 400, (status, reply)
    assert "lone surrogate" in error_messages(reply)[0]
    assert "failed unexpectedly" not in server.stderr()
