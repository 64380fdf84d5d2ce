"""Logs to damage: a real SQLite log written through the store, and the crafted damage that the
verifier (and start-up) must notice, each done to the file the way a fault or a tool would."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from newsroom.store.rows import COLUMNS, checksum
from newsroom.store.sqlite import SQLiteEventStore
from tests.factories import article_created, updated

ARTICLES = 20  # write_log's default: article n's events at positions n (created) and 20 + n


async def write_log(path: Path, articles: int = ARTICLES, *, key: str | None = None) -> None:
    """Articles 1..`articles`, each created then corrected (versions 1 and 2), so article n's
    events sit at positions n and `articles` + n (appends are queued, and committed, in the
    order they are made); the first correction carries `key`."""
    store = await SQLiteEventStore.open(path)
    try:
        await asyncio.gather(
            *[
                store.append(f"article-{n}", [article_created(n, title=f"Marker {n:05d}")], 0)
                for n in range(1, articles + 1)
            ]
        )
        await asyncio.gather(
            *[
                store.append(
                    f"article-{n}",
                    [updated(n, body=f"Corrected {n:05d}")],
                    1,
                    idempotency_key=key if n == 1 else None,
                )
                for n in range(1, articles + 1)
            ]
        )
    finally:
        await store.close()


def flip_a_byte(path: Path, marker: bytes) -> None:
    """Change one byte of the stored text `marker` in the file itself, as a failing disk might:
    SQLite's structure stays valid, only the event's checksum can tell."""
    data = bytearray(path.read_bytes())
    at = data.find(marker)
    assert at >= 0 and data.find(marker, at + 1) < 0, "the marker must occur once"
    data[at] ^= 0x20  # 'M' -> 'm'
    path.write_bytes(bytes(data))


def sql(path: Path, statement: str, *args: object) -> None:
    """Run one statement on the file with plain sqlite3, as a tool editing the log would."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute(statement, args).rowcount >= 1
    finally:
        conn.close()


def rewrite_version(path: Path, position: int, version: int) -> None:
    """Give the event at `position` another version, with a matching checksum: a log written
    by buggy code, whose every row is intact on its own."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        row = conn.execute(f"SELECT {COLUMNS} FROM events WHERE position = ?", (position,))
        values = list(row.fetchone())
        values[2] = version
        conn.execute(
            "UPDATE events SET version = ?, checksum = ? WHERE position = ?",
            (version, checksum(values), position),
        )
    finally:
        conn.close()


def zero_a_middle_index_page(path: Path) -> int:
    """Overwrite with zeros a leaf page of the (stream, version) index that is at neither end
    of it: no replay reads it, only a whole-file check does. Returns its page number."""
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_events_1' "
            "AND pagetype = 'leaf' ORDER BY path"  # path order is key order
        ).fetchall()
    finally:
        conn.close()
    assert len(leaves) >= 3, f"the index needs a middle leaf; it has {len(leaves)}"
    page = leaves[len(leaves) // 2][0]
    with path.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(bytes(page_size))
    return int(page)


async def crashed_with_a_damaged_wal(path: Path) -> None:
    """What `kill -9` leaves after ten commits (the file and its WAL, nothing checkpointed), with
    one byte flipped in the WAL's second frame: SQLite alone would drop the eight commits after."""
    live = path.with_name("live.db")
    store = await SQLiteEventStore.open(live)
    try:
        for n in range(1, 11):
            await store.append(f"article-{n}", [article_created(n)], 0)
        for suffix in ("", "-wal"):
            shutil.copyfile(f"{live}{suffix}", f"{path}{suffix}")
    finally:
        await store.close()
    with open(f"{path}-wal", "r+b") as wal:  # noqa: ASYNC230 (a test damaging its own file)
        page_size = int.from_bytes(wal.read(12)[8:12], "big")
        wal.seek(32 + (24 + page_size) + 24 + 100)  # header, frame 1, frame 2's header
        byte = wal.read(1)[0]
        wal.seek(-1, 1)
        wal.write(bytes([byte ^ 0x01]))
