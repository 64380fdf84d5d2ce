"""GraphQL over HTTP by the spec: the two media types and their status codes, queries by GET with
ETags and 304s, mutations refused by GET, and hostile query strings answered with a clear 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from newsroom.config import Settings
from newsroom.errors import StoreError
from newsroom.web.app import create_app
from newsroom.web.graphql.media import GET_TYPES, PAGE_FIRST, POST_TYPES, negotiate
from tests.factories import CREATE_ID, FakeClock, article_input
from tests.web.conftest import GRAPHQL_RESPONSE, Client, newsroom_of

JSON = "application/json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LIST = "{ articles(count: 2) { id title } }"


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        (None, POST_TYPES, JSON),  # the spec's legacy default, as the audit expects
        ("*/*", POST_TYPES, JSON),
        ("application/*", POST_TYPES, JSON),
        (GRAPHQL_RESPONSE, POST_TYPES, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", POST_TYPES, GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE}", POST_TYPES, JSON),
        (f"{JSON};q=0.5, {GRAPHQL_RESPONSE}", POST_TYPES, GRAPHQL_RESPONSE),
        (f"{JSON};q=0, */*", POST_TYPES, GRAPHQL_RESPONSE),
        (f"*/*;q=0.1, {GRAPHQL_RESPONSE}", POST_TYPES, GRAPHQL_RESPONSE),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON", POST_TYPES, GRAPHQL_RESPONSE),
        ("text/html", POST_TYPES, None),
        (f"{JSON};q=0", POST_TYPES, None),
        (f"{JSON};q=abc", POST_TYPES, None),
        (f"{JSON};q=nan", POST_TYPES, None),
        (f"{JSON};q=2", POST_TYPES, None),
        ("nonsense, ;;, /, json", POST_TYPES, None),
        ("", POST_TYPES, None),
        (BROWSER, GET_TYPES, "text/html"),
        (BROWSER, PAGE_FIRST, "text/html"),
        ("*/*", GET_TYPES, JSON),
        ("*/*", PAGE_FIRST, "text/html"),
        (f"text/html, {JSON}", GET_TYPES, "text/html"),
        (f"{JSON}, text/html", GET_TYPES, JSON),
    ],
)
def test_the_accept_header_chooses_the_media_type(
    accept: str | None, offered: tuple[str, ...], chosen: str | None
) -> None:
    """RFC 9110 negotiation: weights first, then a type named before one matched by a wildcard,
    then the order the client listed; a wildcard alone gets the server's first choice; nothing
    acceptable (or a malformed header) is None, a 406."""
    assert negotiate(accept, offered) == chosen


async def _post(
    client: Client, payload: Any, media: str | None = None, **headers: str
) -> tuple[int, str, dict[str, Any]]:
    """POST `payload` as JSON (raw bytes as they are) asking for `media`; (status, content type,
    body)."""
    if media is not None:
        headers["Accept"] = media
    if isinstance(payload, bytes):
        headers["Content-Type"] = JSON
        response = await client.post("/graphql", data=payload, headers=headers)
    else:
        response = await client.post("/graphql", json=payload, headers=headers)
    return response.status, response.content_type, await response.json()


REQUEST_ERRORS = {
    "document does not parse": {"query": "{"},
    "document does not validate": {"query": "{ nope }"},
    "operation cannot be chosen": {"query": "query A { __typename } query B { __typename }"},
    "operation named is not there": {"query": "query A { __typename }", "operationName": "B"},
    "variable does not coerce": {
        "query": "query($id: ID!) { article(id: $id) { id } }",
        "variables": {"id": None},
    },
    "nested too deeply": {"query": "{ article(id: 1) { " + "history { " * 30 + "type" + " }" * 31},
    "argument rule": {"query": "{ articles(count: 51) { id } }"},
    "subscription sent by POST": {"query": "subscription { articleEvents { position } }"},
}


@pytest.mark.parametrize("name", REQUEST_ERRORS)
@pytest.mark.parametrize(("media", "status"), [(JSON, 200), (GRAPHQL_RESPONSE, 400)])
async def test_request_errors_are_200_in_json_and_400_in_graphql_response_json(
    client: Client, name: str, media: str, status: int
) -> None:
    """A well-formed request whose operation GraphQL refuses before running it is a GraphQL
    response with errors and no data: 200 as application/json, 400 as
    application/graphql-response+json (the spec's "Status Codes" examples)."""
    got, content_type, body = await _post(client, REQUEST_ERRORS[name], media)
    assert (got, content_type) == (status, media), body
    assert "data" not in body and body["errors"][0]["message"], body
    assert body["extensions"]["position"] == 7
    assert await newsroom_of(client).store.head() == 7


MALFORMED = {
    "not JSON": (b'{ "not a JSON', "not valid JSON"),
    "no body": (b"", "not valid JSON"),
    "an array": (b'[{"query": "{ __typename }"}]', "batched arrays"),
    "no query": ({"qeury": "{ __typename }"}, "'query' string"),
    "query null": ({"query": None}, "'query' string"),
    "query a number": ({"query": 0}, "'query' must be a string"),
    "query an object": ({"query": {"obj": "ect"}}, "'query' must be a string"),
    "operationName false": ({"query": "{ __typename }", "operationName": False}, "operationName"),
    "operationName 0": ({"query": "{ __typename }", "operationName": 0}, "operationName"),
    "variables a list": ({"query": "{ __typename }", "variables": [7]}, "'variables'"),
    "variables 0": ({"query": "{ __typename }", "variables": 0}, "'variables'"),
    "variables false": ({"query": "{ __typename }", "variables": False}, "'variables'"),
    "variables a string": ({"query": "{ __typename }", "variables": "{}"}, "'variables'"),
    "extensions a string": ({"query": "{ __typename }", "extensions": "x"}, "'extensions'"),
    "extensions false": ({"query": "{ __typename }", "extensions": False}, "'extensions'"),
}


@pytest.mark.parametrize("name", MALFORMED)
@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
async def test_a_request_that_is_not_well_formed_is_400_in_both_media_types(
    client: Client, name: str, media: str
) -> None:
    """A body that is not a GraphQL-over-HTTP request (not JSON, parameters missing or of the
    wrong type) is a 400 naming the problem, in the media type asked for."""
    payload, message = MALFORMED[name]
    status, content_type, body = await _post(client, payload, media)
    assert (status, content_type) == (400, media), body
    assert message in body["errors"][0]["message"]


async def test_null_and_empty_optional_parameters_are_as_absent(client: Client) -> None:
    """null variables, operationName and extensions (and an empty operationName) are as if not
    sent; an extensions object is accepted."""
    for extra in [{"variables": None, "operationName": None, "extensions": None},
                  {"operationName": ""}, {"extensions": {"some": "value"}}]:  # fmt: skip
        status, _, body = await _post(client, {"query": "{ __typename }", **extra})
        assert (status, body["data"]) == (200, {"__typename": "Query"}), body


@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
async def test_a_success_answers_in_the_media_type_asked_for(client: Client, media: str) -> None:
    """A query that runs is 200 in either media type, said with its charset, with the position
    it reflects in a header and in extensions."""
    response = await client.post("/graphql", json={"query": LIST}, headers={"Accept": media})
    body = await response.json()
    assert response.status == 200
    assert response.headers["Content-Type"] == f"{media}; charset=utf-8"
    assert [a["id"] for a in body["data"]["articles"]] == ["5", "3"]
    assert response.headers["Newsroom-Position"] == "7" == str(body["extensions"]["position"])


@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
async def test_a_field_error_with_data_is_200_in_both(
    client: Client, media: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operation that ran but whose field failed (a stopped view) is 200 with its errors in
    either media type: the spec's partial response, not a request error."""

    def broken(_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(newsroom_of(client).views.articles, "apply", broken)
    await _post(client, {"query": CREATE_ID, "variables": {"a": article_input()}})
    status, _, body = await _post(client, {"query": "{ articles { id } }"}, media)
    assert status == 200
    assert "data" in body and "articles view stopped" in body["errors"][0]["message"]


async def test_a_store_fault_is_503_with_retry_after_in_graphql_response_json(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write the store cannot take answers 503 with Retry-After in the strict media type too,
    since no data came of it."""

    async def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk is full")

    monkeypatch.setattr(newsroom_of(client).store, "append", full_disk)
    response = await client.post(
        "/graphql",
        json={"query": CREATE_ID, "variables": {"a": article_input()}},
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    body = await response.json()
    assert (response.status, response.content_type) == (503, GRAPHQL_RESPONSE)
    assert response.headers["Retry-After"] == "1"
    assert body["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"


async def test_an_unacceptable_accept_header_is_406_before_anything_runs(client: Client) -> None:
    """A POST that accepts neither JSON type gets 406 naming the types, and its mutation is not
    run; the same holds for a GET query."""
    payload = {"query": CREATE_ID, "variables": {"a": article_input()}}
    response = await client.post("/graphql", json=payload, headers={"Accept": "text/html"})
    assert response.status == 406
    assert GRAPHQL_RESPONSE in (await response.json())["errors"][0]["message"]
    assert await newsroom_of(client).store.head() == 7
    response = await client.get("/graphql", params={"query": LIST}, headers={"Accept": "image/png"})
    assert response.status == 406 and response.headers["Cache-Control"] == "no-store"


async def test_a_body_in_another_charset_is_415(client: Client) -> None:
    """JSON bodies are UTF-8: one that says it is Latin-1 is refused (415), one that says UTF-8
    is read."""
    body = b'{"query": "{ __typename }"}'
    for charset, status in [("latin-1", 415), ("utf-8", 200), ("UTF-8", 200)]:
        response = await client.post(
            "/graphql", data=body, headers={"Content-Type": f"{JSON}; charset={charset}"}
        )
        assert response.status == status, charset


async def test_protections_hold_in_graphql_response_json(tmp_path: Path) -> None:
    """With the strict media type, a mutation without the token is 401 (said in that type), and
    a read waiting for a position never reached is 503; a bad position header is 400."""
    settings = Settings(store=f"sqlite:///{tmp_path}/db", token="t0ken", view_wait=0.05)
    async with TestClient(TestServer(create_app(settings, clock=FakeClock()))) as guarded:
        strict = {"Accept": GRAPHQL_RESPONSE}
        payload = {"query": CREATE_ID, "variables": {"a": article_input()}}
        denied = await guarded.post("/graphql", json=payload, headers=strict)
        assert (denied.status, denied.content_type) == (401, GRAPHQL_RESPONSE)
        ahead = await guarded.post(
            "/graphql", json={"query": LIST}, headers={**strict, "Newsroom-Min-Position": "99"}
        )
        assert ahead.status == 503
        bad = await guarded.get(
            "/graphql", params={"query": LIST}, headers={**strict, "Newsroom-Min-Position": "x"}
        )
        assert bad.status == 400
        assert await newsroom_of(guarded).store.head() == 7


# --- GET -----------------------------------------------------------------------------------------


async def _get(client: Client, media: str | None = JSON, **params: str) -> Any:
    headers = {"Accept": media} if media else {}
    return await client.get("/graphql", params=params, headers=headers)


@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
async def test_a_get_query_answers_with_validators_and_304s_a_repeat(
    client: Client, media: str
) -> None:
    """GET /graphql?query=... runs the query: 200 with an ETag, a short public Cache-Control,
    Vary and the position; If-None-Match with that ETag is a 304 with no body and the same
    validators."""
    first = await _get(client, media, query=LIST)
    body = await first.json()
    assert (first.status, first.content_type) == (200, media)
    assert [a["id"] for a in body["data"]["articles"]] == ["5", "3"]
    assert body["extensions"]["position"] == 7 and first.headers["Newsroom-Position"] == "7"
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert first.headers["Vary"] == "Accept, Newsroom-Min-Position"
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/"')  # strong
    again = await client.get(
        "/graphql", params={"query": LIST}, headers={"Accept": media, "If-None-Match": etag}
    )
    assert again.status == 304 and await again.read() == b""
    assert (again.headers["ETag"], again.headers["Newsroom-Position"]) == (etag, "7")
    other = await client.get(
        "/graphql", params={"query": LIST}, headers={"Accept": media, "If-None-Match": '"nope"'}
    )
    assert other.status == 200


async def test_a_write_changes_the_etag(client: Client) -> None:
    """After a write the same GET answers 200 with a new ETag, even to the old one's
    If-None-Match; each media type has ETags of its own."""
    first = await _get(client, query=LIST)
    strict = await _get(client, GRAPHQL_RESPONSE, query=LIST)
    assert strict.headers["ETag"] != first.headers["ETag"]
    await _post(client, {"query": CREATE_ID, "variables": {"a": article_input(category="x")}})
    after = await client.get(
        "/graphql", params={"query": LIST}, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert after.status == 200
    assert after.headers["ETag"] != first.headers["ETag"]
    assert (await after.json())["data"]["articles"][0]["id"] == "7"


async def test_get_takes_variables_and_operation_name_from_the_url(client: Client) -> None:
    """`variables` is JSON in the query string; `operationName` picks an operation."""
    document = "query A($id: ID!) { article(id: $id) { title } } query B { __typename }"
    response = await _get(client, query=document, variables='{"id": "1"}', operationName="A")
    assert (await response.json())["data"] == {"article": {"title": "My article title 1"}}
    response = await _get(client, query=document, operationName="B")
    assert (await response.json())["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("params", "media", "status"),
    [
        ({"query": "{ nope }"}, JSON, 200),
        ({"query": "{ nope }"}, GRAPHQL_RESPONSE, 400),
        ({"query": "{"}, GRAPHQL_RESPONSE, 400),
        (
            {"query": "query($n: Int!) { articles(count: $n) { id } }", "variables": '{"n": "x"}'},
            JSON,
            200,
        ),
        ({"query": "subscription { articleEvents { position } }"}, GRAPHQL_RESPONSE, 400),
    ],
)
async def test_a_get_request_error_is_never_cached(
    client: Client, params: dict[str, str], media: str, status: int
) -> None:
    """A GET whose operation is refused has the status of its media type, no ETag, and
    `Cache-Control: no-store`."""
    response = await _get(client, media, **params)
    body = await response.json()
    assert response.status == status and "data" not in body, body
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers


async def test_a_get_reply_with_field_errors_is_never_cached(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query that ran with errors (a stopped view) is 200 but `no-store`, without an ETag."""

    def broken(_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(newsroom_of(client).views.articles, "apply", broken)
    await _post(client, {"query": CREATE_ID, "variables": {"a": article_input()}})
    response = await _get(client, query="{ articles { id } }")
    assert response.status == 200 and (await response.json())["errors"]
    assert response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers


@pytest.mark.parametrize(
    "params",
    [
        {
            "query": 'mutation { createArticle(article: {title: "t", body: "b", category: "c", author_id: 1, author_name: "n"}) { status } }'
        },
        {"query": CREATE_ID, "variables": '{"a": "not an article"}'},  # refused before coercion
        {
            "query": f"query Q {{ __typename }} {CREATE_ID.replace('mutation', 'mutation M')}",
            "operationName": "M",
            "variables": '{"a": {"title": "t"}}',
        },
    ],
)
@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
async def test_get_never_runs_a_mutation(
    client: Client, params: dict[str, str], media: str
) -> None:
    """A GET whose document and operationName choose a mutation is 405 with `Allow: POST`,
    whatever its variables, and nothing is written."""
    response = await _get(client, media, **params)
    assert (response.status, response.content_type) == (405, media)
    assert response.headers["Allow"] == "POST"
    assert response.headers["Cache-Control"] == "no-store"
    assert "POST" in (await response.json())["errors"][0]["message"]
    assert await newsroom_of(client).store.head() == 7


async def test_a_browser_still_gets_graphiql(client: Client) -> None:
    """A browser's Accept gets the GraphiQL page, with or without a query in the URL, marked as
    varying by Accept; a client that takes anything and sends no query gets it too."""
    for params in ({}, {"query": LIST}):
        response = await client.get("/graphql", params=params, headers={"Accept": BROWSER})
        assert response.content_type == "text/html", params
        assert response.headers["Vary"] == "Accept"
    response = await client.get("/graphql", headers={"Accept": "*/*"})
    assert response.content_type == "text/html"


HOSTILE_QUERY_STRINGS = {
    "query given twice": ("query=%7B__typename%7D&query=%7B__typename%7D", "'query' more than once"),
    "variables given twice": ("query=%7B__typename%7D&variables=%7B%7D&variables=%7B%7D",
                              "'variables' more than once"),
    "operationName given twice": ("query=%7B__typename%7D&operationName=A&operationName=B",
                                  "'operationName' more than once"),
    "no query": ("variables=%7B%7D", "needs a 'query' parameter"),
    "variables not JSON": ("query=%7B__typename%7D&variables=%7Bbad", "'variables' is not valid JSON"),
    "variables a list": ("query=%7B__typename%7D&variables=%5B1%5D", "'variables' must be a JSON object"),
    "variables a string": ("query=%7B__typename%7D&variables=%22x%22", "'variables' must be a JSON object"),
    "variables nested 2,500 deep": ("query=%7B__typename%7D&variables=" + "%5B" * 2500, "nests too deeply"),
    "variables with a 5,000-digit number": ("query=%7B__typename%7D&variables=%7B%22a%22%3A" + "1" * 5000 + "%7D",
                                            "'variables' is not usable JSON: a number in it has more than 4,300 digits"),
    "extensions not JSON": ("query=%7B__typename%7D&extensions=nope", "'extensions' is not valid JSON"),
    "extensions a number": ("query=%7B__typename%7D&extensions=7", "'extensions' must be a JSON object"),
}  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_QUERY_STRINGS)
@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
async def test_hostile_query_strings_are_a_400_naming_the_problem(
    client: Client, name: str, media: str
) -> None:
    """Parameters repeated or missing, variables that are not a JSON object (or nest or grow
    past what the parser takes): 400 in the media type asked for, saying what is wrong,
    `no-store`."""
    query, message = HOSTILE_QUERY_STRINGS[name]
    response = await client.get(URL(f"/graphql?{query}", encoded=True), headers={"Accept": media})
    body = await response.json()
    assert (response.status, response.content_type) == (400, media), body
    assert message in body["errors"][0]["message"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "query",
    ["query=", "query=%FF%FE", "query=%00%7B__typename%7D", "query=%ED%A0%80",
     "query=" + "%7B" * 2000, "query=%7B__typename%7D&operationName=%00"],
)  # fmt: skip
async def test_odd_documents_in_the_url_are_graphql_errors(client: Client, query: str) -> None:
    """An empty document, bytes that are not UTF-8, NUL, 2,000 open braces, an operation name
    that is not there: GraphQL request errors (400 here), never a 500."""
    response = await client.get(
        URL(f"/graphql?{query}", encoded=True), headers={"Accept": GRAPHQL_RESPONSE}
    )
    body = await response.json()
    assert response.status == 400 and "data" not in body, body
    assert body["errors"][0]["message"] and "internal" not in body["errors"][0]["message"]


async def test_a_get_read_waits_for_its_min_position(client: Client) -> None:
    """A GET carrying Newsroom-Min-Position past the head waits for it, then answers 503."""
    response = await client.get(
        "/graphql", params={"query": LIST}, headers={"Newsroom-Min-Position": "99"}
    )
    assert response.status == 503
    assert "did not reach 99" in (await response.json())["errors"][0]["message"]


LONG_NUMBERS = {
    "an Int of 4,301 digits": "{ articles(count: " + "9" * 4301 + ") { id } }",
    "a negative Int of 50 digits": "{ articles(count: -" + "9" * 50 + ") { id } }",
    "a Float of 5,000 digits": '{ search(query: "x", first: ' + "9" * 5000 + ".5) { total } }",
    "a number in a subscription": "subscription { articleEvents(after: " + "9" * 4301 + ") { type } }",
}  # fmt: skip


@pytest.mark.parametrize("document", LONG_NUMBERS.values(), ids=LONG_NUMBERS.keys())
async def test_a_number_too_long_to_read_is_an_error_that_names_the_limit(
    client: Client, document: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Python reads no integer past 4,300 digits, an error graphql-core does not expect (it
    was an internal error and an ERROR line per request); shorter, graphql-core's error echoed
    the whole number. A number of more than 40 characters is refused before parsing."""
    response = await client.post("/graphql", json={"query": document})
    body = await response.json()
    assert response.status == 200 and "data" not in body, body
    (error,) = body["errors"]
    assert "the limit is 40" in error["message"] and len(error["message"]) < 200, error
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_a_body_with_a_number_python_cannot_read_is_a_400_in_our_words(
    client: Client,
) -> None:
    raw = '{"query": "{ articles { id } }", "variables": {"n": ' + "1" * 5000 + "}}"
    response = await client.post(
        "/graphql", data=raw, headers={"Content-Type": JSON, "Accept": JSON}
    )
    message = (await response.json())["errors"][0]["message"]
    assert response.status == 400
    assert message == "the body is not usable JSON: a number in it has more than 4,300 digits"


async def test_a_body_that_will_not_decode_is_a_400_not_a_500(client: Client) -> None:
    """A body whose Content-Encoding does not decode (gzip that is not gzip) is the client's
    error: a 400 that says so, where it was a 500 "internal error"."""
    response = await client.post(
        "/graphql",
        data=b"0123456789",
        headers={"Content-Encoding": "gzip", "Content-Type": JSON, "Accept": JSON},
    )
    assert response.status == 400
    message = (await response.json())["errors"][0]["message"]
    assert "could not be read as its headers describe it" in message
