"""GraphQL subscriptions: sources that follow the bus, one subscription each.

`articleEvents(after, category)` replays the log after `after` from the store, then follows it
live; `articlePublished(category)` sends each article as it goes public. Each subscription has
its own bounded bus queue, so a slow client never holds up writers or other clients.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ariadne import SubscriptionType

from newsroom.app import Newsroom
from newsroom.events import ArticleCreated, ArticlePublished, UnknownEvent
from newsroom.projections.articles import ArticleView
from newsroom.store import Recorded
from newsroom.web.graphql.context import Info, checked_arguments
from newsroom.web.graphql.objects import log_event

subscription = SubscriptionType()


@subscription.source("articleEvents")
@checked_arguments
async def article_events(
    _: None, info: Info, after: int | None = None, category: str | None = None
) -> AsyncGenerator[Recorded, None]:
    newsroom = info.context.newsroom
    start = after if after is not None else await newsroom.store.head()
    categories: dict[int, str] = {}  # article id -> category, as the events tell it
    async for batch in newsroom.bus.subscribe(after=start):
        for recorded in batch:
            if category is None or _category(recorded, categories, newsroom) == category:
                yield recorded


@subscription.field("articleEvents")
def resolve_article_event(recorded: Recorded, _: Info, **__: Any) -> dict[str, Any]:
    return log_event(recorded)


@subscription.source("articlePublished")
async def article_published(
    _: None, info: Info, category: str | None = None
) -> AsyncGenerator[ArticleView, None]:
    newsroom = info.context.newsroom
    view_wait = info.context.settings.view_wait
    async for batch in newsroom.bus.subscribe(after=await newsroom.store.head()):
        for recorded in batch:
            if not isinstance(recorded.event, ArticleCreated | ArticlePublished):
                continue
            await newsroom.wait_for(recorded.position, view_wait)
            article = newsroom.articles.get(recorded.event.article_id)
            wanted = article is not None and category in (None, article.category)
            if article is not None and wanted and article.status == "PUBLISHED":
                yield article


@subscription.field("articlePublished")
def resolve_article_published(article: ArticleView, _: Info, **__: Any) -> Any:
    return article


def _category(recorded: Recorded, known: dict[int, str], newsroom: Newsroom) -> str | None:
    event = recorded.event
    if isinstance(event, UnknownEvent):
        return None
    if (category := getattr(event, "category", None)) is not None:
        known[event.article_id] = category
        return str(category)
    if event.article_id not in known:
        article = newsroom.articles.get(event.article_id)
        if article is None:
            return None
        known[event.article_id] = article.category
    return known[event.article_id]
