"""Property: a view checkpoint at any position, plus a replay of the rest, equals a full replay."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsroom import checkpoints
from newsroom.articles import Command
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import NewsroomError
from newsroom.projections import articles as articles_module
from newsroom.projections.base import Dispatcher
from newsroom.projections.views import Views
from newsroom.store import Recorded
from newsroom.store.memory import InMemoryEventStore
from tests.factories import FakeClock, create_article
from tests.test_replay_property import _fingerprint, _views, commands


async def _log(history: list[Command]) -> tuple[InMemoryEventStore, list[Recorded]]:
    """A log of `history` (one article first: a log to cut); refused commands leave no trace."""
    store = InMemoryEventStore()
    handler = CommandHandler(store, Bus(store), FakeClock())
    for command in [create_article(), *history]:
        with contextlib.suppress(NewsroomError):
            await handler.handle(command)
    return store, await store.read_all(after=0, limit=10_000)


async def _checkpoint(
    views: Views,
    store: InMemoryEventStore,
    directory: Path,
    events: tuple[list[Recorded], list[Recorded], list[Recorded]],
    last: checkpoints.Checkpoint | None = None,
) -> checkpoints.Checkpoint:
    """Write a checkpoint of `views` as the checkpointer does, while `events` go on: the
    first batch one event after each step of the copy (a part of the articles, or a key of a
    list), the rest after it; the second while the search index is held. Parts of the
    articles unchanged since `last` are taken from its file."""
    during_copy, while_held, after = events
    reusable = last.parts if last else None
    done = 0
    with patch.object(articles_module, "LIST_STEP", 1):  # lists copied a key at a time
        for _ in views.articles.copy_in_steps(len(reusable.frames) if reusable else 0):
            _dispatch(views, during_copy[done : done + 1])  # events go on between the steps
            done += 1
    _dispatch(views, during_copy[done:])
    taken = checkpoints.snapshot(views, reusable)
    _dispatch(views, while_held)  # events go on while the search index is copied
    slot = checkpoints.begin(directory, last.slot if last else None)
    search = checkpoints.save_search(views, slot)
    while not views.search.release(1):  # catching up one article at a time
        pass
    _dispatch(views, after)
    anchor = await store.anchor(taken.position)
    assert anchor is not None
    return checkpoints.write(slot, taken, search, anchor, reusable)


async def _loaded_and_replayed(
    store: InMemoryEventStore, log: list[Recorded], directory: Path, at: int
) -> tuple[list[str], list[str]]:
    """Fingerprints of views loaded from the newest checkpoint (at `at`) plus the rest of the
    log replayed, and of a full replay."""
    loaded = _views()
    found = await checkpoints.load(loaded, directory, store)
    assert found is not None and found.position == at
    _dispatch(loaded, log[at:])
    replayed = _views()
    _dispatch(replayed, log)
    return _fingerprint(loaded), _fingerprint(replayed)


async def _checkpointed_and_replayed(
    history: list[Command], cut: float, directory: Path
) -> tuple[list[str], list[str], list[str]]:
    """Fingerprints of: the views a checkpoint at `cut` (a fraction of the log) was taken
    from (their articles copied in steps while the events before `cut` went on), which went
    on through the rest of the log while their search index was held; views
    loaded from that checkpoint plus the rest replayed; and a full replay."""
    store, log = await _log(history)
    at = max(1, round(cut * len(log)))
    taken_from = _views()
    taken_from.articles.part_size = 2
    _dispatch(taken_from, log[: at // 2])
    await _checkpoint(taken_from, store, directory, (log[at // 2 : at], log[at:], []))
    loaded, replayed = await _loaded_and_replayed(store, log, directory, at)
    return _fingerprint(taken_from), loaded, replayed


def _dispatch(views: Views, events: list[object]) -> None:
    Dispatcher(views.projectors, _no_subscription).dispatch(events)  # type: ignore[arg-type]


def _no_subscription(after: int) -> object:
    raise AssertionError("the test hands every event over itself")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands, max_size=25), st.floats(min_value=0, max_value=1))
def test_checkpoint_plus_tail_equals_full_replay(history: list[Command], cut: float) -> None:
    """Wherever a checkpoint is taken, loading it and replaying the rest builds every view
    (search included) exactly as a full replay does, and so do the views it was taken from."""
    with tempfile.TemporaryDirectory() as directory:
        taken_from, loaded, replayed = asyncio.run(
            _checkpointed_and_replayed(history, cut, Path(directory))
        )
    assert loaded == replayed
    assert taken_from == replayed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(commands, min_size=10, max_size=40),
    st.lists(st.floats(min_value=0, max_value=1), min_size=4, max_size=4),
    st.integers(min_value=1, max_value=3),
)
def test_a_checkpoint_that_copies_unchanged_parts_from_the_last_equals_full_replay(
    history: list[Command], cuts: list[float], part_size: int
) -> None:
    """A second checkpoint takes the parts of the articles no event changed since the first
    from the first's file: loading it and replaying the rest still builds every view exactly
    as a full replay does, wherever the two were taken and whatever changed in between."""
    with tempfile.TemporaryDirectory() as directory:
        loaded, replayed, parts = asyncio.run(
            _two_checkpoints(history, sorted(cuts), part_size, Path(directory))
        )
    assert loaded == replayed
    first, second = parts
    assert second.copied <= len(second.parts.frames)
    assert len(second.parts.frames) >= len(first.parts.frames)


async def _two_checkpoints(
    history: list[Command], cuts: list[float], part_size: int, directory: Path
) -> tuple[list[str], list[str], tuple[checkpoints.Checkpoint, checkpoints.Checkpoint]]:
    store, log = await _log(history)
    a, b, c, d = (max(1, round(cut * len(log))) for cut in cuts)
    views = _views()
    views.articles.part_size = part_size
    _dispatch(views, log[:a])
    first = await _checkpoint(views, store, directory, ([], [], log[a:b]))
    second = await _checkpoint(views, store, directory, (log[b:c], log[c:d], []), first)
    assert second.slot != first.slot  # the first stays whole while the second is written
    loaded, replayed = await _loaded_and_replayed(store, log, directory, c)
    return loaded, replayed, (first, second)
