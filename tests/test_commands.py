"""The command handler on the in-memory store: ids, conflicts, retries, idempotency, publishing.

One test reopens a SQLite file: idempotency across a restart needs a log that outlives the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from newsroom.articles import PublishArticle, RetractArticle, UpdateArticle
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import (
    AlreadyExists,
    CodecError,
    ConcurrencyError,
    IdempotencyKeyReused,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from newsroom.store.memory import InMemoryEventStore
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import FakeClock, article_created, create_article, create_draft


async def test_server_assigns_increasing_ids(handler: CommandHandler) -> None:
    """Creates without an id get 1, 2, 3; the outcome names the event and position."""
    outcomes = [await handler.handle(create_article()) for _ in range(3)]
    assert [(o.article_id, o.version, o.position) for o in outcomes] == [
        (1, 1, 1), (2, 1, 2), (3, 1, 3),
    ]  # fmt: skip
    assert outcomes[0].event_names == ("ArticleCreated",)


async def test_assigned_ids_skip_ids_callers_chose(handler: CommandHandler) -> None:
    """After a caller creates article 10, the server's next id is 11."""
    await handler.handle(create_article(article_id=10))
    assert (await handler.handle(create_draft())).article_id == 11


async def test_concurrent_creates_get_distinct_ids(handler: CommandHandler) -> None:
    """Twenty concurrent creates without ids get twenty different ids."""
    outcomes = await asyncio.gather(*[handler.handle(create_article()) for _ in range(20)])
    assert sorted(o.article_id for o in outcomes) == list(range(1, 21))


async def test_a_taken_id_is_a_clear_error(
    handler: CommandHandler, store: InMemoryEventStore
) -> None:
    """Creating with an id that exists is AlreadyExists, and nothing is appended."""
    await handler.handle(create_article(article_id=5))
    with pytest.raises(AlreadyExists, match="article 5 already exists"):
        await handler.handle(create_article(article_id=5, title="Another"))
    assert await store.head() == 1


async def test_fifty_updates_with_one_expected_version(
    handler: CommandHandler, store: InMemoryEventStore
) -> None:
    """50 concurrent updates expecting version 1: one succeeds, 49 conflict, the stream grows by one."""
    await handler.handle(create_article(article_id=1))
    results = await asyncio.gather(
        *[
            handler.handle(UpdateArticle(1, title=f"Title {n}"), expected_version=1)
            for n in range(50)
        ],
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 49
    assert [r.version for r in await store.read_stream("article-1")] == [1, 2]


async def test_without_expected_version_a_conflict_is_retried(
    handler: CommandHandler, store: InMemoryEventStore
) -> None:
    """Concurrent updates that name no version are retried and all land, one version each."""
    await handler.handle(create_article(article_id=1))
    await asyncio.gather(*[handler.handle(UpdateArticle(1, title=f"T{n}")) for n in range(3)])
    assert [r.version for r in await store.read_stream("article-1")] == [1, 2, 3, 4]


async def test_domain_errors_reach_the_caller(handler: CommandHandler) -> None:
    """Unknown articles and wrong transitions come back as the domain's errors."""
    with pytest.raises(NotFound):
        await handler.handle(PublishArticle(42))
    await handler.handle(create_article(article_id=1))
    await handler.handle(RetractArticle(1, "Wrong"))
    with pytest.raises(InvalidTransition, match="retraction is final"):
        await handler.handle(UpdateArticle(1, title="Back"))


async def test_idempotency_key_gives_the_first_result(
    handler: CommandHandler, store: InMemoryEventStore
) -> None:
    """The same command with the same key twice writes once and answers the same both times."""
    first = await handler.handle(create_article(), idempotency_key="k-1")
    again = await handler.handle(create_article(), idempotency_key="k-1")
    assert (again.article_id, again.position, again.version) == (
        first.article_id, first.position, first.version,
    )  # fmt: skip
    assert again.replayed and not first.replayed
    assert again.event_names == first.event_names == ("ArticleCreated",)
    assert await store.head() == 1


async def test_idempotency_key_with_another_command_is_refused(handler: CommandHandler) -> None:
    """Reusing a key for a different command is an error, not a silent replay."""
    await handler.handle(create_article(), idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused, match="k-1"):
        await handler.handle(create_article(title="Other"), idempotency_key="k-1")


@pytest.mark.parametrize("key", ["", "   ", "k" * 201, "line\nbreak"])
async def test_bad_idempotency_keys_are_refused(handler: CommandHandler, key: str) -> None:
    """Blank, over-long or multi-line keys are a validation error naming the key."""
    with pytest.raises(ValidationError, match="idempotency_key"):
        await handler.handle(create_article(), idempotency_key=key)


async def test_idempotency_survives_a_restart(tmp_path: Path) -> None:
    """After reopening the store, a repeated key still returns the first result."""
    path = tmp_path / "db"
    store = await SQLiteEventStore.open(path)
    first = await CommandHandler(store, Bus(store)).handle(create_article(), idempotency_key="k")
    await store.close()
    store = await SQLiteEventStore.open(path)
    again = await CommandHandler(store, Bus(store)).handle(create_article(), idempotency_key="k")
    assert (again.article_id, again.position, again.replayed) == (first.article_id, 1, True)
    assert await store.head() == 1
    await store.close()


async def test_handled_events_are_published(handler: CommandHandler, bus: Bus) -> None:
    """What the handler appends reaches bus subscribers with the same positions."""
    seen: list[int] = []

    async def listen() -> None:
        async for batch in bus.subscribe(after=0):
            seen.extend(r.position for r in batch)
            if seen[-1] >= 2:
                return

    listener = asyncio.create_task(listen())
    await handler.handle(create_draft())
    await handler.handle(PublishArticle(1))
    await asyncio.wait_for(listener, timeout=5)
    assert seen == [1, 2]


async def test_a_stream_with_unknown_events_is_not_changed(
    store: InMemoryEventStore, bus: Bus
) -> None:
    """An article whose stream holds an event type this version does not know is left alone."""
    await store.append("article-1", [article_created(1)], 0)
    # as a newer newsroom might have written it: a type name this version does not know
    store._log[0] = dataclasses.replace(store._log[0], type_name="ArticleSyndicated")
    with pytest.raises(
        CodecError, match="ArticleSyndicated event, which this newsroom does not know"
    ):
        await CommandHandler(store, bus, FakeClock()).handle(UpdateArticle(1, title="x"))
    assert await store.head() == 1
