"""The search index's build after the replay at start: each published article once, in bulk,
on a thread, while the other views already serve.

During the replay the search view holds its changes back (`SearchProjection.defer`). Then the
build takes the articles changed (every one, on a full replay), asks the view for what each
should hold now, a few thousand per turn of the event loop, and loads them into the index on a
worker thread: SQLite lets go of the GIL while it tokenizes and writes, so the event loop keeps
answering meanwhile. Articles that change during the build are held back again by the view and
indexed by `resume`, on the event loop, once the load is done; from then on the view is caught
up. The machinery (the thread, the progress) lives here, not in the view, so that the view stays
plain data a checkpoint can save.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from newsroom.projections.base import Projector
from newsroom.projections.search import Document, SearchProjection

log = logging.getLogger(__name__)
GATHER_EVERY = 5_000  # articles looked up per turn of the event loop before the load


class BuildStopped(Exception):
    """Raised inside the load when newsroom stops before the build is done."""


class SearchBuild:
    """Builds the search index once after the replay; reports how far it got."""

    def __init__(self, projector: Projector[SearchProjection]) -> None:
        self._projector = projector
        self.total = 0
        """Articles to load (published ones, once the build has gathered them)."""
        self.loaded = 0
        self.seconds: float | None = None
        """How long the build took, once it is done."""
        self._stopping = False

    async def run(self) -> None:
        """Gather, load and resume; a failure stops the search view alone, as any view's."""
        search = self._projector.projection
        started = time.monotonic()
        try:
            documents = await self._gather(search)
            self.total = len(documents)
            await asyncio.to_thread(search.index.load, documents, self._loaded)
            search.resume()
        except BuildStopped:
            return
        except Exception as e:  # the view's own failure; the other views serve on
            self._projector.fail(self._projector.position, f"{type(e).__name__}: {e}")
            return
        self.seconds = time.monotonic() - started
        rate = self.total / max(self.seconds, 1e-9)
        log.info("search index built: %s articles in %.1f s (%s articles/s)",
                 f"{self.total:,}", self.seconds, f"{rate:,.0f}")  # fmt: skip

    def stop(self) -> None:
        """Make a load in progress stop after its current transaction."""
        self._stopping = True

    def report(self) -> dict[str, Any]:
        """For /healthz: whether the index is caught up, and how far its build got."""
        caught_up = self._projector.projection.caught_up
        report: dict[str, Any] = {"caught_up": caught_up, "loaded": self.loaded, "of": self.total}
        if self.seconds is not None:
            report["seconds"] = round(self.seconds, 3)
        return report

    async def _gather(self, search: SearchProjection) -> list[Document]:
        ids = search.take_changed()
        documents: list[Document] = []
        for start in range(0, len(ids), GATHER_EVERY):
            for article_id in ids[start : start + GATHER_EVERY]:
                if (document := search.document(article_id)) is not None:
                    documents.append(document)
            await asyncio.sleep(0)  # let the loop answer what arrived meanwhile
            if self._stopping:
                raise BuildStopped
        return documents

    def _loaded(self, count: int) -> None:
        """Called on the worker thread after each transaction of the load."""
        self.loaded += count
        if self._stopping:
            raise BuildStopped
