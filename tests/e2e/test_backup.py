"""`python -m newsroom backup` while a server runs and writes: the copy verifies, holds a prefix
of the log with no gap, and a server on it serves the views the original served there."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from newsroom.app import open_store
from tests.e2e.conftest import Launch, NewsroomProcess, store_url

pytestmark = pytest.mark.e2e

CREATE = """mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status } }"""


def newsroom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsroom", *args], capture_output=True, text=True, timeout=120
    )


def write_until(server: NewsroomProcess, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        article = {"title": f"Written during the backup {n}", "body": "b" * 400,
                   "category": "news", "author_id": "1", "author_name": "n"}  # fmt: skip
        assert server.graphql(CREATE, {"a": article})["data"]["createArticle"]["status"]
        n += 1


def cut_at(log: Path, head: int) -> None:
    """Remove every event after `head` from a copy of a log (and what pointed at them)."""
    with sqlite3.connect(log) as db:
        db.execute("DELETE FROM events WHERE position > ?", (head,))
        db.execute("DELETE FROM idempotency WHERE last_position > ?", (head,))
        db.execute("DELETE FROM streams WHERE stream NOT IN (SELECT stream FROM events)")
        db.execute(
            "UPDATE streams SET version = "
            "(SELECT max(version) FROM events WHERE events.stream = streams.stream)"
        )


def test_a_backup_under_writes_is_a_verified_prefix_that_serves_the_same_views(
    launch: Launch, tmp_path: Path
) -> None:
    original = tmp_path / "newsroom.db"
    server = launch(original)
    stop = threading.Event()
    writers = [threading.Thread(target=write_until, args=(server, stop)) for _ in range(4)]
    for w in writers:
        w.start()
    try:
        while server.head() < 300:  # a log with some body before the copy
            pass
        copy = tmp_path / "backup" / "copy.db"
        copy.parent.mkdir()
        done = newsroom("backup", "--store", store_url(original), str(copy))
        during = server.head()
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert done.returncode == 0, done.stderr
    found = re.search(r"intact: ([\d,]+) events, [\d,]+ streams, head ([\d,]+)", done.stdout)
    assert found, done.stdout
    events, head = (int(g.replace(",", "")) for g in found.groups())
    assert events == head and 300 <= head <= during  # a prefix, taken while writes went on
    assert server.head() > head  # the server kept writing past the copy
    assert not list(copy.parent.glob("*.partial*"))
    assert newsroom("verify", "--store", store_url(copy)).returncode == 0

    with sqlite3.connect(copy) as db:
        copied = db.execute("SELECT position, event_id, checksum FROM events ORDER BY position")
        copied_rows = copied.fetchall()
    assert [r[0] for r in copied_rows] == list(range(1, head + 1))
    assert server.terminate() == 0
    with sqlite3.connect(original) as db:
        rows = db.execute(
            "SELECT position, event_id, checksum FROM events WHERE position <= ? ORDER BY position",
            (head,),
        ).fetchall()
    assert rows == copied_rows

    reference = tmp_path / "reference.db"
    subprocess.run(["cp", str(original), str(reference)], check=True)
    cut_at(reference, head)
    on_copy = launch(copy, "--no-demo", "--no-checkpoints")
    on_reference = launch(reference, "--no-demo", "--no-checkpoints")
    assert on_copy.fingerprints(at=head) == on_reference.fingerprints(at=head)


async def _empty_log(path: Path) -> None:
    store = await open_store(store_url(path))
    await store.close()


def test_backup_refuses_what_it_cannot_copy(tmp_path: Path) -> None:
    existing = tmp_path / "there.db"
    existing.write_bytes(b"")
    log = tmp_path / "log.db"
    asyncio.run(_empty_log(log))
    cases = [
        (
            ["--store", store_url(log), str(tmp_path / "backups" / "d.db")],
            f"its folder {tmp_path / 'backups'} does not exist; create it first",
        ),
        (["--store", store_url(tmp_path / "missing.db"), str(tmp_path / "a.db")], "no such file"),
        (["--store", "postgresql://ed:pw@db/news", str(tmp_path / "b.db")], "pg_dump"),
        (["--store", store_url(existing), str(tmp_path / "c.db")], "the file is empty"),
    ]
    for args, message in cases:
        refused = newsroom("backup", *args)
        assert refused.returncode == 2, refused
        assert message in refused.stderr and "Traceback" not in refused.stderr
        assert "pw@" not in refused.stderr
