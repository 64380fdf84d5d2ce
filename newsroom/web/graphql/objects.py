"""GraphQL object types and scalars: how an `Article` and a log entry (`LogEvent`) are shaped.

The fields that carry article text (`body`, `data`, `changes`) count their size against the
reply's budget as they resolve (reply_size.py).

`Article` fields resolve from either a projection's `ArticleView` or, for time travel, the
domain's `ArticleState` folded from the stream; both carry the same field names.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

from ariadne import ObjectType, ScalarType

from newsroom.events import Event, UnknownEvent
from newsroom.history import Entry
from newsroom.web.graphql.context import Info
from newsroom.web.graphql.reply_size import data_size, text_size
from newsroom.web.inputs import global_id
from newsroom.web.urls import article_url

T = TypeVar("T")
article_type = ObjectType("Article")
log_event_type = ObjectType("LogEvent")
article_event_type = ObjectType("ArticleEvent")
datetime_scalar = ScalarType("DateTime")
json_scalar = ScalarType("JSON")


@article_type.field("body")
def resolve_body(article: Any, info: Info) -> str:
    body: str = article.body
    return _counted(info, body, text_size(body))


@log_event_type.field("data")
def resolve_data(entry: dict[str, Any], info: Info) -> dict[str, Any]:
    return _counted(info, entry["data"], data_size(entry["data"]))


@article_event_type.field("changes")
def resolve_changes(entry: dict[str, Any], info: Info) -> dict[str, Any]:
    return _counted(info, entry["changes"], data_size(entry["changes"]))


def _counted(info: Info, value: T, size: int) -> T:
    """`value`, its `size` charged to the reply's budget (a subscription's replies have none)."""
    if (budget := info.context.budget) is not None:
        budget.charge(size)
    return value


@article_type.field("author_id")
def resolve_author_id(article: Any, _: Info) -> str:
    return str(article.author_id)


@article_type.field("global_id")
def resolve_global_id(article: Any, _: Info) -> str:
    return global_id(article.id)


@article_type.field("url")
def resolve_url(article: Any, info: Info) -> str:
    return article_url(info.context.settings, article)


@article_type.field("history")
async def resolve_history(article: Any, info: Info) -> list[dict[str, Any]]:
    entries = await info.context.history.of_article(article.id)
    return [
        {
            "position": r.position,
            "version": r.version,
            "type": r.type,
            "time": r.recorded_at,
            "changes": {k: v for k, v in event_data(r.event).items() if k != "article_id"},
        }
        for r in entries[: article.version]
    ]


def log_event(entry: Entry) -> dict[str, Any]:
    """One log entry in the shape of the `LogEvent` type."""
    return {
        "position": entry.position,
        "stream": entry.stream,
        "version": entry.version,
        "event_id": entry.event_id,
        "type": entry.type,
        "time": entry.recorded_at,
        "data": event_data(entry.event),
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


@datetime_scalar.serializer
def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


@json_scalar.serializer
def serialize_json(value: Any) -> Any:
    return value
