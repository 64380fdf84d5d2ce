"""Search over HTTP (GET /search) and GraphQL (search), through the real application."""

from __future__ import annotations

import asyncio
import html
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from newsroom.articles import RetractArticle, UpdateArticle
from newsroom.config import Settings
from newsroom.projections import search_fts5
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.web.app import create_app
from newsroom.web.search import EXCERPT
from tests.factories import FakeClock, create_article
from tests.web.conftest import SITE, Client, newsroom_of, refusal

SEARCH = """
query($q: String!, $category: String, $first: Int!, $after: String) {
  search(query: $q, category: $category, first: $first, after: $after) {
    total facets { category count } next
    hits { score snippet cursor article { id title status url } }
  }
}
"""
HOSTILE = ['"unbalanced', "(rates", "rates)", "NEAR(rates storm)", "rates AND OR NOT", "*",
           "title:rates", "body:storm", "\x00rates\x07", "-", "'; DROP TABLE docs; --",
           "x" * 4_000, "%FF", "🗞️", "-rates", '"', "rates* *", "{title}: x", "^rates"]  # fmt: skip


async def _seed(client: Client) -> None:
    commands = newsroom_of(client).commands
    for n in range(12):
        category = ("business", "weather")[n % 2]
        await commands.handle(
            create_article(title=f"Storm {n}", body="Rates rose.", category=category)
        )


async def test_get_search_returns_hits_facets_and_a_next_cursor(site: Client) -> None:
    """GET /search gives JSON hits with url and snippet, the total, facets, and a next cursor."""
    await _seed(site)
    response = await site.get("/search", params={"q": "storm", "first": "5"})
    body = await response.json()
    assert response.status == 200
    assert response.headers["Newsroom-Position"] == "12"
    assert body["total"] == 12 and body["facets"] == {"business": 6, "weather": 6}
    assert body["exact"] is True
    assert len(body["hits"]) == 5 and body["next"]
    first = body["hits"][0]
    assert first["url"].startswith(SITE + "/")
    assert "<mark>Storm</mark>" in first["snippet"]
    seen = [h["id"] for h in body["hits"]]
    while body["next"]:
        params = {"q": "storm", "first": "5", "after": body["next"]}
        body = await (await site.get("/search", params=params)).json()
        seen += [h["id"] for h in body["hits"]]
    assert sorted(seen) == list(range(1, 13))


async def test_a_hit_without_a_snippet_shows_the_start_of_its_body(
    site: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snippets out of time (or a match past the text snippets are made from): the hits are
    answered all the same, each with its body's start, escaped, where the snippet would be."""
    commands = newsroom_of(site).commands
    for n in range(3):
        await commands.handle(create_article(title=f"Storm {n}", body="<b>Rates</b> rose. " * 20))
    monkeypatch.setattr(search_fts5, "SNIPPET_BUDGET", -1.0)
    body = await (await site.get("/search", params={"q": "storm"})).json()
    assert len(body["hits"]) == 3
    start = html.escape(("<b>Rates</b> rose. " * 20)[:EXCERPT])
    assert [hit["snippet"] for hit in body["hits"]] == [start] * 3


async def test_graphql_search_pages_with_the_same_results(site: Client) -> None:
    """The GraphQL field answers like the HTTP route: hits with articles, facets, next cursor."""
    await _seed(site)
    variables: dict[str, Any] = {"q": "storm", "category": "weather", "first": 4, "after": None}
    seen: list[str] = []
    while True:
        reply = await site.post("/graphql", json={"query": SEARCH, "variables": variables})
        result = (await reply.json())["data"]["search"]
        assert result["total"] == 6
        assert result["facets"] == [
            {"category": "business", "count": 6},
            {"category": "weather", "count": 6},
        ]
        seen += [hit["article"]["id"] for hit in result["hits"]]
        if result["next"] is None:
            break
        variables["after"] = result["next"]
    assert sorted(map(int, seen)) == [2, 4, 6, 8, 10, 12]


async def test_a_retracted_article_leaves_search_at_its_position(site: Client) -> None:
    """Reading at the retraction's position, search no longer finds the article."""
    await _seed(site)
    done = await newsroom_of(site).commands.handle(RetractArticle(1, reason="Wrong"))
    headers = {"Newsroom-Min-Position": str(done.position)}
    body = await (await site.get("/search", params={"q": "storm"}, headers=headers)).json()
    assert body["total"] == 11 and 1 not in [h["id"] for h in body["hits"]]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t)[:20] for t in HOSTILE])
async def test_hostile_queries_give_results_or_a_clear_400(site: Client, text: str) -> None:
    """Every hostile query gets 200 with results or 400 naming the problem; never a 500. In
    GraphQL (application/json), 200 either way, with errors where /search had its 400."""
    await _seed(site)
    response = await site.get("/search", params={"q": text})
    body = await response.json()
    assert response.status in (200, 400), body
    if response.status == 400:
        assert "search" in body["errors"][0]["message"]
    reply = await site.post(
        "/graphql", json={"query": SEARCH, "variables": {"q": text, "first": 10}}
    )
    result = await reply.json()
    assert reply.status == 200, result
    assert ("errors" in result) == (response.status == 400), result


@pytest.mark.parametrize(
    "query",
    ["/search", "/search?q=storm&first=0", "/search?q=storm&first=51", "/search?q=storm&first=x",
     "/search?q=storm&after=nonsense", "/search?q=storm&after=W10%3D",
     "/search?q=storm&after=WzAsMCwxZTMwMF0%3D", "/search?q=sto*&category=Not%20a%20slug",
     "/search?q=b*"],
)  # fmt: skip
async def test_bad_parameters_are_400s_that_say_why(site: Client, query: str) -> None:
    """No q, first outside 1..50, a made-up or forged cursor (an id of 1e300), a category that
    is no slug, a prefix of one letter: 400 with a message, not a 500."""
    response = await site.get(URL(query, encoded=True))
    assert response.status == 400
    assert (await response.json())["errors"][0]["message"]


async def test_search_waits_for_min_position(site: Client) -> None:
    """A search with Newsroom-Min-Position beyond the head waits, then answers 503 saying so."""
    response = await site.get(
        "/search", params={"q": "storm"}, headers={"Newsroom-Min-Position": "99"}
    )
    assert response.status == 503
    assert "did not reach 99" in (await response.json())["errors"][0]["message"]


async def test_a_ten_kilobyte_search_is_a_clear_400(site: Client) -> None:
    """10 KB of query text: a GraphQL request error naming the limit (a URL that long, aiohttp's
    own 400)."""
    variables = {"q": "storm " * 1_707, "first": 10}
    reply = await refusal(site, {"query": SEARCH, "variables": variables})
    assert "the limit is 500" in reply["errors"][0]["message"]
    assert (await site.get("/search", params={"q": "x" * 10_240})).status == 400


async def test_graphql_refuses_bad_categories_and_more_than_one_search(site: Client) -> None:
    """A category that is not text (a lone surrogate) is a 400 naming it, in the variables or
    in the document; two searches in one document (aliases) are refused before anything runs."""
    reply = await site.post(
        "/graphql",
        json={"query": SEARCH, "variables": {"q": "storm", "category": "\ud800", "first": 1}},
    )
    assert reply.status == 400
    assert "lone surrogate" in (await reply.json())["errors"][0]["message"]
    inline = '{ search(query: "storm", category: "\\ud800") { total } }'
    reply = await site.post("/graphql", json={"query": inline})
    errors = (await reply.json())["errors"]
    assert reply.status == 200 and "unicode" in errors[0]["message"].lower(), errors
    twice = '{ a: search(query: "storm") { total } b: search(query: "rates") { total } }'
    reply = await refusal(site, {"query": twice})
    assert "one search" in reply["errors"][0]["message"]


async def test_a_failed_search_view_leaves_feeds_and_positions_alone(
    site: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the search view stops, it alone fails: feeds still answer at the head with the right
    Newsroom-Position, and search says it stopped (503)."""

    def explode(self: Fts5Index, article: object) -> None:
        raise RuntimeError("index broke")

    monkeypatch.setattr(Fts5Index, "put", explode)
    done = await newsroom_of(site).commands.handle(create_article(title="Storm"))
    headers = {"Newsroom-Min-Position": str(done.position)}
    feed = await site.get("/feed", headers=headers)
    assert feed.status == 200 and feed.headers["Newsroom-Position"] == str(done.position)
    search = await site.get("/search", params={"q": "storm"})
    assert search.status == 503
    assert "search view stopped" in (await search.json())["errors"][0]["message"]


async def test_a_full_disk_under_the_search_index_stops_search_alone(
    site: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index lives in a temporary file. When its disk is full: a search never fails on the
    index's writes not yet committed (it reads them), and the write that cannot be committed
    stops the search view, which then says why (503), while articles and feeds serve on."""
    index = newsroom_of(site).views.search.index
    assert isinstance(index, Fts5Index)
    # A full disk, as SQLite sees it: the file may not grow.
    pages = index._db.execute("PRAGMA page_count").fetchone()[0]
    index._db.execute(f"PRAGMA max_page_count = {pages}")
    body = " ".join(f"word{n}" for n in range(5_000))
    await newsroom_of(site).commands.handle(create_article(title="Storm", body=body))
    found = await site.get("/search", params={"q": "storm"})
    assert found.status == 200 and (await found.json())["total"] == 1
    monkeypatch.setattr(search_fts5, "COMMIT_EVERY", 1)  # the next write is committed at once
    done = await newsroom_of(site).commands.handle(create_article(title="Flood", body=body))
    headers = {"Newsroom-Min-Position": str(done.position)}
    feed = await site.get("/feed", headers=headers)
    assert feed.status == 200 and feed.headers["Newsroom-Position"] == str(done.position)
    search = await site.get("/search", params={"q": "storm"})
    assert search.status == 503
    message = (await search.json())["errors"][0]["message"]
    assert "search view stopped" in message and "full" in message, message


async def test_an_index_that_cannot_be_read_is_a_503_not_a_500(
    site: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error reading the index's temporary file is a 503 with Retry-After that names no
    path, not an internal error."""

    def unreadable(self: Fts5Index, expression: str) -> list[Any]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Fts5Index, "_window", unreadable)
    reply = await site.get("/search", params={"q": "storm"})
    assert reply.status == 503 and reply.headers["Retry-After"] == "5"
    assert "cannot be read" in (await reply.json())["errors"][0]["message"]


async def test_search_answers_busy_while_its_index_is_built_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restart with a full replay (no view checkpoint) the other views serve at once
    while the search index is built: search answers 503 with Retry-After (GraphQL: BUSY),
    /readyz is 200, /healthz shows the build; once it is done, search finds what the log holds."""
    settings = Settings(store=f"sqlite:///{tmp_path}/restart.db", demo=False, checkpoints=False)
    async with TestClient(TestServer(create_app(settings, clock=FakeClock()))) as first:
        await newsroom_of(first).commands.handle(create_article(title="Storm warning"))
    loading, release = threading.Event(), threading.Event()
    load = Fts5Index.load

    def held(self: Fts5Index, *args: Any) -> None:
        loading.set()
        release.wait(timeout=10)
        load(self, *args)

    monkeypatch.setattr(Fts5Index, "load", held)
    async with TestClient(TestServer(create_app(settings, clock=FakeClock()))) as site:
        await asyncio.to_thread(loading.wait, 10)
        busy = await site.get("/search", params={"q": "storm"})
        assert busy.status == 503 and busy.headers["Retry-After"] == "1"
        assert "being built" in (await busy.json())["errors"][0]["message"]
        reply = await site.post("/graphql", json={"query": '{ search(query: "storm") { total } }'})
        assert (await reply.json())["errors"][0]["extensions"]["code"] == "BUSY"
        assert (await site.get("/readyz")).status == 200
        health = await (await site.get("/healthz")).json()
        assert health["projections"]["search"]["index"] == {
            "caught_up": False,
            "loaded": 0,
            "of": 1,
        }
        release.set()
        await newsroom_of(site).search_built()
        health = await (await site.get("/healthz")).json()
        assert health["projections"]["search"]["index"]["caught_up"] is True
        found = await (await site.get("/search", params={"q": "storm"})).json()
        assert [hit["title"] for hit in found["hits"]] == ["Storm warning"]


async def test_while_a_checkpoint_holds_the_index_search_never_shows_replaced_words(
    site: Client,
) -> None:
    """A checkpoint holds the index still while it copies it: an article retracted meanwhile is
    not shown, and one corrected meanwhile is shown with its new text, not the words it
    replaced; once released, the index answers for both as they are."""
    await _seed(site)
    newsroom = newsroom_of(site)
    newsroom.views.search.hold()
    await newsroom.commands.handle(UpdateArticle(1, body="Markets were calm."))
    done = await newsroom.commands.handle(RetractArticle(2, reason="Wrong"))
    headers = {"Newsroom-Min-Position": str(done.position)}
    params = {"q": "rates", "first": "20"}
    body = await (await site.get("/search", params=params, headers=headers)).json()
    by_id = {hit["id"]: hit["snippet"] for hit in body["hits"]}
    assert 2 not in by_id
    assert by_id[1] == "Markets were calm." and "<mark>" in by_id[3]
    assert newsroom.views.search.release(100)
    body = await (await site.get("/search", params=params)).json()
    assert {hit["id"] for hit in body["hits"]}.isdisjoint({1, 2}) and body["total"] == 10
