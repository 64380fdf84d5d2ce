"""Protection: tokens for writes, limits that refuse hostile documents fast, strict request bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from newsroom.config import Settings, load
from newsroom.errors import ConfigError
from newsroom.web.app import NEWSROOM, create_app
from newsroom.web.graphql import pipeline
from tests.factories import FakeClock
from tests.web.conftest import refusal

Client = TestClient[web.Request, web.Application]
MUTATION = {
    "query": 'mutation { createArticle(article: {title: "t", body: "b", category: "c", author_id: 1, author_name: "n"}) { status } }'
}
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(store=f"sqlite:///{tmp_path}/db", token=TOKEN, body_timeout=0.3)
    async with TestClient(TestServer(create_app(settings, clock=FakeClock()))) as client:
        yield client


async def _head(client: Client) -> int:
    return await client.app[NEWSROOM].store.head()  # type: ignore[index]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"])
async def test_mutations_need_the_token(guarded: Client, authorization: str | None) -> None:
    """Without the right bearer token a mutation is 401 with WWW-Authenticate, and nothing is written."""
    headers = {"Authorization": authorization} if authorization else {}
    response = await guarded.post("/graphql", json=MUTATION, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in await response.text()
    assert await _head(guarded) == 7


async def test_the_token_opens_writes_and_reads_stay_public(guarded: Client) -> None:
    """With the token a mutation runs; queries need no token."""
    response = await guarded.post(
        "/graphql", json=MUTATION, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert (await response.json())["data"]["createArticle"]["status"] == "ACCEPTED"
    assert (await guarded.post("/graphql", json={"query": "{ articles { id } }"})).status == 200


@pytest.mark.parametrize("authorization", [None, "Bearer wrong"])
async def test_view_fingerprints_need_the_token(guarded: Client, authorization: str | None) -> None:
    """/healthz?fingerprint (a whole-view read on the loop) is 401 without the token; plain
    /healthz stays public, and the token opens the fingerprints."""
    headers = {"Authorization": authorization} if authorization else {}
    refused = await guarded.get("/healthz?fingerprint=1", headers=headers)
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "fingerprints" in (await refused.json())["errors"][0]["message"]
    assert (await guarded.get("/healthz")).status == 200
    opened = await guarded.get("/healthz?fingerprint", headers={"Authorization": f"Bearer {TOKEN}"})
    report = await opened.json()
    assert len(report["projections"]["search"]["fingerprint"]) == 64


def test_a_public_address_without_token_is_refused() -> None:
    """Binding a non-loopback address with no token stops start-up unless explicitly allowed."""
    with pytest.raises(ConfigError, match="without a token"):
        load(["--host", "0.0.0.0"], env={})
    assert load(["--host", "0.0.0.0", "--allow-anonymous-writes"], env={}).allow_anonymous_writes
    assert load(["--host", "0.0.0.0"], env={"NEWSROOM_TOKEN": "x"}).token == "x"
    assert load(["--host", "::1"], env={}).host == "::1"


def _aliases(n: int) -> str:
    return "{ " + " ".join(f"a{i}: articles {{ id }}" for i in range(n)) + " }"


def _deep(n: int) -> str:
    return '{ article(id: "1") { ' + "history { " * n + "type" + " }" * n + " } }"


HOSTILE = {
    "4,000 aliases": {"query": _aliases(4000)},
    "nesting depth 300": {"query": _deep(300)},
    "fragment cycle": {
        "query": "{ articles { ...A } } fragment A on Article { id ...B } fragment B on Article { title ...A }"
    },
    "2,000 same-name fields, different arguments": {
        "query": "{ " + " ".join(f'article(id: "{i}") {{ id }}' for i in range(2000)) + " }"
    },
    "fragment bomb": {
        "query": "{ articles { ...F3 } } fragment F1 on Article { a: id b: id c: id d: id e: id f: id g: id h: id } fragment F2 on Article { ...F1 x: title ...F1 y: body ...F1 z: category ...F1 } fragment F3 on Article { ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 ...F2 }"
    },
    "expensive lists": {
        "query": "{ a: articles(count: 50) { history { type } } b: articles(count: 50) { history { type } } c: events(count: 1000) { position } d: events(count: 1000) { position } e: events(count: 1000) { position } f: events(count: 1000) { position } g: events(count: 1000) { position } }"
    },
}


# What refuses each hostile document: the limit its message names, and whether graphql-core's
# full validation had to run first (only the cost, which depends on the variables, needs it).
REFUSED_BY = {
    "4,000 aliases": ("64 KiB limit", False),
    "nesting depth 300": ("nested too deeply", False),
    "fragment cycle": ("fragment cycle", False),
    "2,000 same-name fields, different arguments": ("16384 code points", False),
    "fragment bomb": ("comparisons per document", False),
    "expensive lists": ("maximum cost", True),
}


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records each run of graphql-core's validation in the pipeline (the expensive step)."""
    runs: list[object] = []
    original = pipeline.validate

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "validate", counted)
    return runs


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_documents_are_refused_by_a_cheap_limit(
    client: Client, validations: list[object], name: str
) -> None:
    """Each hostile document is refused naming its limit (a request error, or a 413 for the body
    past 64 KiB), before graphql-core's validation (but for the cost, which needs it), never
    executed, and the server keeps answering."""
    message, validated = REFUSED_BY[name]
    if name == "4,000 aliases":  # a body too large to read
        response = await client.post("/graphql", json=HOSTILE[name])
        assert response.status == 413
        body = await response.json()
    else:
        body = await refusal(client, HOSTILE[name])  # "data" absent: nothing ran
    assert message in body["errors"][0]["message"]
    assert bool(validations) is validated
    assert (await client.post("/graphql", json={"query": "{ articles { id } }"})).status == 200


async def test_explicit_null_for_a_defaulted_argument_is_an_error(client: Client) -> None:
    """count: null where count is Int! = 10 is a GraphQL error, not a crash."""
    body = await refusal(client, {"query": "{ articles(count: null) { id } }"})
    assert "Int!" in body["errors"][0]["message"]


async def test_get_cannot_run_a_mutation(client: Client) -> None:
    """A GraphQL operation sent with GET is refused with 405; only POST runs operations."""
    response = await client.get("/graphql", params={"query": MUTATION["query"]})
    assert response.status == 405
    assert await client.app[NEWSROOM].store.head() == 7  # type: ignore[index]


async def test_a_slow_body_times_out(guarded: Client) -> None:
    """A body that stops arriving is answered with 408 once the body timeout passes."""

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"query": "{ articles { id } }"'
        await asyncio.Event().wait()  # and never the rest

    response = await guarded.post(
        "/graphql", data=trickle(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 408
    assert "did not arrive" in await response.text()


def test_settings_carry_the_limits() -> None:
    """GraphQL limits are settings with defaults that fit legitimate use."""
    limits = Settings().graphql_limits
    assert (limits.max_depth, limits.max_fields) == (20, 500)
    assert replace(limits, max_depth=5).max_depth == 5


async def test_cost_follows_the_variables(client: Client) -> None:
    """A cached document whose list sizes come from variables is costed anew for each request."""
    query = (
        "query($n: Int!) { "
        + " ".join(f"e{i}: events(count: $n) {{ position }}" for i in range(6))
        + " }"
    )
    cheap = await client.post("/graphql", json={"query": query, "variables": {"n": 10}})
    assert cheap.status == 200
    dear = await refusal(client, {"query": query, "variables": {"n": 1000}})
    assert "maximum cost" in dear["errors"][0]["message"]
    again = await client.post("/graphql", json={"query": query, "variables": {"n": 10}})
    assert again.status == 200


async def test_unused_fragments_count_against_the_field_limit(
    client: Client, validations: list[object]
) -> None:
    """A big fragment no operation uses is refused by the field limit, before validation."""
    lists = " ".join(f"a{i}: articles {{ ...Story }}" for i in range(50))  # 50 x 11 fields
    story = "id title body category author_id author_name status version created modified"
    query = f"query {{ __typename }} fragment F on Query {{ {lists} }} fragment Story on Article {{ {story} }}"
    body = await refusal(client, {"query": query})
    assert "fields" in body["errors"][0]["message"]
    assert validations == []


async def test_variable_defaults_count_in_the_cost(client: Client) -> None:
    """A list size given by a variable's default is costed like any other."""
    query = (
        "query($c: Int = 1000) { "
        + " ".join(f"e{i}: events(count: $c) {{ position }}" for i in range(6))
        + " }"
    )
    body = await refusal(client, {"query": query})
    assert "cost" in body["errors"][0]["message"]
    fine = await client.post(
        "/graphql", json={"query": "query($c: Int = 5) { articles(count: $c) { id } }"}
    )
    assert fine.status == 200
