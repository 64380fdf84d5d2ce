"""Property: for any sequence of commands, replaying the log into fresh projections equals the live ones."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsroom.articles import (
    Command,
    CreateArticle,
    CreateDraft,
    PublishArticle,
    RetractArticle,
    UpdateArticle,
    UpdateDraft,
)
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import NewsroomError
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.search import SearchProjection
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.projections.views import Views
from newsroom.store.memory import InMemoryEventStore
from tests.factories import FakeClock, article_fields

ids = st.integers(min_value=1, max_value=6)
words = st.sampled_from(["Storm", "Rally", "Vote", "Café", "🗞️ Extra", "Rates"])
categories = st.sampled_from(["business", "politics", "lifestyle"])
commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(lambda t, c: CreateArticle(**article_fields(title=t, category=c)), words, categories),
    st.builds(lambda t, c: CreateDraft(**article_fields(title=t, category=c)), words, categories),
    st.builds(lambda i, t: UpdateArticle(i, title=t), ids, words),
    st.builds(lambda i, c: UpdateDraft(i, category=c), ids, categories),
    st.builds(PublishArticle, ids),
    st.builds(lambda i: RetractArticle(i, reason="Wrong"), ids),
)


def _views() -> Views:
    """Every projection, sized small (2 per feed, 2 URLs per sitemap) so that lists overflow."""
    articles = ArticlesProjection()
    return Views(
        articles,
        FeedsProjection(articles, size=2),
        SitemapsProjection(articles, per_file=2, news_per_file=2),
        SearchProjection(articles, Fts5Index()),
    )


def _fingerprint(views: Views) -> list[str]:
    return [projector.projection.fingerprint() for projector in views.projectors]


async def _live_and_replayed(history: list[Command]) -> tuple[list[str], list[str]]:
    store = InMemoryEventStore()  # it encodes and decodes like a file store; no file needed
    bus = Bus(store)
    live = _views()
    runner = asyncio.create_task(Dispatcher(live.projectors, bus.subscribe).run())
    handler = CommandHandler(store, bus, FakeClock())
    for command in history:
        # A command the domain refuses leaves no trace; that is part of the property.
        with contextlib.suppress(NewsroomError):
            await handler.handle(command)
    for projector in live.projectors:
        await projector.wait_for(await store.head(), timeout=10)
    runner.cancel()
    fresh = _views()
    Dispatcher(fresh.projectors, bus.subscribe).dispatch(
        await store.read_all(after=0, limit=10_000)
    )
    await store.close()
    return _fingerprint(live), _fingerprint(fresh)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands, max_size=25))
def test_replay_equals_live(history: list[Command]) -> None:
    """Whatever editors do, a fresh replay of the log builds exactly the live read model."""
    live, replayed = asyncio.run(_live_and_replayed(history))
    assert live == replayed
