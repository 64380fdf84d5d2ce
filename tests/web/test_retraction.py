"""A retraction reaches every surface at once: every read at the retraction's position agrees."""

from __future__ import annotations

import feedparser
from lxml import etree, html

from newsroom.articles import RetractArticle
from tests.factories import create_article
from tests.web.conftest import SITE, Client, newsroom_of

SITEMAPS = ["/sitemaps/articles-1.xml", "/sitemaps/news-1.xml", "/sitemap"]
FEEDS = ["/feed", "/feed.atom", "/feed/politics", "/feed/politics.atom"]


async def _surfaces(client: Client, article_id: int, path: str, at: int) -> dict[str, object]:
    """What every surface says about the article, each read at least at position `at`."""
    client.session.headers["Newsroom-Min-Position"] = str(at)
    seen: dict[str, object] = {}
    positions = set()
    for feed in FEEDS:
        response = await client.get(feed)
        positions.add(response.headers["Newsroom-Position"])
        entries = feedparser.parse(await response.read()).entries
        seen[feed] = any(e.link.endswith(f"-{article_id}") for e in entries)
    for sitemap in SITEMAPS:
        response = await client.get(sitemap)
        positions.add(response.headers["Newsroom-Position"])
        locs = etree.fromstring(await response.read()).iterfind(".//{*}loc")
        seen[sitemap] = SITE + path in [loc.text for loc in locs]
    home = await client.get("/")
    positions.add(home.headers["Newsroom-Position"])
    seen["/"] = path in [a.get("href") for a in html.fromstring(await home.text()).iter("a")]
    page = await client.get(path, allow_redirects=False)
    positions.add(page.headers["Newsroom-Position"])
    seen["page"] = page.status
    query = "query($id: ID!) { article(id: $id) { status } articles { id } }"
    reply = await client.post("/graphql", json={"query": query, "variables": {"id": article_id}})
    positions.add(reply.headers["Newsroom-Position"])
    data = (await reply.json())["data"]
    seen["graphql"] = (
        data["article"]["status"],
        str(article_id) in [a["id"] for a in data["articles"]],
    )
    assert len(positions) == 1, positions
    seen["position"] = int(positions.pop())
    return seen


async def test_a_retracted_article_leaves_every_surface_at_the_same_position(site: Client) -> None:
    """Before: on every feed, sitemap, list and page. After the retraction, at its position: on
    none; the page is 410 and GraphQL says RETRACTED."""
    newsroom = newsroom_of(site)
    outcome = await newsroom.commands.handle(
        create_article(title="Wrong story", category="politics")
    )
    await newsroom.commands.handle(create_article(title="Other story", category="business"))
    path = f"/politics/wrong-story-{outcome.article_id}"
    before = await _surfaces(site, outcome.article_id, path, at=2)
    assert before == {**dict.fromkeys(FEEDS + SITEMAPS + ["/"], True), "page": 200,
                      "graphql": ("PUBLISHED", True), "position": 2}  # fmt: skip
    retraction = RetractArticle(outcome.article_id, reason="Wrong facts")
    done = await newsroom.commands.handle(retraction)
    after = await _surfaces(site, outcome.article_id, path, at=done.position)
    assert after == {**dict.fromkeys(FEEDS + SITEMAPS + ["/"], False), "page": 410,
                     "graphql": ("RETRACTED", False), "position": done.position}  # fmt: skip
