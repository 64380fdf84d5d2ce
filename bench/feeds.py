"""Benchmark: `GET /feed` on one server core against a bare aiohttp handler serving the same
bytes, and how soon after a mutation's reply its article is served in `/feed`.

One server process, pinned to CPU 0 with `taskset`, runs two aiohttp applications on one event
loop: newsroom's app (`create_app`, every route in the wrapper of `web/guard.py`) on one port,
and on a second port a bare `web.Application` (no middleware) whose GET handlers return stored
bytes:
`/feed-bare` the exact body and Content-Type that `GET /feed` served, `/feed-bare-gzip` the
exact gzipped body with `Content-Encoding: gzip`. The bytes are copied from newsroom's own
`/feed` after seeding (a PUT to the bare app, before any timing) and checked byte for byte.

(a) Throughput: `wrk` (Debian package) on CPU 1, 1 thread, 32 keep-alive connections, against
    `/feed` and the bare route one after the other (the order swaps every run); first without
    Accept-Encoding (plain bytes), then with `Accept-Encoding: gzip`. Reported per run: req/s,
    the ratio, wrk's latency percentiles, the server's CPU use (cores) and the CPU that *other*
    processes used meanwhile (/proc/stat minus the server and this script with its children).
(b) Mutation to feed: one client (stdlib `http.client`, keep-alive, on CPU 1) posts
    `createArticle` with the bearer token, notes when the reply has arrived, then GETs `/feed`
    in a tight loop until the new title is in the body. Reported: reply-to-seen percentiles,
    the first GET's time to its response headers, and, as references taken right after each
    probe, a second (cached) GET of `/feed` and a GET of the bare route.

Seed: 200 published articles (about 600-character bodies, 7 categories) through GraphQL, so
`/feed` is a full 20-item feed.

Run from the repo root:  python bench/feeds.py [--seconds 10] [--runs 3] [--probes 1000]
`--source DIR` makes the server import newsroom from DIR (e.g. a `git archive` of one commit,
while someone edits the work tree). `--profile FILE` runs the server under cProfile instead, for
one wrk run on /feed (FILE.wrk) and then the probes (FILE.probes); those timings are no results.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import http.client
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from machine import REPO, free_port, report, table, wait_ready

CONNECTIONS = 32
TOKEN = "bench-token"
SEED_ARTICLES = 200
BODY_CHARS = 600
MUTATION = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status position } }"
BARE = {"": "/feed-bare", "gzip": "/feed-bare-gzip"}  # Accept-Encoding sent -> bare route
PROFILE = "/profile"  # on the bare app, with --profile: POST a path to dump the profile there
QUIET = 0.05  # a run is "quiet" if other processes used at most this share of one core
HOST = "127.0.0.1"
# The categories, authors and words of bench/eventlog.py (not imported: it imports newsroom,
# and this driver only speaks HTTP; the server process imports newsroom from --source).
CATEGORIES = ("politics", "business", "world-news", "sport", "culture", "science", "local")
AUTHORS = ("Ada Okafor", "Jonas Weber", "Mariana Souza", "Li Wei", "Zoë Ní Bhriain", "Sam Park")
# fmt: off
WORDS = [
    "council", "budget", "vote", "minister", "harbour", "strike", "storm", "energy", "prices",
    "school", "river", "museum", "election", "court", "ruling", "rail", "night", "bus", "café",
    "São", "Paulo", "naïve", "hospital", "wind", "farm", "data", "léger", "housing", "market",
    "record", "rain", "drought", "festival", "“exclusive”", "report", "police", "mayor", "bridge",
    "tram", "university", "research", "—", "inflation", "tariffs", "hearing", "coast", "flood",
    "vaccine", "league", "final"
]
# fmt: on


# --- the server process --------------------------------------------------------------------------


def bare_app(profiler: cProfile.Profile | None) -> web.Application:
    """A bare aiohttp app: GET returns stored bytes as they are; PUT stores them (setup only)."""
    stored: dict[str, tuple[bytes, dict[str, str]]] = {}

    def route(path: str) -> None:
        async def get(request: web.Request) -> web.Response:
            body, headers = stored[path]
            return web.Response(body=body, headers=headers)

        async def put(request: web.Request) -> web.Response:
            headers = {"Content-Type": request.headers["X-Served-Content-Type"]}
            if encoding := request.headers.get("X-Served-Content-Encoding"):
                headers["Content-Encoding"] = encoding
            stored[path] = (await request.read(), headers)
            return web.Response(status=204)

        app.router.add_get(path, get)
        app.router.add_put(path, put)

    async def dump(request: web.Request) -> web.Response:
        assert profiler is not None
        profiler.dump_stats(await request.text())  # what ran since the last dump; disables it
        profiler.clear()
        profiler.enable()
        return web.Response(status=204)

    app = web.Application(client_max_size=1024 * 1024)
    for path in BARE.values():
        route(path)
    if profiler is not None:
        app.router.add_post(PROFILE, dump)
    return app


async def run_servers(
    store: str, ports: tuple[int, int], profiler: cProfile.Profile | None
) -> None:
    """Newsroom's app and the bare app on one event loop, until SIGTERM."""
    import newsroom
    from newsroom.config import Settings
    from newsroom.web.app import create_app

    print(f"server: newsroom from {Path(newsroom.__file__).parent}", file=sys.stderr)
    app = create_app(Settings(store=store, port=ports[0], token=TOKEN, demo=False))
    bare = bare_app(profiler)
    runners = [web.AppRunner(app, access_log=None), web.AppRunner(bare, access_log=None)]
    for runner, port in zip(runners, ports, strict=True):
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
    try:  # newsroom's front door, as `python -m newsroom` has it (a checkout before it has none)
        from newsroom.web.unmatched import front_door

        server = runners[0].server
        assert server is not None
        server.request_handler = front_door(app, server.request_handler)
    except ImportError:
        pass
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for runner in reversed(runners):
        await runner.cleanup()


def serve(store: str, ports: tuple[int, int], profile: bool) -> None:
    """The server process (under cProfile if asked)."""
    profiler = cProfile.Profile() if profile else None
    with asyncio.Runner(loop_factory=_production_loop()) as runner:
        if profiler is None:
            runner.run(run_servers(store, ports, None))
        else:
            profiler.runcall(runner.run, run_servers(store, ports, profiler))


def _production_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop `python -m newsroom` of the code measured runs on, with its collector
    settings (asyncio's own loop and CPython's defaults before newsroom/runtime.py existed, e.g.
    with `--source` of an older commit)."""
    try:
        from newsroom.runtime import new_event_loop, tune_collector
    except ImportError:
        return asyncio.new_event_loop
    tune_collector()
    return new_event_loop


# --- the client side -----------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection (stdlib), for seeding and the latency probes."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """GET `path`; the response's headers are read, its body is not yet."""
        self.connection.request("GET", path, headers=headers or {})
        return self.connection.getresponse()

    def create_article(self, article: dict[str, object]) -> int:
        """POST createArticle with the token; the log position it was written at."""
        body = json.dumps({"query": MUTATION, "variables": {"a": article}}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        self.connection.request("POST", "/graphql", body=body, headers=headers)
        reply = json.loads(self.connection.getresponse().read())
        created = reply["data"]["createArticle"]
        assert created["status"] == "ACCEPTED", reply
        position: int = created["position"]
        return position


class Texts:
    """Titles and bodies like bench/eventlog.py's, from a seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def sentence(self, words: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(words)).capitalize()

    def body(self, chars: int) -> str:
        """About `chars` characters, in paragraphs."""
        paragraphs: list[str] = []
        while sum(map(len, paragraphs)) < chars:
            paragraphs.append(self.sentence(self.rng.randint(8, 25)) + ".")
        return "\n\n".join(paragraphs)[:chars].rstrip() + "."


def article(texts: Texts, title: str) -> dict[str, object]:
    """A createArticle input with a body of about BODY_CHARS characters in paragraphs."""
    author = texts.rng.randrange(len(AUTHORS))
    return {
        "title": title,
        "body": texts.body(BODY_CHARS),
        "category": texts.rng.choice(CATEGORIES),
        "author_id": author + 1,
        "author_name": AUTHORS[author],
    }


def seed(client: Client, texts: Texts) -> None:
    for _ in range(SEED_ARTICLES):
        client.create_article(article(texts, texts.sentence(texts.rng.randint(6, 18))[:140]))


def _request(url: str, data: bytes, method: str = "POST", **headers: str) -> None:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    urllib.request.urlopen(request).close()


def load_bare(port: int, bare_port: int) -> dict[str, int]:
    """Copy /feed's bytes (plain and gzipped) into the bare routes, check that both serve them
    identically, and return the body sizes."""
    sizes = {}
    for encoding, path in BARE.items():
        headers = {"Accept-Encoding": encoding} if encoding else {}
        served = Client(port).get("/feed", headers)
        body, content_type = served.read(), served.headers["Content-Type"]
        assert served.status == 200 and served.headers.get("Content-Encoding", "") == encoding
        stored = {"X-Served-Content-Type": content_type, "X-Served-Content-Encoding": encoding}
        _request(f"http://{HOST}:{bare_port}{path}", body, "PUT", **stored)
        again = Client(bare_port).get(path, headers)
        assert again.read() == body and again.headers["Content-Type"] == content_type
        assert again.headers.get("Content-Encoding", "") == encoding
        sizes[encoding] = len(body)
    return sizes


# --- CPU bookkeeping -----------------------------------------------------------------------------


def _cpu_seconds(server_pid: int) -> tuple[float, float, float]:
    """(all processes, the server with its threads, this script with wrk) in CPU seconds.
    Interrupt time is left out: most of it is this benchmark's own loopback traffic."""
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    server = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    return (
        (user + nice + system + steal) / tick,
        (int(server[11]) + int(server[12])) / tick,
        own.user + own.system + own.children_user + own.children_system,
    )


@dataclass(frozen=True, slots=True)
class Cpu:
    """How busy the server was, and how much CPU other processes took, during a measurement."""

    server: float
    """The server's CPU use in cores (1.00: it had its core to itself and used all of it)."""
    others: float
    """CPU used by processes other than the server and this script, in cores."""

    @property
    def quiet(self) -> bool:
        return self.others <= QUIET


class CpuMeter:
    """Started before a measurement; `read()` after it."""

    def __init__(self, server_pid: int) -> None:
        self.pid, self.started = server_pid, time.perf_counter()
        self.start = _cpu_seconds(server_pid)

    def read(self) -> Cpu:
        wall = time.perf_counter() - self.started
        busy, server, own = (b - a for a, b in zip(self.start, _cpu_seconds(self.pid), strict=True))
        return Cpu(server=server / wall, others=max(0.0, busy - server - own) / wall)


# --- wrk -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wrk:
    """What one wrk run reported, and the CPU use meanwhile."""

    rps: float
    percentiles_ms: tuple[float, float, float, float]  # p50, p90, p99, max
    errors: int
    cpu: Cpu

    def latency(self) -> str:
        return " / ".join(f"{ms:.1f}" for ms in self.percentiles_ms)


_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(pattern: str, out: str) -> float:
    found = re.search(pattern + r"\s+([\d.]+)(us|ms|s)\b", out)
    return float(found.group(1)) * _SCALE[found.group(2)] if found else float("nan")


def wrk(url: str, seconds: int, server_pid: int, gzip: bool) -> Wrk:
    """One wrk run on CPU 1: 1 thread, 32 connections, `seconds` long."""
    command = [
        "taskset", "-c", "1", "wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s",
        "--latency", url,
    ]  # fmt: skip
    if gzip:
        command[-1:-1] = ["-H", "Accept-Encoding: gzip"]
    meter = CpuMeter(server_pid)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = meter.read()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate is not None, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(map(int, sockets.groups())) if sockets else 0
    p50, p90, p99 = (_ms(rf"\n\s+{q}%", out) for q in (50, 90, 99))
    most = _ms(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+", out)  # avg, stdev, then max
    return Wrk(float(rate.group(1)), (p50, p90, p99, most), errors, cpu)


def pair(urls: tuple[str, str], seconds: int, pid: int, gzip: bool, swap: bool) -> tuple[Wrk, Wrk]:
    """(/feed, bare), measured one after the other; the bare route first if `swap`."""
    if swap:
        bare = wrk(urls[1], seconds, pid, gzip)
        return wrk(urls[0], seconds, pid, gzip), bare
    feed = wrk(urls[0], seconds, pid, gzip)
    return feed, wrk(urls[1], seconds, pid, gzip)


THROUGHPUT = (
    "run", "/feed req/s", "bare req/s", "ratio", "/feed p50 / p90 / p99 / max ms",
    "bare p50 / p90 / p99 / max ms", "server cores (/feed, bare)", "others' cores (/feed, bare)",
)  # fmt: skip


def throughput_table(runs: Sequence[tuple[Wrk, Wrk]]) -> str:
    rows: list[list[object]] = []
    for run, (feed, bare) in enumerate(runs, 1):
        assert feed.errors == bare.errors == 0, (feed, bare)
        busy = "" if feed.cpu.quiet and bare.cpu.quiet else " (busy)"
        rows.append([
            f"{run}{busy}", f"{feed.rps:,.0f}", f"{bare.rps:,.0f}", f"{feed.rps / bare.rps:.2f}x",
            feed.latency(), bare.latency(), f"{feed.cpu.server:.2f}, {bare.cpu.server:.2f}",
            f"{feed.cpu.others:.2f}, {bare.cpu.others:.2f}",
        ])  # fmt: skip
    return table(THROUGHPUT, rows)


def ratios(runs: Sequence[tuple[Wrk, Wrk]]) -> str:
    """The median ratio over all runs and over the quiet ones."""
    every = [feed.rps / bare.rps for feed, bare in runs]
    quiet = [f.rps / b.rps for f, b in runs if f.cpu.quiet and b.cpu.quiet]
    text = f"median ratio {statistics.median(every):.2f}x over {len(every)} runs"
    if len(every) >= 4:
        low, _, high = statistics.quantiles(every, n=4)
        text += f" (quartiles {low:.2f}x-{high:.2f}x)"
    if quiet:
        text += f", {statistics.median(quiet):.2f}x over the {len(quiet)} quiet ones"
    return text + f" (quiet: others used at most {QUIET:.2f} of a core during both halves)"


# --- mutation to feed ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One mutation followed until its article was in /feed (all times in ms after the reply)."""

    seen: float
    first_headers: float
    gets: int
    cached_get: float
    bare_get: float


def probe(posts: Client, reads: Client, bare: Client, texts: Texts, title: str) -> Probe:
    """Create an article, then GET /feed without pause until its title is in the body."""
    wanted = f"<title>{title}</title>".encode()
    position = posts.create_article(article(texts, title))
    replied = time.perf_counter_ns()
    gets, first_headers = 0, 0
    while True:
        response = reads.get("/feed")
        if gets == 0:
            first_headers = time.perf_counter_ns()
        gets += 1
        if wanted in response.read():
            seen = time.perf_counter_ns()
            break
    assert int(response.headers["Newsroom-Position"]) >= position
    return Probe(
        seen=(seen - replied) / 1e6,
        first_headers=(first_headers - replied) / 1e6,
        gets=gets,
        cached_get=_timed_get(reads, "/feed"),
        bare_get=_timed_get(bare, BARE[""]),
    )


def _timed_get(client: Client, path: str) -> float:
    started = time.perf_counter_ns()
    client.get(path).read()
    return (time.perf_counter_ns() - started) / 1e6


def latency_run(
    ports: tuple[int, int], server_pid: int, texts: Texts, run: int, count: int
) -> tuple[list[Probe], Cpu]:
    posts, reads, bare = Client(ports[0]), Client(ports[0]), Client(ports[1])
    nonce = texts.rng.randrange(10**9)
    meter = CpuMeter(server_pid)
    probes = [
        probe(posts, reads, bare, texts, f"Probe {run}-{i}-{nonce} feed latency")
        for i in range(count)
    ]
    return probes, meter.read()


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def _spread(values: Sequence[float]) -> str:
    return " / ".join(f"{_percentile(values, q):.2f}" for q in (50, 90, 99, 100))


LATENCY = (
    "run", "probes", "reply → seen in /feed, p50 / p90 / p99 / max ms",
    "reply → 1st GET's headers", "seen on 1st GET / later", "ref.: cached GET /feed",
    "ref.: GET bare", "others' cores",
)  # fmt: skip


def latency_table(runs: Sequence[tuple[Sequence[Probe], Cpu]]) -> str:
    rows: list[list[object]] = []
    for run, (probes, cpu) in enumerate(runs, 1):
        later = sum(p.gets > 1 for p in probes)
        rows.append([
            f"{run}{'' if cpu.quiet else ' (busy)'}", len(probes),
            _spread([p.seen for p in probes]), _spread([p.first_headers for p in probes]),
            f"{len(probes) - later} / {later} (max {max(p.gets for p in probes)} GETs)",
            _spread([p.cached_get for p in probes]), _spread([p.bare_get for p in probes]),
            f"{cpu.others:.2f}",
        ])  # fmt: skip
    return table(LATENCY, rows)


# --- main ----------------------------------------------------------------------------------------


def start_server(
    source: Path, folder: Path, ports: tuple[int, int], profile: bool
) -> subprocess.Popen[bytes]:
    """The server process on CPU 0, importing newsroom from `source`."""
    command = [
        "taskset", "-c", "0", sys.executable, __file__,
        "--serve", f"sqlite:///{folder}/db", str(ports[0]), str(ports[1]),
    ]  # fmt: skip
    if profile:
        command.append("--profile=yes")
    return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(source)})


def profiled(args: argparse.Namespace, ports: tuple[int, int], pid: int, texts: Texts) -> None:
    """--profile: one wrk run on /feed, then the probes, each dumped by the server on its own."""
    dump = f"http://{HOST}:{ports[1]}{PROFILE}"
    _request(dump, os.devnull.encode())  # forget the seeding
    print(wrk(f"http://{HOST}:{ports[0]}/feed", args.seconds, pid, gzip=False), file=sys.stderr)
    _request(dump, f"{args.profile}.wrk".encode())
    latency_run(ports, pid, texts, 1, args.probes)
    _request(dump, f"{args.profile}.probes".encode())
    for part in ("wrk", "probes"):
        out = io.StringIO()
        stats = pstats.Stats(f"{args.profile}.{part}", stream=out)
        stats.sort_stats("tottime").print_stats(30)
        print(f"### cProfile, {part}\n\n{out.getvalue()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probes", type=int, default=1000, help="mutations per latency run")
    parser.add_argument("--source", type=Path, default=REPO, help="import newsroom from here")
    parser.add_argument("--profile", help="profile the server instead; write FILE.wrk, .probes")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)  # STORE PORT BARE_PORT
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], (int(args.serve[1]), int(args.serve[2])), bool(args.profile))
        return
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs wrk and taskset: apt-get install wrk util-linux")
    os.sched_setaffinity(0, {1})  # the clients stay off the server's core
    folder = Path(tempfile.mkdtemp(prefix="newsroom-bench-feeds-"))
    ports = (free_port(), free_port())
    server = start_server(args.source.resolve(), folder, ports, bool(args.profile))
    try:
        wait_ready(f"http://{HOST}:{ports[0]}")
        texts = Texts(random.Random(7))
        seed(Client(ports[0]), texts)
        sizes = load_bare(*ports)
        if args.profile:
            profiled(args, ports, server.pid, texts)
            return
        measure(args, ports, server.pid, texts, sizes)
        extra = [("server imports newsroom from", str(args.source.resolve()))]
        print(f"\n{report('feeds', folder, extra)}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def measure(
    args: argparse.Namespace, ports: tuple[int, int], pid: int, texts: Texts, sizes: dict[str, int]
) -> None:
    """The runs: plain pair, gzip pair, probes; then the tables."""
    feed, bare = f"http://{HOST}:{ports[0]}/feed", f"http://{HOST}:{ports[1]}"
    plain, gzipped, latencies = [], [], []
    for run in range(1, args.runs + 1):
        print(f"run {run}: load average {os.getloadavg()}", file=sys.stderr)
        swap = run % 2 == 0
        plain.append(pair((feed, bare + BARE[""]), args.seconds, pid, False, swap))
        gzipped.append(pair((feed, bare + BARE["gzip"]), args.seconds, pid, True, swap))
        latencies.append(latency_run(ports, pid, texts, run, args.probes))
    print(f"### /feed against a bare handler, plain ({sizes['']:,}-byte body)\n")
    print(f"{throughput_table(plain)}\n\n{ratios(plain)}")
    print(f"\n### The same with Accept-Encoding: gzip ({sizes['gzip']:,}-byte body)\n")
    print(f"{throughput_table(gzipped)}\n\n{ratios(gzipped)}")
    print("\n### Mutation reply → its article served in /feed (ms)\n")
    print(latency_table(latencies))
    pooled = [p.seen for probes, cpu in latencies for p in probes if cpu.quiet]
    if pooled:
        print(
            f"\nQuiet runs pooled ({len(pooled)} probes): p50 / p90 / p99 / max {_spread(pooled)}"
        )


if __name__ == "__main__":
    main()
