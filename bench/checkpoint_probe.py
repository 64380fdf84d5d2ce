"""Benchmark: what writing view checkpoints costs a write, in process, without HTTP.

`bench/checkpoint.py` measures `createArticle` over HTTP, with its client on the same two cores;
this probe takes the client and HTTP away, to tell what the checkpoint itself does to the write
path. One newsroom (`Newsroom.start`, run as `python -m newsroom` runs it: on uvloop, with its
collector and interpreter settings) on a copy of the log, started from a checkpoint of it (made
first, by a full replay and a clean stop), is sent one `CreateArticle` command every
1/`--rate` s, each in a task of its own (an open loop: a stall delays every write due
meanwhile, as it would clients' requests), each timed from when it was due to its durable
reply; beside them, a coroutine measures the event loop's lag (a 1 ms sleep, and how late it
wakes):
1. `--seconds` quiet: no checkpoint;
2. checkpoints written one after another, paced as a running server paces them, `--gap`
   seconds apart (0: back to back), `--checkpoints` at least, until the writes due while one
   was being written are at least as many as in the quiet phase.
Printed: the writes' p50/p90/p99/max, the loop's lag, and what the checkpoints took.
`--folder` puts the copy, its checkpoints and the search index's temporary file (through
`SQLITE_TMPDIR`) elsewhere, e.g. on tmpfs (`/dev/shm`, which then holds them in memory), to
take the disk out of it.

Run from the repo root:
    python bench/checkpoint_probe.py [--log bench/data/replay-1000000-200000.db] [--folder DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from machine import DATA

from newsroom.app import Newsroom
from newsroom.articles import CreateArticle
from newsroom.config import Settings
from newsroom.runtime import new_event_loop, share_the_interpreter, tune_collector


def settings(log: Path) -> Settings:
    """The log's settings, with no checkpoint written but those the probe asks for."""
    return Settings(
        store=f"sqlite:///{log}", demo=False, checkpoint_every_events=0, checkpoint_every_minutes=0
    )


def row(name: str, seconds: list[float]) -> str:
    """A table row: how many, then p50, p90, p99 and the largest, in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100)
    return f"| {name} | {len(ms):,} | {q[49]:.2f} | {q[89]:.2f} | {q[98]:.2f} | {ms[-1]:.1f} |"


class Probe:
    """Writes due at a steady rate, and the event loop's lag, noted in whichever phase runs."""

    def __init__(self, newsroom: Newsroom, rate: float) -> None:
        self.newsroom, self.rate = newsroom, rate
        self.writes: list[float] = []
        # When each checkpoint began and ended (an open one ends at infinity), and the latency
        # of each write due while one ran: noted as each write ends, at the cost of a bisection
        # (a scan of every write against every checkpoint, on the loop, stalled the writes).
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.during: list[float] = []
        self.lags: list[float] = []
        self.running = True
        self._pending: set[asyncio.Task[None]] = set()

    async def send(self) -> None:
        """One write due every 1/rate s, each in a task of its own, so none waits for another."""
        started, n = time.perf_counter(), 0
        while self.running:
            n += 1
            due = started + n / self.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(self.write(n, due))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        await asyncio.gather(*self._pending)

    async def write(self, n: int, due: float) -> None:
        await self.newsroom.commands.handle(
            CreateArticle(
                title=f"Probe {n}", body="A short body.", category="news", author_id=1,
                author_name="Probe",
            )
        )  # fmt: skip
        latency = time.perf_counter() - due
        self.writes.append(latency)
        last = bisect.bisect_right(self.starts, due) - 1  # the last checkpoint begun by then
        if last >= 0 and due <= self.ends[last]:
            self.during.append(latency)

    def checkpoint_begins(self) -> None:
        self.starts.append(time.perf_counter())
        self.ends.append(math.inf)

    def checkpoint_ended(self) -> None:
        self.ends[-1] = time.perf_counter()

    async def watch_the_loop(self) -> None:
        while self.running:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append(time.perf_counter() - started - 0.001)

    def phase(self) -> tuple[list[float], list[float]]:
        """What was noted since the last phase ended (and start noting afresh)."""
        writes, lags = self.writes, self.lags
        self.writes, self.lags = [], []
        return writes, lags


async def probe(log: Path, rate: float, seconds: float, checkpoints: int, gap: float) -> None:
    newsroom = await Newsroom.start(settings(log))
    tune_collector()  # as `python -m newsroom` does once started
    share_the_interpreter()
    try:
        checkpointer = newsroom.checkpointer
        assert checkpointer.loaded is not None, "the probe's start did not load the checkpoint"
        probe = Probe(newsroom, rate)
        tasks = [asyncio.create_task(probe.send()), asyncio.create_task(probe.watch_the_loop())]
        await asyncio.sleep(1)  # warm up
        probe.phase()
        await asyncio.sleep(seconds)
        quiet_writes, quiet_lags = probe.phase()
        took: list[str] = []
        while len(took) < checkpoints or len(probe.during) < len(quiet_writes):
            if took:
                await asyncio.sleep(gap)
            before = checkpointer.written
            probe.checkpoint_begins()
            await checkpointer.save(newsroom.views)
            probe.checkpoint_ended()
            if checkpointer.written == before:
                raise SystemExit(
                    f"a checkpoint was not written: {checkpointer.failed or 'skipped'}"
                )
            took.append(
                f"{checkpointer.last['seconds']:.1f} s ({checkpointer.last['loop_held_ms']} ms)"
            )
        busy_writes = list(probe.during)
        _, busy_lags = probe.phase()
        probe.running = False
        await asyncio.gather(*tasks)
    finally:
        await newsroom.stop()
    print("| while | writes | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|")
    print(row("quiet", quiet_writes))
    print(row("checkpointing", busy_writes))
    print("\n| while | loop ticks | p50 lag ms | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|")
    print(row("quiet", quiet_lags))
    print(row("checkpointing" + (", gaps too" if gap else ""), busy_lags))
    apart = f"{gap:g} s apart" if gap else "back to back"
    print(
        f"\n{len(took)} checkpoints written {apart} (each: seconds, longest hold of the loop; "
        "the writes due while one ran are counted):", ", ".join(took),
    )  # fmt: skip


async def checkpointed(log: Path) -> None:
    """A full replay and a clean stop, which writes the checkpoint the probe starts from."""
    newsroom = await Newsroom.start(settings(log))
    try:
        await newsroom.search_built()
    finally:
        await newsroom.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=DATA / "replay-1000000-200000.db")
    parser.add_argument("--folder", type=Path, default=None, help="where the copy goes")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0, help="seconds between checkpoints")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder or args.log.parent) as folder:
        if args.folder is not None:
            os.environ["SQLITE_TMPDIR"] = folder  # the search index's temporary file too
        log = Path(folder) / "log.db"
        shutil.copy(args.log, log)  # the bench logs are written whole, with an empty WAL
        with log.open("rb+") as copy:  # else the log's first flush writes the whole copy out,
            os.fsync(copy.fileno())  # and holds up the first writes measured for that long
        with asyncio.Runner(loop_factory=new_event_loop) as runner:  # uvloop, as the server
            runner.run(checkpointed(log))
        print(f"log: {args.log.name}, copy in {folder}; a write due every {1 / args.rate:.4f} s\n")
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(probe(log, args.rate, args.seconds, args.checkpoints, args.gap))


if __name__ == "__main__":
    main()
