"""Search over HTTP (`GET /search?q=…&category=…&first=…&after=…`), and `run`, which the
GraphQL `search` field shares.

/search answers JSON by default (API clients, `*/*`), and an HTML page (web/search_page.py) to
clients whose Accept prefers text/html, as browsers' does; either reply says `Vary: Accept`.

The reader's input is checked by the rules of `web/inputs.py` (GraphQL checks its arguments by
the same rules), the search view answers, and each hit gets its article from the articles view,
which the dispatcher keeps at the same position. A search runs on the event loop (at most the
index's TIME_BUDGET to match and rank, and its SNIPPET_BUDGET and one snippet more to make the
snippets), so searches take turns, as new GraphQL documents do:
one at a time, each after letting the loop answer what arrived meanwhile; a search that gets no
turn within SEARCH_WAIT seconds is `Busy` (503 with `Retry-After`).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from aiohttp import hdrs, web

from newsroom.config import Settings
from newsroom.errors import NewsroomError
from newsroom.events import PUBLISHED
from newsroom.gates import Gate
from newsroom.projections.articles import ArticleView
from newsroom.projections.search import Results, SortKey
from newsroom.projections.search_query import Query
from newsroom.web import inputs, search_page
from newsroom.web.http import (
    SETTINGS,
    VIEWS,
    json_error,
    positioned_json,
    refusal,
    wait_for_min_position,
)
from newsroom.web.layout import reply
from newsroom.web.negotiation import preferred
from newsroom.web.urls import article_url
from newsroom.web.xml import w3c

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
    before: SortKey | None = None,
) -> tuple[Results, list[dict[str, Any]]]:
    """Search (when its turn comes), and pair every hit with its article view and cursor."""
    async with app[SEARCHES].turn():
        for _ in range(2):  # the loop first answers what arrived meanwhile (see pipeline.py)
            await asyncio.sleep(0)
        views = app[VIEWS]
        results = views.search.index.search(query, category, first, after, before)
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
        if not snippet or views.search.changed_while_held(hit.article_id):
            snippet = html.escape(article.body[:EXCERPT])
        cursor = inputs.encode_cursor(hit.key)
        hits.append({"article": article, "score": hit.score, "snippet": snippet, "cursor": cursor})
    return results, hits


# Characters of the body's start shown for a hit that has no snippet: its match lies past the
# part snippets are made from, the page's snippets ran out of time, or the index was held while
# the article was corrected.
EXCERPT = 160
JSON, HTML = "application/json", "text/html"
OFFERS = (JSON, HTML)
"""What /search answers in, its default first: JSON for API clients and */*."""

routes = web.RouteTableDef()
"""GET /search."""


@routes.get("/search")
async def search_route(request: web.Request) -> web.Response:
    """GET /search?q=…: results stating the log position they reflect, as JSON, or as an HTML
    page to clients that prefer text/html (browsers); a refusal in the same kind."""
    as_html = preferred(request.headers.get(hdrs.ACCEPT), OFFERS) == HTML
    try:
        position = await wait_for_min_position(request)
        if as_html:
            response = await _html(request, position)
        else:
            response = await _json(request, position)
    except NewsroomError as e:
        if (refused := refusal(e)) is None:
            raise  # a fault: the error boundary logs it
        if as_html:
            document = search_page.refused_page(
                request.app[SETTINGS], request.query.get("q", ""), refused
            )
            response = reply(document, None, refused.status, refused.headers)
        else:
            response = json_error(refused.status, refused.message, **refused.headers)
    response.headers[hdrs.VARY] = hdrs.ACCEPT
    return response


async def _json(request: web.Request, position: int) -> web.Response:
    asked = inputs.search_request(request.query)
    results, hits = await run(request.app, asked.query, asked.category, asked.first, asked.after)
    settings = request.app[SETTINGS]
    body = {
        "total": results.total,
        "exact": results.exact,
        "facets": dict(sorted(results.facets.items())),
        "hits": [_hit_json(hit, settings) for hit in hits],
        "next": hits[-1]["cursor"] if results.more and hits else None,
    }
    return positioned_json(body, position)


async def _html(request: web.Request, position: int) -> web.Response:
    settings = request.app[SETTINGS]
    if "q" not in request.query:  # the search box, before anything is asked
        return reply(search_page.form_page(settings), position)
    asked = inputs.search_request(request.query, backwards=True)
    results, hits = await run(
        request.app, asked.query, asked.category, asked.first, asked.after, asked.before
    )
    return reply(search_page.results_page(settings, asked, results, hits), position)


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
