"""Property: for any sequence of commands, replaying the log into fresh projections equals the live ones."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

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
from newsroom.projections.search_build import SearchBuild
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.projections.views import Views
from newsroom.store import Recorded
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


async def _log_of(history: list[Command]) -> list[Recorded]:
    store = InMemoryEventStore()
    handler = CommandHandler(store, Bus(store), FakeClock())
    for command in history:
        with contextlib.suppress(NewsroomError):
            await handler.handle(command)
    return await store.read_all(after=0, limit=10_000)


def _pages(log: list[Recorded], cuts: list[int]) -> list[list[Recorded]]:
    """The log cut into consecutive pages at the given offsets (in any order, repeats allowed)."""
    bounds = [0, *sorted(c % (len(log) + 1) for c in cuts), len(log)]
    return [log[a:b] for a, b in itertools.pairwise(bounds)]


async def _paged_with_build(log: list[Recorded], cuts: list[int], split: int) -> list[str]:
    """The start-up path: the search view deferred while the first `split` events replay in
    pages, then its bulk build, with the rest of the events dispatched while it runs."""
    views = _views()
    dispatcher = Dispatcher(views.projectors, subscribe=None)  # type: ignore[arg-type]
    replayed, live = log[: split % (len(log) + 1)], log[split % (len(log) + 1) :]
    views.search_projector.projection.defer()
    for page in _pages(replayed, cuts):
        dispatcher.dispatch(page)
    build = asyncio.create_task(SearchBuild(views.search_projector).run())
    await asyncio.sleep(0)  # the build starts (takes what changed) before the live events come
    for page in _pages(live, cuts):
        dispatcher.dispatch(page)
    await build
    assert views.search.caught_up
    return _fingerprint(views)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(commands, max_size=25),
    st.lists(st.integers(min_value=0, max_value=60), max_size=6),
    st.integers(min_value=0, max_value=60),
)
def test_pages_and_the_search_build_equal_one_event_at_a_time(
    history: list[Command], cuts: list[int], split: int
) -> None:
    """Dispatching the log in pages of any sizes, and building the search index in bulk after a
    replay while later events arrive, give every view exactly the state that dispatching one
    event at a time gives."""
    log = asyncio.run(_log_of(history))
    one_by_one = _views()
    dispatcher = Dispatcher(one_by_one.projectors, subscribe=None)  # type: ignore[arg-type]
    for recorded in log:
        dispatcher.dispatch([recorded])
    paged = _views()
    dispatcher = Dispatcher(paged.projectors, subscribe=None)  # type: ignore[arg-type]
    for page in _pages(log, cuts):
        dispatcher.dispatch(page)
    expected = _fingerprint(one_by_one)
    assert _fingerprint(paged) == expected
    assert asyncio.run(_paged_with_build(log, cuts, split)) == expected
