"""The composition root: builds the store, bus, projections and command handler, and runs them.

The only module that names concrete adapters. `Newsroom.start` opens the store, replays the log
into fresh projections (logging progress when it takes a while), writes the demo articles on an
empty log, and returns the running system; `stop` finishes pending appends and closes the store.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.config import Settings
from newsroom.demo import write_demo_articles
from newsroom.errors import ConfigError
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.search import SearchProjection
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.projections.views import Views
from newsroom.store import EventStore
from newsroom.store.sqlite import SQLiteEventStore

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0  # seconds between replay progress lines


async def open_store(url: str) -> EventStore:
    """Open the event store named by `url` (`sqlite:///relative/path` or `sqlite:////abs/path`)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ConfigError("the sqlite store URL needs a file path: sqlite:///path/to/file.db")
        return await SQLiteEventStore.open(Path(path))
    if url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("PostgreSQL stores are not supported yet; use sqlite:///path")
    raise ConfigError(f"unknown store URL {url!r}; expected sqlite:///path/to/newsroom.db")


class Newsroom:
    """The running system: one store, one bus, the projections and the command handler."""

    def __init__(
        self, store: EventStore, settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.bus = Bus(store)
        articles = ArticlesProjection()
        feeds = FeedsProjection(articles, settings.feed_items)
        sitemaps = SitemapsProjection(articles)
        search = SearchProjection(articles, Fts5Index())
        self.views = Views(articles, feeds, sitemaps, search)
        self.dispatcher = Dispatcher(self.views.projectors, self.bus.subscribe)
        # Until the web layer asks `views`, which checks each view's health, it reaches the
        # views and their projectors directly, by these names.
        self.projectors = {p.name: p for p in self.views.projectors}
        self.articles, self.feeds, self.sitemaps, self.search = articles, feeds, sitemaps, search
        self.commands = CommandHandler(store, self.bus, clock)
        self.clock = clock
        self.started_at_head = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> Newsroom:
        """Open the store, replay the log into the projections, then seed the demo if empty."""
        store = await open_store(settings.store)
        newsroom = cls(store, settings, clock)
        try:
            await newsroom._run_projections()
            if settings.demo and newsroom.started_at_head == 0:
                position = await write_demo_articles(newsroom.commands)
                await newsroom.wait_for(position, timeout=10)
                log.info("wrote the demo articles (log position %d)", position)
        except BaseException:
            await newsroom.stop()
            raise
        return newsroom

    async def _run_projections(self) -> None:
        self.started_at_head = head = await self.store.head()
        self._task = asyncio.create_task(self.dispatcher.run(), name="projections")
        if head:
            log.info(
                "replaying %s events into %d projections", f"{head:,}", len(self.views.projectors)
            )
        started = time.monotonic()
        caught_up = asyncio.ensure_future(self._catch_up(head))
        # A replay builds millions of objects without a reference cycle among them; the cyclic
        # GC would rescan them all, again and again (a third of the replay time). So it rests
        # during the replay, and what was built is frozen out of its sight afterwards.
        collecting = gc.isenabled()
        gc.disable()
        try:
            while not (await asyncio.wait({caught_up}, timeout=PROGRESS_EVERY))[0]:
                self._log_progress(head, started)
            caught_up.result()  # a store failure during replay stops start-up
        finally:
            if collecting:
                gc.enable()
            if head:
                gc.freeze()
        if head:
            elapsed = time.monotonic() - started
            log.info("replayed %s events in %.1f s (%s events/s)",
                     f"{head:,}", elapsed, f"{head / max(elapsed, 1e-9):,.0f}")  # fmt: skip

    async def _catch_up(self, head: int) -> None:
        """Return when every projection reached `head` or stopped; raise if the store failed."""
        assert self._task is not None
        for projector in self.views.projectors:
            reached = asyncio.ensure_future(projector.wait_for(head, timeout=None))
            await asyncio.wait({reached, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if self._task.done():
                reached.cancel()
                self._task.result()  # raises the StoreError that stopped the dispatcher
                return  # or every projection stopped; health reports each
            reached.exception()  # ProjectionFailed if its apply raised: it stopped alone

    def _log_progress(self, head: int, started: float) -> None:
        done = min(p.position for p in self.views.projectors)
        rate = done / max(time.monotonic() - started, 1e-9)
        log.info("replay: %s of %s events (%s events/s)", f"{done:,}", f"{head:,}", f"{rate:,.0f}")

    async def wait_for(self, position: int, timeout: float) -> None:
        """Wait until the views have applied `position` (read-your-writes); see `Views`."""
        await self.views.wait_for(position, timeout)

    @property
    def position(self) -> int:
        """The log position the views reflect (each one still running is at it)."""
        return self.views.position

    def ready(self) -> bool:
        """True once every projection reached the head seen at start and none has failed."""
        return self.store.alive and all(
            p.failure is None and p.position >= self.started_at_head for p in self.views.projectors
        )

    async def health(self, fingerprints: bool = False) -> dict[str, Any]:
        """The state of the store and each projection, for /healthz and /readyz."""
        reports: dict[str, Any] = {}
        for p in self.views.projectors:
            view: dict[str, Any] = {"position": p.position, "status": "running"}
            if p.failure is not None:
                view.update(status="failed", failed_at=p.failure.position, error=p.failure.error)
            if fingerprints:
                view["fingerprint"] = p.projection.fingerprint()
            reports[p.name] = view
        healthy = self.store.alive and all(p.failure is None for p in self.views.projectors)
        return {
            "status": "ok" if healthy else "failing",
            "store": "running" if self.store.alive else "stopped",
            "head": await self.store.head(),
            "projections": reports,
        }

    async def stop(self) -> None:
        """Stop the projections, then let the store finish pending appends and close."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.store.close()
