"""What a projection is, and the runner that feeds one from the bus and tracks its position.

A projection is an in-memory read model with a synchronous, I/O-free `apply(recorded)`. The
`Projector` runs it: it subscribes to the bus after the projection's position, applies every
event, and wakes whoever awaits `wait_for(position)`. A projection that raises stops alone: its
projector records the failure and the offending position, and from then on refuses to answer
as if it were healthy.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a projector stopped: the event it could not apply (or read) and the error."""

    position: int
    error: str


Subscribe = Callable[[int], AsyncIterator[Sequence[Recorded]]]


class Projector:
    """Runs one projection from a subscription; offers `wait_for(position)` for read-your-writes."""

    def __init__(self, projection: Projection, subscribe: Subscribe) -> None:
        self.projection = projection
        self.position = 0
        self.failure: Failure | None = None
        self._subscribe = subscribe
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tiebreak = itertools.count()

    @property
    def name(self) -> str:
        return self.projection.name

    async def run(self) -> None:
        """Apply events until cancelled or until the projection (or the store) fails."""
        try:
            async for batch in self._subscribe(self.position):
                if not self._apply(batch):
                    return
        except StoreError as e:
            self._fail(self.position + 1, e)
            raise

    def _apply(self, batch: Sequence[Recorded]) -> bool:
        apply = self.projection.apply
        for recorded in batch:
            try:
                apply(recorded)
            except Exception as e:  # a bug in one projection must not stop the others
                self._fail(recorded.position, e)
                return False
            self.position = recorded.position
        self._wake()
        return True

    def _fail(self, position: int, error: Exception) -> None:
        self.failure = Failure(position, f"{type(error).__name__}: {error}")
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

    def _wake(self) -> None:
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
            await asyncio.wait_for(future, timeout)
        except TimeoutError as e:
            self._waiters.remove(entry)  # nobody waits for it any more
            heapq.heapify(self._waiters)
            raise ViewTimeout(
                f"the {self.name} view is at position {self.position} and did not reach "
                f"{position} within {timeout} s"
            ) from e
