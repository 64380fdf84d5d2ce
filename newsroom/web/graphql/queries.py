"""GraphQL queries: each resolver asks a read model (or, for history and the log, the event log)
and shapes the answer. Arguments arrive checked and converted (`arguments.RULES`)."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType

from newsroom.articles import fold
from newsroom.commands import stream_for
from newsroom.errors import ValidationError
from newsroom.events import Event, UnknownEvent
from newsroom.projections.articles import ArticleView, Key
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
    newsroom = info.context.newsroom
    if version is None:
        newsroom.projectors["articles"].check()
        return newsroom.articles.get(id)
    history = await newsroom.store.read_stream(stream_for(id))
    if version > len(history):
        return None  # no such version, as there is no such article: a missing record
    return fold(_known(r.event) for r in history[:version])


@query.field("articles")
@checked_arguments
def resolve_articles(
    _: None, info: Info, count: int, status: str, category: str | None = None
) -> list[ArticleView]:
    newsroom = info.context.newsroom
    newsroom.projectors["articles"].check()
    if status == "UNKNOWN":
        return []  # the seed's zero value: no article is ever in it
    return newsroom.articles.latest(status, category, count)  # type: ignore[arg-type]


@query.field("articleConnection")
@checked_arguments
def resolve_connection(
    _: None, info: Info, first: int, status: str, after: Key | None = None,
    category: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    newsroom = info.context.newsroom
    newsroom.projectors["articles"].check()
    if status == "UNKNOWN":
        return _connection([], False, after is not None, 0)
    view = newsroom.articles
    page, more = view.page(status, category, first, after)  # type: ignore[arg-type]
    return _connection(page, more, after is not None, view.count(status, category))  # type: ignore[arg-type]


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
    store = info.context.newsroom.store
    if stream is None:
        records = await store.read_all(after=after, limit=count)
    else:
        records = [r for r in await store.read_stream(stream) if r.position > after][:count]
    return [log_event(r) for r in records]


@query.field("search")
@checked_arguments
def resolve_search(
    _: None, info: Info, query: Query, first: int, category: str | None = None,
    after: SortKey | None = None,
) -> dict[str, Any]:  # fmt: skip
    results, hits = search.run(info.context.newsroom, query, category, first, after)
    return {
        "total": results.total,
        "exact": results.exact,
        "facets": [{"category": c, "count": n} for c, n in sorted(results.facets.items())],
        "hits": hits,
        "next": hits[-1]["cursor"] if results.more and hits else None,
    }


def _known(event: Event | UnknownEvent) -> Event:
    if isinstance(event, UnknownEvent):
        raise ValidationError(f"this newsroom cannot read {event.type_name} events; upgrade it")
    return event
