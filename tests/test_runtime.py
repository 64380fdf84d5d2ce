"""The process settings `python -m newsroom` runs with: its event loop and its collector."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from newsroom.runtime import (
    GC_YOUNG_THRESHOLD,
    collector_paused,
    new_event_loop,
    raise_descriptor_limit,
    tune_collector,
)


@pytest.fixture
def descriptors() -> Iterator[tuple[int, int]]:
    """The process's (soft, hard) descriptor limits, restored after the test."""
    resource = pytest.importorskip("resource")
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield saved
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("thresholds")
def test_the_young_generation_waits_for_10000_new_objects() -> None:
    """Tuned, a young collection waits for 10,000 new objects; the older generations keep theirs."""
    gc.set_threshold(700, 10, 10)
    tune_collector()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    assert GC_YOUNG_THRESHOLD == 10_000


@pytest.mark.usefixtures("thresholds")
def test_tuning_never_makes_collections_more_frequent() -> None:
    """A process that already collects less often keeps its own threshold."""
    gc.set_threshold(50_000, 5, 5)
    tune_collector()
    assert gc.get_threshold() == (50_000, 5, 5)


def test_the_loop_is_uvloop_off_windows() -> None:
    """newsroom's loop is uvloop's wherever uvloop has a build, and runs coroutines."""

    async def answer() -> str:
        return "ran"

    loop = new_event_loop()
    try:
        assert loop.run_until_complete(answer()) == "ran"
        expected = "asyncio" if sys.platform == "win32" else "uvloop"
        assert type(loop).__module__.split(".")[0] == expected
    finally:
        loop.close()


def test_the_collector_rests_during_a_replay_and_its_objects_are_frozen_after() -> None:
    """Inside `collector_paused` the GC is off; after, it is on again and what exists is frozen."""
    assert gc.isenabled()
    try:
        with collector_paused(freeze=True):
            assert not gc.isenabled()
            built = [[n] for n in range(1_000)]
        assert gc.isenabled() and gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()  # other tests expect a collector that sees everything


def test_a_failed_replay_leaves_the_collector_on_and_nothing_frozen() -> None:
    """An error inside the block re-enables the GC; with freeze=False nothing more is frozen."""
    frozen = gc.get_freeze_count()
    with pytest.raises(RuntimeError), collector_paused(freeze=False):
        raise RuntimeError("the store failed")
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_descriptor_limit_is_raised_toward_the_hard_limit(descriptors: tuple[int, int]) -> None:
    """A low soft limit on open files is raised to what is wanted, or to the hard limit if lower."""
    import resource

    soft, hard = descriptors
    low = min(soft, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    wanted = low + 512
    expected = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    assert raise_descriptor_limit(wanted) == expected
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (expected, hard)


def test_the_descriptor_limit_is_never_lowered(descriptors: tuple[int, int]) -> None:
    """A soft limit already above what is wanted stays as it is."""
    import resource

    soft, hard = descriptors
    unlimited = soft == resource.RLIM_INFINITY
    assert raise_descriptor_limit(wanted=min(soft, 64)) == (None if unlimited else soft)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
