"""Projections fed with event lists: the articles read model, and the runner that isolates failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from newsroom.errors import ProjectionFailed, ViewTimeout
from newsroom.events import UnknownEvent
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher, Projector
from newsroom.projections.feeds import FeedsProjection
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


class _Exploding(ArticlesProjection):
    name = "exploding"

    def apply(self, recorded: Recorded) -> None:
        if recorded.position == 3:
            raise RuntimeError("bug in this projection")
        super().apply(recorded)


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
    articles = _Exploding()
    upstream = Projector(articles)
    feeds = Projector(FeedsProjection(articles), reads=upstream)
    dispatcher = Dispatcher([upstream, feeds], _feed(log))  # type: ignore[arg-type]
    await asyncio.wait_for(dispatcher.run(), timeout=5)  # returns: nothing is left running
    assert feeds.failure is not None
    assert (feeds.position, feeds.failure.position) == (2, 3)
    assert "reads the exploding view" in feeds.failure.error


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
