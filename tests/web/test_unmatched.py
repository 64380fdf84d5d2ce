"""Requests no route takes (a path newsroom does not serve, a method a route does not take) are
answered like every other: a clear 404 or 405, an X-Request-Id, a bounded metric, an access line."""

from __future__ import annotations

import json
import logging
import re

import html5lib
import pytest

from newsroom.logs import JsonFormatter
from newsroom.web.observe import OBSERVER
from newsroom.web.unmatched import UNMATCHED
from tests.web.conftest import Client
from tests.web.test_metrics import scrape, value

REQUESTS = "newsroom_http_requests_total"


async def test_a_path_nobody_serves_is_a_json_404_with_a_request_id(client: Client) -> None:
    for path in ("/about", "/a/b/c/d", "/feed/business/extra", "/%00", "/" + "x" * 2_000):
        reply = await client.get(path)
        assert reply.status == 404, path
        assert reply.content_type == "application/json"
        assert (await reply.json()) == {
            "errors": [{"message": "nothing is served at this address"}]
        }
        assert re.fullmatch("[0-9a-f]{20}", reply.headers["X-Request-Id"])


async def test_a_browser_is_shown_the_sites_page_not_found(client: Client) -> None:
    reply = await client.get("/about", headers={"Accept": "text/html,*/*;q=0.8"})
    assert reply.status == 404 and reply.content_type == "text/html"
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    page = parser.parse(await reply.text())
    assert page.findtext(".//h1") == "Page not found"
    assert page.findtext(".//main/p").startswith("There is nothing at this address.")
    assert page.find(".//meta[@name='robots']").get("content").startswith("noindex")
    assert "X-Request-Id" in reply.headers


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("POST", "/feed", "GET, HEAD"), ("DELETE", "/graphql", "GET, HEAD, POST"),
     ("PUT", "/healthz", "GET, HEAD"), ("PATCH", "/news/story-1", "GET, HEAD")],
)  # fmt: skip
async def test_a_method_a_route_does_not_take_is_a_405_naming_those_it_does(
    client: Client, method: str, path: str, allowed: str
) -> None:
    reply = await client.request(method, path)
    assert reply.status == 405 and reply.headers["Allow"] == allowed
    message = (await reply.json())["errors"][0]["message"]
    assert message == f"{method} is not allowed here; this address takes {allowed}"
    assert "X-Request-Id" in reply.headers


async def test_unmatched_requests_are_counted_under_one_label(client: Client) -> None:
    """Thousands of different unknown paths are counted in one series per method and status:
    the path is never a label."""
    for n in range(10):
        await client.get(f"/{n}/unknown/{n}")
    await client.post("/feed")
    await scrape(client)
    before = await scrape(client)
    for n in range(10, 2_000):
        await client.get(f"/{n}/unknown/{n}")
    after = await scrape(client)
    assert len(after) == len(before)
    assert value(after, REQUESTS, route=UNMATCHED, method="GET", status="404") == 2_000
    assert value(after, REQUESTS, route=UNMATCHED, method="POST", status="405") == 1


async def test_the_access_line_of_an_unmatched_request_carries_its_request_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsroom.access")
    reply = await client.get("/wp-login.php?user=admin")
    client.server.app[OBSERVER].drain()
    (record,) = [r for r in caplog.records if r.name == "newsroom.access"]
    line = json.loads(JsonFormatter().format(record))
    assert (line["route"], line["status"], line["method"]) == (UNMATCHED, 404, "GET")
    assert line["request_id"] == reply.headers["X-Request-Id"]
    assert "wp-login" not in json.dumps(line) and "admin" not in json.dumps(line)
