"""GraphQL query resolvers and object types: parse arguments, ask a read model or the log, shape.

`Article` fields resolve from either a projection's `ArticleView` or, for time travel, the
domain's `ArticleState` folded from the stream; both carry the same field names.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import datetime
from typing import Any

from ariadne import ObjectType, QueryType, ScalarType

from newsroom.app import Newsroom
from newsroom.articles import fold
from newsroom.commands import stream_for
from newsroom.config import Settings
from newsroom.errors import ValidationError
from newsroom.events import Event, UnknownEvent
from newsroom.projections.articles import ArticleView
from newsroom.slugs import article_path
from newsroom.store import Recorded
from newsroom.web.types import Info

COUNT_MAX = 50  # articles per list or page
EVENTS_MAX = 1_000  # events per `events` query

query = QueryType()
article_type = ObjectType("Article")
datetime_scalar = ScalarType("DateTime")
json_scalar = ScalarType("JSON")


def newsroom_of(info: Info) -> Newsroom:
    """The running newsroom, from the request's GraphQL context."""
    newsroom: Newsroom = info.context["newsroom"]
    return newsroom


def parse_id(value: Any, field: str = "id") -> int:
    """An article id from its number or its global id; a `ValidationError` naming `field`."""
    text = str(value).strip()
    if not text.isdigit():
        text = _from_global_id(text)
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise ValidationError(f"{field} must be a positive whole number, got {str(value)[:40]!r}")
    return int(text)


def global_id(article_id: int) -> str:
    """The Relay global id of an article."""
    return base64.b64encode(f"Article:{article_id}".encode()).decode()


def _from_global_id(text: str) -> str:
    try:
        kind, _, number = base64.b64decode(text.encode(), validate=True).decode().partition(":")
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        return text
    return number if kind == "Article" else text


def check_count(name: str, value: int, limit: int = COUNT_MAX) -> int:
    """`value` if it lies in 1..`limit`; else a `ValidationError` naming the argument."""
    if not 1 <= value <= limit:
        raise ValidationError(f"{name} must be between 1 and {limit}, got {value}")
    return value


# --- queries ---------------------------------------------------------------------------------


@query.field("article")
async def resolve_article(_: None, info: Info, id: str, version: int | None = None) -> Any:
    newsroom = newsroom_of(info)
    article_id = parse_id(id)
    if version is None:
        newsroom.projectors["articles"].check()
        return newsroom.articles.get(article_id)
    history = await newsroom.store.read_stream(stream_for(article_id))
    if not history:
        return None
    if not 1 <= version <= len(history):
        return None  # no such version, as there is no such article: a missing record
    return fold(_known(r.event) for r in history[:version])


@query.field("articles")
def resolve_articles(
    _: None, info: Info, count: int, status: str, category: str | None = None
) -> list[ArticleView]:
    check_count("count", count)
    newsroom = newsroom_of(info)
    newsroom.projectors["articles"].check()
    if status == "UNKNOWN":
        return []  # the seed's zero value: no article is ever in it
    return newsroom.articles.latest(status, category, count)  # type: ignore[arg-type]


@query.field("articleConnection")
def resolve_connection(
    _: None,
    info: Info,
    first: int,
    status: str,
    after: str | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    check_count("first", first)
    newsroom = newsroom_of(info)
    newsroom.projectors["articles"].check()
    if status == "UNKNOWN":
        return _connection([], False, after is not None, 0)
    before = decode_cursor(after) if after is not None else None
    view = newsroom.articles
    page, more = view.page(status, category, first, before)  # type: ignore[arg-type]
    return _connection(page, more, after is not None, view.count(status, category))  # type: ignore[arg-type]


def _connection(
    page: list[tuple[tuple[float, int], ArticleView]], more: bool, previous: bool, total: int
) -> dict[str, Any]:
    edges = [{"cursor": _encode_cursor(key), "node": node} for key, node in page]
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


def _encode_cursor(key: tuple[float, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]!r}:{key[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, int]:
    """The list key a connection cursor stands for; a `ValidationError` if it is not one."""
    try:
        moment, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return float(moment), int(number)
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError("after must be a cursor this API gave out (endCursor)") from None


@query.field("events")
async def resolve_events(
    _: None, info: Info, after: int, count: int, stream: str | None = None
) -> list[dict[str, Any]]:
    check_count("count", count, EVENTS_MAX)
    if after < 0:
        raise ValidationError(f"after must be 0 or more, got {after}")
    store = newsroom_of(info).store
    if stream is None:
        records = await store.read_all(after=after, limit=count)
    else:
        records = [r for r in await store.read_stream(stream) if r.position > after][:count]
    return [log_event(r) for r in records]


def log_event(recorded: Recorded) -> dict[str, Any]:
    """One log entry in the shape of the `LogEvent` type."""
    return {
        "position": recorded.position,
        "stream": recorded.stream,
        "version": recorded.version,
        "event_id": recorded.event_id,
        "type": recorded.type,
        "time": recorded.recorded_at,
        "data": event_data(recorded.event),
    }


def event_data(event: Event | UnknownEvent) -> dict[str, Any]:
    """The fields an event set, as JSON-ready values (unset optional fields left out)."""
    if isinstance(event, UnknownEvent):
        return dict(event.data)
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name in (f.name for f in dataclasses.fields(event))
        if (value := getattr(event, name)) is not None
    }


def _known(event: Event | UnknownEvent) -> Event:
    if isinstance(event, UnknownEvent):
        raise ValidationError(f"this newsroom cannot read {event.type_name} events; upgrade it")
    return event


# --- the Article type ------------------------------------------------------------------------


@article_type.field("author_id")
def resolve_author_id(article: Any, _: Info) -> str:
    return str(article.author_id)


@article_type.field("global_id")
def resolve_global_id(article: Any, _: Info) -> str:
    return global_id(article.id)


@article_type.field("url")
def resolve_url(article: Any, info: Info) -> str:
    settings: Settings = info.context["settings"]
    return settings.public_url + article_path(article.category, article.title, article.id)


@article_type.field("history")
async def resolve_history(article: Any, info: Info) -> list[dict[str, Any]]:
    records = await newsroom_of(info).store.read_stream(stream_for(article.id))
    return [
        {
            "position": r.position,
            "version": r.version,
            "type": r.type,
            "time": r.recorded_at,
            "changes": {k: v for k, v in event_data(r.event).items() if k != "article_id"},
        }
        for r in records[: article.version]
    ]


@datetime_scalar.serializer
def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


@json_scalar.serializer
def serialize_json(value: Any) -> Any:
    return value
