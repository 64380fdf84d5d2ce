"""/metrics read by Prometheus' reference parser, request ids, and the access log."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from newsroom.config import Settings
from newsroom.logs import REQUEST_ID, JsonFormatter, RequestId, current_request_id
from newsroom.projections import search_fts5
from newsroom.web.app import create_app
from newsroom.web.metrics import LATENCY_BUCKETS, METHODS, Metrics
from newsroom.web.observe import BATCH, OBSERVER
from tests.factories import FakeClock
from tests.web.conftest import Client, Query

CREATE = """
mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { id status position } }
"""
ARTICLE = {"title": "T", "body": "B", "category": "news", "author_id": "1", "author_name": "A"}


async def scrape(
    client: Client, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_counters_and_positions_after_a_known_sequence(client: Client, gql: Query) -> None:
    """Three GETs of /feed, two creates, one 404 page: the counters say exactly that, and the
    log head and every view's position are where the writes left them."""
    before = await scrape(client)
    start = value(before, "newsroom_log_head")
    began = time.perf_counter()
    for _ in range(3):
        assert (await client.get("/feed")).status == 200
    feeds_took = time.perf_counter() - began
    for _ in range(2):
        created = await gql(CREATE, {"a": ARTICLE})
        assert created["data"]["createArticle"]["status"] == "ACCEPTED"
    assert (await client.get("/news/missing-99999")).status == 404
    moved = await client.get("/elsewhere/old-title-1", allow_redirects=False)
    assert moved.status == 301  # raised as aiohttp's HTTPMovedPermanently: noted as what it is
    after = await scrape(client)
    requests = "newsroom_http_requests_total"
    assert value(after, requests, route="/feed", method="GET", status="200") == 3
    assert value(after, requests, route="/graphql", method="POST", status="200") == 2
    assert value(after, requests, route="/{category}/{page}", method="GET", status="404") == 1
    assert value(after, requests, route="/{category}/{page}", method="GET", status="301") == 1
    assert value(after, "newsroom_http_request_duration_seconds_count", route="/feed") == 3
    # In seconds, though the route wrapper notes nanoseconds; each in its bucket.
    assert (
        0 < value(after, "newsroom_http_request_duration_seconds_sum", route="/feed") < feeds_took
    )
    fast = value(after, "newsroom_http_request_duration_seconds_bucket", route="/feed", le="0.5")
    assert fast == 3 or feeds_took > 0.5
    assert value(after, "newsroom_append_duration_seconds_count") == 2 + value(
        before, "newsroom_append_duration_seconds_count"
    )
    assert value(after, "newsroom_log_head") == start + 2
    for view in ("articles", "feeds", "sitemaps", "search"):
        assert value(after, "newsroom_view_position", view=view) == start + 2
        assert value(after, "newsroom_view_lag_events", view=view) == 0
    assert value(after, "newsroom_websocket_connections") == 0
    assert value(after, "newsroom_store_errors_total") == 0
    assert value(after, "process_resident_memory_bytes") > 0


async def test_label_cardinality_stays_constant_whatever_clients_ask(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 different article URLs and search queries add no series once each kind of answer
    (200, 301, 404, 410, ...) was seen: labels are route templates, never paths or queries.
    A search's time budget is lifted: on a busy machine one search in thousands ran past it
    and was answered 400, a kind of answer (a status) not seen before, hence one more series."""
    monkeypatch.setattr(search_fts5, "TIME_BUDGET", 60.0)

    async def ask(numbers: range) -> None:
        for n in numbers:
            await client.get(f"/news/story-{n}")
            await client.get("/search", params={"q": f"word{n}"})

    await ask(range(100))
    await scrape(client)  # counted once it is answered: the next scrape shows its own series
    series = len(await scrape(client))
    await ask(range(100, 5_000))
    assert len(await scrape(client)) == series


async def test_metrics_need_the_token_unless_public(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/a.db"
    for public, status in ((False, 401), (True, 200)):
        app = create_app(
            Settings(store=store, token="s3cret", metrics_public=public), clock=FakeClock()
        )
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/metrics")).status == status
            assert (
                await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
            ).status == 200


async def test_every_reply_carries_a_request_id_sane_or_made(client: Client) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123.x:y"})
    assert given.headers["X-Request-Id"] == "abc-123.x:y"
    for insane in ("a b", "x" * 200, "<script>", ""):
        made = await client.get("/healthz", headers={"X-Request-Id": insane})
        assert re.fullmatch("[0-9a-f]{20}", made.headers["X-Request-Id"])
    redirect = await client.get("/elsewhere/old-title-1", allow_redirects=False)
    assert redirect.status == 301 and re.fullmatch("[0-9a-f]{20}", redirect.headers["X-Request-Id"])


async def test_a_request_id_ends_with_its_request() -> None:
    """On aiohttp's own server (no `GuardedConnection` to set a holder per connection) the
    guard sets a holder in each request's context and never resets it: it relies on aiohttp
    handling each request in a task of its own, with a copy of the connection's context. Two
    requests on one keep-alive connection: the second does not see the first's."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(current_request_id())
        REQUEST_ID.set(RequestId(f"set by request {len(seen)}"))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as plain:
        for _ in range(3):
            assert (await plain.get("/")).status == 200
        assert len(plain.session.connector._conns) == 1  # type: ignore[union-attr]  # one kept
    assert seen == [None, None, None]
    assert REQUEST_ID.get() is None


async def test_the_access_line_carries_the_replys_request_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsroom.access")
    reply = await client.get("/feed?secret-query=1", headers={"Authorization": "Bearer hidden"})
    client.server.app[OBSERVER].drain()  # what every BATCH requests or DRAIN_EVERY s does
    (record,) = [r for r in caplog.records if r.name == "newsroom.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/feed" and line["status"] == 200 and line["method"] == "GET"
    assert line["bytes"] > 0 and 0 <= line["duration_ms"] < 1000  # milliseconds, from ns
    assert line["logger"] == "newsroom.access" and line["level"] == "INFO"
    assert line["request_id"] == reply.headers["X-Request-Id"]
    assert "secret-query" not in json.dumps(line) and "hidden" not in json.dumps(line)


async def test_no_access_log_turns_the_line_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsroom.access")
    app: web.Application = create_app(
        Settings(store=f"sqlite:///{tmp_path}/a.db", access_log=False), clock=FakeClock()
    )
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/feed")).status == 200
        app[OBSERVER].drain()
    assert not [r for r in caplog.records if r.name == "newsroom.access"]


async def test_noted_requests_are_logged_in_batches_and_soon_when_few(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Every BATCH requests are logged on the spot; fewer are logged by the periodic drain."""
    caplog.set_level(logging.INFO, logger="newsroom.access")
    observer = client.server.app[OBSERVER]

    def logged() -> int:
        return len([r for r in caplog.records if r.name == "newsroom.access"])

    observer.drain()
    for _ in range(BATCH):
        assert (await client.get("/healthz")).status == 200
    assert logged() >= BATCH - len(observer.notes)
    assert (await client.get("/healthz")).status == 200
    # The timed drain is the thing under test: no position to wait on, so poll (up to 10 s).
    for _ in range(200):
        if logged() == BATCH + 1:
            break
        await asyncio.sleep(0.05)
    assert logged() == BATCH + 1 and observer.notes == []


def test_a_batch_is_counted_as_one_request_at_a_time_would_be() -> None:
    """Runs of alike requests, routes and statuses taking turns, a method outside the known
    ones, durations exactly on a bucket's bound or past the last, and two batches with a run
    across them: every count and bucket is what counting the requests one by one gives, added
    to what earlier batches counted, and no other series appears."""
    ms = 1_000_000  # the notes' times are nanoseconds
    requests = [
        *[("GET", "/feed", 200, 3 * ms)] * 5,  # a run
        ("GET", "/feed", 304, 1 * ms),  # on the 1 ms bound
        ("GET", "/feed", 200, 1 * ms + 1),  # just past it
        ("POST", "/graphql", 200, 25 * ms),  # on the 25 ms bound
        ("POST", "/graphql", 200, 250 * ms),  # on the 0.25 s bound (not exact as a float)
        ("GET", "/feed", 200, 11_000 * ms),  # past the last bound
        ("BREW", "/feed", 405, 2 * ms),
        *[("GET", "/article/{slug}", 404, ms // 2)] * 3,
        ("GET", "/feed", 200, 1_000 * ms),  # on the 1 s bound
        ("GET", "/feed", 200, 3 * ms),
    ]
    notes = [
        (10**9 + took, took, method, route, status, 100, f"id-{n}")
        for n, (method, route, status, took) in enumerate(requests)
    ]
    metrics = Metrics()
    metrics.count_requests(notes[:3])  # the first run goes on in the second batch
    metrics.count_requests(notes[3:])
    samples = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    counted = Counter(
        (route, method if method in METHODS else "OTHER", str(status))
        for method, route, status, _ in requests
    )
    series = {
        labels: count
        for (name, labels), count in samples.items()
        if name == "newsroom_http_requests_total"
    }
    assert series == {
        (("method", method), ("route", route), ("status", status)): count
        for (route, method, status), count in counted.items()
    }
    for route in {route for _, route, _, _ in requests}:
        took = [t for _, r, _, t in requests if r == route]
        for bound in LATENCY_BUCKETS:  # a bucket counts the durations up to its bound
            within = sum(t <= round(bound * 1e9) for t in took)
            labels = (("le", str(bound)), ("route", route))
            assert samples[("newsroom_http_request_duration_seconds_bucket", labels)] == within
        every = (("le", "+Inf"), ("route", route))
        assert samples[("newsroom_http_request_duration_seconds_bucket", every)] == len(took)
        assert metrics.routes[route].latency.total == sum(took)  # whole nanoseconds
