"""What a projection is, and how the projections are fed from the bus and tracked.

A projection is an in-memory read model with a synchronous, I/O-free `apply(recorded)`. A
`Projector` holds one projection with its position and offers `wait_for(position)`. The
`Dispatcher` subscribes to the bus once and hands every event to every projector in turn, in one
synchronous step: no reader can ever see the articles view at one position and a feed at another.
A projection may therefore read one that is dispatched before it (feeds and sitemaps read the
articles view). A projection that raises stops alone, with its dependents: its projector records
the failure and the offending position, and from then on refuses to answer as if it were healthy.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from newsroom.errors import ProjectionFailed, StoreError, ViewTimeout
from newsroom.store import Recorded

log = logging.getLogger(__name__)


class Projection(Protocol):
    """An in-memory read model built by folding events."""

    name: str

    def apply(self, recorded: Recorded) -> None:
        """Fold one event into the model; synchronous, no I/O; ignore unknown event types."""
        ...

    def fingerprint(self) -> str:
        """A digest of the whole model, equal for two models holding the same state."""
        ...


class Stamp(NamedTuple):
    """The event that last changed a document (a feed, a sitemap): its position and time."""

    position: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a projector stopped: the event it could not apply (or read) and the error."""

    position: int
    error: str


Subscribe = Callable[[int], AsyncIterator[Sequence[Recorded]]]


class Projector:
    """One projection, the position it reached, and `wait_for(position)` for read-your-writes."""

    def __init__(self, projection: Projection, reads: Projector | None = None) -> None:
        self.projection = projection
        self.reads = reads
        """The projector whose projection this one reads while applying (dispatched before it)."""
        self.position = 0
        self.failure: Failure | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tiebreak = itertools.count()

    @property
    def name(self) -> str:
        return self.projection.name

    def apply(self, recorded: Recorded) -> bool:
        """Apply one event; False (and the projector stopped) if the projection raised."""
        try:
            self.projection.apply(recorded)
        except Exception as e:  # a bug in one projection must not stop the others
            self.fail(recorded.position, f"{type(e).__name__}: {e}")
            return False
        self.position = recorded.position
        return True

    def fail(self, position: int, error: str) -> None:
        """Stop at `position` for `error`; every waiter, now and later, gets ProjectionFailed."""
        self.failure = Failure(position, error)
        log.error("projection %s stopped at position %d: %s", self.name, position, error)
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(self._failed())
        self._waiters.clear()

    def _failed(self) -> ProjectionFailed:
        assert self.failure is not None
        return ProjectionFailed(
            f"the {self.name} view stopped at position {self.failure.position} "
            f"({self.failure.error}); it serves no data until newsroom is fixed and restarted"
        )

    def check(self) -> None:
        """Raise `ProjectionFailed` if this projection stopped; call before answering from it."""
        if self.failure is not None:
            raise self._failed()

    def wake(self) -> None:
        """Resolve the waiters whose position was reached."""
        while self._waiters and self._waiters[0][0] <= self.position:
            future = heapq.heappop(self._waiters)[2]
            if not future.done():
                future.set_result(None)

    async def wait_for(self, position: int, timeout: float | None) -> None:
        """Return once the projection applied `position`; raise `ViewTimeout` after `timeout`."""
        self.check()
        if self.position >= position:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (position, next(self._tiebreak), future)
        heapq.heappush(self._waiters, entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError as e:
            if future.done() and not future.cancelled():
                return future.result()  # the view got there in the very tick the time ran out
            raise ViewTimeout(
                f"the {self.name} view is at position {self.position} and did not reach "
                f"{position} within {timeout} s"
            ) from e
        finally:
            if future.cancelled():  # timed out, or the waiting request was cancelled
                self._forget(entry)

    def _forget(self, entry: tuple[int, int, asyncio.Future[None]]) -> None:
        """Drop a waiter nobody waits for any more, unless `wake()` already took it."""
        if entry in self._waiters:
            self._waiters.remove(entry)
            heapq.heapify(self._waiters)


class Dispatcher:
    """Feeds every projector from one bus subscription, each event to all of them in turn."""

    def __init__(self, projectors: Sequence[Projector], subscribe: Subscribe) -> None:
        self.projectors = list(projectors)
        self._subscribe = subscribe

    async def run(self) -> None:
        """Dispatch events until cancelled, until every projection failed, or the store fails."""
        after = min(p.position for p in self.projectors)
        try:
            async for batch in self._subscribe(after):
                if not self.dispatch(batch):
                    return
        except StoreError as e:
            for projector in self._running():
                projector.fail(projector.position + 1, f"{type(e).__name__}: {e}")
            raise

    def dispatch(self, batch: Sequence[Recorded]) -> bool:
        """Apply a batch to every running projector; False once none is left running."""
        running = self._running()
        for recorded in batch:
            stopped = False
            for projector in running:
                if projector.failure is None and not projector.apply(recorded):
                    self._stop_dependents(projector)
                    stopped = True
            if stopped:
                running = self._running()
        for projector in self.projectors:
            projector.wake()
        return bool(running)

    def _running(self) -> list[Projector]:
        return [p for p in self.projectors if p.failure is None]

    def _stop_dependents(self, failed: Projector) -> None:
        """Stop every projector that reads `failed`'s view (and theirs), at the same position."""
        assert failed.failure is not None
        for projector in self._running():
            if projector.reads is failed:
                projector.fail(
                    failed.failure.position,
                    f"it reads the {failed.name} view, which stopped: {failed.failure.error}",
                )
                self._stop_dependents(projector)
