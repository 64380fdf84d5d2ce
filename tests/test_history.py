"""The log as readers see it: pages, one article's events, past versions, following live."""

from __future__ import annotations

import dataclasses

import pytest

from newsroom.articles import Status, UpdateArticle
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import Busy, ValidationError
from newsroom.gates import Gate, Pace
from newsroom.history import REPLAY_PAGE, History
from newsroom.store import Recorded
from newsroom.store.memory import InMemoryEventStore
from tests.factories import article_created, create_article


@pytest.fixture
def history(store: InMemoryEventStore, bus: Bus) -> History:
    return History(
        store, bus, reads=Gate("reads", 2, 0), replays=Gate("replays", 1, 0), pace=Pace(10**9)
    )


async def test_pages_of_the_log_follow_positions(handler: CommandHandler, history: History) -> None:
    """`events` pages by position, and by stream when one is named."""
    for n in range(3):
        await handler.handle(create_article(title=f"Story {n}"))
    assert [e.position for e in await history.events(after=1, count=5)] == [2, 3]
    assert [e.stream for e in await history.events(0, 5, stream="article-2")] == ["article-2"]
    assert await history.head() == 3


async def test_an_article_at_each_of_its_versions(
    handler: CommandHandler, history: History
) -> None:
    """Time travel folds the stream up to the version asked for; other versions are None."""
    created = await handler.handle(create_article(title="First"))
    await handler.handle(UpdateArticle(created.article_id, title="Second"))
    first = await history.article_at(created.article_id, 1)
    second = await history.article_at(created.article_id, 2)
    assert first is not None and (first.title, first.status) == ("First", Status.PUBLISHED)
    assert second is not None and second.title == "Second"
    assert await history.article_at(created.article_id, 3) is None
    assert await history.article_at(99, 1) is None


async def test_an_unknown_event_in_the_past_is_a_clear_error(
    store: InMemoryEventStore, history: History
) -> None:
    """A stream holding an event this code cannot read is refused by name, not folded wrongly."""
    await store.append("article-1", [article_created(1)], 0)
    # as if a newer newsroom had written it: the adapter's own row, with another type name
    store._log[0] = dataclasses.replace(store._log[0], type_name="ArticleRenamed")
    with pytest.raises(ValidationError, match="ArticleRenamed"):
        await history.article_at(1, 1)


async def test_following_yields_the_backlog_then_live_events(
    handler: CommandHandler, history: History
) -> None:
    """`follow(after)` starts after the given position and goes on with new events."""
    await handler.handle(create_article(title="Old"))
    await handler.handle(create_article(title="Older news"))
    batches = history.follow(after=1)
    assert [e.position for e in await anext(batches)] == [2]
    await handler.handle(create_article(title="New"))
    assert [e.position for e in await anext(batches)] == [3]
    await batches.aclose()


async def test_a_replay_holds_a_turn_until_it_reaches_the_head(
    store: InMemoryEventStore, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower behind the head takes a replay turn, reads the log in small pages and hands
    it on one event at a time, and gives the turn back once it has caught up; a second replay
    meanwhile is told the server is busy."""
    head = REPLAY_PAGE * 2 + 1
    for n in range(1, head + 1):
        await store.append(f"article-{n}", [article_created(n)], 0)
    limits: list[int] = []
    read_all = store.read_all

    async def counted(after: int, limit: int) -> list[Recorded]:
        limits.append(limit)
        return await read_all(after, limit)

    monkeypatch.setattr(store, "read_all", counted)
    replay = history.follow(after=0)
    assert [e.position for e in await anext(replay)] == [1]
    with pytest.raises(Busy, match="replays"):
        await anext(history.follow(after=0))
    positions = [1]
    while positions[-1] < head:
        assert history.replays.held == 1
        positions += [e.position for e in await anext(replay)]
    assert positions == list(range(1, head + 1))
    assert history.replays.held == 0
    assert set(limits) == {REPLAY_PAGE}
    again = history.follow(after=0)  # the turn is free again
    assert [e.position for e in await anext(again)] == [1]
    await again.aclose()
    await replay.aclose()


async def test_a_replay_closed_early_gives_its_turn_back(
    store: InMemoryEventStore, history: History
) -> None:
    """A subscriber that leaves in the middle of its replay frees the turn for the next one."""
    for n in range(1, REPLAY_PAGE + 2):
        await store.append(f"article-{n}", [article_created(n)], 0)
    replay = history.follow(after=0)
    await anext(replay)
    await replay.aclose()
    assert history.replays.held == 0


async def test_reads_of_the_log_are_limited_at_once(
    store: InMemoryEventStore, history: History
) -> None:
    """With every read turn taken, one more read of the log is told the server is busy."""
    await store.append("article-1", [article_created(1)], 0)
    await history.reads.acquire()
    await history.reads.acquire()
    with pytest.raises(Busy, match="reads"):
        await history.events(after=0, count=10)
    history.reads.release()
    assert [e.position for e in await history.events(after=0, count=10)] == [1]
