"""Benchmark: replaying a 1,000,000-event log, and newsroom's start-to-ready time on it.

(a) Generates a realistic log (200,000 articles, 1,000,000 events; see bench/eventlog.py) into
    bench/data/replay-<events>-<articles>.db through the public store API, once; later runs reuse
    it (--regenerate forces a new one). How long generation took is kept beside it in a .json.
(b) Replay speed, in one process, on a warm page cache:
    - `Newsroom.start` (demo off) on the file: opening it (lock, header, start-up checks) and the
      replay into fresh projections, exactly as the server does; events/s over the whole start
      (target >= 200,000/s, issue 13), and its ratio to the plain orjson fold below; then the
      search index's build that follows in the background, in published articles/s (target
      >= 25,000/s);
    - a fresh ArticlesProjection fed by a `Dispatcher` over `Bus(store).subscribe`, without the
      app's start-up (so without any GC policy app.py sets), timed from subscribe to
      `wait_for(head)`;
    - the same pages read with `store.read_all` and applied directly, GC off, timing the store
      read (SQL + checksum + decode, in the store's thread) and `projection.apply` separately;
    - reference "plain folds": stdlib sqlite3 rows (position, type, data) decoded with stdlib
      `json.loads` (and with `orjson.loads`) and folded into a dict of dicts.
(c) Start-to-ready: spawns `python -m newsroom --store sqlite:///<file> --port <free> --no-demo`,
    polls GET /readyz until 200 (target <= 5 s from spawn), then GET /healthz until the search
    index is built (search answers 503 until then), reading the server's RSS at both moments
    (target <= 500 MB); then sends SIGTERM and checks exit code 0. It also reads the RSS of a
    server on an empty log, so that RSS per 100,000 articles is (RSS - empty) / articles.
    Also times `PRAGMA quick_check` on its own (which start-up ran before issue 13), and a
    bare `python -c "import newsroom.web.app"` (interpreter and imports). With --cold, the OS
    page cache is dropped (needs root) before the quick_check timing and before each spawn, as
    after a reboot; otherwise the file is warm in the page cache.

(b) and (c) run on a private copy of the log (bench/data/<name>-run-<pid>.db, deleted at the
end), so the shared, generated file is never opened by a server.

Run from the repo root:

    python bench/replay.py                  # generate if needed, then measure once
    python bench/replay.py --runs 3         # repeat (b) and (c) three times
    python bench/replay.py --regenerate     # write the log anew first
    python bench/replay.py --cold --skip-replay   # start-to-ready from a cold page cache
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from eventlog import GENERATOR_VERSION, Generated, write
from machine import DATA, REPO, CpuWatch, drop_page_cache, report, table

from newsroom.app import Newsroom
from newsroom.bus import Bus
from newsroom.config import Settings
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher, Projector
from newsroom.store.sqlite import SQLiteEventStore
from newsroom.store.sqlite_file import check_existing

REPLAY_TARGET = 200_000  # events/s (issue 13)
SEARCH_TARGET = 25_000  # published articles/s into the search index (issue 13)
RSS_TARGET = 500  # MiB once ready (issue 13)
READY_TARGET = 5.0  # seconds from spawn to /readyz 200
PAGE = 5_000  # the bus's page size (newsroom.bus.PAGE_SIZE)
SEARCH_BUILD = "search index build after it (published articles, background)"


# --- (a) the log ---------------------------------------------------------------------------------


def log_paths(events: int, articles: int) -> tuple[Path, Path]:
    """The cached database and the JSON that says how it was generated."""
    stem = f"replay-{events}-{articles}"
    return DATA / f"{stem}.db", DATA / f"{stem}.json"


def ensure_log(events: int, articles: int, regenerate: bool) -> tuple[Path, Generated]:
    """Reuse the cached log if it matches; otherwise generate it (through the store API)."""
    db, meta = log_paths(events, articles)
    cached = Generated.load(meta)
    if db.exists() and cached and cached.generator == GENERATOR_VERSION and not regenerate:
        print(f"reusing {db.relative_to(REPO)} (generated in {cached.seconds:.1f} s)", flush=True)
        return db, cached
    print(f"generating {events:,} events for {articles:,} articles ...", flush=True)
    for leftover in (db, meta, *db.parent.glob(db.name + "*")):
        leftover.unlink(missing_ok=True)
    partial = db.with_name(db.name + ".partial")
    generated = asyncio.run(write(partial, events, articles))
    partial.rename(db)  # closed: SQLite checkpointed and removed the WAL
    partial.with_name(partial.name + ".lock").unlink(missing_ok=True)
    generated.save(meta)
    print(f"generated in {generated.seconds:.1f} s", flush=True)
    return db, generated


# --- (b) replay ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    """One measured pass over the log."""

    name: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def newsroom_start(path: Path) -> tuple[Timing, Timing, dict[str, int]]:
    """`Newsroom.start` on the log, in this process: open + file checks + replay, as the server;
    then the search index's build after it (counted in published articles)."""
    started = time.perf_counter()
    newsroom = await Newsroom.start(
        Settings(store=f"sqlite:///{path}", demo=False, checkpoints=False)
    )
    seconds = time.perf_counter() - started
    try:
        await newsroom.search_built()
        build = newsroom.search_build
        articles = newsroom.views.articles
        counts = {s: articles.count(s) for s in ("DRAFT", "PUBLISHED", "RETRACTED")}
        events = newsroom.health.started_at_head
    finally:
        await newsroom.stop()
    name = "Newsroom.start in-process (open + start-up checks + replay)"
    search = Timing(SEARCH_BUILD, build.total, build.seconds or math.nan)
    return Timing(name, events, seconds), search, counts


async def replay_projector(path: Path) -> tuple[Timing, Timing]:
    """A fresh ArticlesProjection fed by a Projector over Bus.subscribe, without app.py's setup."""
    started = time.perf_counter()
    store = await SQLiteEventStore.open(path)
    opened = time.perf_counter()
    try:
        head = await store.head()
        projector = Projector(ArticlesProjection())
        replay_started = time.perf_counter()
        task = asyncio.create_task(Dispatcher([projector], Bus(store).subscribe).run())
        await projector.wait_for(head, timeout=None)
        seconds = time.perf_counter() - replay_started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await store.close()
    return (
        Timing("Projector + Bus.subscribe only (interpreter's default GC)", head, seconds),
        Timing("SQLiteEventStore.open (file checks)", 0, opened - started),
    )


async def replay_split(path: Path) -> tuple[Timing, Timing]:
    """Read pages with `store.read_all` and apply them, timing the two halves separately.

    The cyclic GC is off meanwhile (as during newsroom's own replay), so the two halves add up
    to the replay inside `Newsroom.start` rather than to a pass that also pays for collections.
    """
    store = await SQLiteEventStore.open(path)
    projection = ArticlesProjection()
    reading = applying = 0.0
    after = 0
    gc.disable()
    try:
        while True:
            t0 = time.perf_counter()
            page = await store.read_all(after=after, limit=PAGE)
            t1 = time.perf_counter()
            if not page:
                break
            for recorded in page:
                projection.apply(recorded)
            applying += time.perf_counter() - t1
            reading += t1 - t0
            after = page[-1].position
    finally:
        gc.enable()
        await store.close()
    return (
        Timing("store.read_all only, GC off (SQL + checksum + decode)", after, reading),
        Timing("ArticlesProjection.apply only, GC off", after, applying),
    )


def plain_fold(path: Path, loads: Callable[[bytes], Any], name: str) -> Timing:
    """Stdlib sqlite3 rows, decoded with `loads`, folded into a dict of article dicts."""
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    articles: dict[int, dict[str, Any]] = {}
    count = 0
    try:
        for _, type_name, data in conn.execute(
            "SELECT position, type, data FROM events ORDER BY position"
        ):
            fold_one(articles, type_name, loads(data))
            count += 1
    finally:
        conn.close()
    return Timing(name, count, time.perf_counter() - started)


def fold_one(articles: dict[int, dict[str, Any]], type_name: str, event: dict[str, Any]) -> None:
    """The plain fold: new articles go in, updates merge their fields, status changes set it."""
    article_id = event["article_id"]
    if type_name == "ArticleCreated" or type_name == "ArticleDraftCreated":
        event["status"] = "PUBLISHED" if type_name == "ArticleCreated" else "DRAFT"
        articles[article_id] = event
    elif type_name == "ArticlePublished":
        articles[article_id]["status"] = "PUBLISHED"
    elif type_name == "ArticleRetracted":
        articles[article_id]["status"] = "RETRACTED"
    else:
        articles[article_id].update(event)


def replay_timings(path: Path) -> tuple[list[Timing], Timing, dict[str, int]]:
    """Every replay measurement of one run, each after a full garbage collection."""
    measured: list[Timing] = []
    app, search, counts = asyncio.run(newsroom_start(path))
    gc.unfreeze()  # Newsroom.start may freeze what it built; start the next pass level
    gc.collect()
    projector, opened = asyncio.run(replay_projector(path))
    gc.collect()
    measured += [app, search, projector, *asyncio.run(replay_split(path))]
    gc.collect()
    measured.append(plain_fold(path, json.loads, "plain fold: sqlite3 + json.loads (stdlib)"))
    gc.collect()
    measured.append(plain_fold(path, orjson.loads, "plain fold: sqlite3 + orjson.loads"))
    gc.collect()
    return measured, opened, counts


# --- (c) start-to-ready -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """One spawn of `python -m newsroom` on the log."""

    ready: float  # seconds from spawn to the first /readyz 200
    search_ready: float  # seconds from spawn until /healthz says the search index is built
    rss_ready: float  # MiB, the server's resident memory at the first /readyz 200
    rss_search: float  # MiB, once the search index is built
    server_replay: str  # the server's own "replayed ... in ... s" log line, if any
    server_search: str  # and its "search index built: ..." line
    stop: float  # seconds from SIGTERM to exit
    exit_code: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def ready(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False  # 503: up, but not ready
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False  # not listening yet


def server_command(path: Path, port: int) -> list[str]:
    store = f"sqlite:///{path}"
    # No checkpoints: every start replays the whole log (bench/checkpoint.py measures them).
    return [
        *(sys.executable, "-m", "newsroom", "--store", store, "--port", str(port)),
        *("--no-demo", "--no-checkpoints"),
    ]


def start_to_ready(path: Path, timeout: float) -> Start:
    """Spawn newsroom, poll /readyz until 200, SIGTERM it; the server's output goes to a log."""
    port = free_port()
    log_path = DATA / "replay-server.log"
    with log_path.open("w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(server_command(path, port), stdout=log, stderr=log, cwd=REPO)
        try:
            seconds = wait_ready(f"http://127.0.0.1:{port}/readyz", proc, started, timeout)
            rss_ready = rss_mib(proc.pid)
            search = wait_search(f"http://127.0.0.1:{port}/healthz", proc, started, timeout)
            rss_search = rss_mib(proc.pid)
        finally:
            stopping = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            stop = time.perf_counter() - stopping
    output = log_path.read_text()
    match = re.search(r"replayed .* events in .* events/s\)", output)
    built = re.search(r"search index built: .* articles/s\)", output)
    return Start(
        seconds,
        search,
        rss_ready,
        rss_search,
        match.group() if match else "(no replay line)",
        built.group() if built else "(no search line)",
        stop,
        code,
    )


def wait_search(url: str, proc: subprocess.Popen[bytes], started: float, timeout: float) -> float:
    """Poll /healthz until the search view's index is caught up; seconds since spawn."""
    while time.perf_counter() - started < timeout:
        with _DIRECT.open(url, timeout=2) as response:
            report = json.load(response)
        if report["projections"]["search"]["index"]["caught_up"]:
            return time.perf_counter() - started
        if proc.poll() is not None:
            raise SystemExit(f"newsroom exited with {proc.returncode}; see bench/data/*.log")
        time.sleep(0.02)
    raise SystemExit(f"the search index was not built within {timeout} s")


def rss_mib(pid: int) -> float:
    """The resident memory of a process, in MiB (Linux: /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def empty_rss(timeout: float) -> float:
    """The RSS of a server on an empty log once ready: what any article adds to."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "empty.db"
        port = free_port()
        proc = subprocess.Popen(
            server_command(path, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc, time.perf_counter(), timeout)
            return rss_mib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def wait_ready(url: str, proc: subprocess.Popen[bytes], started: float, timeout: float) -> float:
    while time.perf_counter() - started < timeout:
        if ready(url):
            return time.perf_counter() - started
        if proc.poll() is not None:
            raise SystemExit(f"newsroom exited with {proc.returncode}; see bench/data/*.log")
        time.sleep(0.02)
    raise SystemExit(f"newsroom was not ready within {timeout} s")


def time_quick_check(path: Path) -> tuple[float, float]:
    """Seconds for `PRAGMA quick_check(5)` alone, and for newsroom's whole `check_existing`."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        started = time.perf_counter()
        (result,) = conn.execute("PRAGMA quick_check(5)").fetchone()
        quick = time.perf_counter() - started
    finally:
        conn.close()
    if result != "ok":
        raise SystemExit(f"{path}: quick_check says {result}")
    started = time.perf_counter()
    check_existing(path)
    return quick, time.perf_counter() - started


def time_imports() -> float:
    """Seconds for a fresh interpreter to import newsroom's web app (the floor of any start)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import newsroom.web.app"], check=True, cwd=REPO)
    return time.perf_counter() - started


# --- report --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    """Everything one invocation measured, run by run."""

    replays: list[list[Timing]] = field(default_factory=list)
    opens: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    starts: list[Start] = field(default_factory=list)
    checks: list[tuple[float, float]] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    empty_rss: float = math.nan


def measure(shared: Path, args: argparse.Namespace) -> Results:
    results = Results()
    db = shared.with_name(f"{shared.stem}-run-{os.getpid()}.db")
    shutil.copyfile(shared, db)  # servers open a copy: the shared log is never written
    try:
        measure_copy(db, args, results)
    finally:
        for leftover in db.parent.glob(f"{db.name}*"):
            leftover.unlink()
    return results


def measure_copy(db: Path, args: argparse.Namespace, results: Results) -> None:
    warm_page_cache(db)  # so the first pass is not the only one that reads the disk
    if not args.skip_start:
        results.empty_rss = empty_rss(args.ready_timeout)
    for run in range(1, args.runs + 1):
        if not args.skip_replay:
            print(f"run {run}: replaying in-process ...", flush=True)
            timings, opened, results.counts = replay_timings(db)
            results.replays.append(timings)
            results.opens.append(opened.seconds)
        if not args.skip_start:
            print(f"run {run}: starting newsroom ...", flush=True)
            cold(args)
            results.imports.append(time_imports())
            cold(args)
            results.checks.append(time_quick_check(db))
            cold(args)
            results.starts.append(start_to_ready(db, args.ready_timeout))


def warm_page_cache(path: Path) -> None:
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass


def cold(args: argparse.Namespace) -> None:
    if args.cold and not drop_page_cache():
        raise SystemExit("--cold needs root: cannot write /proc/sys/vm/drop_caches")


def each(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) or "-"


def replay_table(runs: list[list[Timing]]) -> str:
    rows = []
    for name in [t.name for t in runs[0]]:
        timings = [t for run in runs for t in run if t.name == name]
        rate = statistics.median(t.rate for t in timings)
        rows.append(
            (name, f"{timings[0].events:,}", each([t.seconds for t in timings]), f"{rate:,.0f}")
        )
    headers = ["measurement", "events (articles)", "seconds (each run)", "per second (median)"]
    return table(headers, rows)


def start_table(r: Results) -> str:
    rows = [
        ("python -c 'import newsroom.web.app' (interpreter + imports)", each(r.imports)),
        ("PRAGMA quick_check(5) alone (no longer run at start)", each([q for q, _ in r.checks])),
        ("check_existing() (start-up checks)", each([c for _, c in r.checks])),
        ("SQLiteEventStore.open in-process (lock + checks + connect)", each(r.opens)),
        ("spawn -> first GET /readyz 200", each([s.ready for s in r.starts])),
        ("spawn -> search index built (/healthz)", each([s.search_ready for s in r.starts])),
        ("RSS (MiB) at the first /readyz 200", each([s.rss_ready for s in r.starts])),
        ("RSS (MiB) once the search index is built", each([s.rss_search for s in r.starts])),
        ("RSS (MiB) of a server on an empty log, ready", each([r.empty_rss])),
        ("SIGTERM -> exit", each([s.stop for s in r.starts])),
    ]
    return table(["step", "seconds (each run)"], rows)


def verdicts(r: Results) -> list[str]:
    lines = []
    if r.replays:
        rate = statistics.median(run[0].rate for run in r.replays)
        met = "MET" if rate >= REPLAY_TARGET else "NOT MET"
        fold = statistics.median(t.rate for run in r.replays for t in run if "orjson" in t.name)
        lines.append(
            f"Replay (Newsroom.start, open included, median): {rate:,.0f} events/s "
            f"(target >= {REPLAY_TARGET:,}: {met}); {rate / fold:.2f} of the plain orjson fold"
        )
        built = statistics.median(
            t.rate for run in r.replays for t in run if t.name == SEARCH_BUILD
        )
        met = "MET" if built >= SEARCH_TARGET else "NOT MET"
        lines.append(
            f"Search index build (median): {built:,.0f} articles/s (target >= {SEARCH_TARGET:,}: "
            f"{met})"
        )
    if r.starts:
        ready_s = statistics.median(s.ready for s in r.starts)
        met = "MET" if ready_s <= READY_TARGET else "NOT MET"
        lines.append(
            f"Start to /readyz 200 (median): {ready_s:.2f} s (target <= {READY_TARGET:g} s: {met})"
        )
        worst = max(max(s.rss_ready, s.rss_search) for s in r.starts)
        met = "MET" if worst <= RSS_TARGET else "NOT MET"
        lines.append(f"RSS once ready, highest of the runs: {worst:,.0f} MiB (target <= "
                     f"{RSS_TARGET} MB: {met})")  # fmt: skip
        if r.counts:
            articles = sum(r.counts.values())
            per = (statistics.median(s.rss_search for s in r.starts) - r.empty_rss) / articles
            lines.append(f"RSS per 100,000 articles with their events: {per * 100_000:,.0f} MiB")
        codes = sorted({s.exit_code for s in r.starts})
        lines.append(f"Exit code after SIGTERM: {codes} ({'OK' if codes == [0] else 'FAILED'})")
        for i, s in enumerate(r.starts, 1):
            lines += [f"Server log, run {i}: {s.server_replay}; {s.server_search}"]
    return lines


def describe_log(db: Path, generated: Generated) -> str:
    by_type = ", ".join(f"{name} {n:,}" for name, n in sorted(generated.by_type.items()))
    return (
        f"Log: `{db.relative_to(REPO)}`, {db.stat().st_size / 2**20:,.0f} MiB; {by_type}. "
        f"Generated through the store API in {generated.seconds:.1f} s "
        f"({generated.events / generated.seconds:,.0f} events/s; {generated.appends:,} appends "
        f"in {generated.transactions:,} transactions)."
    )


def render(db: Path, generated: Generated, r: Results, args: argparse.Namespace) -> str:
    out = [f"### Replay of {generated.events:,} events ({generated.articles:,} articles)", ""]
    out += [describe_log(db, generated), ""]
    if r.replays:
        out += [f"Projection after replay: {r.counts}", "", replay_table(r.replays), ""]
    if r.starts:
        cache = "cold page cache (dropped before each step)" if args.cold else "warm page cache"
        server = " ".join(server_command(db, 0)).replace("--port 0", "--port PORT")
        out += [f"### Start-to-ready ({cache})", "", start_table(r), "", f"Server: `{server}`", ""]
    return "\n".join([*out, *verdicts(r)])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    p.add_argument("--articles", type=int, default=200_000, help="articles in the log")
    p.add_argument("--regenerate", action="store_true", help="write the log anew first")
    p.add_argument("--runs", type=int, default=1, help="repeat (b) and (c) this many times")
    p.add_argument("--skip-replay", action="store_true", help="skip (b), the in-process replays")
    p.add_argument("--skip-start", action="store_true", help="skip (c), the server start")
    p.add_argument("--cold", action="store_true", help="drop the page cache before each (c) step")
    p.add_argument("--ready-timeout", type=float, default=120.0, help="give up after (seconds)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    db, generated = ensure_log(args.events, args.articles, args.regenerate)
    watch = CpuWatch()
    results = measure(db, args)
    print()
    print(render(db, generated, results, args))
    print()
    print(report("replay", DATA, [("CPU used by other processes meanwhile", watch.others())]))


if __name__ == "__main__":
    main()
