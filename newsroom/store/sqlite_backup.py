"""A consistent copy of a live SQLite log, taken while a server runs and writes (`newsroom
backup`), through SQLite's online backup API.

The copy is one snapshot: the backup runs in a single step inside one read transaction, so it
holds exactly the events committed when it began, a prefix of the log with no gap. In WAL mode
a reader never blocks the writer, so the server goes on appending meanwhile. The copy is
written to a temporary file beside the destination, flushed, checked in full (`verify_file`:
every page, every event's checksum, dense positions), and only then renamed into place: the
destination either does not exist or is a verified log.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from newsroom.errors import StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.store.integrity import Progress, Verdict
from newsroom.store.sqlite_errors import is_corruption
from newsroom.store.sqlite_file import check_existing, in_use
from newsroom.store.sqlite_verify import verify_file


def backup_file(source: Path, destination: Path, progress: Progress | None = None) -> Verdict:
    """Copy the log at `source` to `destination` (which must not exist) and verify the copy;
    return the copy's verdict. Raise `StoreUnrecognised` for a source that is no newsroom log
    or a destination in the way, `StoreCorrupted` if the copy fails its check (then no
    destination is left)."""
    if not source.is_file():
        raise StoreUnrecognised(f"{source}: {'not a file' if source.exists() else 'no such file'}")
    if destination.exists():
        raise StoreUnrecognised(f"{destination}: already exists; give a new file to back up to")
    if not destination.parent.is_dir():  # else SQLite's "unable to open" names no file
        raise StoreUnrecognised(
            f"{destination}: its folder {destination.parent} does not exist; create it first"
        )
    check_existing(source, walk_wal=not in_use(source))
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)  # what an interrupted backup left
    try:
        _copy(source, partial)
        verdict = verify_file(partial, progress)
        if not verdict.intact:
            raise StoreCorrupted(f"the copy failed its check: {verdict.summary()}")
        partial.rename(destination)
        _sync_directory(destination.parent)
    finally:
        for leftover in (partial, *_companions(partial)):
            leftover.unlink(missing_ok=True)
    return Verdict(str(destination), verdict.events, verdict.streams, verdict.head,
                   verdict.seconds)  # fmt: skip


def _copy(source: Path, target: Path) -> None:
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise StoreCorrupted(f"{source}: cannot be opened: {e}") from e
    try:
        with contextlib.closing(sqlite3.connect(target)) as copy:
            reader.backup(copy, pages=-1)  # one step: one snapshot, never restarted by writes
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        with target.open("rb+") as f:
            os.fsync(f.fileno())
    except sqlite3.Error as e:
        if is_corruption(e):
            raise StoreCorrupted(f"{source}: the database is damaged: {e}") from e
        raise StoreError(f"{source}: the backup failed: {e}") from e
    finally:
        reader.close()


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
