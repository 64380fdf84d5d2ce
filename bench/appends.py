"""Benchmark: durable appends per second through the SQLite event store, with group commit.

For each appender count (1, 8 and 64 by default) it opens a fresh store file in a new temp dir
under bench/data/ (git-ignored, same disk as the repo), then runs that many asyncio tasks for a
fixed time. Each task appends one ArticleCreated event per `store.append` to streams of its own
(`article-N`, expected version 0), as the command handler would. Reported per run: appends/s,
p50/p99 latency of one append, and `store.transactions` (commits), so the group commit shows as
appends per transaction. The 1-appender run is the one-commit-per-event baseline; the script
prints the ratio of the 64-appender run to it (target: >= 10x).

For reference, on the same disk: the raw 4 KiB write+fsync rate, and "SQLite alone": the store's
schema and statements (SELECT the stream version, INSERT the event row, upsert the stream) from
one thread with no asyncio, committing 1 and then 64 rows per transaction. That is the ceiling
any group commit over this schema can reach here; its 64/1 ratio bounds the store's ratio.

With --fsync-delay-us N the script re-runs itself under an LD_PRELOAD shim (bench/slow_fsync.c,
built with the system C compiler into bench/data/) that sleeps N µs after every fsync and
fdatasync: a SIMULATED slower disk, to see what the ratio would be where a flush costs more.

Run from the repo root:

    python bench/appends.py                      # 5 s per run, 1/8/64 appenders
    python bench/appends.py --duration 10 --appenders 1 8 64 256 --body-chars 600
    python bench/appends.py --fsync-delay-us 1000   # simulated: +1 ms per flush
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from eventlog import AUTHORS, CATEGORIES, Texts
from machine import DATA, CpuWatch, fsync_rate, report, table

from newsroom.events import ArticleCreated, codec
from newsroom.store.rows import COLUMNS
from newsroom.store.sqlite import SQLiteEventStore
from newsroom.store.sqlite_file import SCHEMA

DELAY_ENV = "BENCH_FSYNC_DELAY_US"


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one timed run measured."""

    appenders: int
    seconds: float
    appends: int
    transactions: int
    latencies: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.appends / self.seconds

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


def templates(body_chars: int, count: int = 256) -> list[ArticleCreated]:
    """ArticleCreated events of realistic sizes (40-140-char title, `body_chars` body)."""
    texts = Texts(random.Random(7))
    return [template(texts, i, body_chars) for i in range(count)]


def template(texts: Texts, i: int, body_chars: int) -> ArticleCreated:
    author = i % len(AUTHORS)
    return ArticleCreated(
        1, texts.title(), texts.body_of(body_chars), texts.rng.choice(CATEGORIES),
        author + 1, AUTHORS[author], datetime.now(UTC),
    )  # fmt: skip


async def appender(
    store: SQLiteEventStore,
    first_id: int,
    stride: int,
    deadline: float,
    events: list[ArticleCreated],
    latencies: list[float],
) -> int:
    """Append one event per call, each to a new stream of this task's own, until `deadline`."""
    done = 0
    article_id = first_id
    while time.perf_counter() < deadline:
        event = dataclasses.replace(events[done % len(events)], article_id=article_id)
        started = time.perf_counter()
        await store.append(f"article-{article_id}", [event], expected_version=0)
        latencies.append(time.perf_counter() - started)
        done += 1
        article_id += stride  # task i owns ids i+1, i+1+stride, ...: no stream is shared
    return done


async def run(appenders: int, seconds: float, body_chars: int, workdir: Path) -> RunResult:
    """One timed run on a fresh store file in `workdir`."""
    events = templates(body_chars)
    store = await SQLiteEventStore.open(workdir / "appends.db")
    try:
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        counts = await asyncio.gather(
            *(
                appender(store, i + 1, appenders, deadline, events, latencies)
                for i in range(appenders)
            )
        )
        elapsed = time.perf_counter() - started  # includes the appends in flight at the deadline
        return RunResult(appenders, elapsed, sum(counts), store.transactions, latencies)
    finally:
        await store.close()


def sqlite_alone(rows_per_txn: int, seconds: float, body_chars: int, workdir: Path) -> RunResult:
    """The store's statements straight on sqlite3, one thread, `rows_per_txn` rows per COMMIT."""
    conn = sqlite3.connect(workdir / "reference.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as the store: a COMMIT is on disk when it returns
    conn.executescript(f"BEGIN; {SCHEMA} COMMIT;")
    type_name, schema, data = codec.encode(templates(body_chars, count=1)[0])
    insert = f"INSERT INTO events ({COLUMNS}, checksum) VALUES (?,?,?,?,?,?,?,?,?,?)"
    upsert = (
        "INSERT INTO streams (stream, version, number) VALUES (?, 1, ?) "
        "ON CONFLICT (stream) DO UPDATE SET version = excluded.version"
    )
    position, transactions, latencies = 0, 0, []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(rows_per_txn):
            position += 1
            stream = f"article-{position}"
            conn.execute("SELECT version FROM streams WHERE stream = ?", (stream,)).fetchone()
            row = (position, stream, 1, f"{position:036}", type_name, schema, data, b"{}", "", 0)
            conn.execute(insert, row)
            conn.execute(upsert, (stream, position))
        conn.execute("COMMIT")
        transactions += 1
        latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - started
    conn.close()
    return RunResult(rows_per_txn, elapsed, position, transactions, latencies)


def run_references(args: argparse.Namespace) -> list[RunResult]:
    results = []
    for rows in (1, 64):
        workdir = Path(tempfile.mkdtemp(prefix="sqlite-alone-", dir=DATA))
        try:
            results.append(sqlite_alone(rows, min(args.duration, 3.0), args.body_chars, workdir))
        finally:
            shutil.rmtree(workdir)
    return results


async def run_all(args: argparse.Namespace) -> list[RunResult]:
    """Every requested run, each on its own fresh file in its own temp dir."""
    results = []
    for appenders in args.appenders:
        workdir = Path(tempfile.mkdtemp(prefix="appends-", dir=DATA))
        try:
            result = await run(appenders, args.duration, args.body_chars, workdir)
        finally:
            shutil.rmtree(workdir)
        print(f"  {appenders:>4} appenders: {result.rate:,.0f} appends/s", flush=True)
        results.append(result)
    return results


def render(results: list[RunResult], first_column: str = "appenders") -> str:
    baseline = next((r for r in results if r.appenders == 1), results[0])
    headers = [
        first_column, "seconds", "appends", "appends/s", "p50 ms", "p99 ms",
        "transactions", "appends/txn", f"vs {baseline.appenders}",
    ]  # fmt: skip
    rows = [
        (
            r.appenders,
            f"{r.seconds:.2f}",
            f"{r.appends:,}",
            f"{r.rate:,.0f}",
            f"{r.percentile(50):.2f}",
            f"{r.percentile(99):.2f}",
            f"{r.transactions:,}",
            f"{r.appends / max(r.transactions, 1):.1f}",
            f"{r.rate / baseline.rate:.1f}x",
        )
        for r in results
    ]
    return table(headers, rows)


def verdict(results: list[RunResult], target: float) -> str:
    by_count = {r.appenders: r for r in results}
    if 1 not in by_count or 64 not in by_count:
        return "ratio 64/1 not measured: run with --appenders including 1 and 64"
    ratio = by_count[64].rate / by_count[1].rate
    met = "MET" if ratio >= target else "NOT MET"
    return f"Group commit: 64 appenders / 1 appender = {ratio:.1f}x (target >= {target:g}x: {met})"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    p.add_argument(
        "--appenders", type=int, nargs="+", default=[1, 8, 64], help="concurrent appenders per run"
    )
    p.add_argument("--body-chars", type=int, default=2_000, help="article body size (default 2000)")
    p.add_argument("--target", type=float, default=10.0, help="required 64/1 ratio (default 10)")
    p.add_argument(
        "--fsync-delay-us", type=int, default=0, help="SIMULATE a disk N µs slower per flush"
    )
    return p.parse_args()


def rerun_with_slow_fsync(delay_us: int) -> None:
    """Build the shim and replace this process with itself under LD_PRELOAD (Linux only)."""
    shim = DATA / "slow_fsync.so"
    source = Path(__file__).with_name("slow_fsync.c")
    cc = ["cc", "-O2", "-shared", "-fPIC", "-o", str(shim), str(source), "-ldl"]
    subprocess.run(cc, check=True)
    env = {**os.environ, "LD_PRELOAD": str(shim), DELAY_ENV: str(delay_us)}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def main() -> None:
    args = parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if args.fsync_delay_us and os.environ.get(DELAY_ENV) != str(args.fsync_delay_us):
        rerun_with_slow_fsync(args.fsync_delay_us)
    if args.fsync_delay_us:
        print(f"SIMULATED DISK: every fsync/fdatasync takes {args.fsync_delay_us} µs longer")
    print(f"appends benchmark: {args.duration:g} s per run, appenders {args.appenders}", flush=True)
    watch = CpuWatch()
    fsyncs = fsync_rate(DATA)
    results = asyncio.run(run_all(args))
    references = run_references(args)
    print()
    print(render_all(args, results, references))
    print()
    extra = [
        ("raw write+fsync of 4 KiB", f"{fsyncs:,.0f}/s ({1e6 / fsyncs:.0f} µs each)"),
        ("CPU used by other processes meanwhile", watch.others()),
    ]
    print(report("appends", DATA, extra))


def render_all(args: argparse.Namespace, results: list[RunResult], refs: list[RunResult]) -> str:
    simulated = f", SIMULATED +{args.fsync_delay_us} µs per flush" if args.fsync_delay_us else ""
    title = f"one ArticleCreated per append, {args.body_chars:,}-char body{simulated}"
    return "\n".join(
        [
            f"### Durable appends ({title})",
            "",
            render(results),
            "",
            verdict(results, args.target),
            "",
            "Reference, SQLite alone (same schema and statements, one thread, no asyncio):",
            "",
            render(refs, first_column="rows per COMMIT"),
        ]
    )


if __name__ == "__main__":
    main()
