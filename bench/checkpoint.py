"""Benchmark: view checkpoints on the replay benchmark's log (`bench/eventlog.py`).

Every step is a real `python -m newsroom` process on a copy of the log in a temporary
directory beside it (the shared file is never written):
1. a full replay (no checkpoint yet): spawn → `/readyz` 200, RSS once ready; its clean stop
   writes the checkpoint of the whole log (write time, longest hold of the event loop);
2. a start from it that writes no checkpoint of its own, `--events` mutations, then kill -9:
   the checkpoint on disk is now `--events` events old;
3. spawn → `/readyz` 200 with that checkpoint, warm page cache and (as root) cold; RSS once
   ready;
4. mutation latency (createArticle, `--mutations` a round, `--rate` a second from `--clients`
   clients) without and with checkpointing (a checkpoint every `--every` events: they run
   back to back), alternating over `--rounds` rounds; p50/p99 and the checkpoints written
   (each round's server stops cleanly, which writes one more).

Run from the repo root:  python bench/checkpoint.py [--log bench/data/replay-1000000-200000.db]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
from machine import drop_page_cache, free_port

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LOG = REPO / "bench" / "data" / "replay-1000000-200000.db"
MUTATION = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status } }"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """One `python -m newsroom` on `log`, its output in a file, ready when `/readyz` is 200."""

    def __init__(self, log: Path, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = log.with_name(f"server-{self.port}.log")
        command = [sys.executable, "-m", "newsroom", "--store", f"sqlite:///{log}"]
        command += ["--port", str(self.port), "--no-demo", "--rate-limit", "0", *flags]
        self.started = time.perf_counter()
        with self.output.open("w") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=out, cwd=REPO)
        self.ready = self._wait_ready()

    def _wait_ready(self, timeout: float = 900) -> float:
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"newsroom exited with {self.proc.returncode}: {self.text()}")
            try:
                with _DIRECT.open(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.01)
        raise SystemExit(f"newsroom was not ready within {timeout} s")

    def wait_search(self, timeout: float = 900) -> float:
        """Seconds from spawn until the search index is built (after a full replay it is built
        in the background, and a checkpoint is written only once it is)."""
        while time.perf_counter() - self.started < timeout:
            with _DIRECT.open(self.url + "/healthz", timeout=2) as response:
                if json.load(response)["projections"]["search"]["index"]["caught_up"]:
                    return time.perf_counter() - self.started
            time.sleep(0.05)
        raise SystemExit(f"the search index was not built within {timeout} s")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]

    def text(self) -> str:
        return self.output.read_text()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=300)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def mutate(url: str, clients: int, count: int, rate: float = 0) -> list[float]:
    """`count` createArticle mutations from `clients` at once, `rate` a second in all (0: as
    fast as they are answered); each one's latency in ms."""
    latencies: list[float] = []
    numbers = iter(range(count))
    begin = time.perf_counter()

    async def client(session: aiohttp.ClientSession) -> None:
        for n in numbers:
            if rate:
                await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            article = {"title": f"Bench {n}", "body": "A body.", "category": "bench"}
            article |= {"author_id": 1, "author_name": "Bench"}
            started = time.perf_counter()
            async with session.post(
                url + "/graphql", json={"query": MUTATION, "variables": {"a": article}}
            ) as response:
                body = await response.json()
            assert body["data"]["createArticle"]["status"] == "ACCEPTED", body
            latencies.append((time.perf_counter() - started) * 1000)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return latencies


def written(server: Server) -> list[tuple[float, float]]:
    """(seconds, loop held ms) of each checkpoint the server wrote, from its log lines."""
    found = re.findall(
        r"view checkpoint at position [\d,]+ in ([\d.]+) s \(event loop held ([\d.]+) ms at most",
        server.text(),
    )
    return [(float(s), float(ms)) for s, ms in found]


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--events", type=int, default=1_000, help="events past the checkpoint")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--mutations", type=int, default=4_000)
    parser.add_argument("--rate", type=float, default=200, help="mutations a second; 0: flat out")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="checkpoint-bench-", dir=args.log.parent))
    try:
        run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, folder: Path) -> None:
    log = folder / "log.db"
    shutil.copy(args.log, log)
    print(f"log: {args.log.name} ({args.log.stat().st_size / 1e6:,.0f} MB)\n")

    first = Server(log, "--checkpoint-every-events", "0", "--checkpoint-every-minutes", "0")
    print(f"full replay, no checkpoint: ready in {first.ready:.1f} s, RSS {first.rss_mb():,.0f} MB")
    built = first.wait_search()
    print(f"  search index built {built:.1f} s after spawn, RSS {first.rss_mb():,.0f} MB")
    first.stop()  # a clean stop writes the checkpoint of the whole log
    ((seconds, held),) = written(first)
    size = sum(f.stat().st_size for f in log.with_name("log.db.views").iterdir()) / 1e6
    print(
        f"checkpoint written at the stop: {seconds:.2f} s, event loop held {held:.1f} ms, "
        f"{size:,.0f} MB"
    )

    behind = Server(log, "--checkpoint-every-events", "0", "--checkpoint-every-minutes", "0")
    asyncio.run(mutate(behind.url, args.clients, args.events))
    behind.kill()  # no checkpoint at the stop: the one on disk is now `events` behind

    for cache in ("warm", "cold"):
        if cache == "cold" and not drop_page_cache():
            print("cold page cache: not measured (dropping the page cache needs root)")
            continue
        started = Server(log, "--checkpoint-every-events", "0", "--checkpoint-every-minutes", "0")
        print(
            f"start with a checkpoint {args.events:,} events old, {cache} page cache: ready in "
            f"{started.ready:.2f} s, RSS {started.rss_mb():,.0f} MB"
        )
        started.kill()  # keep the checkpoint as it is for the next start

    # The cold start above left the log's pages out of the cache: read it back in, so that the
    # first round does not pay for the disk and the rounds compare the checkpoints alone.
    for path in (log, *log.with_name("log.db.views").iterdir()):
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
    pace = f"{args.rate:,.0f}/s" if args.rate else "flat out"

    print(
        f"\ncreateArticle latency (ms), {args.clients} clients, {args.mutations:,} per round at "
        f"{pace}; with checkpoints: one every {args.every:,} events (back to back):"
    )
    print("| round | checkpoints | p50 | p99 | checkpoints written (s each, loop held ms) |")
    print("|---|---|---:|---:|---|")
    p99s: dict[str, list[float]] = {"off": [], "on": []}
    for n in range(args.rounds):
        for mode in ("off", "on"):
            every = str(args.every) if mode == "on" else "0"
            server = Server(
                log, "--checkpoint-every-events", every, "--checkpoint-every-minutes", "0"
            )
            latencies = asyncio.run(mutate(server.url, args.clients, args.mutations, args.rate))
            server.stop()  # a write in progress finishes (and is counted)
            p99s[mode].append(percentile(latencies, 99))
            writes = ", ".join(f"{s:.1f} s/{ms:.0f} ms" for s, ms in written(server)) or "none"
            print(
                f"| {n + 1} | {mode} | {percentile(latencies, 50):.1f} | "
                f"{p99s[mode][-1]:.1f} | {writes} |"
            )
    off, on = statistics.median(p99s["off"]), statistics.median(p99s["on"])
    print(f"\nmedian p99: {off:.1f} ms without, {on:.1f} ms with checkpointing ({on / off:.2f}x)")


if __name__ == "__main__":
    main()
