"""When view checkpoints are written and read: loaded once at start, written in the background
every N events or M minutes, and once more at a clean shutdown; what `/healthz` tells of them.

Writing one holds the event loop only in short stretches, each followed by ten times as long
left to requests (a request takes several turns of the loop, and would otherwise meet a stretch
at each): the parts of the articles that changed since the last checkpoint pickled one part (a
hundred articles) at a time (the others are copied from the last checkpoint's file), then the
views' state taken (`checkpoints.snapshot`: those packed parts, again the ones changed
meanwhile, copies of the lists), then the search index caught up a few articles at a time.
The copying of the search index, the pickling of the rest, the checksums and the file I/O run
on a low-priority worker thread. No write's reply waits for it: appends and the views go on
meanwhile; only the search index is held still (and caught up after), so that its copy is of
the same position as the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from newsroom import checkpoints
from newsroom.checkpoint_body import Pace, Parts
from newsroom.checkpoints import Checkpoint, Refused
from newsroom.errors import ConfigError, NewsroomError, ProjectionFailed, ViewTimeout
from newsroom.projections.views import Views
from newsroom.store import EventStore

log = logging.getLogger(__name__)
T = TypeVar("T")
RELEASE_STEP = 5  # articles the search index catches up on per turn of the loop
REST = 10.0  # after each stretch on the loop, the loop is left to the rest for 10 times as long
# The checkpoint thread's file work (reading and checksumming the last checkpoint, writing and
# flushing the new one: a few hundred megabytes at a million events) and its pickles rest 20
# times as long as each piece took, so the thread uses the disk and a core a 21st of the time.
# At full speed it took under a second, and the log's commits queued behind its flushes: writes
# that met one had 1.6x the p99 of writes that did not (docs/benchmarks.md, section 8). Paced,
# a checkpoint takes seconds to tens of seconds at that size; it is a cache, and its age at a
# restart only means that many more events to replay. The search index's copy rests only as
# long as each step took: the search view is held while it runs (new articles are found once
# it is done).
FILE_REST = 20.0
SEARCH_REST = 1.0


class Checkpointer:
    """Loads and writes the view checkpoints in `directory` (None: checkpoints are off)."""

    def __init__(
        self,
        directory: Path | None,
        store: EventStore,
        every_events: int,
        every_minutes: int,
    ) -> None:
        self.directory = directory
        self._store = store
        self._every_events = every_events
        self._every_minutes = every_minutes
        self._written = 0  # the position of the newest checkpoint on disk (or loaded)
        self._slot: str | None = None  # its slot: the next write goes to the other one
        # Where its parts of the articles are, for the next write to copy the unchanged ones
        # from; None after a failed write, whose snapshot the views counted changes from.
        self._parts: Parts | None = None
        self._writing = asyncio.Lock()  # one write at a time
        self._paces: tuple[_Hold, Pace, Pace] | None = None  # the write in progress's paces
        self._hurried = False
        self._lock: IO[bytes] | None = None  # the directory's lock file, held while running
        self.loaded: Checkpoint | None = None
        self.loaded_age = 0.0  # seconds, at start
        self.refused: str | None = None
        self.replayed_after = 0
        self.last: dict[str, Any] | None = None
        self.failed: str | None = None  # why the last attempt to write failed, if it did
        self.written = 0  # checkpoints written since start (for metrics)
        self.failures = 0  # attempts that failed since start
        self._worker: ThreadPoolExecutor | None = None

    async def load(self, views: Views) -> bool:
        """Fill fresh `views` from the checkpoint, if there is a usable one. False: there was
        none, or it was refused (one log line says why) and `views` must be built afresh."""
        if self.directory is None:
            return False
        try:
            self._lock = checkpoints.claim(self.directory)
        except checkpoints.InUse as e:
            raise ConfigError(str(e)) from None
        try:
            found = await checkpoints.load(views, self.directory, self._store)
        except NewsroomError:
            raise  # the log itself is damaged at the anchor: a full replay would stop there too
        except Refused as e:
            return self._refuse(str(e))
        except OSError as e:
            return self._refuse(f"it cannot be read: {e.strerror}")
        except Exception as e:  # a cache: anything unexpected means "do not use it"
            return self._refuse(f"it cannot be read ({type(e).__name__})")
        if found is None:
            log.info("no view checkpoint in %s: replaying the whole log", self.directory)
            return False
        self.loaded, self._written, self._slot = found, found.position, found.slot
        self._parts = found.parts
        self.loaded_age = (datetime.now(UTC) - found.created).total_seconds()
        log.info(
            "loaded the view checkpoint at position %s (%.0f s old)",
            f"{found.position:,}", self.loaded_age,
        )  # fmt: skip
        return True

    def _refuse(self, reason: str) -> bool:
        self.refused = reason
        log.warning(
            "view checkpoint in %s not used: %s; replaying the whole log", self.directory, reason
        )
        return False

    async def run(self, views: Views) -> None:
        """Write a checkpoint every `every_events` events or `every_minutes` minutes (if the
        views moved), until cancelled or the views stop."""
        if self.directory is None:
            return
        tried = self._written  # where a write was last tried: one skipped waits as one written
        while True:
            last = max(self._written, tried)
            target = last + self._every_events if self._every_events else None
            try:
                if target is None:
                    await asyncio.sleep(self._every_minutes * 60 if self._every_minutes else 1e9)
                else:
                    minutes = self._every_minutes * 60 if self._every_minutes else None
                    await views.wait_for(target, timeout=minutes)
            except ViewTimeout:
                pass
            except ProjectionFailed:
                return  # a stopped view has no state worth keeping
            # Shielded: a stop waits for a write in progress (`save` takes the lock) instead of
            # letting go of the search index while a thread still copies it.
            tried = views.position
            await asyncio.shield(self.save(views))

    async def save(self, views: Views, paced: bool = True) -> None:
        """Write a checkpoint of `views` if they moved since the last one; a failure to write
        is logged, never raised (the checkpoint is a cache). Unless `paced` is False (at a
        stop, with nothing left to serve), it leaves the event loop to requests most of the
        time."""
        if self.directory is None:
            return
        async with self._writing:
            if (
                views.position <= self._written
                or any(p.failure is not None for p in views.projectors)
                or not views.search_projector.projection.caught_up  # its build is under way
            ):
                return
            try:
                self.last = await self._write(views, self.directory, REST if paced else 0.0)
            except Exception as e:  # a cache: whatever went wrong (a full disk, say), serve on
                self._parts = None  # the views count changes from the snapshot that failed
                self.failures += 1
                self.failed = f"{type(e).__name__}: {e}"
                log.warning("could not write a view checkpoint in %s: %s", self.directory,
                            self.failed)  # fmt: skip
                # What the failed attempt left (its temporary files, a search copy no
                # checkpoint names) must not fill the disk the log needs.
                await self._in_background(checkpoints.tidy, self.directory)
                return
            except BaseException:  # cancelled: the views count changes from its snapshot too
                self._parts = None
                raise
            self.failed = None
            self.written += 1
            self._written, self._slot = self.last["position"], self.last["slot"]
            log.info(
                "wrote the view checkpoint at position %s in %.2f s "
                "(event loop held %.1f ms at most; %s of %s parts of the articles packed anew)",
                f"{self._written:,}", self.last["seconds"], self.last["loop_held_ms"],
                f"{self.last['parts_packed']:,}", f"{self.last['parts']:,}",
            )  # fmt: skip

    async def _write(self, views: Views, directory: Path, rest: float) -> dict[str, Any]:
        started, hold = time.perf_counter(), _Hold(rest)
        pace = Pace(FILE_REST if rest else 0.0)
        search_pace = Pace(SEARCH_REST if rest else 0.0)
        self._paces = hold, pace, search_pace
        if self._hurried:
            self.hurry()
        slot = await self._in_background(checkpoints.begin, directory, self._slot)
        hold.resume()
        reusable = self._parts
        for _ in views.articles.copy_in_steps(len(reusable.frames) if reusable else 0):
            await hold.pause()  # let requests and events in between steps
        views.search.flush()  # pending index writes, in a stretch of their own
        await hold.pause()
        taken = checkpoints.snapshot(views, reusable)
        try:
            await hold.pause()
            anchor = await self._store.anchor(taken.position)
            search = await self._in_background(checkpoints.save_search, views, slot, search_pace)
        except BaseException:
            views.search.release(sys.maxsize)  # all at once: nothing more to wait for
            raise
        hold.resume()
        try:
            while not views.search.release(RELEASE_STEP):
                await hold.pause()
        finally:
            views.search.release(sys.maxsize)  # if stopped on the way: never left held
        await hold.pause()
        if anchor is None:
            raise OSError(f"the log has no event at position {taken.position}")
        write = checkpoints.write
        written = await self._in_background(write, slot, taken, search, anchor, reusable, pace)
        self._parts = written.parts
        return {
            "position": written.position,
            "slot": written.slot,
            "parts": len(written.parts.frames),
            "parts_packed": written.copied,
            "created": written.created.isoformat(),
            "seconds": round(time.perf_counter() - started, 3),
            "loop_held_ms": round(hold.longest * 1000, 1),
        }

    def hurry(self) -> None:
        """Let the write in progress, and any after it, run without rests: at a stop, which
        waits for it, there is nothing left to serve."""
        self._hurried = True
        if self._paces is not None:
            hold, *paces = self._paces
            hold.rest = 0.0
            for pace in paces:
                pace.hurry()

    async def _in_background(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(*args)` on the checkpoint thread, which yields the CPU to the rest."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, "checkpoint", initializer=_lower_priority)
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, *args)

    def close(self) -> None:
        """Let the checkpoint thread end (after the write it may be doing)."""
        if self._worker is not None:
            self._worker.shutdown(wait=False)
        if self._lock is not None:
            self._lock.close()  # lets go of the directory (a write in progress has finished)

    def report(self) -> dict[str, Any]:
        """What `/healthz` shows: whether a checkpoint was used at start, and the last written."""
        if self.directory is None:
            return {"enabled": False}
        report: dict[str, Any] = {"enabled": True, "used": self.loaded is not None}
        if self.loaded is not None:
            report.update(
                position=self.loaded.position,
                created=self.loaded.created.isoformat(),
                age_seconds=round(self.loaded_age, 1),
                replayed_after=self.replayed_after,
            )
        if self.refused is not None:
            report["refused"] = self.refused
        report["last_written"] = self.last
        if self.failed is not None:
            report["last_failed"] = self.failed
        return report


def _lower_priority() -> None:
    """Give the checkpoint thread the lowest CPU priority (Linux schedules threads one by one):
    on a busy machine, requests and the log's writer thread run first."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class _Hold:
    """Paces a checkpoint's stretches on the event loop, and measures the longest."""

    def __init__(self, rest: float) -> None:
        self.longest = 0.0
        self.rest = rest
        self._since = time.perf_counter()

    async def pause(self) -> None:
        """End a stretch on the loop: note its length, then leave the loop to everything else
        for `rest` times as long. Not just one turn of the loop: a request takes several
        turns, and would meet a stretch at each of them."""
        stretch = time.perf_counter() - self._since
        self.longest = max(self.longest, stretch)
        await asyncio.sleep(stretch * self.rest)
        self.resume()

    def resume(self) -> None:
        """Start a stretch on the loop (after awaiting other work)."""
        self._since = time.perf_counter()
