"""Gates: at most N of one kind of expensive work at a time, and a short, bounded wait for a turn.

A request that finds its gate full waits up to `wait` seconds, then gets `Busy` (HTTP 503 with
`Retry-After`) instead of joining an unbounded queue: under a flood, the server answers "later"
quickly and keeps serving everything else, rather than holding every waiting request in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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
