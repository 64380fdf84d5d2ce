"""The log as readers see it: pages, one article's events, past versions, following live."""

from __future__ import annotations

import dataclasses

import pytest

from newsroom.articles import Status, UpdateArticle
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import ValidationError
from newsroom.history import History
from newsroom.store.memory import InMemoryEventStore
from tests.factories import article_created, create_article


@pytest.fixture
def history(store: InMemoryEventStore, bus: Bus) -> History:
    return History(store, bus)


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
    await batches.aclose()  # type: ignore[attr-defined]
