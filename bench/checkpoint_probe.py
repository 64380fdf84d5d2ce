"""Benchmark: what writing view checkpoints costs a write, in process, without HTTP.

`bench/checkpoint.py` measures `createArticle` over HTTP, with its client on the same two cores;
this probe takes the client and HTTP away, to tell what the checkpoint itself does to the write
path. One newsroom (`Newsroom.start`, as `python -m newsroom` runs it) on a copy of the log,
started from a checkpoint of it (made first, by a full replay and a clean stop), handles
`CreateArticle` commands at `--rate` a second from one coroutine, each timed from the call to
its durable reply, while a second coroutine measures the event loop's lag (a 1 ms sleep, and how
late it wakes):
1. `--seconds` quiet: no checkpoint;
2. `--checkpoints` checkpoints written back to back, paced as a running server paces them.
Printed: the writes' p50/p90/p99/max, the loop's lag, and what the checkpoints took.
`--folder` puts the copy (and its checkpoints) elsewhere, e.g. on tmpfs (`/dev/shm`), to take
the disk out of it.

Run from the repo root:
    python bench/checkpoint_probe.py [--log bench/data/replay-1000000-200000.db] [--folder DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from machine import DATA

from newsroom.app import Newsroom
from newsroom.articles import CreateArticle
from newsroom.config import Settings


def settings(log: Path) -> Settings:
    return Settings(
        store=f"sqlite:///{log}", demo=False, checkpoint_every_events=0, checkpoint_every_minutes=0
    )


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100)
    return f"| {name} | {len(ms):,} | {q[49]:.2f} | {q[89]:.2f} | {q[98]:.2f} | {ms[-1]:.1f} |"


async def probe(log: Path, rate: float, seconds: float, checkpoints: int) -> None:
    newsroom = await Newsroom.start(settings(log))
    writes: list[float] = []
    lags: list[float] = []
    running = True

    async def write() -> None:
        n = 0
        while running:
            n += 1
            started = time.perf_counter()
            await newsroom.commands.handle(
                CreateArticle(
                    title=f"Probe {n}", body="A short body.", category="news", author_id=1,
                    author_name="Probe",
                )
            )  # fmt: skip
            writes.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))

    async def lag() -> None:
        while running:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    tasks = [asyncio.create_task(write()), asyncio.create_task(lag())]
    await asyncio.sleep(1)  # warm up
    writes.clear(), lags.clear()
    await asyncio.sleep(seconds)
    quiet = (list(writes), list(lags))
    writes.clear(), lags.clear()
    started = time.perf_counter()
    for _ in range(checkpoints):  # back to back: a write or more comes in during each
        await newsroom.checkpointer.save(newsroom.views)
    took = time.perf_counter() - started
    running = False
    await asyncio.gather(*tasks)
    print("| while | writes | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|")
    print(summary("quiet", quiet[0]))
    print(summary("checkpointing", writes))
    print("\n| while | loop ticks | p50 lag ms | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|")
    print(summary("quiet", quiet[1]))
    print(summary("checkpointing", lags))
    print(f"\n{checkpoints} checkpoints written back to back in {took:.1f} s")
    await newsroom.stop()


async def checkpointed(log: Path) -> None:
    """A full replay and a clean stop, which writes the checkpoint the probe starts from."""
    newsroom = await Newsroom.start(settings(log))
    await newsroom.search_built()
    await newsroom.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=DATA / "replay-1000000-200000.db")
    parser.add_argument("--folder", type=Path, default=None, help="where the copy goes")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--checkpoints", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder or args.log.parent) as folder:
        log = Path(folder) / "log.db"
        shutil.copy(args.log, log)
        asyncio.run(checkpointed(log))
        print(f"log: {args.log.name}, copy in {folder}; {args.rate:.0f} writes a second\n")
        asyncio.run(probe(log, args.rate, args.seconds, args.checkpoints))


if __name__ == "__main__":
    main()
