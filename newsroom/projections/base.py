"""What a projection is, and how the projections are fed from the bus and tracked.

A projection (a view) is an in-memory read model with a synchronous, I/O-free `apply`. Each
view names the views it reads in its class, once: `reads = ("articles",)`. The `Dispatcher`
orders the views from those declarations, each after the views it reads, subscribes to the bus
once and hands every event to every view in turn, in one synchronous step: no reader can ever
see the articles view at one position and a feed at another.

What passes from a view to the views that read it is a change, handed over as an argument:
`apply(recorded, *changes)` takes the event and then, one positional argument per name in
`reads` and in that order, what this event did to that view: the value its own `apply` just
returned (None when it changed nothing). So the articles view, which reads no other, is
`apply(recorded) -> Change | None`, and the feeds view, which reads it, is
`apply(recorded, change: Change | None) -> None`. A view is built with the views it reads and may
also query them while applying: they have applied the event already.

A view whose work per event is expensive (the search index) may put it off to the end of the
batch: its `apply` notes what changed and an optional `settle()` does the work, once per thing
changed, after the whole batch was applied and before any waiter is woken. A replay hands the
dispatcher pages of thousands of events, so an article edited five times in a page is indexed
once; a live append is a batch of its own, so readers see it settled exactly as before.

A `Projector` holds one view with the position it reached and offers `wait_for(position)`. A
projection that raises stops alone, with the views that read it (and theirs): its projector
records the failure and the offending position, and from then on refuses to answer as if it were
healthy.
"""

from __future__ import annotations

import asyncio
import graphlib
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

from newsroom.errors import ProjectionFailed, StoreError, ViewTimeout
from newsroom.store import Recorded

log = logging.getLogger(__name__)


class Projection(Protocol):
    """An in-memory read model built by folding events."""

    name: str

    @property
    def reads(self) -> tuple[str, ...]:
        """The names of the views this one reads; their changes come to `apply`, in this order."""
        ...

    @property
    def apply(self) -> Callable[..., object]:
        """`apply(recorded, *changes) -> change or None`: fold one event into the model, given
        what it did to each view in `reads`; synchronous, no I/O; ignore unknown event types.
        (Typed loosely here, as the number of changes differs from view to view; each view
        types its own.)"""
        ...

    def fingerprint(self) -> str:
        """A digest of the whole model, equal for two models holding the same state."""
        ...


@runtime_checkable
class Settles(Protocol):
    """A projection that puts its expensive work off to the end of each batch."""

    def settle(self) -> None:
        """Do the work the events applied since the last call put off."""
        ...


class Stamp(NamedTuple):
    """The event that last changed a document (a feed, a sitemap): its position and time."""

    position: int
    at: datetime


BEFORE_ANY_EVENT = Stamp(0, datetime(1970, 1, 1, tzinfo=UTC))
"""The stamp of a document that exists before the log has any event (the all-news feed, the
first sitemap file): position 0, at the Unix epoch."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a projector stopped: the event it could not apply (or read) and the error."""

    position: int
    error: str


Subscribe = Callable[[int], AsyncIterator[Sequence[Recorded]]]


P = TypeVar("P", bound=Projection)


class Projector(Generic[P]):
    """One projection, the position it reached, and `wait_for(position)` for read-your-writes."""

    def __init__(self, projection: P) -> None:
        self.projection = projection
        self.sources: tuple[Projector[Any], ...] = ()
        """The projectors of the views this one reads, in `reads` order (the dispatcher links
        them)."""
        self.change: object = None
        """What the event being dispatched did to this view, for the views that read it."""
        self.position = 0
        self.recorded_at: datetime | None = None
        """When the last event this view applied was recorded (how stale it is, if behind)."""
        self.failure: Failure | None = None
        self._settle = projection.settle if isinstance(projection, Settles) else None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._given_up = 0  # waiters whose futures were cancelled since the heap was last rebuilt
        self._tiebreak = itertools.count()

    @property
    def name(self) -> str:
        return self.projection.name

    def apply(self, recorded: Recorded) -> bool:
        """Apply one event; False (and the projector stopped) if the projection raised."""
        sources = self.sources
        try:
            # Spelled out for no and one source, the usual cases, so that the replay's hot loop
            # builds no argument list per event.
            if not sources:
                self.change = self.projection.apply(recorded)
            elif len(sources) == 1:
                self.change = self.projection.apply(recorded, sources[0].change)
            else:
                self.change = self.projection.apply(recorded, *[s.change for s in sources])
        except Exception as e:  # a bug in one projection must not stop the others
            self.change = None
            self.fail(recorded.position, f"{type(e).__name__}: {e}")
            return False
        self.position = recorded.position
        self.recorded_at = recorded.recorded_at
        return True

    def settle(self) -> bool:
        """Let the projection finish the batch's put-off work; False (and the projector stopped)
        if it raised."""
        if self._settle is None or self.failure is not None:
            return self.failure is None
        try:
            self._settle()
        except Exception as e:  # as in `apply`: a bug in one projection must not stop the others
            self.fail(self.position, f"{type(e).__name__}: {e}")
            return False
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

    def checked(self) -> P:
        """The projection, if it is healthy; else `ProjectionFailed` (as `check()`). Every read
        of a view passes here, so the test is inlined."""
        if self.failure is not None:
            raise self._failed()
        return self.projection

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
                self._forget()

    def _forget(self) -> None:
        """Count a waiter that gave up. Its entry stays in the heap (`wake()` skips it) until the
        given-up entries are half the heap; then the heap is rebuilt without them. So n waiters
        giving up together (requests timing out on a far `Newsroom-Min-Position`) cost
        O(n log n), not the O(n²) of removing each from the heap in turn."""
        self._given_up += 1
        if self._given_up * 2 > len(self._waiters):
            self._waiters = [entry for entry in self._waiters if not entry[2].done()]
            heapq.heapify(self._waiters)
            self._given_up = 0


def in_dispatch_order(projectors: Iterable[Projector[Any]]) -> list[Projector[Any]]:
    """The projectors ordered so that each comes after those of the views it reads, and each
    linked to those (`sources`). Raises ValueError when two views share a name, a view reads one
    that is not there, or views read each other in a cycle."""
    by_name: dict[str, Projector[Any]] = {}
    for projector in projectors:
        if projector.name in by_name:
            raise ValueError(f"two views are named {projector.name!r}; each needs its own name")
        by_name[projector.name] = projector
    for projector in by_name.values():
        for name in projector.projection.reads:
            if name not in by_name:
                raise ValueError(
                    f"the {projector.name} view reads the {name} view, which is not among the "
                    f"views dispatched ({', '.join(by_name)})"
                )
        projector.sources = tuple(by_name[name] for name in projector.projection.reads)
    graph = {name: projector.projection.reads for name, projector in by_name.items()}
    try:
        return [by_name[name] for name in graphlib.TopologicalSorter(graph).static_order()]
    except graphlib.CycleError as e:
        cycle = " reads ".join(reversed(e.args[1]))  # graphlib lists each before its reader
        raise ValueError(f"views read each other in a cycle, so none goes first: {cycle}") from e


class Dispatcher:
    """Feeds every projector from one bus subscription, each event to all of them in turn, each
    view after the views it reads."""

    def __init__(self, projectors: Iterable[Projector[Any]], subscribe: Subscribe) -> None:
        self.projectors = in_dispatch_order(projectors)
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
        for projector in running:
            if not projector.settle():
                self._stop_dependents(projector)
        for projector in self.projectors:
            projector.wake()
        return bool(self._running())

    def _running(self) -> list[Projector[Any]]:
        return [p for p in self.projectors if p.failure is None]

    def _stop_dependents(self, failed: Projector[Any]) -> None:
        """Stop every projector that reads `failed`'s view (and theirs), at the same position."""
        assert failed.failure is not None
        for projector in self._running():
            if failed in projector.sources:
                projector.fail(
                    failed.failure.position,
                    f"it reads the {failed.name} view, which stopped: {failed.failure.error}",
                )
                self._stop_dependents(projector)
