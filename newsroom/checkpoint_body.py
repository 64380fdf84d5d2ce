"""The body of a view checkpoint's views file, as it is written (on the checkpoint thread): the
views' parts pickled one after another, and each run of the articles' parts that no event
changed since the last checkpoint copied from that checkpoint's file, which is checksummed on
the same reading. Where each part of the articles lands (`Parts`) is kept for the next write.
The checkpoint thread's file work, here and in the search index's copy, is paced (`Pace`): it
rests in proportion to each piece, so that the log's commits seldom wait behind its flushes.
`checkpoints` holds the rest of the file (its header, the slots) and the loading.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from newsroom.projections.articles import Part

HEADER_SLOT = 4096  # bytes before the body, for the header (a few hundred bytes) and its framing
FLUSH_EVERY = 1024 * 1024  # bytes written between two flushes to disk


class Pace:
    """How the checkpoint thread shares the machine with the requests and the log's writer: after
    each piece of its file work (a megabyte read and checksummed, or written and flushed, a step
    of the search index's copy), it rests `rest` times as long as the piece took. A checkpoint
    is a cache written in the background; taking longer costs nothing, while running at full
    speed beside the log's commits on a small machine slows the writes that meet it."""

    def __init__(self, rest: float = 0.0) -> None:
        self.rest = rest
        self._clock = time.perf_counter
        self._since = self._clock()
        self._hurried = threading.Event()

    def start(self) -> None:
        """Time the first piece of work from now (the thread's work begins)."""
        self._since = self._clock()

    def step(self, at_least: float = 0.0) -> None:
        """A piece of work ended: rest in proportion to it (at least `at_least` times as long,
        unless hurried), then time the next from now."""
        if rest := max(self.rest, at_least):
            self._hurried.wait((self._clock() - self._since) * rest)
        self._since = self._clock()

    def hurry(self) -> None:
        """Rest no more, from the rest under way on (at a stop: nothing is left to serve)."""
        self.rest = 0.0
        self._hurried.set()


@dataclass(frozen=True, slots=True)
class Parts:
    """Where a checkpoint's parts of the articles are in its views file, for the next write to
    copy those unchanged since: the file, its body's size and checksum, and each part's frame
    (its offset in the body, and its size)."""

    path: Path
    body_size: int
    body_crc: int
    frames: list[tuple[int, int]]


class Reused:
    """The last checkpoint's views file, for `write` to copy parts of the articles from. Its
    body is read once, from start to end, and checksummed on that same reading: `check` says
    at the end whether what was copied is what that checkpoint wrote (before the new header
    is written). Nothing is opened if no part is to be copied."""

    def __init__(self, parts: Parts | None, needed: bool, target: Path, pace: Pace) -> None:
        self._parts, self._needed, self._target, self._pace = parts, needed, target, pace
        self._file: BinaryIO | None = None
        self._read = self._crc = 0  # how much of its body was read so far, and its CRC-32

    def __enter__(self) -> Reused:
        if not self._needed:
            return self
        if self._parts is None:
            raise ValueError("a snapshot that reuses parts needs the checkpoint they are in")
        self._file = self._parts.path.open("rb")
        try:
            if os.path.samefile(self._file.fileno(), self._target):  # the slots linked as one
                raise OSError(f"{self._target.name} is the last checkpoint's own file")
            self._file.seek(HEADER_SLOT)
        except BaseException:
            self._file.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def copy(self, first: int, count: int, body: Body) -> list[tuple[int, int]]:
        """Copy the frames of the articles' parts `first` to `first + count - 1` from the last
        checkpoint (where they lie one after another) into `body`, a megabyte at a time (a
        few calls that let go of the interpreter, not a few per part); return where they are
        in `body`."""
        assert self._parts is not None
        run = self._parts.frames[first : first + count]
        start = run[0][0]
        moved = [(body.size + offset - start, size) for offset, size in run]
        self._read_up_to(start)  # the frames between (of changed parts): read, not copied
        self._read_up_to(run[-1][0] + run[-1][1], body)
        return moved

    def check(self) -> None:
        """`OSError` unless the body read (and copied from) is the one the last checkpoint
        wrote: the rest of it is read, and the checksum of all of it compared."""
        if self._file is None:
            return
        assert self._parts is not None
        self._read_up_to(self._parts.body_size)
        if self._file.read(1) or self._crc != self._parts.body_crc:
            raise self._changed()

    def _read_up_to(self, offset: int, body: Body | None = None) -> None:
        assert self._file is not None
        while self._read < offset:
            chunk = self._file.read(min(FLUSH_EVERY, offset - self._read))
            if not chunk:
                raise self._changed()
            self._read, self._crc = self._read + len(chunk), zlib.crc32(chunk, self._crc)
            if body is not None:
                body.add(chunk)  # rests for both
            else:
                self._pace.step()

    def _changed(self) -> OSError:
        assert self._parts is not None
        return OSError(f"the last checkpoint {self._parts.path.name} changed since it was "
                       "written: its parts cannot be copied")  # fmt: skip


class Body:
    """A body as it is written: its size and CRC-32 so far. What is written goes to disk every
    megabyte or so, so a final fsync never has a large backlog to write while the log's own
    commits wait behind it."""

    def __init__(self, f: BinaryIO, pace: Pace) -> None:
        self._f, self._pace = f, pace
        self.size = self.crc = self._unflushed = 0

    def add(self, data: bytes) -> None:
        self._f.write(data)
        self.size, self.crc = self.size + len(data), zlib.crc32(data, self.crc)
        self._unflushed += len(data)
        if self._unflushed >= FLUSH_EVERY:
            self._f.flush()
            os.fdatasync(self._f.fileno())
            self._unflushed = 0
            self._pace.step()


def write_body(
    f: BinaryIO, parts: Iterable[tuple[str, object]], reused: Reused, pace: Pace
) -> tuple[int, int, list[tuple[int, int]]]:
    """Write the parts one pickle after another, and for each run of the articles' parts that
    `taken` left out, the frames the last checkpoint holds; return the body's size and CRC-32,
    and where the articles' parts are in it."""
    body = Body(f, pace)
    frames: list[tuple[int, int]] = []
    unchanged = 0  # parts left out just before this one, to copy in one run
    for view, part in parts:
        if view == "articles" and part == ("rows", None):  # unchanged since the last checkpoint
            unchanged += 1
            continue
        if unchanged:
            frames += reused.copy(len(frames), unchanged, body)
            unchanged = 0
        frame = pickle.dumps((view, part), protocol=pickle.HIGHEST_PROTOCOL)
        # Pickling holds the interpreter, which the event loop then waits for: rest at least as
        # long as it took (unless hurried), so the loop finds it free at least half of the time.
        pace.step(at_least=1.0)
        if view == "articles" and cast(Part, part)[0] == "rows":
            frames.append((body.size, len(frame)))
        body.add(frame)
    if unchanged:
        frames += reused.copy(len(frames), unchanged, body)
    reused.check()
    return body.size, body.crc, frames
