"""Benchmark helper: read N events of a log, then dispatch them into fresh views, in process.

For counting instructions per replayed event with callgrind, which repeats exactly where
wall-clock timings on this VM drift (docs/benchmarks.md §2). Run it under callgrind with N=0 and
with N=20000 on a copy of a `bench/replay.py` log (the store locks its file: one copy per run);
the difference of the two totals over N is the cost of reading and applying one event:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        "$(python -c 'import sys; print(sys.executable)')" bench/dispatch_inprocess.py LOG.db 20000

It also runs on commits from before views declared what they read (the dispatcher was then
`Newsroom.dispatcher`), so two commits can be compared instruction for instruction.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsroom.app import Newsroom
from newsroom.config import Settings
from newsroom.store.sqlite import SQLiteEventStore

PAGE = 1_000  # events per dispatch, as the bus hands them over during a replay


async def main(log: Path, count: int) -> None:
    store = await SQLiteEventStore.open(log)
    try:
        events: list[Any] = []
        while len(events) < count and (
            page := await store.read_all(after=len(events), limit=5_000)
        ):
            events.extend(page)
        events = events[:count]
        newsroom = Newsroom(store, Settings(), lambda: datetime.now(UTC))
        dispatcher = getattr(newsroom, "_dispatcher", None) or newsroom.dispatcher
        for start in range(0, len(events), PAGE):
            dispatcher.dispatch(events[start : start + PAGE])
    finally:
        await store.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python bench/dispatch_inprocess.py LOG.db N")
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
