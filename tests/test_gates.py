"""Gates: a bounded number of holders, a bounded wait, then `Busy`."""

from __future__ import annotations

import asyncio

import pytest

from newsroom.errors import Busy
from newsroom.gates import Gate, Pace


async def test_a_full_gate_refuses_after_its_wait() -> None:
    """With every turn taken, the next caller waits `wait` seconds and gets Busy naming the work."""
    gate = Gate("replays", capacity=2, wait=0.01)
    await gate.acquire()
    await gate.acquire()
    with pytest.raises(Busy, match="busy with replays"):
        await gate.acquire()
    assert gate.held == 2
    assert gate.refused == 1


async def test_a_released_turn_goes_to_a_waiter() -> None:
    """A caller waiting for a turn gets the one released within its wait."""
    gate = Gate("searches", capacity=1, wait=5)
    await gate.acquire()
    waiter = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    gate.release()
    await waiter
    assert gate.held == 1
    assert gate.refused == 0


async def test_turn_gives_the_turn_back_when_the_block_raises() -> None:
    """`async with gate.turn()` releases its turn however the block ends."""
    gate = Gate("mutations", capacity=1, wait=0)
    with pytest.raises(RuntimeError):
        async with gate.turn():
            raise RuntimeError("boom")
    async with gate.turn():
        assert gate.held == 1
    assert gate.held == 0


async def test_zero_wait_refuses_at_once_when_full() -> None:
    """A gate with no wait refuses immediately when every turn is taken."""
    gate = Gate("documents", capacity=1, wait=0)
    await gate.acquire()
    with pytest.raises(Busy):
        await gate.acquire()


def test_a_pace_spreads_takers_over_time() -> None:
    """At 100 units a second, each taker of 10 units waits 0.1 s more than the one before it."""
    now = [100.0]
    pace = Pace(100, burst=0, clock=lambda: now[0])
    assert [pace.reserve(10) for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])


def test_a_quiet_pace_allows_only_a_short_burst() -> None:
    """After a quiet spell, a pace lets `burst` seconds' worth through at once, no more."""
    now = [100.0]
    pace = Pace(100, burst=0.1, clock=lambda: now[0])
    now[0] = 200.0  # quiet for 100 s
    waits = [pace.reserve(5) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.05])


async def test_a_waiter_cancelled_as_it_gets_the_turn_stops_and_passes_the_turn_on() -> None:
    """Cancelling every task at once (as a closing connection does) while one holds the turn
    and others wait: each stops, and the turns all come back."""
    gate = Gate("documents", capacity=1, wait=5)
    await gate.acquire()
    holder = asyncio.ensure_future(asyncio.sleep(10))
    waiters = [asyncio.ensure_future(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.release()  # the turn goes to the first waiter ...
    for task in (holder, *waiters):
        task.cancel()  # ... which is cancelled in the same step
    results = await asyncio.gather(holder, *waiters, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results
    assert gate.held == 0
    await gate.acquire()  # the turn was not kept by a cancelled waiter
