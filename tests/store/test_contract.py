"""The event store contract: one suite that every `EventStore` adapter must pass.

To add an adapter, add a factory to `FACTORIES`: an async context manager that yields a fresh
store, and a way to reopen it on the same data (for durability and idempotency after restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path

import pytest

from newsroom.errors import ConcurrencyError, IdempotencyKeyReused, StoreError
from newsroom.store import EventStore
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import article_created, published, updated

Reopen = Callable[[], Awaitable[EventStore]]


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[EventStore, Reopen]]:
    path = tmp_path / "contract.db"
    opened: list[EventStore] = [await SQLiteEventStore.open(path)]

    async def reopen() -> EventStore:
        await opened[-1].close()
        opened.append(await SQLiteEventStore.open(path))
        return opened[-1]

    try:
        yield opened[0], reopen
    finally:
        await opened[-1].close()


FACTORIES = {"sqlite": sqlite_store}


@pytest.fixture(params=sorted(FACTORIES))
async def subject(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[EventStore, Reopen]]:
    async with FACTORIES[request.param](tmp_path) as pair:
        yield pair


async def test_append_to_a_new_stream(subject: tuple[EventStore, Reopen]) -> None:
    """A first append at expected version 0 gives versions 1..n and positions from 1."""
    store, _ = subject
    result = await store.append("article-1", [article_created(1), updated(1, title="B")], 0)
    assert (result.version, result.first_position, result.last_position) == (2, 1, 2)
    assert [(r.position, r.version, r.type) for r in result.records] == [
        (1, 1, "ArticleCreated"),
        (2, 2, "ArticleUpdated"),
    ]
    assert await store.head() == 2


async def test_positions_are_global_dense_and_in_commit_order(
    subject: tuple[EventStore, Reopen],
) -> None:
    """Positions run 1, 2, 3 across streams in the order appends committed."""
    store, _ = subject
    await store.append("article-1", [article_created(1)], 0)
    await store.append("article-2", [article_created(2)], 0)
    await store.append("article-1", [updated(1, title="B")], 1)
    log = await store.read_all(after=0, limit=100)
    assert [(r.position, r.stream, r.version) for r in log] == [
        (1, "article-1", 1),
        (2, "article-2", 1),
        (3, "article-1", 2),
    ]


async def test_wrong_expected_version_is_a_conflict_and_writes_nothing(
    subject: tuple[EventStore, Reopen],
) -> None:
    """Appending at a stale version raises ConcurrencyError and leaves the log as it was."""
    store, _ = subject
    await store.append("article-1", [article_created(1)], 0)
    with pytest.raises(
        ConcurrencyError, match="article-1 is at version 1, not at the expected version 0"
    ):
        await store.append("article-1", [article_created(1)], 0)
    with pytest.raises(ConcurrencyError):
        await store.append("article-1", [updated(1, title="B")], 5)
    assert await store.head() == 1


async def test_read_stream_and_read_all_pages(subject: tuple[EventStore, Reopen]) -> None:
    """read_stream returns one stream in version order; read_all pages by position."""
    store, _ = subject
    for n in range(1, 6):
        await store.append(f"article-{n}", [article_created(n)], 0)
    await store.append("article-3", [updated(3, title="C")], 1)
    assert [r.version for r in await store.read_stream("article-3")] == [1, 2]
    assert await store.read_stream("article-99") == []
    page = await store.read_all(after=2, limit=3)
    assert [r.position for r in page] == [3, 4, 5]
    assert await store.read_all(after=6, limit=10) == []


async def test_records_round_trip_events_and_envelope(subject: tuple[EventStore, Reopen]) -> None:
    """What is read back equals what was appended, with UTC time, event id and metadata."""
    store, _ = subject
    event = article_created(1, title="Émoji 🗞️ and <xml> & ]]>")
    written = await store.append("article-1", [event], 0, metadata={"actor": "ed"})
    (read,) = await store.read_all(after=0, limit=10)
    assert read == written.records[0]
    assert read.event == event
    assert read.recorded_at.tzinfo == UTC
    assert read.metadata == {"actor": "ed"}
    assert len(read.event_id) == 36


async def test_idempotency_key_returns_the_first_result(subject: tuple[EventStore, Reopen]) -> None:
    """A repeated key with the same fingerprint appends nothing and returns the first result."""
    store, _ = subject
    first = await store.append(
        "article-1", [article_created(1)], 0, idempotency_key="k1", fingerprint="f"
    )
    again = await store.append(
        "article-1", [article_created(1)], 0, idempotency_key="k1", fingerprint="f"
    )
    assert again.replayed and not first.replayed
    assert (again.version, again.first_position, again.last_position) == (1, 1, 1)
    assert await store.head() == 1
    found = await store.find_idempotent("k1")
    assert found is not None and found[0] == "f"


async def test_idempotency_key_with_another_command_is_an_error(
    subject: tuple[EventStore, Reopen],
) -> None:
    """The same key with a different fingerprint is refused, not replayed."""
    store, _ = subject
    await store.append("article-1", [article_created(1)], 0, idempotency_key="k1", fingerprint="f")
    with pytest.raises(IdempotencyKeyReused, match="'k1'"):
        await store.append(
            "article-2", [article_created(2)], 0, idempotency_key="k1", fingerprint="g"
        )
    assert await store.head() == 1


async def test_appends_and_keys_survive_a_reopen(subject: tuple[EventStore, Reopen]) -> None:
    """After closing and reopening, events and idempotency keys are still there."""
    store, reopen = subject
    await store.append("article-1", [article_created(1)], 0, idempotency_key="k1", fingerprint="f")
    store = await reopen()
    assert [r.type for r in await store.read_all(after=0, limit=10)] == ["ArticleCreated"]
    again = await store.append(
        "article-1", [article_created(1)], 0, idempotency_key="k1", fingerprint="f"
    )
    assert again.replayed
    assert await store.head() == 1
    await store.append("article-1", [published(1)], 1)
    assert await store.head() == 2


async def test_fifty_concurrent_appends_at_one_version_one_wins(
    subject: tuple[EventStore, Reopen],
) -> None:
    """Of 50 concurrent appends expecting the same version, exactly one succeeds."""
    store, _ = subject
    await store.append("article-1", [article_created(1)], 0)
    results = await asyncio.gather(
        *[store.append("article-1", [updated(1, title=f"T{n}")], 1) for n in range(50)],
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 49
    assert [r.version for r in await store.read_stream("article-1")] == [1, 2]


async def test_max_stream_number(subject: tuple[EventStore, Reopen]) -> None:
    """The highest N among streams named prefix+N, 0 when there is none."""
    store, _ = subject
    assert await store.max_stream_number("article-") == 0
    await store.append("article-9", [article_created(9)], 0)
    await store.append("article-12", [article_created(12)], 0)
    await store.append("other-500", [article_created(1)], 0)
    assert await store.max_stream_number("article-") == 12


async def test_bad_arguments_and_closed_store(subject: tuple[EventStore, Reopen]) -> None:
    """Empty appends and negative versions are refused; a closed store raises StoreError."""
    store, _ = subject
    with pytest.raises(ValueError, match="at least one event"):
        await store.append("article-1", [], 0)
    with pytest.raises(ValueError, match="expected_version"):
        await store.append("article-1", [article_created(1)], -1)
    assert store.alive
    await store.close()
    assert not store.alive
    with pytest.raises(StoreError, match="closed"):
        await store.append("article-1", [article_created(1)], 0)
    with pytest.raises(StoreError, match="closed"):
        await store.read_all(after=0, limit=1)
