"""Property: the feeds' and sitemap files' change stamps are those of their definition.

A feed changed with an event when the feed's items (its newest published articles, as readers
get them) differ before and after it; an article sitemap file, when the articles it lists (or
their versions) differ, or the file came to be. The views work this out without building either
list (`FeedsProjection._listed`, `SitemapsProjection._mark`); here each list is built in full
before and after every event of random editors' histories, and the last event that changed it
must be the stamp the view holds.
"""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsroom.articles import Command, CreateArticle, UpdateArticle
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import NewsroomError
from newsroom.events import PUBLISHED
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher, Projector
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.store import Recorded
from newsroom.store.memory import InMemoryEventStore
from tests.factories import FakeClock, article_fields
from tests.test_replay_property import categories, commands, ids

FEED_SIZE, PER_FILE = 2, 3
# Published articles moving between categories, too: a move leaves one feed and joins another.
moves = st.builds(lambda i, c: UpdateArticle(i, category=c), ids, categories)
histories = st.lists(st.one_of(commands, moves), max_size=30)


async def _log_of(history: list[Command]) -> list[Recorded]:
    store = InMemoryEventStore()
    handler = CommandHandler(store, Bus(store), FakeClock())
    for command in history:
        with contextlib.suppress(NewsroomError):  # a refused command leaves no event
            await handler.handle(command)
    return await store.read_all(after=0, limit=10_000)


def _feed_items(articles: ArticlesProjection, feed: str | None) -> list[tuple[int, int]]:
    return [(view.id, view.version) for view in articles.latest(PUBLISHED, feed, FEED_SIZE)]


def _files(articles: ArticlesProjection) -> list[list[tuple[int, int]]]:
    """Each article sitemap file's articles and versions (the home page first in file 1)."""
    urls: list[tuple[int, int]] = [(0, 0)]  # the home page
    for _, article_id in articles.keys(PUBLISHED):
        view = articles.get(article_id)
        assert view is not None
        urls.append((view.id, view.version))
    return [urls[start : start + PER_FILE] for start in range(0, len(urls), PER_FILE)]


def _created(count: int) -> list[Command]:
    return [CreateArticle(**article_fields(title=f"No. {n}")) for n in range(count)]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
# The edges, whatever the draw: an edit of the newest article just outside a feed (the third
# newest, with two per feed), of the first article of the second sitemap file, ...
@example([*_created(3), UpdateArticle(1, title="Edited")])
@example([*_created(3), UpdateArticle(2, title="Edited")])  # ... and of the last one inside it
@example([*_created(5), UpdateArticle(3, title="Edited")])
# ... and an edit in a file that came to be after an earlier edit (the view keeps the files'
# boundaries between edits).
@example(
    [*_created(1), UpdateArticle(1, title="Edited"), *_created(5), UpdateArticle(6, title="Edited")]
)
def test_stamps_are_the_last_events_that_changed_each_feed_and_file(
    history: list[Command],
) -> None:
    """After each event, every feed's stamp is the last event that changed its items (or made
    it), and every article sitemap file's the last that changed its articles (or made it).
    (The fake clock only moves forward, so articles are always published newest last: a key
    that sorts into the middle of a list is left to the views' own tests.)"""
    articles = ArticlesProjection()
    feeds = FeedsProjection(articles, size=FEED_SIZE)
    sitemaps = SitemapsProjection(articles, per_file=PER_FILE)
    dispatcher = Dispatcher(
        [Projector(articles), Projector(feeds), Projector(sitemaps)],
        subscribe=None,  # type: ignore[arg-type]  # fed by hand, one event at a time
    )
    feed_changed: dict[str | None, int] = {None: 0}  # the all-news feed exists from the start
    file_changed = [0]  # file 1 exists from the start, with the home page
    for recorded in asyncio.run(_log_of(history)):
        known = {None, *feed_changed, *articles.categories()}
        items_before = {feed: _feed_items(articles, feed) for feed in known}
        files_before = _files(articles)
        dispatcher.dispatch([recorded])
        known |= set(articles.categories())  # a feed is there from its category's first event
        for feed in known:
            if feed not in feed_changed or _feed_items(articles, feed) != items_before.get(feed):
                feed_changed[feed] = recorded.position
        files_after = _files(articles)
        del file_changed[len(files_after) :]
        for number, listed in enumerate(files_after):
            if number >= len(file_changed):
                file_changed.append(recorded.position)  # a new file
            elif number >= len(files_before) or listed != files_before[number]:
                file_changed[number] = recorded.position
        held = {feed: stamp.position for feed in known if (stamp := feeds.changed(feed))}
        assert held == feed_changed, recorded
        assert [stamp.position for stamp in sitemaps.article_files()] == file_changed, recorded
