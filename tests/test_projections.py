"""Projections fed with event lists: the articles read model, and the dispatcher that orders the
views, hands each the changes of those it reads, and isolates failures."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest

from newsroom.errors import ProjectionFailed, ViewTimeout
from newsroom.events import Status, UnknownEvent
from newsroom.projections.articles import ArticlesProjection, Change, Placement
from newsroom.projections.base import Dispatcher, Projector
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.search import SearchProjection
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.projections.views import Views
from newsroom.store import Recorded
from tests.factories import (
    article_created,
    at,
    draft_created,
    published,
    recorded_log,
    retracted,
    updated,
)


def projection_of(*records: Recorded) -> ArticlesProjection:
    view = ArticlesProjection()
    for record in records:
        view.apply(record)
    return view


def ids(views: Sequence[object]) -> list[int]:
    return [v.id for v in views]  # type: ignore[attr-defined]


def test_articles_by_id_in_any_status() -> None:
    """get() answers for drafts, published and retracted articles alike."""
    view = projection_of(
        *recorded_log(article_created(1), draft_created(2), article_created(3), retracted(3))
    )
    assert [(a.id, a.status) for a in map(view.get, [1, 2, 3]) if a] == [
        (1, "PUBLISHED"), (2, "DRAFT"), (3, "RETRACTED"),
    ]  # fmt: skip
    assert view.get(4) is None


def test_latest_is_newest_first_by_time_entering_the_status() -> None:
    """An old draft published late sorts by its publication time, not its creation time."""
    view = projection_of(
        *recorded_log(
            draft_created(1, at(0)),
            article_created(2, at(1)),
            article_created(3, at(2)),
            published(1, at(3)),
        )
    )
    assert ids(view.latest("PUBLISHED")) == [1, 3, 2]
    assert ids(view.latest("PUBLISHED", count=2)) == [1, 3]
    assert view.latest("DRAFT") == []


def test_latest_by_category() -> None:
    """A category filter returns only that category, still newest first."""
    view = projection_of(
        *recorded_log(
            article_created(1, at(0), category="business"),
            article_created(2, at(1), category="politics"),
            article_created(3, at(2), category="business"),
        )
    )
    assert ids(view.latest("PUBLISHED", "business")) == [3, 1]
    assert ids(view.latest("PUBLISHED", "politics")) == [2]
    assert view.latest("PUBLISHED", "sport") == []
    assert view.categories() == ["business", "politics"]


def test_retraction_leaves_every_published_list() -> None:
    """After a retraction the article is in no published list, only in the retracted ones."""
    view = projection_of(
        *recorded_log(article_created(1, at(0)), article_created(2, at(1)), retracted(1, at(2)))
    )
    assert ids(view.latest("PUBLISHED")) == [2]
    assert ids(view.latest("PUBLISHED", "business")) == [2]
    assert ids(view.latest("RETRACTED")) == [1]
    retraction = view.get(1)
    assert retraction is not None
    assert (retraction.retraction_reason, retraction.version) == ("Wrong facts", 2)


def test_update_changes_fields_and_moves_categories() -> None:
    """An update applies its changed fields; a category change moves the article between lists."""
    view = projection_of(
        *recorded_log(article_created(1, at(0)), updated(1, at(5), title="New", category="world"))
    )
    article = view.get(1)
    assert article is not None
    assert (article.title, article.category, article.body) == (
        "New", "world", "The central bank raised rates by a quarter point.",
    )  # fmt: skip
    assert (article.version, article.modified, article.published_at) == (2, at(5), at(0))
    assert ids(view.latest("PUBLISHED", "world")) == [1]
    assert view.latest("PUBLISHED", "business") == []


def test_unknown_events_are_ignored() -> None:
    """An event type the model does not know changes nothing."""
    (record,) = recorded_log(article_created(1))
    unknown = Recorded(2, "article-1", 2, "e", UnknownEvent("Syndicated", {}), record.recorded_at)
    view = projection_of(record, unknown)
    assert projection_of(record).fingerprint() == view.fingerprint()


def test_equal_histories_give_equal_fingerprints() -> None:
    """Two models fed the same events have the same fingerprint; a different one differs."""
    log = recorded_log(article_created(1), draft_created(2), published(2))
    assert projection_of(*log).fingerprint() == projection_of(*log).fingerprint()
    assert projection_of(*log[:2]).fingerprint() != projection_of(*log).fingerprint()


def test_apply_returns_what_the_event_did_to_its_article() -> None:
    """apply() returns the article's placement before and after the event, None if new, and
    returns None for an event that touches no article."""
    log = recorded_log(draft_created(1, at(0)), published(1, at(3)))
    view = ArticlesProjection()
    draft = Placement("business", Status.DRAFT, (at(0).timestamp(), 1))
    assert view.apply(log[0]) == Change(1, None, draft, at(0))
    live = Placement("business", Status.PUBLISHED, (at(3).timestamp(), 1))
    assert view.apply(log[1]) == Change(1, draft, live, at(3))
    unknown = Recorded(3, "x-1", 1, "e", UnknownEvent("Syndicated", {}), log[1].recorded_at)
    assert view.apply(unknown) is None


class _Exploding(ArticlesProjection):
    def __init__(self, name: str = "exploding") -> None:
        super().__init__()
        self.name = name

    def apply(self, recorded: Recorded) -> Change | None:
        if recorded.position == 3:
            raise RuntimeError("bug in this projection")
        return super().apply(recorded)


def _feed(records: list[Recorded]) -> object:
    async def subscribe(after: int) -> AsyncIterator[Sequence[Recorded]]:
        yield [r for r in records if r.position > after]
        await asyncio.Event().wait()  # then nothing more, forever

    return subscribe


async def test_a_failing_projection_stops_alone_and_says_where() -> None:
    """The projection that raises stops at the offending position; the other keeps going."""
    log = recorded_log(*[article_created(n) for n in range(1, 6)])
    failing, healthy = Projector(_Exploding()), Projector(ArticlesProjection())
    task = asyncio.create_task(Dispatcher([failing, healthy], _feed(log)).run())  # type: ignore[arg-type]
    await healthy.wait_for(5, timeout=5)
    assert failing.failure is not None
    assert (failing.position, failing.failure.position) == (2, 3)
    assert "bug in this projection" in failing.failure.error
    with pytest.raises(ProjectionFailed, match="exploding view stopped at position 3"):
        failing.check()
    with pytest.raises(ProjectionFailed):
        await failing.wait_for(5, timeout=1)
    task.cancel()


async def test_a_projection_that_reads_a_failed_one_stops_with_it() -> None:
    """Feeds read the articles view: when that stops, feeds stop at the same position."""
    log = recorded_log(*[article_created(n) for n in range(1, 6)])
    articles = _Exploding(name="articles")
    upstream, feeds = Projector(articles), Projector(FeedsProjection(articles))
    dispatcher = Dispatcher([upstream, feeds], _feed(log))  # type: ignore[arg-type]
    await asyncio.wait_for(dispatcher.run(), timeout=5)  # returns: nothing is left running
    assert feeds.failure is not None
    assert (feeds.position, feeds.failure.position) == (2, 3)
    assert "reads the articles view" in feeds.failure.error


async def test_wait_for_times_out_with_a_clear_error() -> None:
    """Waiting for a position the model never reaches ends in ViewTimeout naming both."""
    projector = Projector(ArticlesProjection())
    log = recorded_log(article_created(1))
    task = asyncio.create_task(Dispatcher([projector], _feed(log)).run())  # type: ignore[arg-type]
    await projector.wait_for(1, timeout=5)
    with pytest.raises(ViewTimeout, match="articles view is at position 1 and did not reach 2"):
        await projector.wait_for(2, timeout=0.05)
    task.cancel()


async def test_a_view_that_catches_up_as_the_deadline_passes_is_no_timeout() -> None:
    """When the view reaches the position in the same loop tick as the deadline, the wait ends
    normally (not with a ViewTimeout, nor with an error from the waiter bookkeeping)."""
    projector = Projector(ArticlesProjection())
    loop = asyncio.get_running_loop()

    def catch_up() -> None:
        projector.position = 1
        projector.wake()

    def busy_past_the_deadline() -> None:
        time.sleep(0.05)  # the loop is busy: the deadline's timer fires in catch_up's tick
        loop.call_soon(catch_up)

    loop.call_soon(busy_past_the_deadline)
    await projector.wait_for(1, timeout=0.01)


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    """A request that stops waiting (its client went away) takes its waiter with it, however far
    ahead the position it asked for."""
    projector = Projector(ArticlesProjection())
    task = asyncio.current_task()
    assert task is not None
    waiters_when_cancelled = []

    def client_goes_away() -> None:
        waiters_when_cancelled.append(len(projector._waiters))
        task.cancel()

    asyncio.get_running_loop().call_soon(client_goes_away)
    with pytest.raises(asyncio.CancelledError):
        await projector.wait_for(10**9, timeout=None)
    task.uncancel()
    assert waiters_when_cancelled == [1]
    assert projector._waiters == []


async def test_many_waits_giving_up_together_rebuild_the_queue_rarely(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 reads timing out on a far position leave no waiter behind, and rebuilding the waiting
    queue touches a number of entries linear in the waiters (removing each in turn, as before,
    was quadratic: about 2,000,000 entries here)."""
    projector = Projector(ArticlesProjection())
    rebuilds = []
    monkeypatch.setattr(heapq, "heapify", lambda heap: rebuilds.append(len(heap)) or None)
    waits = [projector.wait_for(10**9, timeout=0.01) for _ in range(2_000)]
    results = await asyncio.gather(*waits, return_exceptions=True)
    assert all(isinstance(r, ViewTimeout) for r in results)
    assert projector._waiters == []
    assert sum(rebuilds) <= 3 * 2_000, rebuilds


# --- views that read views -----------------------------------------------------------------------


@dataclass
class _View:
    """A view that reads the views named in `reads`, and notes every change it is handed."""

    name: str
    reads: tuple[str, ...] = ()
    explodes_at: int | None = None
    handed: list[tuple[object, ...]] = field(default_factory=list)

    def apply(self, recorded: Recorded, *changes: object) -> str:
        if recorded.position == self.explodes_at:
            raise RuntimeError(f"bug in {self.name}")
        self.handed.append(changes)
        return f"{self.name}@{recorded.position}"

    def fingerprint(self) -> str:
        return repr(self.handed)


def _dispatched(*views: _View) -> Dispatcher:
    return Dispatcher([Projector(v) for v in views], subscribe=None)  # type: ignore[arg-type]


def test_the_dispatcher_orders_views_after_the_views_they_read() -> None:
    """Whatever order the views come in, each is dispatched after every view it reads."""
    views = [_View("c", reads=("b", "a")), _View("b", reads=("a",)), _View("a")]
    assert [p.name for p in _dispatched(*views).projectors] == ["a", "b", "c"]


def test_a_view_is_handed_the_changes_of_the_views_it_reads_in_order() -> None:
    """apply() gets the event, then what it did to each view in `reads`, in that order."""
    a, b, c = _View("a"), _View("b", reads=("a",)), _View("c", reads=("b", "a"))
    _dispatched(c, b, a).dispatch(recorded_log(article_created(1), article_created(2)))
    assert a.handed == [(), ()]
    assert b.handed == [("a@1",), ("a@2",)]
    assert c.handed == [("b@1", "a@1"), ("b@2", "a@2")]


@pytest.mark.parametrize(
    ("views", "refusal"),
    [
        (
            [_View("a", reads=("b",)), _View("b", reads=("a",))],
            "first: (a reads b reads a|b reads a reads b)",
        ),
        ([_View("a", reads=("a",))], "first: a reads a$"),
        (
            [_View("feeds", reads=("articles",))],
            "the feeds view reads the articles view, which is not",
        ),
        ([_View("a"), _View("a")], "two views are named 'a'"),
    ],
)
def test_views_that_cannot_be_ordered_are_refused_at_construction(
    views: list[_View], refusal: str
) -> None:
    """A cycle, a view read but not dispatched, or two views of one name stop the dispatcher
    from being built, with a message that names the views."""
    with pytest.raises(ValueError, match=refusal):
        _dispatched(*views)


def test_a_failure_stops_every_view_that_reads_it_however_indirectly() -> None:
    """A view reading a view that reads the failed one stops too; a view beside them runs on."""
    a, b = _View("a", explodes_at=2), _View("b", reads=("a",))
    c, d = _View("c", reads=("b",)), _View("d")
    dispatcher = _dispatched(a, b, c, d)
    assert dispatcher.dispatch(recorded_log(*[article_created(n) for n in range(1, 4)]))
    failed = {p.name: p.failure.position for p in dispatcher.projectors if p.failure}
    assert failed == {"a": 2, "b": 2, "c": 2}
    assert (c.handed, d.handed) == ([("b@1",)], [(), (), ()])


def _views(articles: ArticlesProjection) -> Views:
    return Views(
        articles,
        FeedsProjection(articles),
        SitemapsProjection(articles),
        SearchProjection(articles, Fts5Index()),
    )


def test_views_hands_out_each_healthy_view_in_dispatch_order() -> None:
    """The accessor holds the projectors articles first and hands out each view while healthy."""
    articles = ArticlesProjection()
    views = _views(articles)
    Dispatcher(views.projectors, subscribe=None).dispatch(recorded_log(article_created(1)))  # type: ignore[arg-type]
    assert [p.name for p in views.projectors] == ["articles", "feeds", "sitemaps", "search"]
    assert views.articles is articles and views.position == 1
    assert [a.id for a in views.articles.latest(Status.PUBLISHED)] == [1]
    assert views.feeds.feed(None) is not None and views.search.index.fingerprint()
    assert views.sitemaps.article_file(1) is not None


def test_views_refuses_a_view_that_stopped_and_those_that_read_it() -> None:
    """Once the articles view failed, asking for it, or for any view reading it, raises
    ProjectionFailed naming where it stopped."""
    views = _views(_Exploding(name="articles"))
    dispatcher = Dispatcher(views.projectors, subscribe=None)  # type: ignore[arg-type]
    dispatcher.dispatch(recorded_log(*[article_created(n) for n in range(1, 4)]))
    with pytest.raises(ProjectionFailed, match="articles view stopped at position 3"):
        views.articles  # noqa: B018 (the property access is the check)
    for name in ("feeds", "sitemaps", "search"):
        with pytest.raises(ProjectionFailed, match=f"the {name} view stopped at position 3"):
            getattr(views, name)


@pytest.mark.parametrize("during", [0, 1, 5, 20], ids=lambda n: f"after {n} steps")
def test_a_snapshot_copied_in_steps_holds_the_lists_as_they_are_when_it_is_taken(
    monkeypatch: pytest.MonkeyPatch, during: int
) -> None:
    """A checkpoint copies the lists a key at a time here, then takes only their new ends at
    the snapshot; an event that moves an article into the middle of a list, or takes one out,
    while or after its list is copied, makes the snapshot copy that list whole."""
    monkeypatch.setattr("newsroom.projections.articles.LIST_STEP", 1)
    log = recorded_log(
        article_created(1, at(1), category="world"),
        article_created(2, at(2), category="world"),
        article_created(3, at(3), category="world"),
        article_created(4, at(4), category="sport"),
        updated(1, at(5), category="sport"),  # into sport's list, before article 4
        retracted(3, at(6)),  # out of world's and the all-news list
        article_created(5, at(7), category="world"),  # onto the end of them
    )
    view = projection_of(*log[:4])
    steps = view.copy_in_steps(0)
    for _ in range(during):
        next(steps, None)
    for record in log[4:]:
        view.apply(record)
        next(steps, None)
    for _ in steps:
        pass
    assert view.snapshot().lists == projection_of(*log).snapshot().lists
