"""The composition root: builds the store, bus, views, command handler and history, and runs them.

The only module that names concrete adapters. `Newsroom.start` opens the store, fills fresh views
from the view checkpoint when there is a usable one (`checkpointer.py`), replays the rest of the
log into them (logging progress when it takes a while), starts the search index's build in the
background after a full replay (search answers 503 until it is done; the other views serve at
once), writes the demo articles on an empty log, and returns the running system; `stop` saves a
checkpoint, finishes pending appends and closes the store. It composes and nothing more: what the
web layer uses are the parts (`views`, `commands`, `history`, `health`), each handed to it on its
own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from newsroom.bus import Bus
from newsroom.checkpointer import Checkpointer
from newsroom.commands import CommandHandler
from newsroom.config import Settings
from newsroom.demo import write_demo_articles
from newsroom.errors import ConfigError, StoreCorrupted, StoreUnrecognised
from newsroom.gates import Gate, Pace
from newsroom.health import Health
from newsroom.history import History
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher
from newsroom.projections.feeds import FeedsProjection
from newsroom.projections.search import SearchProjection
from newsroom.projections.search_build import SearchBuild
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.sitemaps import SitemapsProjection
from newsroom.projections.views import Views
from newsroom.runtime import collector_paused, release_free_memory
from newsroom.store import EventStore, SharedEventStore
from newsroom.store.integrity import Progress, Verdict
from newsroom.store.sqlite import SQLiteEventStore
from newsroom.store.sqlite_backup import backup_file
from newsroom.store.sqlite_transfer import SQLiteSource, SQLiteTarget
from newsroom.store.sqlite_verify import verify_file
from newsroom.store.transfer import LogSource, LogTarget

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0  # seconds between replay progress lines
SHORT_WAIT = 1.0  # seconds work waits for a turn at its gate before the client is told "busy"


async def open_store(url: str) -> EventStore:
    """Open the event store named by `url`: `sqlite:///relative/path`, `sqlite:////abs/path`,
    or `postgresql://user:password@host:port/database`."""
    if is_postgres(url):
        with _asyncpg_needed():
            from newsroom.store.postgres import PostgresEventStore
        return await PostgresEventStore.open(url)
    return await SQLiteEventStore.open(sqlite_path(url))


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def backup_store(url: str, destination: Path, progress: Progress | None = None) -> Verdict:
    """Copy the live SQLite log named by `url` to `destination` and verify the copy (blocking)."""
    if is_postgres(url):
        raise ConfigError(
            "backup copies an SQLite log; for PostgreSQL use pg_dump (or python -m newsroom "
            "export), see the README's 'Operating newsroom'"
        )
    return backup_file(sqlite_path(url), destination, progress)


def verify_store(url: str, progress: Progress | None = None) -> Verdict:
    """Check the whole log named by `url`, reading only (blocking: run it on a thread)."""
    if is_postgres(url):
        with _asyncpg_needed():
            from newsroom.store.postgres_verify import verify_database
        return asyncio.run(verify_database(url, progress))
    return verify_file(sqlite_path(url), progress)


def log_source(url: str) -> contextlib.AbstractAsyncContextManager[LogSource]:
    """The log named by `url`, to export: `async with log_source(url) as source: ...`."""
    if is_postgres(url):
        with _asyncpg_needed():
            from newsroom.store.postgres_transfer import PostgresSource
        return PostgresSource.reading(url)
    return SQLiteSource.reading(sqlite_path(url))


def log_target(url: str) -> contextlib.AbstractAsyncContextManager[LogTarget]:
    """The empty store named by `url`, to import into: `async with log_target(url) as target:
    ...`; nothing shows in it unless `target.commit` is reached."""
    if is_postgres(url):
        with _asyncpg_needed():
            from newsroom.store.postgres_transfer import PostgresTarget
        return PostgresTarget.writing(url)
    return SQLiteTarget.writing(sqlite_path(url))


@contextlib.contextmanager
def _asyncpg_needed() -> Iterator[None]:
    """Around the import of a PostgreSQL adapter: asyncpg is an optional extra."""
    try:
        yield
    except ImportError:
        raise ConfigError(
            "a PostgreSQL store needs the asyncpg driver: pip install 'newsroom[postgres]'"
        ) from None


def sqlite_path(url: str) -> Path:
    """The file an `sqlite:///path` store URL names; a `ConfigError` for any other URL."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ConfigError("the sqlite store URL needs a file path: sqlite:///path/to/file.db")
        return Path(path)
    if is_postgres(url):
        raise ConfigError("this needs an SQLite log (sqlite:///path), not a PostgreSQL one")
    raise ConfigError(
        f"unknown store URL {url!r}; expected sqlite:///path/to/newsroom.db "
        "or postgresql://user:password@host:port/database"
    )


def checkpoint_directory(settings: Settings, store: EventStore) -> Path | None:
    """Where the view checkpoints go: `--checkpoint-path`, else beside an SQLite log; None: off."""
    if not settings.checkpoints:
        return None
    if settings.checkpoint_path:
        return Path(settings.checkpoint_path)
    if isinstance(store, SQLiteEventStore):
        return Path(store.location + ".views")
    log.info("view checkpoints are off: the store is not a file; set --checkpoint-path")
    return None


def build_views(settings: Settings) -> Views:
    """Fresh, empty views; search on SQLite FTS5, in a temporary file."""
    articles = ArticlesProjection()
    return Views(
        articles,
        FeedsProjection(articles, settings.feed_items),
        SitemapsProjection(articles),
        SearchProjection(articles, Fts5Index()),
    )


async def verify_before_start(url: str) -> None:
    """`--verify-on-start`: check the whole log first; raise `StoreCorrupted` naming the first
    bad position if it is damaged. A missing file is a new log: nothing to check; so is a
    database without a newsroom log (opening the store then creates one, or refuses a database
    of something else by name)."""
    if is_postgres(url):
        try:
            verdict = await asyncio.to_thread(verify_store, url)
        except StoreUnrecognised:
            return
    elif not sqlite_path(url).exists():
        return
    else:
        verdict = await asyncio.to_thread(verify_store, url)
    if not verdict.intact:
        raise StoreCorrupted(f"--verify-on-start: {verdict.summary()}")
    log.info("verified the log before the replay: %s", verdict.summary())


class Newsroom:
    """The running system: the store, the bus, the views fed from it, the command handler (the
    write side's door), the history (the read side's door to the log) and the health report."""

    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        clock: Callable[[], datetime],
        views: Views | None = None,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.store = store
        self.bus = Bus(store)
        self.views = views or build_views(settings)
        self.checkpointer = checkpointer or Checkpointer(None, store, 0, 0)
        self.commands = CommandHandler(store, self.bus, clock)
        self.history = History(
            store,
            self.bus,
            reads=Gate("reading the log", settings.max_log_reads, SHORT_WAIT),
            replays=Gate("subscriptions replaying the log", settings.max_replays, SHORT_WAIT),
            pace=Pace(settings.replay_rate),
        )
        self.search_build = SearchBuild(self.views.search_projector)
        self.health = Health(store, self.views, self.commands.write_fault, self.search_build)
        self.health.checkpoint = self.checkpointer.report
        self._dispatcher = Dispatcher(self.views.projectors, self.bus.subscribe)
        self._task: asyncio.Task[None] | None = None
        self._search_task: asyncio.Task[None] | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._relay: asyncio.Task[None] | None = None
        self.replay_seconds = 0.0
        """How long the replay at start took (after the checkpoint, if one was used)."""

    @classmethod
    async def start(
        cls, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> Newsroom:
        """Open the store, load the view checkpoint (if any), replay the log (after it) into the
        projections, then seed the demo if the log is empty."""
        if settings.verify_on_start:
            await verify_before_start(settings.store)
        store = await open_store(settings.store)
        try:
            views, checkpointer = await _load_views(settings, store)
        except BaseException:
            await store.close()
            raise
        newsroom = cls(store, settings, clock, views, checkpointer)
        try:
            if isinstance(store, SharedEventStore):  # other processes append to it too
                newsroom._relay = asyncio.create_task(
                    newsroom.bus.relay(store.heads(), after=await store.head()), name="relay"
                )
            await newsroom._run_projections()
            newsroom._checkpoints = asyncio.create_task(
                newsroom._checkpoint_in_background(), name="view checkpoints"
            )
            if settings.demo and newsroom.health.started_at_head == 0:
                position = await write_demo_articles(newsroom.commands)
                await newsroom.views.wait_for(position, timeout=10)
                log.info("wrote the demo articles (log position %d)", position)
        except BaseException:
            await newsroom.stop()
            raise
        return newsroom

    async def _run_projections(self) -> None:
        self.health.started_at_head = head = await self.store.head()
        after = self.views.position  # the checkpoint's, or 0
        full_replay = bool(head and not after)
        if full_replay:  # index each article once, after the replay, in bulk
            self.views.search_projector.projection.defer()
        self._task = asyncio.create_task(self._dispatcher.run(), name="projections")
        self.checkpointer.replayed_after = head - after
        if head:
            log.info(
                "replaying %s events (after position %s) into %d projections",
                f"{head - after:,}", f"{after:,}", len(self.views.projectors),
            )  # fmt: skip
        started = time.monotonic()
        caught_up = asyncio.ensure_future(self._catch_up(head))
        with collector_paused(freeze=head > 0):  # what the replay builds lives on: see runtime
            while not (await asyncio.wait({caught_up}, timeout=PROGRESS_EVERY))[0]:
                self._log_progress(head, started)
            caught_up.result()  # a store failure during replay stops start-up
        self.replay_seconds = time.monotonic() - started
        if head:
            elapsed, done = self.replay_seconds, head - after
            log.info("replayed %s events in %.1f s (%s events/s)",
                     f"{done:,}", elapsed, f"{done / max(elapsed, 1e-9):,.0f}")  # fmt: skip
        if full_replay:
            self._search_task = asyncio.create_task(self._build_search(), name="search build")

    async def _build_search(self) -> None:
        await self.search_build.run()
        await asyncio.to_thread(release_free_memory)  # what the build's thread left free

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

    async def _checkpoint_in_background(self) -> None:
        """Write view checkpoints from now on, once the search index is built (a checkpoint
        needs every view caught up)."""
        await self.search_built()
        await self.checkpointer.run(self.views)

    def start_figures(self) -> dict[str, float]:
        """What start-up did and what the checkpoints did since, for metrics."""
        checkpoints = self.checkpointer
        return {
            "replayed_events": checkpoints.replayed_after,
            "replay_seconds": self.replay_seconds,
            "checkpoint_used": int(checkpoints.loaded is not None),
            "checkpoints_written": checkpoints.written,
            "checkpoint_failures": checkpoints.failures,
        }

    async def search_built(self) -> None:
        """Return once the search index's build after the replay is over (at once if there was
        none); the search view is then caught up, or stopped if the build failed."""
        if self._search_task is not None:
            await asyncio.shield(self._search_task)

    async def stop(self) -> None:
        """Stop the search build and the projections, save a view checkpoint (if every view is
        caught up), then let the store finish pending appends and close."""
        if self._search_task is not None:
            self.search_build.stop()
            await asyncio.gather(self._search_task, return_exceptions=True)
        try:
            if self._checkpoints is not None:
                self.checkpointer.hurry()  # a write in progress finishes, without more rests
                self._checkpoints.cancel()  # (a thread is not cancelled)
                await asyncio.gather(self._checkpoints, return_exceptions=True)
                await self.checkpointer.save(self.views, paced=False)  # nothing left to serve
                self.checkpointer.close()
        finally:  # whatever became of the checkpoint, the store is closed cleanly
            for task in (self._task, self._relay):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            await self.store.close()


async def _load_views(settings: Settings, store: EventStore) -> tuple[Views, Checkpointer]:
    """Fresh views, filled from the view checkpoint when there is a usable one."""
    checkpointer = Checkpointer(
        checkpoint_directory(settings, store),
        store,
        settings.checkpoint_every_events,
        settings.checkpoint_every_minutes,
    )
    views = build_views(settings)
    with collector_paused(freeze=False):  # a checkpoint holds as many objects as a replay builds
        if not await checkpointer.load(views):
            views = build_views(settings)  # a refused checkpoint may have filled some views
    return views, checkpointer
