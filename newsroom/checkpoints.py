"""View checkpoints on disk: the views' state with the log position it reflects, so that a start
replays only the events after it. A cache, never the truth: refused whenever in doubt, and
deleting it is always safe (the next start replays the whole log).

Checkpoints live in a directory (by default beside the SQLite log: `<log file>.views/`), in two
slots, `a` and `b`, written in turn; each slot is two files:
- `views-<slot>.ckpt`: a magic line, the header (JSON, with its length before it and its CRC-32
  after) in the first 4 KiB, then the body: the articles, feeds and sitemaps views' snapshots, in
  parts, pickled one after another (with its size and CRC-32 in the header). The articles come
  first, in parts of the same articles from one checkpoint to the next (`PART_ARTICLES`, in the
  order they came): a write copies the parts no event changed since the last checkpoint from
  that checkpoint's file (whose body's checksum is checked on the same reading, before the new
  header is written) instead of packing them anew, which is most of the work on a large log.
  Pickle is safe here because the file is our own, written by this program beside the log,
  and its checksum is verified before anything is unpickled (whoever can write that directory
  can write the log itself).
- `search-<slot>.db`: the search index at that position, an SQLite file that SQLite's backup
  API copies out of (and back into) the index. The header names it with its size and checksum.

A start loads the slot whose header names the later position. Writing one is atomic: the other
slot's header is wiped and flushed to disk first (from then on no start takes that slot), its
files are overwritten, flushed, and its header is written last, and flushed. A kill -9 at any
moment leaves the previous checkpoint, in the slot not being written, as it was. Slots are
overwritten in place rather than written anew and renamed because freeing a few hundred
megabytes at every checkpoint stalled the file system's journal, and with it the log's own
flushes: each write's reply waited up to tens of milliseconds (docs/benchmarks.md, section 8).

A checkpoint is loaded only if it provably belongs to this log and this code: its format and the
views' schema are this program's, the log's identity matches, and the event at its position is
still there with the same checksum (so a log that was replaced, re-imported, or truncated and
written again is noticed), and it is not ahead of the log's head.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import json
import logging
import os
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple

from newsroom.checkpoint_body import HEADER_SLOT, Pace, Parts, Reused, write_body
from newsroom.projections.articles import ArticlesState
from newsroom.projections.views import Views
from newsroom.store import EventStore

log = logging.getLogger(__name__)
FORMAT = 3  # the layout of the files; bump when it changes
# (3: the articles in parts of the same articles from one checkpoint to the next)
VIEWS_SCHEMA = 2  # the shape and meaning of the views' `snapshot()`s; bump when either changes
# (2: the all-news feed is there before any event, so a draft no longer stamps it)
MAGIC = b"newsroom view checkpoint\n"
SLOTS = ("a", "b")
LOCK_FILE = ".lock"  # held by the process that writes checkpoints here
FORMAT_1_FILE = "views.ckpt"  # format 1 kept one checkpoint, in this file (and a search copy)
CHUNK = 1024 * 1024  # bytes read at a time for checksums (zlib lets go of the interpreter)
PART_SIZE = 500  # list keys per pickled part (articles come packed by the view): well under 1 ms


class InUse(Exception):
    """Raised when another process holds the checkpoint directory."""


class Refused(Exception):
    """Raised when a checkpoint cannot be used; its message says why, for the one log line."""


class Wiped(Refused):
    """A slot whose header a write wiped and never wrote again (it was stopped or failed)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The views' state at one position, taken on the event loop; the search index is held
    (not written to) until `Views.search.release` caught up, so its copy is of this position.
    A part of the articles that is None is the last checkpoint's (see `ArticlesState`)."""

    position: int
    articles: ArticlesState
    feeds: object
    sitemaps: object

    def parts(self) -> Iterator[tuple[str, object]]:
        """(view, part) pairs, each small enough to pickle without holding the loop long."""
        for part in self.articles.parts(PART_SIZE):
            yield "articles", part
        yield "feeds", self.feeds
        yield "sitemaps", self.sitemaps


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint on disk: the position it reflects, when it was written, its slot, and
    where its parts of the articles are; `copied` of them were packed anew when it was written
    (the others taken from the checkpoint before)."""

    position: int
    created: datetime
    slot: str
    parts: Parts
    copied: int = 0


@dataclass(frozen=True, slots=True)
class Slot:
    """One of the two places a checkpoint is written to, in `directory`."""

    directory: Path
    name: str

    @property
    def views(self) -> Path:
        return self.directory / f"views-{self.name}.ckpt"

    @property
    def search(self) -> Path:
        return self.directory / f"search-{self.name}.db"


class Written(NamedTuple):
    """A slot that holds a checkpoint, and its header."""

    slot: Slot
    header: dict[str, Any]

    @property
    def position(self) -> int:
        position: int = self.header["position"]
        return position


def snapshot(views: Views, reusable: Parts | None = None) -> Snapshot:
    """Take the views' state at their position and hold the search index; on the event loop,
    between two events, so every view is at the same position. The parts of the articles
    that `reusable` (the last checkpoint's) holds and no event changed since are left out:
    `write` takes them from there."""
    articles, feeds, sitemaps = views.articles, views.feeds, views.sitemaps
    kept = articles.snapshot(len(reusable.frames) if reusable else 0)
    taken = Snapshot(views.position, kept, feeds.snapshot(), sitemaps.snapshot())
    views.search.hold()
    return taken


def claim(directory: Path) -> IO[bytes] | None:
    """Lock `directory` for this process (the lock lasts while the returned file is open): two
    processes writing checkpoints into one directory would overwrite each other's slots.
    `InUse` if another process holds it; None (with a log line) if the lock file cannot be
    made, in which case writes will fail and say why."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = (directory / LOCK_FILE).open("ab")
    except OSError as e:
        log.warning("cannot lock the view checkpoint directory %s: %s", directory, e.strerror)
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise InUse(
            f"the view checkpoint directory {directory} is in use by another newsroom process; "
            "give each process a --checkpoint-path of its own"
        ) from None
    return lock


def tidy(directory: Path) -> None:
    """Delete what no checkpoint needs, among the files checkpoints make: a slot whose header was
    wiped by a write that did not finish (and its search copy), and the files of format 1. Other
    files are left alone: the directory may be shared. Never raises (a cache)."""
    written = {found.slot.name for found in _written(directory)[0]}
    doomed = [directory / FORMAT_1_FILE, *directory.glob("search-[0-9]*.db")]
    doomed += [*directory.glob("views.ckpt.tmp"), *directory.glob("search-[0-9]*.db.tmp")]
    for slot in (Slot(directory, name) for name in SLOTS):
        if slot.name not in written:
            doomed += [slot.views, slot.search]
    for path in doomed:
        with contextlib.suppress(OSError):
            if path.is_file():
                path.unlink()


def begin(directory: Path, keep: str | None) -> Slot:
    """Choose the slot to write, never `keep` (the slot of the checkpoint loaded at start or
    written last: the one a start would use if this write does not finish), and wipe its header
    (a new slot's file starts so), flushed to disk: until the new header is written, no start
    takes that slot. Without `keep`, a slot holding no checkpoint goes first, then the older.
    On a worker thread."""
    directory.mkdir(parents=True, exist_ok=True)
    tidy(directory)  # what a failed or killed attempt left behind
    if keep is None:
        written = sorted(_written(directory)[0], key=lambda found: found.position)
        empty = [name for name in SLOTS if name not in {found.slot.name for found in written}]
        name = empty[0] if empty else written[0].slot.name
    else:
        name = SLOTS[1] if keep == SLOTS[0] else SLOTS[0]
    slot = Slot(directory, name)
    fd = os.open(slot.views, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, bytes(len(MAGIC)))
        os.fdatasync(fd)
    finally:
        os.close(fd)
    return slot


def newest(directory: Path) -> Slot | None:
    """The slot holding the checkpoint of the later position, if any holds one."""
    last = max(_written(directory)[0], key=lambda found: found.position, default=None)
    return None if last is None else last.slot


def save_search(views: Views, slot: Slot, pace: Pace | None = None) -> Path:
    """Copy the held search index into the slot's search file (on a worker thread), at `pace`."""
    pace = pace or Pace()
    pace.start()
    views.search.index.save(slot.search, pace.step)
    _flush(slot.search)
    return slot.search


def write(
    slot: Slot,
    taken: Snapshot,
    search: Path,
    anchor: tuple[str, int],
    reusable: Parts | None = None,
    pace: Pace | None = None,
) -> Checkpoint:
    """Write the slot's views file for `taken`, its header last (on a worker thread); the
    parts of the articles `taken` left out are copied from `reusable`, the last checkpoint
    (`OSError` if that file changed since it was written)."""
    created, pace = datetime.now(UTC), pace or Pace()
    pace.start()
    fd = os.open(slot.views, os.O_RDWR | os.O_CREAT, 0o644)
    needed = any(packed is None for packed in taken.articles.articles)
    with os.fdopen(fd, "r+b") as f, Reused(reusable, needed, slot.views, pace) as reused:
        f.seek(HEADER_SLOT)
        size, crc, frames = write_body(f, taken.parts(), reused, pace)
        f.truncate()
        f.flush()
        os.fdatasync(f.fileno())  # the body is on disk before a header can name it
        header = {
            "format": FORMAT,
            "views_schema": VIEWS_SCHEMA,
            "log": anchor[0],
            "position": taken.position,
            "anchor_checksum": anchor[1],
            "created": created.isoformat(),
            "body_size": size,
            "body_crc": crc,
            "article_part_size": taken.articles.part_size,
            "search_file": search.name,
            "search_size": search.stat().st_size,
            "search_crc": _file_crc(search, pace),
        }
        encoded = json.dumps(header).encode()
        f.seek(0)
        f.write(MAGIC + len(encoded).to_bytes(4, "big") + encoded)
        f.write(zlib.crc32(encoded).to_bytes(4, "big"))
        f.flush()
        os.fsync(f.fileno())
    _flush(slot.directory)
    parts = Parts(slot.views, size, crc, frames)
    copied = sum(packed is not None for packed in taken.articles.articles)
    return Checkpoint(taken.position, created, slot.name, parts, copied)


async def load(views: Views, directory: Path, store: EventStore) -> Checkpoint | None:
    """Fill fresh `views` from the newest checkpoint in `directory` that belongs to this log:
    None if there is none; `Refused` (saying why) if none can be used, in which case `views`
    may be half filled: build new. A slot that does not belong to this log (say, from before
    the log was restored from an older copy) is passed over for the other, with a log line."""
    slots, refused = await asyncio.to_thread(_written, directory)
    if not slots and not refused:
        if (directory / FORMAT_1_FILE).exists():
            raise Refused(f"it is in format 1 ({FORMAT_1_FILE}); this newsroom reads {FORMAT}")
        return None
    chosen: Written | None = None
    for found in sorted(slots, key=lambda found: found.position, reverse=True):
        try:
            await _belongs(found.header, store)
        except Refused as e:
            refused.append(f"{found.slot.views.name}: {e}")
            continue
        chosen = found
        break
    if chosen is None:
        raise Refused("; ".join(refused))
    for reason in refused:
        log.warning("view checkpoint not used: %s; the other slot's is", reason)
    slot, header = chosen
    search = directory / header["search_file"]
    # SQLite copies the search index without holding the interpreter: beside the reading.
    body, _ = await asyncio.gather(
        asyncio.to_thread(_read_body, slot.views, header),
        asyncio.to_thread(_load_search, views, search, header),
    )
    size = header.get("article_part_size")
    if not isinstance(size, int) or size < 1:
        raise Refused("its header names no size for the parts of its articles")
    views.articles.part_size = size
    try:
        frames = _restore(views, body)
    except ValueError as e:
        raise Refused(str(e)) from e
    del body
    try:  # the index keeps no text of its own: it takes the restored articles view's
        views.search.index.relink(views.articles.published_text)
    except ValueError as e:
        raise Refused(f"its search index does not match its articles: {e}") from e
    position = header["position"]
    for projector in views.projectors:
        projector.position = position
    parts = Parts(slot.views, header["body_size"], header["body_crc"], frames)
    return Checkpoint(position, datetime.fromisoformat(header["created"]), slot.name, parts)


async def _belongs(header: dict[str, Any], store: EventStore) -> None:
    """Raise `Refused` unless the checkpoint of `header` belongs to the log of `store`."""
    position = header["position"]
    if position > await store.head():
        raise Refused(f"it is at position {position}, ahead of the log's head")
    anchor = await store.anchor(position)
    if anchor is None or anchor.log != header["log"]:
        raise Refused("it belongs to another log")
    if anchor.checksum != header["anchor_checksum"]:
        raise Refused(
            f"the event at its position {position} is not the one it was taken at "
            "(the log was replaced, re-imported or rewritten)"
        )


def _written(directory: Path) -> tuple[list[Written], list[str]]:
    """The slots holding a checkpoint, with their headers, and why the others that are there
    cannot be used (a slot whose header a write wiped and never wrote again is not one)."""
    found, refused = [], []
    for slot in (Slot(directory, name) for name in SLOTS):
        try:
            found.append(Written(slot, _read_header(slot.views)))
        except (FileNotFoundError, Wiped):
            continue
        except Refused as e:
            refused.append(f"{slot.views.name}: {e}")
        except (OSError, ValueError) as e:
            refused.append(f"{slot.views.name}: it cannot be read ({type(e).__name__})")
    return found, refused


def _read_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        magic = f.read(len(MAGIC))
        if magic == bytes(len(magic)):  # wiped, or made and not yet wiped (a kill in between)
            raise Wiped("its write did not finish")
        if magic != MAGIC:
            raise Refused("it is not a newsroom view checkpoint")
        size = int.from_bytes(_exactly(f, 4), "big")
        if size > HEADER_SLOT:
            raise Refused("its header is damaged")
        encoded = _exactly(f, size)
        if int.from_bytes(_exactly(f, 4), "big") != zlib.crc32(encoded):
            raise Refused("its header fails its checksum")
    header: dict[str, Any] = json.loads(encoded)
    if header.get("format") != FORMAT:
        raise Refused(f"it is in format {header.get('format')}; this newsroom reads {FORMAT}")
    if header.get("views_schema") != VIEWS_SCHEMA:
        raise Refused(
            f"its views have schema {header.get('views_schema')}; this newsroom's have "
            f"{VIEWS_SCHEMA}"
        )
    return header


def _read_body(path: Path, header: dict[str, Any]) -> bytes:
    """The body, once it passed its checksum."""
    with path.open("rb") as f:
        f.seek(HEADER_SLOT)
        body = f.read(header["body_size"] + 1)
    if len(body) != header["body_size"]:
        raise Refused(
            f"it is truncated or padded ({len(body):,} body bytes, not {header['body_size']:,})"
        )
    if zlib.crc32(body) != header["body_crc"]:
        raise Refused("its body fails its checksum")
    return body


def _restore(views: Views, body: bytes) -> list[tuple[int, int]]:
    """Fill the views from a verified body, one part at a time: each part is let go as soon as
    it is restored, so the body's pieces are never all held beside the views they fill (they
    would leave as much memory again in holes the allocator keeps). Returns where the parts of
    the articles are in the body (offset and size), for the next write to copy from."""
    frames = io.BytesIO(body)
    feeds: list[Any] = []
    sitemaps: list[Any] = []
    rows: list[tuple[int, int]] = []
    while (start := frames.tell()) < len(body):
        view, part = pickle.load(frames)  # our own file, its checksum verified
        if view == "articles":
            if part[0] == "rows":
                rows.append((start, frames.tell() - start))
            views.articles.restore((part,))
        elif view in ("feeds", "sitemaps"):
            (feeds if view == "feeds" else sitemaps).append(part)
        else:
            raise Refused(f"its body holds a part of an unknown view {view!r}")
        del part
    views.feeds.restore(feeds)
    views.sitemaps.restore(sitemaps)
    return rows


def _load_search(views: Views, path: Path, header: dict[str, Any]) -> None:
    if not path.is_file():
        raise Refused(f"its search index copy {path.name} is missing")
    if path.stat().st_size != header["search_size"] or _file_crc(path) != header["search_crc"]:
        raise Refused(f"its search index copy {path.name} is damaged")
    views.search.index.restore(path)


def _exactly(f: BinaryIO, size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise Refused("it is truncated")
    return data


def _file_crc(path: Path, pace: Pace | None = None) -> int:
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            if pace is not None:
                pace.step()
    return crc


def _flush(path: Path) -> None:
    """fsync a file or a directory (a rename is durable once its directory is flushed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
