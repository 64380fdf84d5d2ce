"""The feeds and sitemaps read models, fed with event lists through the real dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from newsroom.events import Event
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher, Projector, Stamp
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.store import Recorded
from tests.factories import (
    T0,
    article_created,
    at,
    draft_created,
    published,
    recorded_log,
    retracted,
    updated,
)


@dataclass
class Views:
    articles: ArticlesProjection
    feeds: FeedsProjection
    sitemaps: SitemapsProjection
    dispatcher: Dispatcher

    def apply(self, *records: Recorded) -> None:
        assert self.dispatcher.dispatch(records)


def views(*events: Event, feed_size: int = 3, per_file: int = 50_000) -> Views:
    """Articles, feeds and sitemaps, dispatched as newsroom does, after applying `events`."""
    articles = ArticlesProjection()
    feeds = FeedsProjection(articles, size=feed_size)
    sitemaps = SitemapsProjection(articles, per_file=per_file)
    dispatcher = Dispatcher(
        [Projector(articles), Projector(feeds), Projector(sitemaps)],
        subscribe=None,  # type: ignore[arg-type]  # fed by hand with dispatch()
    )
    result = Views(articles, feeds, sitemaps, dispatcher)
    result.apply(*recorded_log(*events))
    return result


def then(log: list[Recorded], *events: Event) -> list[Recorded]:
    """`log` followed by `events`, numbered as a log would number them."""
    return recorded_log(*[r.event for r in log], *events)[len(log) :]


def _created(article_id: int, category: str = "business") -> Event:
    return article_created(article_id, at(article_id), category=category)


# --- feeds --------------------------------------------------------------------------------------


def test_a_feed_lists_the_newest_published_articles_of_its_category() -> None:
    """Each feed holds its category's newest published articles, newest first; drafts stay out."""
    v = views(
        _created(1),
        _created(2, "politics"),
        draft_created(3, at(3)),
        _created(4),
        _created(5),
        _created(6),
        feed_size=3,
    )
    business = v.feeds.feed("business")
    everything = v.feeds.feed(None)
    assert business is not None and everything is not None
    assert [a.id for a in business.items] == [6, 5, 4]
    assert [a.id for a in everything.items] == [6, 5, 4]
    assert v.feeds.categories() == ["business", "politics"]
    assert v.feeds.feed("sport") is None


def test_an_edit_in_one_category_leaves_the_other_feeds_stamps_alone() -> None:
    """Updating a politics article moves the politics and all-news stamps, not business's."""
    v = views(_created(1), _created(2, "politics"))
    business_before = v.feeds.changed("business")
    log = recorded_log(_created(1), _created(2, "politics"))
    v.apply(*then(log, updated(2, at(10), title="New title")))
    assert v.feeds.changed("business") == business_before
    assert v.feeds.changed("politics") == Stamp(3, at(10))
    assert v.feeds.changed(None) == Stamp(3, at(10))


def test_an_edit_below_the_feeds_newest_items_does_not_change_the_feed() -> None:
    """An old article's edit changes no feed that no longer lists it (3 items per feed here)."""
    events = [_created(n) for n in range(1, 6)]
    v = views(*events, feed_size=3)
    before = v.feeds.changed("business")
    v.apply(*then(recorded_log(*events), updated(1, at(10), title="Old news, edited")))
    assert v.feeds.changed("business") == before


def test_a_retraction_and_a_move_change_the_feeds_they_leave_and_join() -> None:
    """Retracting a listed article and moving one between categories restamp exactly those."""
    events: list[Event] = [_created(1), _created(2, "politics"), _created(3, "sport")]
    v = views(*events)
    log = recorded_log(*events)
    more = then(log, retracted(1, at(10)), updated(2, at(11), category="business"))
    v.apply(*more)
    assert v.feeds.changed("business") == Stamp(5, at(11))  # lost 1 at 4, gained 2 at 5
    assert v.feeds.changed("politics") == Stamp(5, at(11))
    assert v.feeds.changed("sport") == Stamp(3, at(3))
    business = v.feeds.feed("business")
    assert business is not None and [a.id for a in business.items] == [2]


def test_a_category_has_a_feed_from_its_first_draft() -> None:
    """A category exists once any article used it, even a draft: its feed is empty but real."""
    v = views(draft_created(1, at(1), category="science"))
    feed = v.feeds.feed("science")
    assert feed is not None and feed.items == []


# --- article sitemaps ---------------------------------------------------------------------------


def test_article_sitemaps_split_at_the_file_limit_with_the_home_page_first() -> None:
    """Home + published articles, oldest first, in files of `per_file` URLs."""
    v = views(*[_created(n) for n in range(1, 6)], draft_created(6, at(6)), per_file=2)
    files = [v.sitemaps.article_file(n) for n in (1, 2, 3)]
    assert [(f.with_home, [a.id for a in f.items()]) for f in files if f] == [
        (True, [1]),
        (False, [2, 3]),
        (False, [4, 5]),
    ]
    assert v.sitemaps.article_file(4) is None
    assert v.sitemaps.article_file(0) is None


def test_a_sitemap_edit_restamps_only_its_file_and_a_removal_the_files_after() -> None:
    """Editing article 2 changes file 2 only; retracting it shifts (restamps) files 2 and 3."""
    events = [_created(n) for n in range(1, 6)]
    v = views(*events, per_file=2)
    before = v.sitemaps.article_files()
    log = recorded_log(*events)
    edit = then(log, updated(2, at(10), title="Edited"))
    v.apply(*edit)
    after_edit = v.sitemaps.article_files()
    assert after_edit[0] == before[0] and after_edit[2] == before[2]
    assert after_edit[1] == Stamp(6, at(10))
    v.apply(*then(log + edit, retracted(2, at(11))))
    after_retraction = v.sitemaps.article_files()
    assert after_retraction[0] == before[0]
    assert after_retraction[1:] == [Stamp(7, at(11))] * 2


def test_a_published_article_published_anew_moves_and_restamps_the_files_it_passed() -> None:
    """The domain never publishes a published article, but an imported log may: article 1,
    published again later, moves from file 1 to file 3, so every file changed; and an edit
    after it stamps the file the edited article is in now (with two URLs a file: home and 2,
    3 and 4, 5 and 1)."""
    events = [*[_created(n) for n in range(1, 6)], updated(3, at(10), title="Edited")]
    v = views(*events, per_file=2)  # the edit made the view work out the files' boundaries
    log = recorded_log(*events)
    moved = then(log, published(1, at(20)))
    v.apply(*moved)
    assert v.sitemaps.article_files() == [Stamp(7, at(20))] * 3
    v.apply(*then(log + moved, updated(2, at(21), title="Edited")))
    assert v.sitemaps.article_files() == [Stamp(8, at(21)), Stamp(7, at(20)), Stamp(7, at(20))]


def test_fifty_thousand_and_one_articles_make_two_files() -> None:
    """The sitemaps.org limit: 50,000 URLs per file, so home + 50,001 articles need two."""
    v = views(*[article_created(n, T0 + timedelta(seconds=n)) for n in range(1, 50_002)])
    first, second = v.sitemaps.article_file(1), v.sitemaps.article_file(2)
    assert first is not None and second is not None
    assert len(first.keys) + 1 == 50_000  # with the home page
    assert len(second.keys) == 2
    assert v.sitemaps.article_file(3) is None


# --- the news window -----------------------------------------------------------------------------


def test_the_news_window_lets_articles_go_at_48_hours_without_any_event() -> None:
    """Published 47 h ago: listed. At 49 h, with no new event: gone."""
    v = views(article_created(1, T0), article_created(2, T0 + timedelta(hours=10)))
    at_47h = [a.id for a in v.sitemaps.news_files(T0 + timedelta(hours=47))[0].items()]
    at_49h = v.sitemaps.news_files(T0 + timedelta(hours=49))
    assert at_47h == [2, 1]
    assert [a.id for a in at_49h[0].items()] == [2]
    assert at_49h[0].modified == T0 + timedelta(hours=48)  # when article 1 left
    assert at_49h[0].version != v.sitemaps.news_files(T0 + timedelta(hours=47))[0].version


def test_fifteen_hundred_news_articles_fill_two_files_newest_first() -> None:
    """1,500 articles in the window: 1,000 in the first file (newest), 500 in the second."""
    v = views(*[article_created(n, T0 + timedelta(seconds=n)) for n in range(1, 1_501)])
    files = v.sitemaps.news_files(T0 + timedelta(hours=1))
    assert [len(f.keys) for f in files] == [1_000, 500]
    assert files[0].items()[0].id == 1_500
    assert files[1].items()[-1].id == 1


def test_an_empty_news_window_still_has_a_first_file() -> None:
    """With nothing published lately, the news sitemap is one empty file (nothing to list)."""
    v = views(article_created(1, T0))
    files = v.sitemaps.news_files(T0 + timedelta(days=3))
    assert [f.keys for f in files] == [[]]


def test_a_feed_or_a_sitemap_file_too_small_to_list_anything_is_refused() -> None:
    """A feed lists at least one article, a sitemap file the home page and one more: smaller
    sizes would make the views' arithmetic (the feed's newest, the files' boundaries) wrong."""
    with pytest.raises(ValueError, match="at least one"):
        FeedsProjection(ArticlesProjection(), size=0)
    with pytest.raises(ValueError, match="at least 2"):
        SitemapsProjection(ArticlesProjection(), per_file=1)
