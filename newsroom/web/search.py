"""Search, over HTTP (`GET /search?q=…&category=…&first=…&after=…`, JSON) and GraphQL (`search`).

Both parse the reader's text with `search_query.parse` (a clear 400 / GraphQL error when there is
nothing to search for or too much), ask the search view, and attach each hit's article from the
articles view, which the dispatcher keeps at the same position.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import orjson
from aiohttp import web
from ariadne import QueryType

from newsroom import validation
from newsroom.app import Newsroom
from newsroom.config import Settings
from newsroom.errors import ValidationError
from newsroom.projections.articles import ArticleView
from newsroom.projections.search import Results, SortKey
from newsroom.projections.search_query import parse
from newsroom.validation import ID_MAX
from newsroom.web.http import NEWSROOM, SETTINGS, positioned_json, wait_for_min_position
from newsroom.web.resolvers import COUNT_MAX, check_count, newsroom_of
from newsroom.web.types import Info
from newsroom.web.xml import article_url, w3c

FIRST_DEFAULT = 10
search_query = QueryType()  # Query.search; bound beside the other Query fields


def encode_cursor(key: SortKey) -> str:
    """An opaque cursor for the hit that sorts at `key`."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def decode_cursor(cursor: str) -> SortKey:
    """The sort key a search cursor stands for; a ValidationError if it is not one of ours."""
    try:
        score, newest, last = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        key = float(score), float(newest), int(last)
    except (ValueError, TypeError, UnicodeError, binascii.Error, orjson.JSONDecodeError):
        key = None
    if key is None or not all(map(math.isfinite, key[:2])) or not -ID_MAX <= key[2] < 0:
        raise ValidationError("after must be a cursor a search gave out (next)")
    return key


def run(
    newsroom: Newsroom, text: str, category: str | None, first: int, after: str | None
) -> tuple[Results, list[dict[str, Any]]]:
    """Search, and pair every hit with its article view and cursor."""
    check_count("first", first, COUNT_MAX)
    if category is not None:
        validation.category(category)  # a slug, or there is nothing it could match
    parsed = parse(text)
    key = decode_cursor(after) if after is not None else None
    for name in ("articles", "search"):
        newsroom.projectors[name].check()
    results = newsroom.search.index.search(parsed, category, first, key)
    hits = []
    for hit in results.hits:
        if (article := newsroom.articles.get(hit.article_id)) is not None:
            cursor = encode_cursor(hit.key)
            hits.append(
                {"article": article, "score": hit.score, "snippet": hit.snippet, "cursor": cursor}
            )
    return results, hits


@search_query.field("search")
async def resolve_search(
    _: None,
    info: Info,
    query: str,
    first: int,
    category: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    results, hits = run(newsroom_of(info), query, category, first, after)
    return {
        "total": results.total,
        "exact": results.exact,
        "facets": [{"category": c, "count": n} for c, n in sorted(results.facets.items())],
        "hits": hits,
        "next": hits[-1]["cursor"] if results.more and hits else None,
    }


routes = web.RouteTableDef()
"""GET /search (the GraphQL field registers itself on the shared Query type)."""


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
    category = params.get("category") or None
    newsroom, settings = request.app[NEWSROOM], request.app[SETTINGS]
    results, hits = run(newsroom, params["q"], category, int(first_text), params.get("after"))
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
