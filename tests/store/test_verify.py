"""`newsroom verify` on crafted logs: intact ones pass, and each kind of damage gives exit 1 and
names its first bad position; files that are no newsroom log give exit 2. Nothing is written."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import sqlite3
from pathlib import Path

import pytest

from newsroom import progress, verify
from newsroom.store.sqlite import SQLiteEventStore
from newsroom.store.sqlite_verify import verify_file
from tests.factories import article_created
from tests.store.damage import (
    ARTICLES,
    crashed_with_a_damaged_wal,
    flip_a_byte,
    rewrite_version,
    sql,
    write_log,
    zero_a_middle_index_page,
)


def run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`python -m newsroom verify --store sqlite:///path`, in process: exit code, stdout, stderr."""
    code = verify.main(["--store", f"sqlite:///{path}"])
    out, err = capsys.readouterr()
    return code, out, err


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    path = tmp_path / "newsroom.db"
    await write_log(path, ARTICLES, key="key-1")
    return path


async def test_an_intact_log_passes_with_a_one_line_summary(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An intact log exits 0 and prints its events, streams and head on one line."""
    code, out, err = run(log, capsys)
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert f"{log}: intact: 40 events, 20 streams, head 40, in " in out


async def test_a_flipped_byte_in_an_events_data_names_its_position(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One byte changed on disk inside event 7's JSON fails its checksum: exit 1, position 7."""
    flip_a_byte(log, b"Marker 00007")
    before = sha(log)
    code, out, err = run(log, capsys)
    assert (code, out) == (1, "")
    assert "first bad position 7" in err
    assert "the event at position 7 fails its checksum" in err
    assert sha(log) == before


async def test_a_deleted_event_is_a_gap_named_by_its_position(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted row leaves positions 1..head with a hole: exit 1 naming the missing position."""
    sql(log, "DELETE FROM events WHERE position = 12")
    code, _, err = run(log, capsys)
    assert code == 1
    assert "first bad position 12" in err and "the event at position 12 is missing" in err


async def test_a_broken_version_sequence_is_named(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Article 5's correction stored as version 3 (checksum intact) skips version 2: exit 1."""
    rewrite_version(log, ARTICLES + 5, 3)
    code, _, err = run(log, capsys)
    assert code == 1
    assert "first bad position 25" in err
    assert "is version 3 of article-5, but the one before it was version 1" in err


async def test_a_streams_row_that_disagrees_with_the_events_is_named(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The streams table must hold each stream's last version: a wrong one names that event."""
    sql(log, "UPDATE streams SET version = 7 WHERE stream = 'article-3'")
    code, _, err = run(log, capsys)
    assert code == 1
    assert "first bad position 23" in err
    assert "the streams table says version 7 for article-3" in err


async def test_an_idempotency_record_must_name_its_own_events(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key whose record points at another stream's event would answer a retry wrongly."""
    sql(log, "UPDATE idempotency SET first_position = 22, last_position = 22")
    code, _, err = run(log, capsys)
    assert code == 1
    assert "first bad position 22" in err and "idempotency record of key 'key-1'" in err


async def test_a_damaged_index_page_fails_sqlites_own_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zeroed page in the middle of the (stream, version) index holds no event, so no replay
    reads it; integrity_check finds it, and exit is 1."""
    path = tmp_path / "newsroom.db"
    await write_log(path, 1_000)
    zero_a_middle_index_page(path)
    code, _, err = run(path, capsys)
    assert code == 1
    assert "SQLite integrity_check" in err and "DAMAGED" in err


async def test_a_damaged_wal_is_walked_before_sqlite_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crashed log whose WAL has a damaged frame before intact commits is damaged (exit 1),
    not "intact" with those commits silently missing; both files stay as they were."""
    path = tmp_path / "crashed.db"
    await crashed_with_a_damaged_wal(path)
    before = {suffix: sha(Path(f"{path}{suffix}")) for suffix in ("", "-wal")}
    code, _, err = run(path, capsys)
    assert code == 1
    assert "write-ahead log crashed.db-wal is damaged at frame 2" in err
    assert {suffix: sha(Path(f"{path}{suffix}")) for suffix in ("", "-wal")} == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", r"the file is empty \(0 bytes\)"),
        (b"my notes, not a database\n" * 50, "not an SQLite database"),
    ],
    ids=["empty", "text"],
)
def test_a_file_that_is_no_sqlite_log_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, problem: str
) -> None:
    """An empty file or a text file is not a log to check: exit 2 with a message, unchanged."""
    path = tmp_path / "newsroom.db"
    path.write_bytes(content)
    code, out, err = run(path, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"newsroom verify: cannot verify: {path}: ")
    assert re.search(problem, err)
    assert path.read_bytes() == content


def test_another_programs_database_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An SQLite file of another program is named as such, with exit 2."""
    path = tmp_path / "recipes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    code, _, err = run(path, capsys)
    assert code == 2 and "another program" in err


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite:///{tmp}/missing.db", "missing.db: no such file"),
        ("sqlite:///{tmp}", "not a file"),
        ("mysql://db/news", "unknown store URL 'mysql://db/news'"),
        ("sqlite:///", "needs a file path"),
    ],
    ids=["missing", "directory", "unknown scheme", "no path"],
)
def test_a_bad_url_or_missing_file_is_exit_2_without_creating_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, problem: str
) -> None:
    """A store URL that names no log gets a clear message and exit 2; no file is created."""
    code = verify.main(["--store", url.format(tmp=tmp_path)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert problem in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


async def test_it_verifies_a_log_a_server_is_appending_to(tmp_path: Path) -> None:
    """With the store open and appending (its lock held, its WAL live), verify reads one
    consistent snapshot and finds it intact; the store keeps appending meanwhile."""
    path = tmp_path / "newsroom.db"
    await write_log(path, ARTICLES)
    store = await SQLiteEventStore.open(path)
    try:
        appends = [store.append(f"article-{n}", [article_created(n)], 0) for n in range(100, 400)]
        verdict, *results = await asyncio.gather(asyncio.to_thread(verify_file, path), *appends)
        assert verdict.intact, verdict.summary()
        assert 2 * ARTICLES <= verdict.head <= 2 * ARTICLES + 300
        assert verdict.events == verdict.head
        assert len(results) == 300 and await store.head() == 2 * ARTICLES + 300
    finally:
        await store.close()


async def test_progress_is_reported_up_to_every_event(log: Path) -> None:
    """The progress callback hears the events read, ending with all of them."""
    heard: list[tuple[str, int, int]] = []
    verdict = verify_file(log, lambda stage, done, total: heard.append((stage, done, total)))
    assert heard[-1] == ("reading events", 40, 40)
    assert verdict.intact


def test_the_terminal_progress_line_is_shown_at_most_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ticker writes a line only once a second has passed since the last one."""
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    out = io.StringIO()
    ticker = progress.Ticker(out, "verifying")
    ticker("reading events", 10, 40)
    assert out.getvalue() == ""
    now[0] = 101.5
    ticker("reading events", 20, 40)
    ticker("reading events", 21, 40)
    assert out.getvalue() == "\r\033[Kverifying: reading events 20 of 40 (50%), 2 s"
