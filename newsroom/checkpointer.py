"""When view checkpoints are written and read: loaded once at start, written in the background
every N events or M minutes, and once more at a clean shutdown; what `/healthz` tells of them.

Writing one holds the event loop only while the views' state is taken (`checkpoints.snapshot`:
references to immutable objects and copies of lists) and while the search index is let go again;
the copying, pickling, checksumming and file I/O run on a worker thread. No write's reply waits
for it: appends and the views go on meanwhile; only the search index is held still (and caught
up after), so its copy is of the same position as the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsroom import checkpoints
from newsroom.checkpoints import Checkpoint, Refused
from newsroom.errors import NewsroomError, ProjectionFailed, ViewTimeout
from newsroom.projections.views import Views
from newsroom.store import EventStore

log = logging.getLogger(__name__)


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
        self._lock = asyncio.Lock()  # one write at a time
        self.loaded: Checkpoint | None = None
        self.loaded_age = 0.0  # seconds, at start
        self.refused: str | None = None
        self.replayed_after = 0
        self.last: dict[str, Any] | None = None

    async def load(self, views: Views) -> bool:
        """Fill fresh `views` from the checkpoint, if there is a usable one. False: there was
        none, or it was refused (one log line says why) and `views` must be built afresh."""
        if self.directory is None:
            return False
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
        self.loaded, self._written = found, found.position
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
        while True:
            target = self._written + self._every_events if self._every_events else None
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
            await self.save(views)

    async def save(self, views: Views) -> None:
        """Write a checkpoint of `views` if they moved since the last one; a failure to write
        is logged, never raised (the checkpoint is a cache)."""
        if self.directory is None:
            return
        async with self._lock:
            if views.position <= self._written or any(
                p.failure is not None for p in views.projectors
            ):
                return
            try:
                self.last = await self._write(views, self.directory)
            except (OSError, NewsroomError) as e:
                log.warning("could not write a view checkpoint in %s: %s", self.directory, e)
                return
            self._written = self.last["position"]
            log.info(
                "wrote the view checkpoint at position %s in %.2f s (event loop held %.1f ms)",
                f"{self._written:,}", self.last["seconds"], self.last["loop_held_ms"],
            )  # fmt: skip

    async def _write(self, views: Views, directory: Path) -> dict[str, Any]:
        started = time.perf_counter()
        taken = checkpoints.snapshot(views)
        held = time.perf_counter() - started
        try:
            anchor = await self._store.anchor(taken.position)
            search = await asyncio.to_thread(
                checkpoints.save_search, views, directory, taken.position
            )
        finally:
            released = time.perf_counter()
            views.search.release()
            held += time.perf_counter() - released
        if anchor is None:
            raise OSError(f"the log has no event at position {taken.position}")
        written = await asyncio.to_thread(checkpoints.write, directory, taken, search, anchor)
        return {
            "position": written.position,
            "created": written.created.isoformat(),
            "seconds": round(time.perf_counter() - started, 3),
            "loop_held_ms": round(held * 1000, 1),
        }

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
        return report
