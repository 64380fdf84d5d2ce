"""Builders for tests: commands, events and recorded envelopes with keyword overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from newsroom.articles import CreateArticle, CreateDraft
from newsroom.events import (
    ArticleCreated,
    ArticleDraftCreated,
    ArticlePublished,
    ArticleRetracted,
    ArticleUpdated,
    Event,
)
from newsroom.store import Recorded

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told, one second per reading by default."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


class Monotonic:
    """A monotonic clock (seconds, as `time.monotonic`) that moves only when the test sets
    `now`."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def article_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        "title": "Rates rise again",
        "body": "The central bank raised rates by a quarter point.",
        "category": "business",
        "author_id": 10,
        "author_name": "Ada Reporter",
    }
    fields.update(overrides)
    return fields


def create_article(**overrides: Any) -> CreateArticle:
    return CreateArticle(**article_fields(**overrides))


def create_draft(**overrides: Any) -> CreateDraft:
    return CreateDraft(**article_fields(**overrides))


def article_created(article_id: int = 1, at: datetime = T0, **overrides: Any) -> ArticleCreated:
    return ArticleCreated(article_id=article_id, created_at=at, **article_fields(**overrides))


def draft_created(article_id: int = 1, at: datetime = T0, **overrides: Any) -> ArticleDraftCreated:
    return ArticleDraftCreated(article_id=article_id, created_at=at, **article_fields(**overrides))


def published(article_id: int = 1, at: datetime = T0) -> ArticlePublished:
    return ArticlePublished(article_id=article_id, published_at=at)


def updated(article_id: int = 1, at: datetime = T0, **changes: Any) -> ArticleUpdated:
    return ArticleUpdated(article_id=article_id, updated_at=at, **changes)


def retracted(
    article_id: int = 1, at: datetime = T0, reason: str = "Wrong facts"
) -> ArticleRetracted:
    return ArticleRetracted(article_id=article_id, reason=reason, retracted_at=at)


def recorded_log(*events: Event) -> list[Recorded]:
    """Wrap events in envelopes as a log would: dense positions, per-article versions."""
    versions: dict[int, int] = {}
    out = []
    for position, event in enumerate(events, start=1):
        versions[event.article_id] = versions.get(event.article_id, 0) + 1
        out.append(
            Recorded(
                position=position,
                stream=f"article-{event.article_id}",
                version=versions[event.article_id],
                event_id=str(uuid4()),
                event=event,
                recorded_at=T0 + timedelta(seconds=position),
            )
        )
    return out


def at(minutes: float) -> datetime:
    """A time `minutes` after T0."""
    return T0 + timedelta(minutes=minutes)


# --- GraphQL input -------------------------------------------------------------------------------

CREATE_ID = (
    "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { id status code error } }"
)
"""createArticle with an article given as $a, answering the id, status and failure."""


def article_input(**overrides: Any) -> dict[str, Any]:
    """A valid `ArticleCreatedInput` with keyword overrides."""
    return {
        "title": "t", "body": "b", "category": "news", "author_id": 1, "author_name": "n",
        **overrides,
    }  # fmt: skip
