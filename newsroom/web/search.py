"""Search over HTTP (`GET /search?q=…&category=…&first=…&after=…`, JSON), and `run`, which the
GraphQL `search` field shares.

The reader's input is checked by the rules of `web/inputs.py` (GraphQL checks its arguments by
the same rules), the search view answers, and each hit gets its article from the articles view,
which the dispatcher keeps at the same position. A search runs on the event loop (FTS5 in
memory, at most the index's TIME_BUDGET), so searches take turns, as new GraphQL documents do:
one at a time, each after letting the loop answer what arrived meanwhile; a search that gets no
turn within SEARCH_WAIT seconds is `Busy` (503 with `Retry-After`).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from aiohttp import web

from newsroom.config import Settings
from newsroom.errors import ValidationError
from newsroom.events import PUBLISHED
from newsroom.gates import Gate
from newsroom.projections.articles import ArticleView
from newsroom.projections.search import Results, SortKey
from newsroom.projections.search_query import Query
from newsroom.web import inputs
from newsroom.web.http import SETTINGS, VIEWS, positioned_json, wait_for_min_position
from newsroom.web.inputs import COUNT_MAX
from newsroom.web.urls import article_url
from newsroom.web.xml import w3c

FIRST_DEFAULT = 10
SEARCH_WAIT = 0.5  # seconds a search may wait for its turn
SEARCHES = web.AppKey("searches", Gate)
"""One search at a time (they run on the event loop)."""


def searches() -> Gate:
    """The turns searches take."""
    return Gate("searches", capacity=1, wait=SEARCH_WAIT)


async def run(
    app: web.Application,
    query: Query,
    category: str | None,
    first: int,
    after: SortKey | None,
) -> tuple[Results, list[dict[str, Any]]]:
    """Search (when its turn comes), and pair every hit with its article view and cursor."""
    async with app[SEARCHES].turn():
        for _ in range(2):  # the loop first answers what arrived meanwhile (see pipeline.py)
            await asyncio.sleep(0)
        views = app[VIEWS]
        results = views.search.index.search(query, category, first, after)
    articles = views.articles
    hits = []
    for hit in results.hits:
        # While a checkpoint holds the index (a second or so), it may still hold an article
        # retracted or corrected meanwhile: a hit is shown only if its article is published
        # now, and a corrected one with its text as it is now, never the words it replaced.
        article = articles.get(hit.article_id)
        if article is None or article.status is not PUBLISHED:
            continue
        snippet = hit.snippet
        if views.search.changed_while_held(hit.article_id):
            snippet = html.escape(article.body[:HELD_EXCERPT])
        cursor = inputs.encode_cursor(hit.key)
        hits.append({"article": article, "score": hit.score, "snippet": snippet, "cursor": cursor})
    return results, hits


HELD_EXCERPT = 160  # characters of a corrected article's body shown while the index is held

routes = web.RouteTableDef()
"""GET /search."""


@routes.get("/search")
async def search_route(request: web.Request) -> web.Response:
    """GET /search?q=…: JSON results stating the log position they reflect."""
    position = await wait_for_min_position(request)
    params = request.query
    if "q" not in params:
        raise ValidationError("give the words to search for as ?q=…")
    first_text = params.get("first", str(FIRST_DEFAULT))
    if not first_text.isascii() or not first_text.isdigit() or len(first_text) > 4:
        raise ValidationError(f"first must be a whole number from 1 to {COUNT_MAX}")
    first = inputs.count(COUNT_MAX)("first", int(first_text))
    category = params.get("category") or None
    if category is not None:
        inputs.category("category", category)
    after = params.get("after")
    key = inputs.search_cursor("after", after) if after is not None else None
    query = inputs.search_text("q", params["q"])
    results, hits = await run(request.app, query, category, first, key)
    settings = request.app[SETTINGS]
    body = {
        "total": results.total,
        "exact": results.exact,
        "facets": dict(sorted(results.facets.items())),
        "hits": [_hit_json(hit, settings) for hit in hits],
        "next": hits[-1]["cursor"] if results.more and hits else None,
    }
    return positioned_json(body, position)


def _hit_json(hit: dict[str, Any], settings: Settings) -> dict[str, Any]:
    article: ArticleView = hit["article"]
    return {
        "id": article.id,
        "title": article.title,
        "url": article_url(settings, article),
        "category": article.category,
        "author_name": article.author_name,
        "published_at": w3c(article.published_at) if article.published_at else None,
        "score": hit["score"],
        "snippet": hit["snippet"],
    }
