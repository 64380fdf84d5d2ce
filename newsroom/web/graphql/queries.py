"""GraphQL queries: each resolver asks a read model (or, for history and the log, the event log)
and shapes the answer. Arguments arrive checked and converted (`arguments.RULES`)."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType

from newsroom.projections.articles import ArticleView, Key, StatusName
from newsroom.projections.search import SortKey
from newsroom.projections.search_query import Query
from newsroom.web import search
from newsroom.web.graphql.context import Info, checked_arguments
from newsroom.web.graphql.objects import log_event
from newsroom.web.inputs import encode_cursor

query = QueryType()


@query.field("article")
@checked_arguments
async def resolve_article(_: None, info: Info, id: int, version: int | None = None) -> Any:
    if version is None:
        return info.context.views.articles.get(id)
    # no such version (or article) is a missing record: None
    return await info.context.history.article_at(id, version)


@query.field("articles")
@checked_arguments
def resolve_articles(
    _: None, info: Info, count: int, status: StatusName, category: str | None = None
) -> list[ArticleView]:
    articles = info.context.views.articles
    if status == "UNKNOWN":
        return []  # the seed's zero value: no article is ever in it
    return articles.latest(status, category, count)


@query.field("articleConnection")
@checked_arguments
def resolve_connection(
    _: None, info: Info, first: int, status: StatusName, after: Key | None = None,
    category: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    view = info.context.views.articles
    if status == "UNKNOWN":
        return _connection([], False, after is not None, 0)
    page, more = view.page(status, category, first, after)
    return _connection(page, more, after is not None, view.count(status, category))


def _connection(
    page: list[tuple[Key, ArticleView]], more: bool, previous: bool, total: int
) -> dict[str, Any]:
    edges = [{"cursor": encode_cursor(key), "node": node} for key, node in page]
    return {
        "edges": edges,
        "totalCount": total,
        "pageInfo": {
            "hasNextPage": more,
            "hasPreviousPage": previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


@query.field("events")
@checked_arguments
async def resolve_events(
    _: None, info: Info, after: int, count: int, stream: str | None = None
) -> list[dict[str, Any]]:
    entries = await info.context.history.events(after, count, stream)
    return [log_event(entry) for entry in entries]


@query.field("search")
@checked_arguments
async def resolve_search(
    _: None, info: Info, query: Query, first: int, category: str | None = None,
    after: SortKey | None = None,
) -> dict[str, Any]:  # fmt: skip
    app = info.context.request.app
    results, hits = await search.run(app, query, category, first, after)
    return {
        "total": results.total,
        "exact": results.exact,
        "facets": [{"category": c, "count": n} for c, n in sorted(results.facets.items())],
        "hits": hits,
        "next": hits[-1]["cursor"] if results.more and hits else None,
    }
