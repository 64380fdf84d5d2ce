"""GraphQL subscriptions: sources that follow the log, one subscription each.

`articleEvents(after, category)` replays the log after `after`, then follows it live;
`articlePublished(category)` sends each article as it goes public. Each subscription has its own
bounded bus queue (through `History.follow`), so a slow client never holds up writers or other
clients. A replay gets its events one at a time, at the pace all replays share (`History`), so
replaying subscribers leave the event loop to every other request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ariadne import SubscriptionType

from newsroom.events import ArticleCreated, ArticlePublished, Status, UnknownEvent
from newsroom.history import Entry
from newsroom.projections.articles import ArticleView
from newsroom.projections.views import Views
from newsroom.web.graphql.context import Info, checked_arguments
from newsroom.web.graphql.objects import log_event

subscription = SubscriptionType()


@subscription.source("articleEvents")
@checked_arguments
async def article_events(
    _: None, info: Info, after: int | None = None, category: str | None = None
) -> AsyncGenerator[Entry, None]:
    history, views = info.context.history, info.context.views
    start = after if after is not None else await history.head()
    categories: dict[int, str] = {}  # article id -> category, as the events tell it
    async for batch in history.follow(after=start):
        for entry in batch:
            if category is None or _category(entry, categories, views) == category:
                yield entry


@subscription.field("articleEvents")
def resolve_article_event(entry: Entry, _: Info, **__: Any) -> dict[str, Any]:
    return log_event(entry)


@subscription.source("articlePublished")
async def article_published(
    _: None, info: Info, category: str | None = None
) -> AsyncGenerator[ArticleView, None]:
    history, views = info.context.history, info.context.views
    view_wait = info.context.settings.view_wait
    async for batch in history.follow(after=await history.head()):
        for entry in batch:
            if not isinstance(entry.event, ArticleCreated | ArticlePublished):
                continue
            await views.wait_for(entry.position, view_wait)
            article = views.articles.get(entry.event.article_id)
            wanted = article is not None and category in (None, article.category)
            if article is not None and wanted and article.status is Status.PUBLISHED:
                yield article


@subscription.field("articlePublished")
def resolve_article_published(article: ArticleView, _: Info, **__: Any) -> Any:
    return article


def _category(entry: Entry, known: dict[int, str], views: Views) -> str | None:
    event = entry.event
    if isinstance(event, UnknownEvent):
        return None
    if (category := getattr(event, "category", None)) is not None:
        known[event.article_id] = category
        return str(category)
    if event.article_id not in known:
        article = views.articles.get(event.article_id)
        if article is None:
            return None
        known[event.article_id] = article.category
    return known[event.article_id]
