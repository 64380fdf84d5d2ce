"""Property: a view checkpoint at any position, plus a replay of the rest, equals a full replay."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsroom import checkpoints
from newsroom.articles import Command
from newsroom.bus import Bus
from newsroom.commands import CommandHandler
from newsroom.errors import NewsroomError
from newsroom.projections.base import Dispatcher
from newsroom.projections.views import Views
from newsroom.store.memory import InMemoryEventStore
from tests.factories import FakeClock, create_article
from tests.test_replay_property import _fingerprint, _views, commands


async def _checkpointed_and_replayed(
    history: list[Command], cut: float, directory: Path
) -> tuple[list[str], list[str], list[str]]:
    """Fingerprints of: the views a checkpoint at `cut` (a fraction of the log) was taken
    from (their articles copied in steps while the events before `cut` went on), which went
    on through the rest of the log while their search index was held; views
    loaded from that checkpoint plus the rest replayed; and a full replay."""
    store = InMemoryEventStore()
    handler = CommandHandler(store, Bus(store), FakeClock())
    for command in [create_article(), *history]:  # one article at least: a log to cut
        with contextlib.suppress(NewsroomError):  # a refused command leaves no trace
            await handler.handle(command)
    log = await store.read_all(after=0, limit=10_000)
    at = max(1, round(cut * len(log)))
    taken_from = _views()
    _dispatch(taken_from, log[: at // 2])
    steps = taken_from.articles.copy_in_steps(2)
    next(steps, None)  # the first two articles copied; events go on before the next steps
    _dispatch(taken_from, log[at // 2 : at])
    for _ in steps:
        pass
    taken = checkpoints.snapshot(taken_from)
    _dispatch(taken_from, log[at:])  # events go on while the search index is copied
    slot = checkpoints.begin(directory, None)
    search = checkpoints.save_search(taken_from, slot)
    while not taken_from.search.release(1):  # catching up one article at a time
        pass
    anchor = await store.anchor(taken.position)
    assert anchor is not None
    checkpoints.write(slot, taken, search, anchor)

    loaded = _views()
    found = await checkpoints.load(loaded, directory, store)
    assert found is not None and found.position == at
    _dispatch(loaded, log[at:])
    replayed = _views()
    _dispatch(replayed, log)
    return _fingerprint(taken_from), _fingerprint(loaded), _fingerprint(replayed)


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
