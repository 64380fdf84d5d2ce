"""`python -m newsroom verify` as a user runs it: on a log a real server wrote, beside that server
while it runs, on a damaged copy, and `--verify-on-start` refusing to serve a damaged log."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import store_url
from tests.store.damage import rewrite_version

pytestmark = pytest.mark.e2e

VERIFY_WITHIN = 20.0  # seconds; the logs here are tiny
CREATE = """
mutation { createArticle(article: {title: "Checked", body: "Every byte of it.",
  category: "science", author_id: "3", author_name: "Grace"}) { id status error } }
"""
CORRECT = """
mutation { updateArticle(id: "%s", expected_version: 1, changes: {body: "Corrected."})
  { status error } }
"""


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m newsroom verify --store sqlite:///path` and return its outcome."""
    return subprocess.run(
        [sys.executable, "-m", "newsroom", "verify", "--store", store_url(path)],
        capture_output=True,
        text=True,
        timeout=VERIFY_WITHIN,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def written(module_launch: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log written by a real server (the demo articles, one created and corrected), stopped."""
    store: Path = tmp_path_factory.mktemp("written") / "newsroom.db"
    server = module_launch(store)
    created = server.graphql(CREATE)["data"]["createArticle"]
    assert created["status"] == "ACCEPTED", created
    corrected = server.graphql(CORRECT % created["id"])["data"]["updateArticle"]
    assert corrected["status"] == "ACCEPTED", corrected
    assert server.terminate() == 0, server.stderr()
    return store


def test_an_intact_log_exits_0_with_a_summary(written: Path) -> None:
    """The log a server wrote verifies: exit 0, one line naming it and its events."""
    done = verify(written)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{written}: intact: ") and done.stdout.count("\n") == 1
    assert done.stderr == ""  # no progress: stderr is not a terminal


def test_it_runs_beside_the_server_using_the_log(
    written: Path, launch: Any, tmp_path: Path
) -> None:
    """While a server has the log open and has just written to it, verify still reads it,
    finds it intact and the server keeps serving."""
    copy = tmp_path / "live.db"
    shutil.copyfile(written, copy)
    server = launch(copy, "--no-demo")
    assert server.graphql(CREATE)["data"]["createArticle"]["status"] == "ACCEPTED"
    done = verify(copy)
    assert done.returncode == 0, done.stderr
    assert f"head {server.head():,}" in done.stdout
    assert server.terminate() == 0, server.stderr()


def test_a_damaged_log_exits_1_naming_the_first_bad_position(written: Path, tmp_path: Path) -> None:
    """With an event deleted from the middle, verify exits 1 and names the gap; no traceback."""
    copy = tmp_path / "damaged.db"
    shutil.copyfile(written, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    try:
        conn.execute("DELETE FROM events WHERE position = 3")
    finally:
        conn.close()
    done = verify(copy)
    assert done.returncode == 1, done.stderr
    assert "first bad position 3" in done.stderr and "position 3 is missing" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_file_that_is_not_a_log_exits_2(tmp_path: Path) -> None:
    """A text file is nothing verify can check: exit 2 with a message, no traceback."""
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n" * 100)
    done = verify(notes)
    assert done.returncode == 2
    assert "not an SQLite database" in done.stderr and "Traceback" not in done.stderr


def test_verify_on_start_refuses_a_log_that_would_otherwise_start(
    written: Path, launch: Any, tmp_path: Path
) -> None:
    """The corrected article's second event stored as version 3 (its checksum recomputed) is
    served by a plain start; with --verify-on-start the server exits 2 naming its position."""
    copy = tmp_path / "versions.db"
    shutil.copyfile(written, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    try:
        (position,) = conn.execute("SELECT max(position) FROM events").fetchone()
    finally:
        conn.close()
    rewrite_version(copy, position, 3)
    refused = launch(copy, "--no-demo", "--verify-on-start", wait=False)
    assert refused.proc.wait(timeout=VERIFY_WITHIN) == 2, refused.stderr()
    assert f"first bad position {position}" in refused.stderr()
    assert "Traceback" not in refused.stderr()
    server = launch(copy, "--no-demo")  # without the flag it starts, as before
    assert server.terminate() == 0
