"""Benchmark: newsroom on PostgreSQL, side by side with SQLite, for issue 14's targets, in one run.

It starts a throwaway PostgreSQL (tests/postgres.py: the pgserver wheel's binaries, a fresh
cluster in a temporary folder, fsync ON, every commit durable) and measures, each side by side:

1. `appends`, the store API in this process: 1 and then 64 concurrent appenders (asyncio tasks,
   each appending one ArticleCreated per call to a new stream of its own, bench/appends.py's
   code) on a fresh PostgreSQL database, then on a fresh SQLite file: appends/s, p50/p99 of one
   append, transactions (so appends per commit). Targets, on PostgreSQL: 64 appenders >= 10x
   1 appender, and >= 10,000 appends/s.
2. `writes`: `createArticle` over HTTP to one `python -m newsroom` on PostgreSQL, then on SQLite,
   from wrk over --write-connections connections (bench/api.py's mutation: the token, a fresh
   title each). "durable/s" counts what reached the log (its head before and after the run, once
   the writes in flight landed), not replies. Target: >= 1,500 durable mutations/s on PostgreSQL.
3. `visibility`: processes A and B on one database. createArticle on A, then at once the article
   on B with `Newsroom-Min-Position` set to the position A returned: the time from A's reply to
   B's answer holding the article (B hears of the write by LISTEN/NOTIFY, reads it from the log
   and applies it to its views). One sample at a time, 0-10 ms apart. Target: p99 <= 20 ms.
4. `reads`: --seed articles (600-character bodies) written through A, then served by A alone and
   by A and B (one database): the seed's `articles` query and `GET /feed`, from one wrk whose
   two threads each talk to one process (A, B), so the connections are spread evenly, as a
   round-robin balancer spreads them. Target: 2 processes >= 1.6x 1 process.

Every server is `python -m newsroom` with SERVER_FLAGS: no demo articles; no view checkpoints,
so none is written during a run (their cost is section 8's subject); the token, from a file;
warnings only in its log (the access log is off either way). The per-address rate limit and
connection cap do not apply: loopback is exempt unless --limit-loopback, which is not set.
`--max-writes` stays at its default (256), above every connection count used here.

Nothing is pinned to a core: PostgreSQL's processes need the cores as much as newsroom's. So each
measurement says where the machine's two cores went (fleet.Cores, from /proc), in cores: each
newsroom process, PostgreSQL (all its processes), the load generator (wrk, or this script where
it is the client), the rest (other processes, kernel work charged to none of these) and idle.
A generator near a core, or no idle left, is the limit, not the server.

Each round repeats every measurement of a scenario, every other round in the opposite order; the
verdicts use medians over the rounds. Progress goes to stderr, the Markdown report to stdout.

Run from the repo root, with PYTHONPATH naming it (`writes` and `reads` need wrk):

    python bench/postgres.py                          # everything, 3 rounds: about 6 minutes
    python bench/postgres.py --seconds 3 --rounds 1 --scenarios appends visibility
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import api
import appends
import feeds
from fleet import THREADS, WARMUP, Cores, Fleet, Http, Load, Server, own_seconds, spread_script, wrk
from machine import DATA, REPO, code_version, mount_of, report, table

import newsroom
from newsroom.runtime import new_event_loop
from newsroom.store.postgres import PostgresEventStore
from newsroom.store.sqlite import SQLiteEventStore

SCENARIOS = ("appends", "writes", "visibility", "reads")
STORES = ("PostgreSQL", "SQLite")
SERVER_FLAGS = ("--no-demo", "--no-checkpoints", "--log-level", "WARNING")
TARGET_RATIO, TARGET_APPENDS, TARGET_WRITES, TARGET_P99, TARGET_READS = 10, 10_000, 1_500, 20, 1.6
READ_ONE = "query($id: ID!) { article(id: $id) { id title } }"
ARTICLES = "{ articles { id title body category author_id author_name status } }"  # the seed's
WARM_SAMPLES = 20  # visibility samples taken first and not counted
T = TypeVar("T")


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ordered(items: Sequence[Any], round_number: int) -> list[Any]:
    """Every other round in the opposite order, so that neither side always runs first."""
    return list(items if round_number % 2 else reversed(items))


def cores(used: dict[str, float], names: Sequence[str]) -> list[str]:
    return [f"{used.get(name, 0.0):.2f}" for name in names]


def met(value: float, target: float, at_least: bool = True) -> str:
    return "**MET**" if (value >= target if at_least else value <= target) else "**NOT MET**"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of `values` (seconds), in milliseconds."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(p / 100 * len(ranked)) - 1))] * 1000


# --- 1. the store API -----------------------------------------------------------------------------


async def append_run(
    fleet: Fleet, database: str | None, appenders: int, seconds: float, body_chars: int
) -> tuple[appends.RunResult, dict[str, float]]:
    """bench/appends.py's run, on `database` (a fresh PostgreSQL one) or else a fresh SQLite
    file."""
    events = appends.templates(body_chars)
    folder = Path(tempfile.mkdtemp(prefix="appends-", dir=fleet.folder))
    if database:
        store: Any = await PostgresEventStore.open(database)
    else:
        store = await SQLiteEventStore.open(folder / "appends.db")
    try:
        meter = Cores({"this process": own_seconds, "PostgreSQL": fleet.postgres_seconds})
        latencies: list[float] = []
        started = time.perf_counter()
        tasks = [
            appends.appender(store, i + 1, appenders, started + seconds, events, latencies)
            for i in range(appenders)
        ]
        counts = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started  # with the appends in flight at the deadline
        used = meter.read()
        result = appends.RunResult(appenders, elapsed, sum(counts), store.transactions, latencies)
        return result, used
    finally:
        await store.close()
        shutil.rmtree(folder, ignore_errors=True)


def scenario_appends(fleet: Fleet, args: argparse.Namespace) -> str:
    runs: dict[tuple[int, str, int], tuple[appends.RunResult, dict[str, float]]] = {}
    with asyncio.Runner(loop_factory=new_event_loop) as runner:  # the loop newsroom runs on
        for number in range(1, args.rounds + 1):
            for store_name in ordered(STORES, number):
                for appenders in (1, 64):
                    database = fleet.database() if store_name == "PostgreSQL" else None
                    run = append_run(fleet, database, appenders, args.seconds, args.body_chars)
                    runs[number, store_name, appenders] = runner.run(stoppable(run))
                    rate = runs[number, store_name, appenders][0].rate
                    progress(f"appends {number} {store_name} {appenders}: {rate:,.0f}/s")
    parties = ("this process", "PostgreSQL", "rest", "idle")
    headers = ["round", "store", "appenders", "appends/s", "p50 ms", "p99 ms", "transactions",
               "appends/txn", "vs 1", *(f"cores: {p}" for p in parties)]  # fmt: skip
    rows = []
    for (number, store_name, appenders), (r, used) in sorted(runs.items()):
        one = runs[number, store_name, 1][0]
        rows.append([
            number, store_name, appenders, f"{r.rate:,.0f}", f"{r.percentile(50):.2f}",
            f"{r.percentile(99):.2f}", f"{r.transactions:,}",
            f"{r.appends / max(r.transactions, 1):.1f}", f"{r.rate / one.rate:.1f}x",
            *cores(used, parties),
        ])  # fmt: skip
    title = f"### 1. Store API: durable appends ({args.body_chars:,}-char bodies, {args.seconds} s)"
    lines = [title, "", table(headers, rows), ""]
    for store_name in STORES:
        rates = [
            [runs[number, store_name, n][0].rate for number in range(1, args.rounds + 1)]
            for n in (1, 64)
        ]
        one, many = map(statistics.median, rates)
        verdict = ""
        if store_name == "PostgreSQL":
            verdict = (
                f" (target >= {TARGET_RATIO}x: {met(many / one, TARGET_RATIO)}; "
                f">= {TARGET_APPENDS:,}/s: {met(many, TARGET_APPENDS)})"
            )
        lines.append(
            f"- {store_name}, medians: 64 appenders {many:,.0f}/s, 1 appender "
            f"{one:,.0f}/s: **{many / one:.1f}x**{verdict}"
        )
    return "\n".join(lines)


# --- 2. createArticle over HTTP -------------------------------------------------------------------


def scenario_writes(fleet: Fleet, args: argparse.Namespace) -> str:
    servers = {
        "PostgreSQL": fleet.newsroom(fleet.database(), "writes-postgresql"),
        "SQLite": fleet.newsroom(fleet.sqlite("writes"), "writes-sqlite"),
    }
    script = api.wrk_script(fleet.folder, "", token=True, counter=True)
    runs: list[tuple[int, str, Load]] = []
    try:
        for number in range(1, args.rounds + 1):
            for store_name in ordered(STORES, number):
                server = servers[store_name]
                parties = {"newsroom": server.seconds, "PostgreSQL": fleet.postgres_seconds}
                load = wrk(
                    script,
                    server.url + "/graphql",
                    args.seconds,
                    args.write_connections,
                    parties,
                    server.head,
                )
                runs.append((number, store_name, load))
                progress(f"writes {number} {store_name}: {load.written / load.seconds:,.0f}/s")
    finally:
        fleet.stop(*servers.values())
    parties = ("newsroom", "PostgreSQL", "wrk", "rest", "idle")
    headers = ["round", "store", "replies/s", "durable/s", "p50 ms", "p99 ms", "errors",
               *(f"cores: {p}" for p in parties)]  # fmt: skip
    rows = [
        [
            number,
            store_name,
            f"{load.rate:,.0f}",
            f"{load.written / load.seconds:,.0f}",
            f"{load.p50:.2f}",
            f"{load.p99:.2f}",
            load.errors,
            *cores(load.cores, parties),
        ]
        for number, store_name, load in runs
    ]
    durable = {
        name: statistics.median(load.written / load.seconds for _, s, load in runs if s == name)
        for name in STORES
    }
    title = (
        f"### 2. `createArticle` over HTTP ({args.write_connections} wrk connections, "
        f"{args.seconds} s; bench/api.py's article)"
    )
    pg, lite = durable["PostgreSQL"], durable["SQLite"]
    verdict = (
        f"- durable mutations/s, medians: PostgreSQL **{pg:,.0f}** (target >= "
        f"{TARGET_WRITES:,}: {met(pg, TARGET_WRITES)}), SQLite {lite:,.0f}"
    )
    return "\n".join([title, "", table(headers, rows), "", verdict])


# --- 3. written on A, visible on B ----------------------------------------------------------------


def visibility_samples(a: Server, b: Server, count: int) -> tuple[list[float], list[float]]:
    """(createArticle's time on A, then A's reply → B's answer holding it), in seconds."""
    on_a, on_b = Http(a), Http(b)
    texts = feeds.Texts(random.Random(14))
    writes, visible = [], []
    for n in range(WARM_SAMPLES + count):
        time.sleep(random.uniform(0, 0.01))  # not in step with anything periodic
        title = f"Visible {n}: " + texts.sentence(6)
        began = time.perf_counter()
        article_id, position = on_a.create(feeds.article(texts, title))
        replied = time.perf_counter()
        wait = {"Newsroom-Min-Position": str(position)}
        found = on_b.graphql(READ_ONE, {"id": article_id}, **wait)
        seen = time.perf_counter()
        assert found["data"]["article"]["title"] == title, found
        if n >= WARM_SAMPLES:
            writes.append(replied - began)
            visible.append(seen - replied)
    return writes, visible


def scenario_visibility(fleet: Fleet, args: argparse.Namespace) -> str:
    url = fleet.database()
    a, b = fleet.newsroom(url, "A"), fleet.newsroom(url, "B")
    try:
        meter = Cores(
            {
                "A": a.seconds,
                "B": b.seconds,
                "PostgreSQL": fleet.postgres_seconds,
                "this script": own_seconds,
            }
        )
        writes, visible = visibility_samples(a, b, args.samples)
        used = meter.read()
    finally:
        fleet.stop(a, b)
    p99 = percentile(visible, 99)
    progress(f"visibility: p99 {p99:.2f} ms")
    rows = [
        [what, len(values), *(f"{percentile(values, p):.2f}" for p in (50, 90, 99, 100))]
        for what, values in (
            ("createArticle on A (to its reply)", writes),
            ("A's reply → B's answer holding the article", visible),
        )
    ]
    spent = ", ".join(f"{name} {share:.2f}" for name, share in used.items())
    return "\n".join([
        "### 3. Written on process A, read on process B (`Newsroom-Min-Position`)", "",
        table(["time", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows), "",
        f"- p99 A → B **{p99:.2f} ms** (target <= {TARGET_P99} ms: "
        f"{met(p99, TARGET_P99, at_least=False)}); cores meanwhile: {spent}",
    ])  # fmt: skip


# --- 4. reads on one process, then two ------------------------------------------------------------


def seed(server: Server, count: int) -> None:
    on = Http(server)
    texts = feeds.Texts(random.Random(7))
    for _ in range(count):
        on.create(feeds.article(texts, texts.sentence(texts.rng.randint(6, 18))[:140]))


def same_replies(a: Server, b: Server, path: str, body: str | None, position: int) -> str:
    """Check that both processes answer `path` alike once at `position`; the reply's size."""
    replies = []
    for server in (a, b):
        data = None if body is None else body.encode()
        request = urllib.request.Request(server.url + path, data, method="POST" if data else "GET")
        request.add_header("Newsroom-Min-Position", str(position))
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as reply:
            replies.append(reply.read())
    if body is not None:
        first, second = (json.loads(reply)["data"] for reply in replies)
        assert len(first["articles"]) == 10 and first == second, replies
    else:  # the feeds differ only in the links: each process names itself in them
        assert replies[0].count(b"<item>") == replies[1].count(b"<item>") == 20, replies
    return f"{len(replies[0]):,}-byte reply"


def scenario_reads(fleet: Fleet, args: argparse.Namespace) -> str:
    url = fleet.database()
    a = fleet.newsroom(url, "reads-A")
    servers = [a]
    runs: list[tuple[int, str, int, Load]] = []
    try:
        seed(a, args.seed)
        b = fleet.newsroom(url, "reads-B")  # replays the seed from the log as it starts
        servers.append(b)
        parties = {"A": a.seconds, "B": b.seconds, "PostgreSQL": fleet.postgres_seconds}
        loads = {
            "articles query": ("/graphql", json.dumps({"query": ARTICLES})),
            "GET /feed": ("/feed", None),
        }
        for name, (path, body) in loads.items():
            label = f"{name} ({same_replies(a, b, path, body, a.head())})"
            scripts = {
                n: spread_script(fleet.folder, f"{path[1:]}-{n}", ports, body)
                for n, ports in ((1, [a.port]), (2, [a.port, b.port]))
            }
            for number in range(1, args.rounds + 1):
                for processes in ordered((1, 2), number):
                    load = wrk(
                        scripts[processes],
                        a.url + path,
                        args.seconds,
                        args.read_connections,
                        parties,
                    )
                    runs.append((number, label, processes, load))
                    progress(f"reads {number} {name} {processes}: {load.rate:,.0f}/s")
    finally:
        fleet.stop(*servers)
    return render_reads(runs, args)


def render_reads(runs: list[tuple[int, str, int, Load]], args: argparse.Namespace) -> str:
    parties = ("A", "B", "PostgreSQL", "wrk", "rest", "idle")
    headers = ["load", "round", "processes", "requests/s", "p50 ms", "p99 ms", "errors", "vs 1",
               *(f"cores: {p}" for p in parties)]  # fmt: skip
    one = {(number, label): load.rate for number, label, n, load in runs if n == 1}
    rows = [
        [
            label,
            number,
            n,
            f"{load.rate:,.0f}",
            f"{load.p50:.2f}",
            f"{load.p99:.2f}",
            load.errors,
            f"{load.rate / one[number, label]:.2f}x",
            *cores(load.cores, parties),
        ]
        for number, label, n, load in sorted(runs, key=lambda r: (r[1], r[0], r[2]))
    ]
    title = (
        f"### 4. Reads: one process, then two on one database ({args.seed} seed articles, "
        f"{args.read_connections} wrk connections, {args.seconds} s)"
    )
    lines = [title, "", table(headers, rows), ""]
    for label in dict.fromkeys(run[1] for run in runs):
        one_rate, two_rate = (
            statistics.median(load.rate for _, name, k, load in runs if name == label and k == n)
            for n in (1, 2)
        )
        ratio = two_rate / one_rate
        lines.append(
            f"- {label}, medians: 1 process {one_rate:,.0f}/s, 2 processes "
            f"{two_rate:,.0f}/s: **{ratio:.2f}x** (target >= {TARGET_READS}x: "
            f"{met(ratio, TARGET_READS)})"
        )
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------------

RUNS = {
    "appends": scenario_appends,
    "writes": scenario_writes,
    "visibility": scenario_visibility,
    "reads": scenario_reads,
}


def postgres_facts(fleet: Fleet) -> list[tuple[str, str]]:
    assert fleet.postgres is not None
    settings = fleet.postgres.psql(
        "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name) "
        "FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', "
        "'full_page_writes', 'shared_buffers', 'max_connections')"
    )
    device, mount_point, fs_type = mount_of(fleet.postgres.data)
    return [
        ("PostgreSQL", fleet.postgres.psql("SELECT version()").split(" on ")[0]),
        ("PostgreSQL settings", settings),
        ("PostgreSQL data dir", f"{fleet.postgres.data} ({fs_type} on {device}, {mount_point})"),
        ("newsroom servers", "python -m newsroom " + " ".join(SERVER_FLAGS) + " --token-file F"),
        ("load generator", f"wrk, {THREADS} threads, not pinned, {WARMUP} s warm-up per run"),
    ]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--scenarios",
        nargs="+",
        choices=SCENARIOS,
        default=list(SCENARIOS),
        help="which to run (default: all; always in the order above)",
    )
    p.add_argument("--seconds", type=int, default=10, help="seconds per measured run (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each scenario (default 3)")
    p.add_argument("--body-chars", type=int, default=2_000, help="appends: body size (2000)")
    p.add_argument("--write-connections", type=int, default=64, help="writes: wrk connections (64)")
    p.add_argument("--samples", type=int, default=400, help="visibility: samples (400)")
    p.add_argument("--seed", type=int, default=300, help="reads: articles written first (300)")
    p.add_argument("--read-connections", type=int, default=32, help="reads: wrk connections (32)")
    return p.parse_args()


def check_setup(args: argparse.Namespace) -> None:
    if not Path(newsroom.__file__).resolve().is_relative_to(REPO):
        raise SystemExit(f"newsroom comes from {newsroom.__file__}: run with PYTHONPATH={REPO}")
    if {"writes", "reads"} & set(args.scenarios) and not shutil.which("wrk"):
        raise SystemExit("the writes and reads scenarios need wrk: apt-get install wrk")


class Stopped(BaseException):
    """Raised on SIGINT (Ctrl-C) or SIGTERM, so that `finally` stops every process."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the stop signals received


def _stopped(signum: int, frame: object = None) -> None:
    _received.append(signum)
    raise Stopped


async def stoppable(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro`; cancel it and raise Stopped on a stop signal. (The loop's own handlers:
    uvloop does not let an exception from a Python signal handler through.)"""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None

    def stop(signum: int) -> None:
        _received.append(signum)
        task.cancel()

    for stop_signal in STOP_SIGNALS:
        loop.add_signal_handler(stop_signal, stop, stop_signal)
    try:
        return await coro
    except asyncio.CancelledError:
        if _received:
            raise Stopped from None
        raise
    finally:
        for stop_signal in STOP_SIGNALS:
            loop.remove_signal_handler(stop_signal)
            signal.signal(stop_signal, _stopped)


def main() -> None:
    args = parse_args()
    check_setup(args)
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _stopped)
    fleet = Fleet(SERVER_FLAGS)
    try:
        progress("starting PostgreSQL")
        fleet.start_postgres()
        sections = [RUNS[name](fleet, args) for name in SCENARIOS if name in args.scenarios]
        print(f"## PostgreSQL against SQLite (issue 14), measured on {code_version()}\n")
        print("\n\n".join(sections))
        print()
        print(report("bench/postgres.py", DATA, postgres_facts(fleet)))
    except BaseException:
        if not _received:
            raise
        # Whatever surfaced first (Ctrl-C also reaches PostgreSQL, whose clients may fail
        # before this script hears of the signal), it was the stop.
        name = signal.Signals(_received[0]).name
        progress(f"stopped by {name}: stopping every process it started")
        raise SystemExit(128 + _received[0]) from None
    finally:
        fleet.close()


if __name__ == "__main__":
    main()
