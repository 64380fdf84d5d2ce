"""A damaged, truncated, altered or foreign store file stops start-up with a message, untouched.

One valid store is built once (a real server writes the demo and one article, then stops on
SIGTERM); every case damages its own copy and starts `python -m newsroom --no-demo` on it.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REFUSE_WITHIN = 5.0  # seconds a server gets to refuse a damaged store and exit
CREATE = """
mutation { createArticle(article: {title: "Kept safe", body: "Its bytes must not change.",
  category: "science", author_id: "3", author_name: "Grace"}) { id status error } }
"""


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def page_size(path: Path) -> int:
    """The page size stored in an SQLite header (bytes 16-17, big-endian; 1 means 65536)."""
    with path.open("rb") as f:
        header = f.read(100)
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


@pytest.fixture(scope="module")
def valid_store(module_launch: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A newsroom store written by a real server (demo + one article) and closed cleanly."""
    store: Path = tmp_path_factory.mktemp("valid") / "db.sqlite"
    server = module_launch(store)
    outcome = server.graphql(CREATE)["data"]["createArticle"]
    assert outcome["status"] == "ACCEPTED", outcome
    assert server.terminate() == 0, server.stderr()
    assert not store.with_name(store.name + "-wal").exists(), "a clean stop leaves no WAL behind"
    size = store.stat().st_size
    assert size % page_size(store) == 0 and size // page_size(store) >= 3, size
    return store


# --- the damage, one function per case; each edits the copy at `path` in place -----------------


def zero_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(bytes(100))


def garbage_page(path: Path) -> None:
    size = page_size(path)
    pages = path.stat().st_size // size
    page = max(2, (pages + 1) // 2)  # 1-based; page 1 holds the header and the schema
    with path.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(random.Random(20240611).randbytes(size))


def truncate_mid_page(path: Path) -> None:
    half = path.stat().st_size // 2
    if half % page_size(path) == 0:
        half += 100
    with path.open("r+b") as f:
        f.truncate(half)


def truncate_at_page_boundary(path: Path) -> None:
    size = page_size(path)
    half = max(size, path.stat().st_size // 2 // size * size)
    assert half < path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(half)


def alter_row_payload(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        (before,) = conn.execute("SELECT data FROM events WHERE position = 1").fetchone()
        changed = conn.execute(
            "UPDATE events SET data = replace(data, 'My article', 'My Article') WHERE position = 1"
        ).rowcount
        (after,) = conn.execute("SELECT data FROM events WHERE position = 1").fetchone()
    finally:
        conn.close()
    assert changed == 1
    # replace() hands back TEXT for the BLOB column; compare the bytes either way.
    before, after = (v if isinstance(v, bytes) else v.encode() for v in (before, after))
    assert b"My article" in before and b"My Article" in after and before != after
    assert not path.with_name(path.name + "-wal").exists(), "the edit must be checkpointed"


def foreign_database(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE recipes (name TEXT PRIMARY KEY, minutes INTEGER)")
        conn.execute("INSERT INTO recipes VALUES ('pancakes', 20)")
    finally:
        conn.close()


def emptied(path: Path) -> None:
    """What a truncating tool or a failing disk can leave: the file at 0 bytes, no WAL."""
    path.write_bytes(b"")
    path.with_name(path.name + "-wal").unlink(missing_ok=True)


def text_file(path: Path) -> None:
    path.write_text("These are my notes, not a database.\n" * 200, encoding="utf-8")


# (damage, pattern the stderr must match besides the path)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "zeroed header": (zero_header, r"not an SQLite database|header"),
    "garbage page": (garbage_page, r"damaged|corrupt|malformed"),
    "truncated mid-page": (truncate_mid_page, r"truncated"),
    "truncated at a page boundary": (truncate_at_page_boundary, r"truncated|damaged"),
    "altered row payload": (alter_row_payload, r"checksum|altered|damaged"),
    "foreign SQLite database": (foreign_database, r"another program|not a newsroom"),
    "text file": (text_file, r"not an SQLite database"),
    "emptied to 0 bytes": (emptied, r"empty \(0 bytes\).*restore it from a backup"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_store_refuses_start_and_is_left_untouched(
    case: str, valid_store: Path, launch: Any, tmp_path: Path
) -> None:
    """A damaged or foreign store makes start-up exit non-zero within 5 s, naming file and problem,
    and its bytes stay unchanged."""
    damage, problem = CASES[case]
    copy = tmp_path / "damaged.sqlite"
    shutil.copyfile(valid_store, copy)
    damage(copy)
    checksum = sha256(copy)

    server = launch(copy, "--no-demo", wait=False)
    try:
        code = server.proc.wait(timeout=REFUSE_WITHIN)
    except subprocess.TimeoutExpired:
        server.kill()
        pytest.fail(
            f"{case}: newsroom did not refuse the store within {REFUSE_WITHIN} s "
            f"(it kept running); stderr:\n{server.stderr()}"
        )
    stderr = server.stderr()
    assert code != 0, stderr
    assert str(copy) in stderr, stderr
    assert re.search(problem, stderr, re.IGNORECASE), stderr
    assert "Traceback" not in stderr, stderr
    assert sha256(copy) == checksum, f"{case}: newsroom changed the damaged file"
