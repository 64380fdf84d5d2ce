"""View checkpoints through `Newsroom.start` and `stop` on real SQLite logs: a clean stop writes
one, the next start loads it and replays only the tail, and a checkpoint in any doubt (damaged,
foreign, old, ahead of the log, or of a rewritten log) is ignored with one log line saying why."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sqlite3
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from newsroom import checkpoints
from newsroom.app import Newsroom
from newsroom.articles import RetractArticle, UpdateArticle
from newsroom.checkpoint_body import Body, Pace
from newsroom.checkpointer import FILE_REST, SEARCH_REST
from newsroom.config import Settings
from newsroom.errors import ConfigError, ProjectionFailed
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.search_query import parse as parse_query
from tests.factories import FakeClock, create_article


def _settings(log: Path, **overrides: Any) -> Settings:
    return Settings(store=f"sqlite:///{log}", demo=False, **overrides)


async def _start(log: Path, **overrides: Any) -> Newsroom:
    return await Newsroom.start(_settings(log, **overrides), FakeClock())


async def _write(newsroom: Newsroom, articles: int, first_title: str = "Story") -> None:
    """`articles` new articles, the first of them corrected and the second retracted."""
    for n in range(articles):
        outcome = await newsroom.commands.handle(create_article(title=f"{first_title} {n}"))
        if n == 0:
            await newsroom.commands.handle(UpdateArticle(outcome.article_id, title="Corrected"))
        if n == 1:
            await newsroom.commands.handle(RetractArticle(outcome.article_id, reason="Wrong"))


async def _fingerprints(newsroom: Newsroom) -> list[str]:
    await newsroom.search_built()  # after a full replay, the search index is built after it
    await newsroom.views.wait_for(await newsroom.store.head(), timeout=10)
    return [projector.projection.fingerprint() for projector in newsroom.views.projectors]


async def _log_with_checkpoint(log: Path, articles: int = 4) -> list[str]:
    """Write a log and stop cleanly (which writes its checkpoint); return the views' prints."""
    newsroom = await _start(log)
    await _write(newsroom, articles)
    prints = await _fingerprints(newsroom)
    await newsroom.stop()
    return prints


async def _replayed_in_full(log: Path) -> list[str]:
    """The views' prints after a full replay of `log`, on a copy (a running newsroom may hold
    the log's lock, and a start must not leave a checkpoint beside it)."""
    copy = log.with_name("reference.db")
    shutil.copy(log, copy)
    newsroom = await _start(copy, checkpoints=False)
    try:
        return await _fingerprints(newsroom)
    finally:
        await newsroom.stop()


def _views_dir(log: Path) -> Path:
    return log.with_name(log.name + ".views")


async def test_a_clean_stop_writes_a_checkpoint_and_the_next_start_loads_it(
    tmp_path: Path,
) -> None:
    """After a clean stop the next start loads the views from the checkpoint, replays nothing,
    and serves exactly what it served before."""
    log = tmp_path / "newsroom.db"
    before = await _log_with_checkpoint(log)
    newsroom = await _start(log)
    try:
        report = (await newsroom.health.report())["checkpoint"]
        head = await newsroom.store.head()
        assert report["used"] is True
        assert report["position"] == head
        assert report["replayed_after"] == 0
        assert await _fingerprints(newsroom) == before
    finally:
        await newsroom.stop()


async def test_a_start_replays_only_the_events_after_the_checkpoint(tmp_path: Path) -> None:
    """Events written after the checkpoint are replayed on top of it, and the views equal a
    full replay of the log."""
    log = tmp_path / "newsroom.db"
    await _log_with_checkpoint(log)
    without = await _start(log, checkpoints=False)  # writes the tail, but no new checkpoint
    at = await without.store.head()
    await _write(without, 3, first_title="Later")
    await without.stop()
    newsroom = await _start(log)
    try:
        report = (await newsroom.health.report())["checkpoint"]
        assert (report["used"], report["position"]) == (True, at)
        assert report["replayed_after"] == await newsroom.store.head() - at > 0
        assert await _fingerprints(newsroom) == await _replayed_in_full(log)
    finally:
        await newsroom.stop()


async def test_with_checkpoints_off_none_is_written(tmp_path: Path) -> None:
    """`--no-checkpoints` writes no checkpoint at a clean stop."""
    log = tmp_path / "newsroom.db"
    newsroom = await _start(log, checkpoints=False)
    await _write(newsroom, 2)
    await newsroom.stop()
    assert not _views_dir(log).exists()
    assert (await newsroom.health.report())["checkpoint"] == {"enabled": False}


_views_files = ["views-a.ckpt", "views-b.ckpt"]


def _names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _newest(directory: Path) -> checkpoints.Slot:
    slot = checkpoints.newest(directory)
    assert slot is not None
    return slot


def _views_file(directory: Path) -> Path:
    """The views file of the newest checkpoint in `directory`."""
    return _newest(directory).views


def _rewrite_header(directory: Path, **changes: Any) -> None:
    """Rewrite the newest views file's header with `changes`, checksums made right again."""
    path = _views_file(directory)
    data = path.read_bytes()
    at = len(checkpoints.MAGIC)
    size = int.from_bytes(data[at : at + 4], "big")
    header = json.loads(data[at + 4 : at + 4 + size]) | changes
    encoded = json.dumps(header).encode()
    framed = (
        checkpoints.MAGIC
        + len(encoded).to_bytes(4, "big")
        + encoded
        + zlib.crc32(encoded).to_bytes(4, "big")
    )
    body = data[checkpoints.HEADER_SLOT :]
    path.write_bytes(framed.ljust(checkpoints.HEADER_SLOT, b"\0") + body)


def _as_format_1(directory: Path) -> None:
    """The directory as format 1 left it: one views file and a search copy by position."""
    slot = _newest(directory)
    slot.views.rename(directory / "views.ckpt")
    slot.search.rename(directory / "search-12.db")


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _search_file(directory: Path) -> Path:
    return _newest(directory).search


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (lambda d: _truncate(_views_file(d)), "truncated"),
    "body bit-flipped": (lambda d: _flip(_views_file(d), -1), "body fails its checksum"),
    "header bit-flipped": (lambda d: _flip(_views_file(d), 40), "header fails its checksum"),
    "not a checkpoint": (lambda d: _views_file(d).write_bytes(b"junk"), "not a newsroom"),
    "search copy bit-flipped": (lambda d: _flip(_search_file(d), 5000), "search index copy"),
    "search copy truncated": (lambda d: _truncate(_search_file(d)), "search index copy"),
    "search copy missing": (lambda d: _search_file(d).unlink(), "is missing"),
    "older format": (lambda d: _rewrite_header(d, format=0), "format 0"),
    "format 1's files": (lambda d: _as_format_1(d), "format 1 (views.ckpt)"),
    "other views schema": (lambda d: _rewrite_header(d, views_schema=0), "schema 0"),
    "no part size": (lambda d: _rewrite_header(d, article_part_size=None), "names no size"),
    "other part size": (lambda d: _rewrite_header(d, article_part_size=1), "not in parts of 1"),
}


async def _start_noting(log: Path, caplog: pytest.LogCaptureFixture) -> tuple[Newsroom, list[str]]:
    """Start on `log`; return the newsroom and the log lines saying a checkpoint was not used."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        newsroom = await _start(log)
    return newsroom, [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]


async def _refused(log: Path, reason: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Start on `log`: assert its checkpoint was refused with one log line naming `reason`;
    return the views' fingerprints."""
    newsroom, lines = await _start_noting(log, caplog)
    try:
        assert len(lines) == 1 and reason in lines[0], lines
        report = (await newsroom.health.report())["checkpoint"]
        assert report["used"] is False and reason in report["refused"]
        return await _fingerprints(newsroom)
    finally:
        await newsroom.stop()


@pytest.mark.parametrize("damage", DAMAGE, ids=str)
async def test_a_damaged_checkpoint_is_ignored_for_a_full_replay(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint damaged in any way is ignored with one log line naming the reason, and
    the full replay serves the same views."""
    log = tmp_path / "newsroom.db"
    before = await _log_with_checkpoint(log)
    tamper, reason = DAMAGE[damage]
    tamper(_views_dir(log))
    assert await _refused(log, reason, caplog) == before


async def test_a_checkpoint_of_another_log_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint copied beside another log (of the same length) is never loaded."""
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    before = await _log_with_checkpoint(ours)
    await _log_with_checkpoint(theirs)
    shutil.rmtree(_views_dir(ours))
    shutil.copytree(_views_dir(theirs), _views_dir(ours))
    assert await _refused(ours, "another log", caplog) == before


async def _early_copy_and_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    """A log copied when it was short, and the log's checkpoint taken later, beside the copy."""
    log, copy = tmp_path / "newsroom.db", tmp_path / "copy.db"
    await _log_with_checkpoint(log, articles=2)
    shutil.copy(log, copy)
    newsroom = await _start(log)
    await _write(newsroom, 3, first_title="Later")
    await newsroom.stop()
    shutil.copytree(_views_dir(log), _views_dir(copy))
    return log, copy


async def test_a_checkpoint_ahead_of_the_log_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint beyond the log's head (the log was restored from an older copy) is
    ignored."""
    _, copy = await _early_copy_and_checkpoint(tmp_path)
    for path in _views_dir(copy).glob("*-a.*"):  # only the later checkpoint, in slot b
        path.unlink()
    before = await _replayed_in_full(copy)
    assert await _refused(copy, "ahead of the log's head", caplog) == before


async def test_a_log_restored_from_an_older_copy_takes_the_slot_that_belongs_to_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With both slots beside a log restored from an older copy, the start passes over the
    slot ahead of the log (one line says why) for the one taken at the copy's head; the next
    checkpoint overwrites the slot that was ahead, and the start after it loads that one."""
    _, copy = await _early_copy_and_checkpoint(tmp_path)
    newsroom, lines = await _start_noting(copy, caplog)
    try:
        assert len(lines) == 1 and "views-b.ckpt: it is at position" in lines[0], lines
        report = (await newsroom.health.report())["checkpoint"]
        assert (report["used"], report["position"]) == (True, await newsroom.store.head())
        assert await _fingerprints(newsroom) == await _replayed_in_full(copy)
        await _write(newsroom, 1, first_title="After the restore")
    finally:
        await newsroom.stop()
    assert _newest(_views_dir(copy)).name == "b"
    again, lines = await _start_noting(copy, caplog)
    try:
        assert not lines, lines
        report = (await again.health.report())["checkpoint"]
        assert (report["used"], report["position"]) == (True, await again.store.head())
    finally:
        await again.stop()


async def test_a_checkpoint_of_a_rewritten_log_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log truncated (restored from an older copy) and written again up to and past the
    checkpoint's position has other events there: the checkpoint is ignored."""
    _, copy = await _early_copy_and_checkpoint(tmp_path)
    shutil.rmtree(_views_dir(copy))  # written again without checkpoints, then given the old one
    other = await _start(copy, checkpoints=False)
    await _write(other, 4, first_title="Other")
    await other.stop()
    shutil.copytree(_views_dir(tmp_path / "newsroom.db"), _views_dir(copy))
    for path in _views_dir(copy).glob("*-a.*"):  # slot a was taken before the copy: it is fine
        path.unlink()
    before = await _replayed_in_full(copy)
    assert await _refused(copy, "not the one it was taken at", caplog) == before


async def test_a_checkpoint_that_cannot_be_written_is_logged_cleaned_up_and_never_stops_newsroom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk that fills up while the search index is copied (SQLite's own error, not an
    OSError): the attempt is logged and shown in /healthz, its files are removed, newsroom
    serves on (search included), and a stop still closes the log cleanly; the checkpoint
    written before stays the one the next start loads."""
    log = tmp_path / "newsroom.db"
    await _log_with_checkpoint(log)
    slot = _newest(_views_dir(log))
    written = slot.views.read_bytes()
    save = Fts5Index.save

    def fills_the_disk(self: Fts5Index, path: Path, between_steps: Callable[[], None]) -> None:
        save(self, path, between_steps)  # a partial copy is left on disk, as a full disk leaves it
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Fts5Index, "save", fills_the_disk)
    newsroom = await _start(log)
    await _write(newsroom, 3, first_title="After")
    with caplog.at_level(logging.WARNING, logger="newsroom.checkpointer"):
        await newsroom.checkpointer.save(newsroom.views)
    report = (await newsroom.health.report())["checkpoint"]
    assert "database or disk is full" in report["last_failed"]
    assert [r.message for r in caplog.records if "could not write" in r.message]
    named = checkpoints._read_header(slot.views)["search_file"]
    assert _names(_views_dir(log)) == sorted([".lock", slot.views.name, named])
    found = newsroom.views.search.index.search(parse_query("After"), None, 10, None)
    # the index was released: it serves, and took the new articles (of the three "After"
    # stories the first was retitled and the second retracted)
    assert [hit.snippet for hit in found.hits] == ["<mark>After</mark> 2"]
    await newsroom.stop()  # tries once more at the stop, fails the same way, closes the log
    assert slot.views.read_bytes() == written
    monkeypatch.undo()
    again = await _start(log)
    try:
        report = (await again.health.report())["checkpoint"]
        assert report["used"] and report["replayed_after"] > 0
    finally:
        await again.stop()


async def _checkpoint_more(log: Path, articles: int, title: str) -> int:
    """Start on `log`, write `articles` more, stop cleanly (a checkpoint); the log's head."""
    newsroom = await _start(log)
    await _write(newsroom, articles, first_title=title)
    head = await newsroom.store.head()
    await newsroom.stop()
    return head


async def test_checkpoints_take_turns_in_two_slots_overwritten_in_place(tmp_path: Path) -> None:
    """Each checkpoint goes to the slot not holding the newest one, into the files already
    there (no file is made anew and none deleted, so the disk space is reused), and the
    newest is the one a start loads."""
    log = tmp_path / "newsroom.db"
    await _log_with_checkpoint(log)
    directory = _views_dir(log)
    assert _newest(directory).name == "a"
    second = await _checkpoint_more(log, 2, "Second")
    assert _newest(directory).name == "b"
    files = {path.name: path.stat().st_ino for path in directory.iterdir()}
    assert sorted(files) == [".lock", "search-a.db", "search-b.db", *_views_files]
    third = await _checkpoint_more(log, 2, "Third")
    assert third > second and _newest(directory).name == "a"
    assert {path.name: path.stat().st_ino for path in directory.iterdir()} == files
    newsroom = await _start(log)
    try:
        report = (await newsroom.health.report())["checkpoint"]
        assert (report["used"], report["position"], report["replayed_after"]) == (True, third, 0)
    finally:
        await newsroom.stop()


async def test_a_write_that_did_not_finish_leaves_the_newest_checkpoint_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write stopped after it wiped its slot's header (a kill -9 halfway) leaves that slot
    out, silently: the start loads the other slot, and serves what a full replay serves; the
    next write first deletes what the stopped one left."""
    log = tmp_path / "newsroom.db"
    await _log_with_checkpoint(log)
    head = await _checkpoint_more(log, 2, "Second")
    directory = _views_dir(log)
    slot = checkpoints.begin(directory, "b")  # wipes slot a, as the next write begins
    assert slot.name == "a" and _newest(directory).name == "b"
    _truncate(slot.search)  # and got as far as part of the search copy
    newsroom, lines = await _start_noting(log, caplog)
    try:
        assert not lines, lines
        report = (await newsroom.health.report())["checkpoint"]
        assert (report["used"], report["position"]) == (True, head)
        assert await _fingerprints(newsroom) == await _replayed_in_full(log)
    finally:
        await newsroom.stop()
    slot = checkpoints.begin(directory, "b")  # the next write: the stopped one's files are gone
    assert _names(directory) == [".lock", "search-b.db", *_views_files]
    assert slot.views.read_bytes() == bytes(len(checkpoints.MAGIC))  # begun afresh


async def test_a_damaged_newest_checkpoint_leaves_the_one_before_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the newest checkpoint's header damaged, the start loads the slot before it, says
    in one line why the newest was not used, and replays the rest."""
    log = tmp_path / "newsroom.db"
    await _log_with_checkpoint(log)
    older = checkpoints._read_header(_newest(_views_dir(log)).views)["position"]
    await _checkpoint_more(log, 2, "Second")
    _flip(_views_dir(log) / "views-b.ckpt", 40)
    newsroom, lines = await _start_noting(log, caplog)
    try:
        assert len(lines) == 1 and "views-b.ckpt: its header fails its checksum" in lines[0]
        report = (await newsroom.health.report())["checkpoint"]
        assert (report["used"], report["position"]) == (True, older)
        assert report["replayed_after"] > 0
        assert await _fingerprints(newsroom) == await _replayed_in_full(log)
    finally:
        await newsroom.stop()


async def test_a_shared_checkpoint_directory_keeps_every_file_checkpoints_did_not_make(
    tmp_path: Path,
) -> None:
    """`--checkpoint-path` may name a directory with other files in it (the log's own, say):
    writing checkpoints deletes none of them, only what checkpoints themselves left."""
    log = tmp_path / "newsroom.db"
    (tmp_path / "notes.txt").write_text("the operator's")
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "search-7.db.tmp").write_bytes(b"left by format 1")
    for round_ in range(3):
        newsroom = await _start(log, checkpoint_path=str(tmp_path))
        await _write(newsroom, 2, first_title=f"Round {round_}")
        head, prints = await newsroom.store.head(), await _fingerprints(newsroom)
        await newsroom.stop()
    again = await _start(log, checkpoint_path=str(tmp_path))
    try:
        report = (await again.health.report())["checkpoint"]
        assert (report["used"], report["position"]) == (True, head)
        assert await _fingerprints(again) == prints
    finally:
        await again.stop()
    names = [name for name in _names(tmp_path) if not name.startswith("newsroom.db")]
    assert names == [".lock", "lost+found", "notes.txt", "search-a.db", "search-b.db",
                     *_views_files]  # fmt: skip
    assert (tmp_path / "notes.txt").read_text() == "the operator's"


async def test_an_index_write_that_fails_during_a_checkpoint_stops_the_search_view(
    tmp_path: Path,
) -> None:
    """The index's pending writes are committed when a checkpoint holds it. If that commit
    fails (its disk is full), the writes are rolled back whole and the search view stops there
    and says why, as it would inside a dispatched batch: never a view that calls itself healthy
    while it has lost writes; the other views serve on."""
    newsroom = await _start(tmp_path / "newsroom.db")
    try:
        await _write(newsroom, 2)
        newsroom.views.search.index.flush()
        index = newsroom.views.search.index
        assert isinstance(index, Fts5Index)
        pages = index._db.execute("PRAGMA page_count").fetchone()[0]
        index._db.execute(f"PRAGMA max_page_count = {pages}")  # the temporary file's disk is full
        body = " ".join(f"word{n}" for n in range(5_000))
        done = await newsroom.commands.handle(create_article(title="Flood", body=body))
        await newsroom.views.wait_for(done.position, timeout=5)  # indexed, not yet committed
        await newsroom.checkpointer.save(newsroom.views, paced=False)
        assert "full" in (newsroom.checkpointer.failed or "")
        failure = newsroom.views.search_projector.failure
        assert failure is not None and "full" in failure.error
        report = await newsroom.health.report()
        assert report["projections"]["search"]["status"] != "running", report
        assert report["projections"]["feeds"]["status"] == "running"
        assert index._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with pytest.raises(ProjectionFailed, match="search view stopped"):
            newsroom.views.search  # noqa: B018 (the view is refused)
    finally:
        await newsroom.stop()


async def test_two_processes_never_share_a_checkpoint_directory(tmp_path: Path) -> None:
    """Each process writes its checkpoints into a directory it holds a lock on: a second one
    given the same `--checkpoint-path` does not start, and says why."""
    shared = str(tmp_path / "views")
    first = await _start(tmp_path / "one.db", checkpoint_path=shared)
    try:
        with pytest.raises(ConfigError, match="in use by another newsroom process"):
            await _start(tmp_path / "two.db", checkpoint_path=shared)
    finally:
        await first.stop()
    second = await _start(tmp_path / "two.db", checkpoint_path=shared)  # free again
    await second.stop()


async def test_a_slot_file_made_and_killed_before_its_wipe_is_passed_over_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kill between making a new slot's file and wiping its header leaves an empty file: it is
    a write that did not finish, not a damaged checkpoint."""
    log = tmp_path / "newsroom.db"
    before = await _log_with_checkpoint(log)
    (_views_dir(log) / "views-b.ckpt").write_bytes(b"")
    newsroom, lines = await _start_noting(log, caplog)
    try:
        assert not lines, lines
        assert (await newsroom.health.report())["checkpoint"]["used"] is True
        assert await _fingerprints(newsroom) == before
    finally:
        await newsroom.stop()


async def _edit(newsroom: Newsroom, article_id: int) -> None:
    await newsroom.commands.handle(UpdateArticle(article_id, title=f"Edited {article_id}"))


async def _in_parts_of_two(log: Path, monkeypatch: pytest.MonkeyPatch, articles: int) -> Newsroom:
    """A newsroom on `log` whose checkpoints hold the articles in parts of two, with
    `articles` written and a checkpoint of them saved."""
    monkeypatch.setattr("newsroom.projections.articles.PART_ARTICLES", 2)
    newsroom = await _start(log)
    await _write(newsroom, articles)
    await newsroom.checkpointer.save(newsroom.views)
    return newsroom


async def _save(newsroom: Newsroom) -> tuple[int, int]:
    """Save a checkpoint; its parts of the articles, and how many of them were packed anew."""
    await newsroom.checkpointer.save(newsroom.views)
    last = newsroom.checkpointer.last
    assert last is not None
    return last["parts"], last["parts_packed"]


async def _restart_serves_a_full_replay(log: Path) -> None:
    """Start on `log` from its newest checkpoint, with nothing left to replay after it: the
    views equal a full replay's."""
    newsroom = await _start(log)
    try:
        assert (await newsroom.health.report())["checkpoint"]["replayed_after"] == 0
        assert await _fingerprints(newsroom) == await _replayed_in_full(log)
    finally:
        await newsroom.stop()


async def test_a_checkpoint_copies_the_parts_no_event_changed_from_the_last_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Articles go into checkpoints in parts (two here) of the same articles each time: a
    write packs anew only the parts an event changed since the last checkpoint (written, or
    loaded at start) and copies the rest from its file; what it writes loads into the views a
    full replay builds."""
    log = tmp_path / "newsroom.db"
    newsroom = await _in_parts_of_two(log, monkeypatch, 10)  # articles 1 to 10: parts 0 to 4
    last = newsroom.checkpointer.last
    assert last is not None and (last["parts"], last["parts_packed"]) == (5, 5)
    await _edit(newsroom, 4)  # part 1
    await newsroom.commands.handle(create_article(title="Eleventh"))  # part 5, new
    assert await _save(newsroom) == (6, 2)
    await newsroom.stop()
    again = await _start(log)
    try:
        assert await _fingerprints(again) == await _replayed_in_full(log)
        await _edit(again, 9)  # part 4, after the checkpoint loaded at start
        assert await _save(again) == (6, 1)
    finally:
        await again.stop()
    await _restart_serves_a_full_replay(log)


CHANGED_ON_DISK: dict[str, Callable[[Path], None]] = {
    "bit-flipped at its end": lambda path: _flip(path, -1),
    "bit-flipped in its articles": lambda path: _flip(path, checkpoints.HEADER_SLOT + 10),
    "truncated": _truncate,
    "deleted": lambda path: path.unlink(),
}


@pytest.mark.parametrize("change", CHANGED_ON_DISK, ids=str)
async def test_a_last_checkpoint_changed_on_disk_is_not_copied_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    change: str,
) -> None:
    """If the last checkpoint's file changed after it was written, the next write does not
    copy from it: it fails, saying why (logged and in /healthz), and the one after packs every
    part anew; what that writes loads into the views a full replay builds."""
    log = tmp_path / "newsroom.db"
    newsroom = await _in_parts_of_two(log, monkeypatch, 6)
    try:
        CHANGED_ON_DISK[change](_views_file(_views_dir(log)))
        await _edit(newsroom, 1)
        with caplog.at_level(logging.WARNING, logger="newsroom.checkpointer"):
            await newsroom.checkpointer.save(newsroom.views)
        failed = (await newsroom.health.report())["checkpoint"]["last_failed"]
        if change == "deleted":
            assert failed.startswith("FileNotFoundError"), failed
        else:
            assert "changed since it was written" in failed, failed
        assert [r for r in caplog.records if "could not write" in r.getMessage()]
        await _edit(newsroom, 3)
        assert await _save(newsroom) == (3, 3)
    finally:
        await newsroom.stop()
    await _restart_serves_a_full_replay(log)


async def test_slots_linked_as_one_file_are_never_copied_onto_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If an operator makes the two slots' views files one file (a hard link), a write would
    copy the last checkpoint's parts out of the file it overwrites: it fails instead, saying
    why, and the next start serves what a full replay serves."""
    log = tmp_path / "newsroom.db"
    newsroom = await _in_parts_of_two(log, monkeypatch, 6)
    try:
        directory = _views_dir(log)
        (directory / "views-b.ckpt").unlink(missing_ok=True)
        (directory / "views-b.ckpt").hardlink_to(directory / "views-a.ckpt")
        await _edit(newsroom, 1)
        await newsroom.checkpointer.save(newsroom.views)
        failed = (await newsroom.health.report())["checkpoint"]["last_failed"]
        assert "the last checkpoint's own file" in failed, failed
    finally:
        await newsroom.stop()
    again = await _start(log)
    try:
        assert await _fingerprints(again) == await _replayed_in_full(log)
    finally:
        await again.stop()


async def test_a_write_cancelled_after_its_snapshot_leaves_the_next_packing_every_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot starts the count of changed parts afresh; a write cancelled after it
    (never the checkpointer's own, which lets a write finish) must not leave the next one
    copying parts from the checkpoint before, which lacks the changes in between."""
    log = tmp_path / "newsroom.db"
    newsroom = await _in_parts_of_two(log, monkeypatch, 6)
    try:
        await _edit(newsroom, 1)
        snapshot, taken = checkpoints.snapshot, asyncio.Event()

        def noted(*args: Any) -> checkpoints.Snapshot:
            taken.set()
            return snapshot(*args)

        monkeypatch.setattr(checkpoints, "snapshot", noted)
        writing = asyncio.create_task(newsroom.checkpointer.save(newsroom.views))
        await taken.wait()
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
        assert await _save(newsroom) == (3, 3)
    finally:
        await newsroom.stop()
    await _restart_serves_a_full_replay(log)


def test_the_checkpoint_thread_rests_in_proportion_to_each_piece_of_its_work() -> None:
    """`Pace.step` rests `rest` times as long as the work since the last step (or `start`)
    took, at least `at_least` times, none at all with no rest asked for, and none once
    hurried."""
    clock, rested = [10.0], list[float]()

    class Waits:  # a stand-in for the pace's event: notes each rest that is not cut short
        hurried = False

        def wait(self, timeout: float) -> bool:
            if not self.hurried:
                rested.append(timeout)
            return self.hurried

        def set(self) -> None:
            self.hurried = True

    paced, unpaced = Pace(20.0), Pace()
    for pace in paced, unpaced:
        pace._clock = lambda: clock[0]
        pace._hurried = Waits()  # type: ignore[assignment]
        pace.start()
    clock[0] += 0.002
    paced.step()
    unpaced.step()
    clock[0] += 0.001
    paced.step()
    unpaced.step(at_least=1.0)
    clock[0] += 5.0  # not work: `start` times the next piece afresh
    paced.start()
    clock[0] += 0.001
    paced.step()
    paced.hurry()
    clock[0] += 0.001
    paced.step(at_least=1.0)
    assert rested == pytest.approx([0.04, 0.02, 0.001, 0.02])


def test_a_rest_under_way_ends_when_the_pace_is_hurried() -> None:
    pace, waiting = Pace(rest=1e6), threading.Event()
    wait = pace._hurried.wait

    def noted(timeout: float | None = None) -> bool:
        waiting.set()
        return wait(timeout)

    pace._hurried.wait = noted  # type: ignore[method-assign]
    resting = threading.Thread(target=pace.step)
    resting.start()
    assert waiting.wait(30)
    pace.hurry()
    resting.join(timeout=30)
    assert not resting.is_alive()


async def test_a_checkpoint_written_while_serving_rests_after_each_piece_of_its_file_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While newsroom serves, every megabyte (a kilobyte here) the checkpoint writes is
    followed by a rest of `FILE_REST` times its time, and each step of the search index's copy
    by one of `SEARCH_REST` times, each timed from when the thread began that work (not from
    the write's start on the loop); the checkpoint of a stop, with nothing left to serve, does
    not rest."""
    monkeypatch.setattr("newsroom.checkpoint_body.FLUSH_EVERY", 1024)
    rests: list[tuple[float, float | str]] = []  # each step's rest factor, and its least
    start, step, add, flushes = Pace.start, Pace.step, Body.add, [0]

    def started(self: Pace) -> None:
        rests.append((self.rest, "start"))
        start(self)

    def noted(self: Pace, at_least: float = 0.0) -> None:
        rests.append((self.rest, at_least))
        step(self, at_least)

    def counted(self: Body, data: bytes) -> None:
        flushes[0] += self._unflushed + len(data) >= 1024  # this add flushes the body
        add(self, data)

    monkeypatch.setattr(Pace, "start", started)
    monkeypatch.setattr(Pace, "step", noted)
    monkeypatch.setattr(Body, "add", counted)
    log = tmp_path / "newsroom.db"
    newsroom = await _start(log)
    try:
        await _write(newsroom, 20)
        await newsroom.checkpointer.save(newsroom.views)
        assert rests.count((FILE_REST, 0.0)) >= flushes[0] >= 2  # pickles not counted
        assert rests.count((SEARCH_REST, 0.0)) >= 1
        for factor in FILE_REST, SEARCH_REST:  # the first piece is timed from the thread's start
            assert next(least for rest, least in rests if rest == factor) == "start"
        rests.clear()
        await _write(newsroom, 1)
    finally:
        await newsroom.stop()  # writes a checkpoint unpaced
    assert rests and {rest for rest, _ in rests} == {0.0}


async def test_a_stop_hurries_a_checkpoint_under_way_and_still_writes_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint written while serving may take long (it rests); a stop waits for it, so it
    first lets it finish without rests, then writes the stop's own checkpoint."""
    monkeypatch.setattr("newsroom.checkpointer.FILE_REST", 1e6)  # it would rest for days
    resting, step = threading.Event(), Pace.step

    def noted(self: Pace, at_least: float = 0.0) -> None:
        if self.rest == 1e6:  # the views file's pace, about to rest
            resting.set()
        step(self, at_least)

    monkeypatch.setattr(Pace, "step", noted)
    log = tmp_path / "newsroom.db"
    newsroom = await _start(log)
    try:
        await _write(newsroom, 3)
        writing = asyncio.create_task(newsroom.checkpointer.save(newsroom.views))
        assert await asyncio.to_thread(resting.wait, 30)
        await _write(newsroom, 1)
        stopping = asyncio.create_task(newsroom.stop())
        await asyncio.wait_for(asyncio.shield(stopping), timeout=60)
    finally:
        newsroom.checkpointer.hurry()  # if the stop did not: the thread must not rest on
    await stopping
    assert writing.done() and newsroom.checkpointer.written == 2
    await _restart_serves_a_full_replay(log)
