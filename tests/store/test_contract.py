"""The event store contract: one suite that every `EventStore` adapter must pass.

The `store` fixture here is each adapter in turn (memory, sqlite, postgres). Promises about a
restart only mean something for an adapter whose log outlives the store object, so those tests
take `reopen` instead, which runs on the `DURABLE` adapters only. To add an adapter, add an opener
to `ADAPTERS` (and to `DURABLE` if opening the same folder again finds its log). A test's folder
stands for its log: for PostgreSQL it holds the URL of a fresh database on the test server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from pathlib import Path

import pytest

from newsroom.errors import ConcurrencyError, IdempotencyKeyReused, StoreError
from newsroom.store import EventStore
from newsroom.store.memory import InMemoryEventStore
from newsroom.store.postgres import PostgresEventStore
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import article_created, published, updated
from tests.postgres import Databases


async def _open_memory(folder: Path) -> EventStore:
    return InMemoryEventStore()  # keeps nothing in `folder`, so it never finds an earlier log


async def _open_sqlite(folder: Path) -> EventStore:
    return await SQLiteEventStore.open(folder / "contract.db")


async def _open_postgres(folder: Path) -> EventStore:
    return await PostgresEventStore.open((folder / "postgres.url").read_text())


# adapter name -> how to open its store on the data kept in a folder
ADAPTERS: dict[str, Callable[[Path], Awaitable[EventStore]]] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "postgres": _open_postgres,
}
DURABLE = ["sqlite", "postgres"]


def _prepare(adapter: str, folder: Path, request: pytest.FixtureRequest) -> None:
    """Give a PostgreSQL test its own empty database (the server is shared by the session)."""
    if adapter == "postgres":
        databases: Databases = request.getfixturevalue("postgres_databases")
        (folder / "postgres.url").write_text(databases.new())


Reopen = Callable[[], Awaitable[EventStore]]


@pytest.fixture(params=sorted(ADAPTERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    _prepare(request.param, tmp_path, request)
    store = await ADAPTERS[request.param](tmp_path)
    yield store
    await store.close()


@pytest.fixture(params=DURABLE)
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    """Close the store opened last (if any) and open the adapter again on the same data."""
    _prepare(request.param, tmp_path, request)
    opened: list[EventStore] = []

    async def reopen() -> EventStore:
        if opened:
            await opened[-1].close()
        opened.append(await ADAPTERS[request.param](tmp_path))
        return opened[-1]

    yield reopen
    if opened:
        await opened[-1].close()


async def test_append_to_a_new_stream(store: EventStore) -> None:
    """A first append at expected version 0 gives versions 1..n and positions from 1."""
    result = await store.append("article-1", [article_created(1), updated(1, title="B")], 0)
    assert (result.version, result.first_position, result.last_position) == (2, 1, 2)
    assert [(r.position, r.version, r.type) for r in result.records] == [
        (1, 1, "ArticleCreated"),
        (2, 2, "ArticleUpdated"),
    ]
    assert await store.head() == 2


async def test_positions_are_global_dense_and_in_commit_order(
    store: EventStore,
) -> None:
    """Positions run 1, 2, 3 across streams in the order appends committed."""
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
    store: EventStore,
) -> None:
    """Appending at a stale version raises ConcurrencyError and leaves the log as it was."""
    await store.append("article-1", [article_created(1)], 0)
    with pytest.raises(
        ConcurrencyError, match="article-1 is at version 1, not at the expected version 0"
    ):
        await store.append("article-1", [article_created(1)], 0)
    with pytest.raises(ConcurrencyError):
        await store.append("article-1", [updated(1, title="B")], 5)
    assert await store.head() == 1


async def test_read_stream_and_read_all_pages(store: EventStore) -> None:
    """read_stream returns one stream in version order; read_all pages by position."""
    for n in range(1, 6):
        await store.append(f"article-{n}", [article_created(n)], 0)
    await store.append("article-3", [updated(3, title="C")], 1)
    assert [r.version for r in await store.read_stream("article-3")] == [1, 2]
    assert await store.read_stream("article-99") == []
    page = await store.read_all(after=2, limit=3)
    assert [r.position for r in page] == [3, 4, 5]
    assert await store.read_all(after=6, limit=10) == []


async def test_records_round_trip_events_and_envelope(store: EventStore) -> None:
    """What is read back equals what was appended, with UTC time, event id and metadata."""
    event = article_created(1, title="Émoji 🗞️ and <xml> & ]]>")
    written = await store.append("article-1", [event], 0, metadata={"actor": "ed"})
    (read,) = await store.read_all(after=0, limit=10)
    assert read == written.records[0]
    assert read.event == event
    assert read.recorded_at.tzinfo == UTC
    assert read.metadata == {"actor": "ed"}
    assert len(read.event_id) == 36


async def test_idempotency_key_returns_the_first_result(store: EventStore) -> None:
    """A repeated key with the same fingerprint appends nothing and returns the first result."""
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
    store: EventStore,
) -> None:
    """The same key with a different fingerprint is refused, not replayed."""
    await store.append("article-1", [article_created(1)], 0, idempotency_key="k1", fingerprint="f")
    with pytest.raises(IdempotencyKeyReused, match="'k1'"):
        await store.append(
            "article-2", [article_created(2)], 0, idempotency_key="k1", fingerprint="g"
        )
    assert await store.head() == 1


async def test_appends_and_keys_survive_a_reopen(reopen: Reopen) -> None:
    """After closing and reopening, events and idempotency keys are still there."""
    store = await reopen()
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
    store: EventStore,
) -> None:
    """Of 50 concurrent appends expecting the same version, exactly one succeeds."""
    await store.append("article-1", [article_created(1)], 0)
    results = await asyncio.gather(
        *[store.append("article-1", [updated(1, title=f"T{n}")], 1) for n in range(50)],
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 49
    assert [r.version for r in await store.read_stream("article-1")] == [1, 2]


async def test_max_stream_number(store: EventStore) -> None:
    """The highest N among streams named prefix+N, 0 when there is none."""
    assert await store.max_stream_number("article-") == 0
    await store.append("article-9", [article_created(9)], 0)
    await store.append("article-12", [article_created(12)], 0)
    await store.append("other-500", [article_created(1)], 0)
    assert await store.max_stream_number("article-") == 12


async def test_bad_arguments_and_closed_store(store: EventStore) -> None:
    """Empty appends and negative versions are refused; a closed store raises StoreError."""
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


async def test_metadata_is_copied_and_carries_the_idempotency_key(store: EventStore) -> None:
    """The log keeps its own copy of the metadata, with the idempotency key added to it."""
    metadata = {"actor": "ed"}
    await store.append(
        "article-1", [article_created(1)], 0, idempotency_key="k1", metadata=metadata
    )
    metadata["actor"] = "someone else"
    (read,) = await store.read_all(after=0, limit=10)
    assert read.metadata == {"actor": "ed", "idempotency_key": "k1"}


async def test_an_event_the_codec_cannot_encode_is_refused(store: EventStore) -> None:
    """An event whose JSON cannot be written (a lone surrogate) is refused and nothing is stored."""
    with pytest.raises(TypeError, match="surrogates"):
        await store.append("article-1", [article_created(1, title="half \udc00 a pair")], 0)
    assert await store.head() == 0
    assert await store.read_stream("article-1") == []


async def test_close_finishes_an_append_already_submitted(store: EventStore) -> None:
    """An append submitted before close has landed by the time close returns."""

    async def close_then_look() -> int:
        await store.close()
        return await store.head()

    written, head_after_close = await asyncio.gather(
        store.append("article-1", [article_created(1)], 0), close_then_look()
    )
    assert written.last_position == head_after_close == 1
    assert not store.alive
