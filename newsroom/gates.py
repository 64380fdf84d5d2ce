"""Gates and paces: bounds on expensive work that anyone may ask for.

A `Gate` admits at most N of one kind of work at a time. A request that finds its gate full
waits up to `wait` seconds, then gets `Busy` (HTTP 503 with `Retry-After`) instead of joining an
unbounded queue: under a flood, the server answers "later" quickly and keeps serving everything
else, rather than holding every waiting request in memory.

A `Pace` spreads work over time: at most `rate` units a second over everyone who takes from it
(replayed events, say), so long-running work cannot take more than its share of the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from newsroom.errors import Busy


class Gate:
    """Admits at most `capacity` holders of one kind of work; the rest wait up to `wait` s."""

    def __init__(self, what: str, capacity: int, wait: float) -> None:
        if capacity < 1:
            raise ValueError(f"a gate needs a capacity of 1 or more, got {capacity}")
        self.what = what
        self.capacity = capacity
        self.wait = wait
        self._free = asyncio.Semaphore(capacity)
        self.held = 0  # how many hold a turn now
        self.refused = 0  # how many were turned away (for tests, and metrics later)

    async def acquire(self) -> None:
        """Take a turn, waiting at most `wait` seconds; `Busy` if none came free."""
        if not self._free.locked():
            await self._free.acquire()  # a free turn: taken without suspending
        elif self.wait <= 0:
            self._refuse()
        else:
            try:
                # Not wait_for: on Python 3.11, cancelling a waiter just as a turn is handed to
                # it makes wait_for return (the cancellation lost) and the turn is kept by a
                # task that was told to stop. timeout() lets the cancellation through, and the
                # semaphore passes on a turn it handed to a cancelled waiter.
                async with asyncio.timeout(self.wait):
                    await self._free.acquire()
            except TimeoutError:
                self._refuse()
        self.held += 1

    def release(self) -> None:
        """Give a turn back."""
        self.held -= 1
        self._free.release()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """`async with gate.turn():` holds a turn for the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def _refuse(self) -> None:
        self.refused += 1
        raise Busy(
            f"the server is busy with {self.what} ({self.capacity} at a time); retry in a second"
        )


class Pace:
    """At most `rate` units a second over all takers; a taker waits until its units are due.

    Each `take` reserves the next free stretch of time on one shared timeline (the "virtual
    scheduling" of a generic cell rate algorithm), so takers are served in turn, and a quiet
    pace allows a burst of at most `burst` seconds' worth of units."""

    def __init__(
        self, rate: float, burst: float = 0.1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"a pace needs a rate above 0, got {rate}")
        self.rate = rate
        self._burst = burst
        self._clock = clock
        self._free_at = clock()  # when the timeline is free again

    def reserve(self, units: int) -> float:
        """Reserve `units`; return how many seconds the taker must wait before using them."""
        now = self._clock()
        start = max(self._free_at, now - self._burst)
        self._free_at = start + units / self.rate
        return max(0.0, start - now)

    async def take(self, units: int) -> None:
        """Wait until `units` are due; yield to the event loop even when they are due now."""
        await asyncio.sleep(self.reserve(units))
