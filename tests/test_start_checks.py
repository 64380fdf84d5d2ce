"""What start-up checks without reading the whole file, and what `--verify-on-start` adds.

Start-up refuses damage in the events it replays (each one's checksum, no missing position) and
at either end of any table or index; damage elsewhere is `newsroom verify`'s to find, which
`--verify-on-start` runs first, naming the first bad position.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from newsroom import config
from newsroom.app import Newsroom
from newsroom.errors import StoreCorrupted
from tests.store.damage import (
    ARTICLES,
    flip_a_byte,
    rewrite_version,
    sql,
    write_log,
    zero_a_middle_index_page,
)


def settings(path: Path, *flags: str) -> config.Settings:
    return config.load(["--store", f"sqlite:///{path}", "--no-demo", *flags], env={})


async def started_head(path: Path, *flags: str) -> int:
    """Start newsroom on the log, and return the position its views reached; then stop it."""
    newsroom = await Newsroom.start(settings(path, *flags))
    try:
        return newsroom.views.position
    finally:
        await newsroom.stop()


@pytest.fixture
async def log(tmp_path: Path) -> Path:
    path = tmp_path / "newsroom.db"
    await write_log(path, ARTICLES)
    return path


async def test_start_up_refuses_a_damaged_event_it_replays(log: Path) -> None:
    """A byte flipped on disk inside event 7 stops start-up, naming the position, without any
    whole-file check: the replay verifies each event's checksum as it reads it."""
    flip_a_byte(log, b"Marker 00007")
    with pytest.raises(StoreCorrupted, match="position 7 fails its checksum"):
        await started_head(log)


async def test_start_up_refuses_a_missing_event_it_replays(log: Path) -> None:
    """A deleted event leaves a gap that the replay reports by its position."""
    sql(log, "DELETE FROM events WHERE position = 30")
    with pytest.raises(StoreCorrupted, match="position 30 is missing"):
        await started_head(log)


async def test_damage_off_the_replayed_rows_needs_verify_on_start(tmp_path: Path) -> None:
    """A zeroed index page in the middle of the (stream, version) index holds no event, so
    start-up (which no longer reads every page) serves the log; `--verify-on-start` refuses it."""
    path = tmp_path / "newsroom.db"
    await write_log(path, 1_000)
    zero_a_middle_index_page(path)
    assert await started_head(path) == 2_000
    with pytest.raises(StoreCorrupted, match=r"--verify-on-start: .*SQLite integrity_check"):
        await started_head(path, "--verify-on-start")


async def test_verify_on_start_refuses_a_broken_version_sequence(log: Path) -> None:
    """Every row intact but article 5 jumping from version 1 to 3: the replay accepts it, the
    verification before it refuses, naming position 25."""
    rewrite_version(log, ARTICLES + 5, 3)
    assert await started_head(log) == 2 * ARTICLES
    with pytest.raises(StoreCorrupted, match="first bad position 25"):
        await started_head(log, "--verify-on-start")


async def test_verify_on_start_lets_an_intact_log_and_a_new_one_start(
    log: Path, tmp_path: Path
) -> None:
    """An intact log passes the check and replays; a missing file is a new log, with nothing to
    check."""
    assert await started_head(log, "--verify-on-start") == 2 * ARTICLES
    assert await started_head(tmp_path / "new.db", "--verify-on-start") == 0
