"""SQLite adapter specifics: durability settings, group commit, locking, and refusing damage."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from newsroom.errors import StoreCorrupted, StoreError
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import article_created


async def test_wal_and_full_sync_are_on(sqlite_store: SQLiteEventStore) -> None:
    """The log runs in WAL mode with synchronous=FULL, so an acknowledged COMMIT is on disk."""
    pragmas = await sqlite_store._call(
        lambda c: (
            c.execute("PRAGMA journal_mode").fetchone()[0],
            c.execute("PRAGMA synchronous").fetchone()[0],
        )
    )
    assert pragmas == ("wal", 2)


async def test_concurrent_appends_share_transactions(sqlite_store: SQLiteEventStore) -> None:
    """64 concurrent appends are written in far fewer than 64 transactions (group commit)."""
    before = sqlite_store.transactions
    await asyncio.gather(
        *[sqlite_store.append(f"article-{n}", [article_created(n)], 0) for n in range(1, 65)]
    )
    assert await sqlite_store.head() == 64
    assert sqlite_store.transactions - before < 8


async def test_a_failed_append_does_not_spoil_its_group(sqlite_store: SQLiteEventStore) -> None:
    """In one group commit, a conflicting append fails alone and the others are written."""
    await sqlite_store.append("article-1", [article_created(1)], 0)
    results = await asyncio.gather(
        sqlite_store.append("article-2", [article_created(2)], 0),
        sqlite_store.append("article-1", [article_created(1)], 0),
        sqlite_store.append("article-3", [article_created(3)], 0),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == [
        "AppendResult",
        "ConcurrencyError",
        "AppendResult",
    ]
    assert [r.stream for r in await sqlite_store.read_all(after=0, limit=10)] == [
        "article-1", "article-2", "article-3",
    ]  # fmt: skip


async def test_a_second_process_cannot_open_the_same_file(tmp_path: Path) -> None:
    """The file is locked while open, so two writers can never share one WAL."""
    first = await SQLiteEventStore.open(tmp_path / "db")
    try:
        with pytest.raises(StoreError, match="already in use"):
            await SQLiteEventStore.open(tmp_path / "db")
    finally:
        await first.close()
    second = await SQLiteEventStore.open(tmp_path / "db")
    await second.close()


async def _written_store(path: Path, articles: int = 300) -> None:
    store = await SQLiteEventStore.open(path)
    for n in range(1, articles + 1):
        await store.append(f"article-{n}", [article_created(n, body="x" * 400)], 0)
    await store.close()
    assert f"{path.name}-wal" not in os.listdir(path.parent)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zero_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"\0" * 100)


def _garbage_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    middle = (len(data) // page // 2) * page
    data[middle : middle + page] = os.urandom(page)
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2 + 100)


def _truncate_at_page(path: Path) -> None:
    page = int.from_bytes(path.read_bytes()[16:18], "big")
    with path.open("r+b") as f:
        f.truncate((path.stat().st_size // page // 2) * page)


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()


def _not_sqlite(path: Path) -> None:
    path.write_text("just some notes, not a database\n" * 100)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "zeroed header": _zero_header,
    "garbage page": _garbage_page,
    "truncated": _truncate,
    "truncated at a page boundary": _truncate_at_page,
    "foreign database": _foreign,
    "not an sqlite file": _not_sqlite,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
async def test_damaged_files_are_refused_untouched(tmp_path: Path, damage: str) -> None:
    """Opening or replaying a damaged file raises StoreCorrupted naming it; its bytes stay."""
    path = tmp_path / "newsroom.db"
    await _written_store(path)
    DAMAGE[damage](path)
    before = _sha(path)
    with pytest.raises(StoreCorrupted, match=str(path)):
        store = await SQLiteEventStore.open(path)
        try:  # some damage only shows when the events are read, as the start-up replay does
            after = 0
            while page := await store.read_all(after=after, limit=1000):
                after = page[-1].position
        finally:
            await store.close()
    assert _sha(path) == before


async def test_an_altered_payload_fails_its_checksum(tmp_path: Path) -> None:
    """Changing one event's stored JSON is caught by its checksum, with its position."""
    path = tmp_path / "newsroom.db"
    await _written_store(path, articles=5)
    with sqlite3.connect(path) as conn:
        changed = conn.execute(
            "UPDATE events SET data = replace(data, 'Rates', 'Rabbits') WHERE position = 3"
        ).rowcount
    conn.close()
    assert changed == 1
    before = _sha(path)
    store = await SQLiteEventStore.open(path)
    try:
        assert len(await store.read_all(after=0, limit=2)) == 2
        with pytest.raises(StoreCorrupted, match="position 3 fails its checksum"):
            await store.read_all(after=0, limit=10)
    finally:
        await store.close()
    assert _sha(path) == before


async def test_a_missing_event_is_noticed(tmp_path: Path) -> None:
    """A deleted row leaves a gap in positions, which reading reports instead of skipping."""
    path = tmp_path / "newsroom.db"
    await _written_store(path, articles=5)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM events WHERE position = 4")
    conn.close()
    store = await SQLiteEventStore.open(path)
    try:
        with pytest.raises(StoreCorrupted, match="position 4 is missing"):
            await store.read_all(after=0, limit=10)
    finally:
        await store.close()


async def test_reads_never_block_the_event_loop(sqlite_store: SQLiteEventStore) -> None:
    """While the store reads a large page, other coroutines keep running."""
    for n in range(1, 200):
        await sqlite_store.append(f"article-{n}", [article_created(n)], 0)
    ticks = 0
    loop = asyncio.get_running_loop()

    def tick() -> None:  # a callback that runs whenever the loop is free
        nonlocal ticks, handle
        ticks += 1
        handle = loop.call_soon(tick)

    handle = loop.call_soon(tick)
    for _ in range(20):
        await sqlite_store.read_all(after=0, limit=1000)
    handle.cancel()
    assert ticks > 20


async def test_a_log_killed_before_its_first_checkpoint_opens(tmp_path: Path) -> None:
    """A crash while everything is still in the -wal file (even the schema) loses nothing."""
    live = tmp_path / "live.db"
    store = await SQLiteEventStore.open(live)
    await store.append("article-1", [article_created(1)], 0)
    crashed = tmp_path / "crashed.db"
    for suffix in ("", "-wal"):  # what `kill -9` leaves on disk: the file and its WAL
        shutil.copyfile(f"{live}{suffix}", f"{crashed}{suffix}")
    await store.close()
    reopened = await SQLiteEventStore.open(crashed)
    try:
        assert [r.type for r in await reopened.read_all(after=0, limit=10)] == ["ArticleCreated"]
    finally:
        await reopened.close()


async def test_an_existing_empty_file_is_refused_not_taken_for_a_new_log(tmp_path: Path) -> None:
    """Only a missing file starts a new log: a 0-byte one (a log that lost its contents) is
    refused with what to do, and left as it was."""
    path = tmp_path / "newsroom.db"
    path.write_bytes(b"")
    with pytest.raises(StoreCorrupted, match=r"empty \(0 bytes\)"):
        await SQLiteEventStore.open(path)
    assert path.read_bytes() == b""


async def test_a_truncated_file_is_refused_even_beside_a_wal_that_cannot_restore_it(
    tmp_path: Path,
) -> None:
    """A WAL lets a short main file through the header check (a checkpoint cut short by a full
    disk), but one that does not hold the missing pages does not save a truly truncated log."""
    path = tmp_path / "newsroom.db"
    store = await SQLiteEventStore.open(path)
    for n in range(1, 60):
        await store.append(f"article-{n}", [article_created(n, body="x" * 2000)], 0)
    await store.close()
    os.truncate(path, 4096)
    with open(f"{path}-wal", "wb") as wal:  # noqa: ASYNC230 (a test writing its own file)
        wal.write(b"not a WAL" * 1000)
    with pytest.raises(StoreCorrupted, match=r"malformed|damaged|truncated"):
        await SQLiteEventStore.open(path)


async def test_an_append_never_waits_behind_a_read_of_the_log(
    sqlite_store: SQLiteEventStore,
) -> None:
    """While a read of the log is stuck on the read connection, appends still commit."""
    await sqlite_store.append("article-1", [article_created(1)], 0)
    release = threading.Event()
    stuck = asyncio.ensure_future(sqlite_store._reader.call(lambda _: release.wait(30)))
    try:
        reading = asyncio.ensure_future(sqlite_store.read_all(after=0, limit=10))
        result = await asyncio.wait_for(
            sqlite_store.append("article-2", [article_created(2)], 0), 10
        )
        assert result.last_position == 2
        assert not reading.done()  # it waits behind the stuck read, not the append
    finally:
        release.set()
    await stuck
    assert [r.position for r in await reading] == [1, 2]


async def test_the_read_connection_cannot_write(sqlite_store: SQLiteEventStore) -> None:
    """The log's read connection is read-only: the writer stays the only one that changes it."""
    with pytest.raises(StoreError, match=r"readonly|read-only"):
        await sqlite_store._reader.call(lambda c: c.execute("DELETE FROM events"))


async def test_a_commands_read_goes_before_waiting_pages_of_the_log(
    sqlite_store: SQLiteEventStore,
) -> None:
    """A stream read (a command waits for it) is served before pages of the log queued earlier."""
    await sqlite_store.append("article-1", [article_created(1)], 0)
    release = threading.Event()
    stuck = asyncio.ensure_future(sqlite_store._reader.call(lambda _: release.wait(30)))
    finished: list[str] = []
    pages = [asyncio.ensure_future(sqlite_store.read_all(after=0, limit=10)) for _ in range(3)]
    stream = asyncio.ensure_future(sqlite_store.read_stream("article-1"))
    for name, task in [*(("page", p) for p in pages), ("stream", stream)]:
        task.add_done_callback(lambda _, name=name: finished.append(name))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(stuck, stream, *pages)
    assert finished == ["stream", "page", "page", "page"]


async def _crashed_copy(tmp_path: Path, transactions: int) -> Path:
    """The files `kill -9` would leave after `transactions` commits, none checkpointed yet."""
    live = tmp_path / "live.db"
    store = await SQLiteEventStore.open(live)
    for n in range(1, transactions + 1):
        await store.append(f"article-{n}", [article_created(n)], 0)
    crashed = tmp_path / "crashed.db"
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{live}{suffix}", f"{crashed}{suffix}")
    await store.close()
    return crashed


def _flip(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def _frame_offset(path: Path, frame: int) -> int:
    """Where the page of WAL frame `frame` (1-based) starts."""
    with open(f"{path}-wal", "rb") as f:
        page_size = int.from_bytes(f.read(12)[8:12], "big")
    return 32 + (frame - 1) * (24 + page_size) + 24


def _frames_in(path: Path) -> int:
    """How many whole frames the WAL beside `path` holds (4 KiB pages)."""
    return (os.path.getsize(f"{path}-wal") - 32) // (24 + 4096)


async def test_a_damaged_wal_frame_before_later_commits_is_refused(tmp_path: Path) -> None:
    """One flipped byte in an early WAL frame would make SQLite drop every later commit; the log
    is refused with a message that names the WAL and what to do, and nothing is changed."""
    crashed = await _crashed_copy(tmp_path, transactions=10)
    _flip(f"{crashed}-wal", _frame_offset(crashed, 2) + 100)
    before = {s: _sha(Path(f"{crashed}{s}")) for s in ("", "-wal")}
    with pytest.raises(StoreCorrupted, match=r"write-ahead log crashed\.db-wal is damaged"):
        await SQLiteEventStore.open(crashed)
    assert {s: _sha(Path(f"{crashed}{s}")) for s in ("", "-wal")} == before


async def test_a_torn_last_transaction_in_the_wal_still_opens(tmp_path: Path) -> None:
    """Damage in the WAL's last frames is what a power loss during the last, unacknowledged
    commit leaves: the log opens with every earlier transaction."""
    crashed = await _crashed_copy(tmp_path, transactions=10)
    _flip(f"{crashed}-wal", _frame_offset(crashed, _frames_in(crashed)) + 100)
    store = await SQLiteEventStore.open(crashed)
    try:
        assert len(await store.read_all(after=0, limit=100)) == 9
    finally:
        await store.close()


async def test_a_damaged_wal_header_is_refused(tmp_path: Path) -> None:
    """A damaged WAL header would make SQLite ignore the whole WAL, every commit in it; the log
    is refused, untouched."""
    crashed = await _crashed_copy(tmp_path, transactions=3)
    _flip(f"{crashed}-wal", 26)  # inside the header's checksum
    with pytest.raises(StoreCorrupted, match="is damaged at its header"):
        await SQLiteEventStore.open(crashed)
