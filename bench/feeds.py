"""Benchmark: `GET /feed` on one server core against a bare aiohttp handler, and how soon a
mutation's article shows in the feed.

One server process, pinned to CPU 0 with `taskset`, runs two aiohttp applications on one event
loop: newsroom's own app (`create_app`, with its error-boundary middleware) on one port, and on a
second port a bare `web.Application` with no middleware whose handlers return stored bytes:
`/feed-bare` the exact body and Content-Type that `GET /feed` served, `/feed-bare-gzip` the exact
gzipped body, with `Content-Encoding: gzip`. The bytes are taken from newsroom's own `/feed` after
seeding and checked byte for byte before any timing.

(a) Throughput: `wrk` (Debian package) on CPU 1, 32 connections, 1 thread, alternately against
    `/feed` and the bare route (the order swaps every run), first without Accept-Encoding (plain
    bytes), then with `Accept-Encoding: gzip`. Reported: req/s, the ratio, wrk's latency
    percentiles, and the CPU other processes used meanwhile (from /proc/stat, minus the server's
    and this script's own).
(b) Mutation to feed: one client (stdlib `http.client`, keep-alive, on CPU 1) posts
    `createArticle` with the bearer token, notes when the reply has arrived, then GETs `/feed` in
    a tight loop until the new title is in the body. Reported: reply-to-seen p50/p90/p99/max,
    the first GET's time to its response headers, and, as references taken right after, a second
    (cached) GET of `/feed` and a GET of the bare route.

Seed: 200 published articles (about 600-character bodies, 7 categories) through GraphQL.

Run from the repo root:  python bench/feeds.py [--seconds 10] [--runs 3] [--probes 1000]
With --profile FILE the server runs under cProfile while wrk drives `/feed` once (the timings of
that run are not results), and the script prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import http.client
import json
import os
import pstats
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from machine import REPO, report, table

CONNECTIONS = 32
TOKEN = "bench-token"
SEED_ARTICLES = 200
BODY_CHARS = 600
MUTATION = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status position } }"
BARE = {"": "/feed-bare", "gzip": "/feed-bare-gzip"}  # Accept-Encoding sent -> bare route
HOST = "127.0.0.1"
# The words, categories and authors of bench/eventlog.py (not imported: it imports newsroom,
# and this driver only talks HTTP; the server process imports newsroom from this work tree).
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


def bare_app() -> web.Application:
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

    app = web.Application(client_max_size=1024 * 1024)
    for path in BARE.values():
        route(path)
    return app


async def run_servers(store: str, port: int, bare_port: int) -> None:
    """Newsroom's app and the bare app on one event loop, until SIGTERM."""
    import newsroom
    from newsroom.config import Settings
    from newsroom.web.app import create_app

    print(f"server: newsroom from {Path(newsroom.__file__).parent}", file=sys.stderr)
    app = create_app(Settings(store=store, port=port, token=TOKEN, demo=False))
    runners = [web.AppRunner(app, access_log=None), web.AppRunner(bare_app(), access_log=None)]
    for runner, listen in zip(runners, (port, bare_port), strict=True):
        await runner.setup()
        await web.TCPSite(runner, HOST, listen).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for runner in reversed(runners):
        await runner.cleanup()


def serve(store: str, port: int, bare_port: int, profile: str | None) -> None:
    """The server process (optionally under cProfile, written to `profile` at SIGTERM)."""
    if profile is None:
        asyncio.run(run_servers(store, port, bare_port))
        return
    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, run_servers(store, port, bare_port))
    profiler.dump_stats(profile)


# --- driving it ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the server did not become ready")


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
        assert created["status"] == "SUCCEEDED", reply
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


def load_bare(port: int, bare_port: int) -> dict[str, int]:
    """Copy /feed's bytes (plain and gzipped) into the bare routes, check both serve them
    identically, and return the body sizes."""
    sizes = {}
    for encoding, path in BARE.items():
        headers = {"Accept-Encoding": encoding} if encoding else {}
        served = Client(port).get("/feed", headers)
        body, content_type = served.read(), served.headers["Content-Type"]
        assert served.status == 200 and served.headers.get("Content-Encoding", "") == encoding
        put = urllib.request.Request(
            f"http://{HOST}:{bare_port}{path}",
            data=body,
            method="PUT",
            headers={
                "X-Served-Content-Type": content_type,
                "X-Served-Content-Encoding": encoding,
            },
        )
        urllib.request.urlopen(put).close()
        again = Client(bare_port).get(path, headers)
        assert again.read() == body and again.headers["Content-Type"] == content_type
        assert again.headers.get("Content-Encoding", "") == encoding
        sizes[encoding] = len(body)
    return sizes


# --- wrk -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wrk:
    """What one wrk run reported, and the CPU that other processes used meanwhile."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    others_s: float
    server_s: float
    wall_s: float

    def cell(self) -> str:
        return f"{self.rps:,.0f}"

    def latency(self) -> str:
        return f"{self.p50_ms:.1f} / {self.p90_ms:.1f} / {self.p99_ms:.1f} / {self.max_ms:.1f}"


_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(pattern: str, out: str) -> float:
    found = re.search(pattern + r"\s+([\d.]+)(us|ms|s)\b", out)
    return float(found.group(1)) * _SCALE[found.group(2)] if found else float("nan")


def _busy_seconds() -> float:
    """CPU seconds all cores spent running processes since boot (/proc/stat). Interrupt time
    is left out: most of it is this benchmark's own loopback traffic, owned by no process."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, fields[:8])
    return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")


def _process_seconds(pid: int) -> float:
    """CPU seconds of process `pid` (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wrk(url: str, seconds: int, server_pid: int, gzip: bool) -> Wrk:
    """One wrk run on CPU 1, 32 connections, with the CPU bookkeeping around it."""
    command = [
        "taskset", "-c", "1", "wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s",
        "--latency", url,
    ]  # fmt: skip
    if gzip:
        command[-1:-1] = ["-H", "Accept-Encoding: gzip"]
    before = (_busy_seconds(), _process_seconds(server_pid), _own_seconds(), time.perf_counter())
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    busy, server, own = _busy_seconds(), _process_seconds(server_pid), _own_seconds()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    assert rate is not None, out
    return Wrk(
        rps=float(rate.group(1)),
        p50_ms=_ms(r"\n\s+50%", out),
        p90_ms=_ms(r"\n\s+90%", out),
        p99_ms=_ms(r"\n\s+99%", out),
        max_ms=_ms(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+", out),
        errors=(int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, sockets.groups())) if sockets else 0),
        others_s=max(0.0, busy - before[0] - (server - before[1]) - (own - before[2])),
        server_s=server - before[1],
        wall_s=time.perf_counter() - before[3],
    )


def throughput_run(
    feed_url: str, bare_url: str, seconds: int, server_pid: int, gzip: bool, feed_first: bool
) -> tuple[Wrk, Wrk]:
    """/feed and the bare route, one after the other (order as given)."""
    if feed_first:
        feed = wrk(feed_url, seconds, server_pid, gzip)
        return feed, wrk(bare_url, seconds, server_pid, gzip)
    bare = wrk(bare_url, seconds, server_pid, gzip)
    return wrk(feed_url, seconds, server_pid, gzip), bare


def throughput_table(runs: Sequence[tuple[Wrk, Wrk]]) -> str:
    rows = []
    for run, (feed, bare) in enumerate(runs, 1):
        assert feed.errors == bare.errors == 0, (feed, bare)
        rows.append(
            [
                run,
                feed.cell(),
                bare.cell(),
                f"{feed.rps / bare.rps:.2f}x",
                feed.latency(),
                bare.latency(),
                f"{feed.server_s / feed.wall_s:.2f}, {bare.server_s / bare.wall_s:.2f}",
                f"{feed.others_s:.1f}, {bare.others_s:.1f}",
            ]
        )
    return table(
        [
            "run",
            "/feed req/s",
            "bare req/s",
            "ratio",
            "/feed latency p50 / p90 / p99 / max ms",
            "bare latency p50 / p90 / p99 / max ms",
            "server CPU cores (/feed, bare)",
            "others' CPU s (/feed, bare)",
        ],
        rows,
    )


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
        body = response.read()
        if wanted in body:
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


def latency_run(port: int, bare_port: int, texts: Texts, run: int, count: int) -> list[Probe]:
    posts, reads, bare = Client(port), Client(port), Client(bare_port)
    nonce = texts.rng.randrange(10**9)
    return [
        probe(posts, reads, bare, texts, f"Probe {run}-{i}-{nonce} feed latency")
        for i in range(count)
    ]


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def _spread(values: Sequence[float]) -> str:
    return " / ".join(f"{_percentile(values, q):.2f}" for q in (50, 90, 99, 100))


def latency_table(runs: Sequence[Sequence[Probe]]) -> str:
    rows = []
    for run, probes in enumerate(runs, 1):
        gets = sorted(p.gets for p in probes)
        rows.append(
            [
                f"{run} ({len(probes)} probes)",
                _spread([p.seen for p in probes]),
                _spread([p.first_headers for p in probes]),
                f"{gets.count(1)} / {len(gets) - gets.count(1)} (max {gets[-1]})",
                _spread([p.cached_get for p in probes]),
                _spread([p.bare_get for p in probes]),
            ]
        )
    return table(
        [
            "run",
            "reply → seen in /feed, p50 / p90 / p99 / max ms",
            "reply → first GET's headers, ms",
            "seen on 1st GET / later",
            "reference: cached GET /feed, ms",
            "reference: GET bare, ms",
        ],
        rows,
    )


# --- main ----------------------------------------------------------------------------------------


def start_server(
    source: Path, folder: Path, ports: tuple[int, int], profile: str | None
) -> subprocess.Popen[bytes]:
    """The server process on CPU 0, importing newsroom from `source`."""
    command = [
        "taskset", "-c", "0", sys.executable, __file__,
        "--serve", f"sqlite:///{folder}/db", str(ports[0]), str(ports[1]),
    ]  # fmt: skip
    if profile:
        command += ["--profile", profile]
    return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(source)})


def profile_top(path: str, limit: int = 40) -> str:
    stats = pstats.Stats(path)
    stats.sort_stats("cumulative")
    stream_lines: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            stream_lines.append(text)

    stats.stream = Sink()  # type: ignore[attr-defined]
    stats.print_stats(limit)
    return "".join(stream_lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probes", type=int, default=1000, help="mutations per latency run")
    parser.add_argument("--profile", help="profile the server under wrk on /feed into this file")
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO,
        help="the directory whose newsroom/ the server imports (default: this work tree); "
        "e.g. a `git archive` of one commit, while someone edits the work tree",
    )
    parser.add_argument(
        "--serve", nargs=3, metavar=("STORE", "PORT", "BARE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]), args.profile)
        return
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs wrk and taskset: apt-get install wrk util-linux")
    os.sched_setaffinity(0, {1})  # the clients stay off the server's core
    folder = Path(tempfile.mkdtemp(prefix="newsroom-bench-feeds-"))
    port, bare_port = _free_port(), _free_port()
    server = start_server(args.source.resolve(), folder, (port, bare_port), args.profile)
    try:
        _wait_ready(f"http://{HOST}:{port}")
        texts = Texts(random.Random(7))
        seed(Client(port), texts)
        sizes = load_bare(port, bare_port)
        print(f"load average before the runs: {os.getloadavg()}", file=sys.stderr)
        feed_url, bare = f"http://{HOST}:{port}/feed", f"http://{HOST}:{bare_port}"
        if args.profile:
            print(wrk(feed_url, args.seconds, server.pid, gzip=False), file=sys.stderr)
            return
        plain, gzipped, latencies = [], [], []
        for run in range(1, args.runs + 1):
            first = run % 2 == 1
            plain.append(
                throughput_run(feed_url, bare + BARE[""], args.seconds, server.pid, False, first)
            )
            gzipped.append(
                throughput_run(feed_url, bare + BARE["gzip"], args.seconds, server.pid, True, first)
            )
            latencies.append(latency_run(port, bare_port, texts, run, args.probes))
            print(f"run {run} done; load average {os.getloadavg()}", file=sys.stderr)
        print(f"### /feed against a bare handler, plain ({sizes['']:,} bytes)\n")
        print(throughput_table(plain))
        print(f"\n### The same with Accept-Encoding: gzip ({sizes['gzip']:,} bytes)\n")
        print(throughput_table(gzipped))
        print("\n### Mutation reply → its article served in /feed\n")
        print(latency_table(latencies))
        print()
        source = ("server imports newsroom from", str(args.source.resolve()))
        print(report("feeds", folder, [source]))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        if args.profile:
            print(profile_top(args.profile))
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
