"""Health, readiness and the home page, through the real application."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lxml import html
from yarl import URL

from newsroom.logs import FAILURE_LINES
from newsroom.web.app import NEWSROOM
from tests.factories import Monotonic

Client = TestClient[web.Request, web.Application]


async def test_healthz_reports_each_projection(client: Client) -> None:
    """/healthz is 200 with the log head, each projection's position, whether the search
    index is caught up (on an empty log at start it needed no build), and what the view
    checkpoints did (a new log: none was used, none written yet)."""
    response = await client.get("/healthz")
    report = await response.json()
    assert response.status == 200
    running = {"position": 7, "status": "running"}
    assert report == {
        "status": "ok",
        "store": "running",
        "head": 7,
        "projections": {
            **{name: running for name in ("articles", "feeds", "sitemaps")},
            "search": {**running, "index": {"caught_up": True, "loaded": 0, "of": 0}},
        },
        "checkpoint": {"enabled": True, "used": False, "last_written": None},
    }


async def test_healthz_can_fingerprint_the_views(client: Client) -> None:
    """/healthz?fingerprint gives a digest per projection, to compare with a fresh replay."""
    report = await (await client.get("/healthz?fingerprint=1")).json()
    assert len(report["projections"]["articles"]["fingerprint"]) == 64


async def test_readyz_once_caught_up(client: Client) -> None:
    """/readyz is 200 once every projection reached the head seen at start."""
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_home_lists_the_latest_articles(client: Client) -> None:
    """/ is an HTML page naming the published demo articles, newest first, and no draft."""
    response = await client.get("/")
    assert response.content_type == "text/html"
    page = html.fromstring(await response.text())
    items = [li.findtext("h3/a") for li in page.get_element_by_id("latest").iter("li")]
    assert items == [f"My article title {n}" for n in (5, 3, 2, 1)]


async def test_unknown_routes_are_404(client: Client) -> None:
    """A path nobody serves is a 404, not a 500."""
    assert (await client.get("/nothing/here")).status == 404


async def test_graphiql_page_points_at_this_server(client: Client) -> None:
    """GET /graphql gives GraphiQL from packaged assets only, with subscriptions on this server."""
    response = await client.get("/graphql")
    page = html.fromstring(await response.text())
    assert response.content_type == "text/html"
    sources = [s.get("src") for s in page.iter("script") if s.get("src")]
    sources += [link.get("href") for link in page.iter("link")]
    assert sources and all(src.startswith("/static/graphiql/") for src in sources)
    for src in sources:
        asset = await client.get(src)
        assert asset.status == 200 and len(await asset.read()) > 1000, src
        assert asset.content_type in ("text/javascript", "application/javascript", "text/css")
    assert 'location.origin.replace(/^http/, "ws") + "/graphql"' in page.text_content()


async def test_a_stopped_store_is_reported(client: Client) -> None:
    """If the event store stops, /healthz and /readyz say so with 503."""
    await client.app[NEWSROOM].store.close()  # type: ignore[index]
    health = await client.get("/healthz")
    assert health.status == 503
    assert (await health.json())["store"] == "stopped"
    assert (await client.get("/readyz")).status == 503


async def test_an_unexpected_error_is_a_json_500_without_internals(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug inside any route answers 500 "internal error" as JSON; the details go to the log."""
    newsroom = client.app[NEWSROOM]

    def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(newsroom.views.feeds, "changed", broken)
    monkeypatch.setattr(newsroom.views.sitemaps, "article_files", broken)
    for path in ("/feed", "/feed/politics.atom", "/sitemap.xml", "/feed/x%0Aforged%20line"):
        response = await client.get(URL(path, encoded=True))
        text = await response.text()
        assert (response.status, response.content_type) == (500, "application/json"), path
        assert json.loads(text) == {"errors": [{"message": "internal error"}]}
        assert "secret" not in text and "Traceback" not in text
    assert "secret internals" in caplog.text
    # The path is logged as sent, percent-encoded: a client's %0A cannot start a line of its own.
    failures = [r.getMessage() for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert "GET /feed/x%0Aforged%20line failed unexpectedly" in failures
    assert (await client.get("/healthz")).status == 200  # and the server goes on answering


async def test_lines_about_failed_requests_stay_within_their_budget(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A client repeating a request that meets a bug gets its 500 every time, but the log gets
    at most the budget's burst of ERROR lines (with the traceback), then one a second saying
    how many were held back; another bug (another type of error, here in GraphQL) has a budget
    of its own, so its first lines are written; the metrics count what was held back."""
    newsroom, clock = client.app[NEWSROOM], Monotonic()
    monkeypatch.setattr(FAILURE_LINES, "clock", clock)

    def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    def missing(*args: object) -> None:
        raise KeyError("another bug")

    held_back = re.compile(
        r'^newsroom_log_lines_held_back_total\{kind="failed_request"\} (\S+)$', re.M
    )

    async def lines_held_back() -> float:  # so far in this process, as the metrics say
        metrics = await (await client.get("/metrics")).text()
        found = held_back.search(metrics)
        assert found is not None
        return float(found[1])

    before = await lines_held_back()
    monkeypatch.setattr(newsroom.views.feeds, "changed", broken)
    monkeypatch.setattr(newsroom.views.articles, "latest", missing)
    statuses = {(await client.get("/feed")).status for _ in range(FAILURE_LINES.burst + 15)}
    assert statuses == {500}
    for _ in range(2):
        reply = await client.post("/graphql", json={"query": "{ articles { id } }"})
        assert (await reply.json())["errors"][0]["extensions"]["code"] == "INTERNAL"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == FAILURE_LINES.burst + 2 and all(r.exc_info for r in errors)
    assert "unexpected error in a resolver" in errors[-1].getMessage()  # not held back
    clock.now += FAILURE_LINES.every  # a second later, one line more
    assert (await client.get("/feed")).status == 500
    last = [r for r in caplog.records if r.levelname == "ERROR"][-1].getMessage()
    assert last == "GET /feed failed unexpectedly (15 more since the last such line)"
    assert await lines_held_back() == before + 15


async def test_an_unknown_graphiql_asset_is_a_404_that_names_nothing(client: Client) -> None:
    """A made-up asset name, even one too long for the file system, is a JSON 404."""
    for name in ("nope.js", "a" * 300, "..%2F..%2Fpyproject.toml"):
        response = await client.get(URL(f"/static/graphiql/{name}", encoded=True))
        assert (response.status, response.content_type) == (404, "application/json"), name
        assert name not in await response.text()


def test_every_route_is_behind_the_error_boundary(app: web.Application) -> None:
    """No route reaches aiohttp's own 500 page: each handler runs in the guard (`guard.py`)."""
    routes = list(app.router.routes())
    assert len(routes) > 10
    for route in routes:
        assert route.handler.__code__.co_qualname == "guard.<locals>.guarded", route
        assert getattr(route.handler, "__wrapped__", None) is not None, route
