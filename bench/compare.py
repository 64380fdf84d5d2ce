"""Benchmark: two checkouts under the same load, sharing one core, at the same time.

This VM's speed swings by up to a third from one run to the next, more than most single changes
gain. Here both servers (this checkout and BASE, a git ref checked out into a temporary
worktree) run pinned to CPU 0 and are loaded at once, each by its own `wrk` on CPU 1 over 32
connections. The kernel shares the core between them, so the ratio of their rates (this checkout
over BASE; above 1 is faster) is the inverse ratio of their CPU cost per request, whatever the
machine's speed of the moment. Each server is `bench/api.py --serve` of its own checkout, and
this script only talks HTTP to them, so BASE may lay out `newsroom/` differently. The loads:
- `create` (default): `createArticle` mutations, a fresh title each (the script of
  `bench/api.py`, docs/benchmarks.md §4); the store grows as the rounds go.
- `query`: §4's seed query (`bench/api.py`'s QUERY), after `bench/api.py`'s 100 seed articles.
- `feed`: `GET /feed` without Accept-Encoding (§6), after `bench/feeds.py`'s 200 seed articles
  (the same in both servers); `feed-gzip` the same with `Accept-Encoding: gzip`.
"errors" counts wrk's non-2xx replies (and, for the feed loads, socket errors); it should be 0.

With the same code in both slots, single rounds came out at 0.98-1.03 under every load (this
checkout's slot a little ahead more often than not): differences of a few percent are noise.

Two ratios are printed. The rate ratio assumes the kernel gives both servers the same share of
the core; a server with a second busy thread (the access log's) gets a little more, so the
CPU ratio (CPU time per request, from /proc) is the stricter measure of cost. `--poll-idle`
keeps idle CPUs polling instead of halting while it runs (it holds /dev/cpu_dma_latency at 0;
root only). On this VM a halted CPU 1 must be woken by an interrupt from CPU 0 whenever a
server's reply wakes its `wrk`, and that wake is charged to the server: the slower server
leaves its `wrk` idle more often, so it pays more wakes per request, and every difference is
amplified (docs/benchmarks.md, section 10). A server's remote clients cost it no such wake.

`--base-patch FILE` applies a patch to BASE's worktree before its servers start, so a base
can be "this code without X" without a commit that only this machine has. The one kept,
`bench/observation-off.patch`, takes out what issue 15 added to every request (the request
id, its holder and header, the clocks, the note that the metrics count and the access log
writes), leaving the request rate check and the error boundary: `python bench/compare.py HEAD
--base-patch bench/observation-off.patch --load feed --pairs 5 --rounds 3 --seconds 6`
measures what observation costs (docs/benchmarks.md, section 10). tests/test_bench_patch.py
checks it still applies.

`--pairs N` starts N pairs of servers, one after the other, and runs `--rounds` rounds on each;
the medians are over every round of every pair. A server process's memory layout is its own
(address space randomization), and in CPython 3.11 it decides which attribute lookups collide
in the interpreter's method cache, a table of 4,096 entries indexed by the addresses of
names: one process of a checkout missed the cache twice a request, another eight times
(gdb on `find_name_in_mro`; callgrind), some 2,000 instructions and a few points of cost.
One pair of processes draws one such layout for each checkout for the whole run, so three
runs of the same two checkouts gave CPU ratios two points apart (0.886 to 0.906); more pairs
average the draws.

Run from the repo root:
    python bench/compare.py BASE [--load create|query|feed|feed-gzip] [--rounds 3] [--seconds 8]
                                 [--pairs 1] [--poll-idle] [--base-patch FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import api
import feeds
from machine import REPO, free_port, wait_ready

UNITS = {"create": "creates/s", "query": "queries/s", "feed": "GETs/s", "feed-gzip": "GETs/s"}


def _server(checkout: Path, folder: Path, name: str, port: int) -> subprocess.Popen[bytes]:
    store = f"sqlite:///{folder}/{name}.db"
    return subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "bench/api.py", "--serve", store, str(port)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'bench'}"},
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _seed(load: str, port: int) -> None:
    """Before a read load, the same articles into every server (none before creates)."""
    if load == "query":
        api._seed(f"http://127.0.0.1:{port}")
    elif load.startswith("feed"):
        feeds.seed(feeds.Client(port), feeds.Texts(random.Random(7)))


def _start(
    load: str,
    base: Path,
    folder: Path,
    pair: int,
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]],
) -> None:
    """Both servers, each on a port and store of its own, ready and seeded, into `servers`
    (name -> port, process) as they start, so the caller stops them whatever happens."""
    ports = {"base": free_port(), "this": free_port()}
    while ports["this"] == ports["base"]:  # each call may hand out the port just freed
        ports["this"] = free_port()
    for name, checkout in (("base", base), ("this", REPO)):
        process = _server(checkout, folder, f"{name}{pair}", ports[name])
        servers[name] = ports[name], process
    for name, (port, process) in servers.items():
        wait_ready(f"http://127.0.0.1:{port}", process=process, name=f"the {name} server")
        _seed(load, port)


def _wrk(load: str, script: Path | None, port: int, pid: int, seconds: int) -> tuple[float, int]:
    """One wrk run against one server: (requests/s, errors)."""
    if script is None:  # GET /feed, as bench/feeds.py runs it
        run = feeds.wrk(f"http://127.0.0.1:{port}/feed", seconds, pid, load == "feed-gzip")
        return run.rps, run.errors
    result = api.wrk(f"http://127.0.0.1:{port}/graphql", script, seconds)
    return result["rps"], int(result["errors"])


def _cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far, user and system, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _poll_idle() -> int:
    """Ask the kernel for no idle-exit latency (so idle CPUs poll) for as long as the returned
    descriptor stays open: the process's end closes it."""
    try:
        latency = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    except OSError as e:
        raise SystemExit(f"--poll-idle needs /dev/cpu_dma_latency (root): {e}") from e
    os.write(latency, struct.pack("i", 0))
    return latency


def _round(
    load: str, script: Path | None, servers: dict[str, tuple[int, int]], seconds: int
) -> dict[str, tuple[float, int, float]]:
    """One round: every server (name: port, pid) loaded at the same time; by name, its rate,
    errors, and the CPU seconds it used per 1,000 requests (its share of the core aside)."""
    results: dict[str, tuple[float, int, float]] = {}

    def run(name: str) -> None:
        pid = servers[name][1]
        before = _cpu_seconds(pid)
        rate, errors = _wrk(load, script, *servers[name], seconds)
        used = _cpu_seconds(pid) - before
        results[name] = rate, errors, used / (rate * seconds / 1000) if rate else 0.0

    threads = [threading.Thread(target=run, args=(name,)) for name in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the git ref to compare this checkout against")
    parser.add_argument("--load", choices=UNITS, default="create", help="what both are sent")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--pairs", type=int, default=1, help="pairs of servers started in turn, each --rounds"
    )
    parser.add_argument(
        "--poll-idle", action="store_true", help="idle CPUs poll rather than halt (root only)"
    )
    parser.add_argument(
        "--base-patch", type=Path, help="a patch applied to BASE's worktree (`git apply`)"
    )
    args = parser.parse_args()
    if min(args.pairs, args.rounds, args.seconds) < 1:
        parser.error("--pairs, --rounds and --seconds must be at least 1")
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs wrk and taskset: apt-get install wrk util-linux")
    if args.base_patch is not None and not args.base_patch.is_file():
        parser.error(f"--base-patch: no file {args.base_patch}")
    latency = _poll_idle() if args.poll_idle else None
    folder = Path(tempfile.mkdtemp(prefix="newsroom-compare-"))
    base = folder / "base"
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        worktree = ["git", "worktree", "add", "--detach", str(base), args.base]
        if subprocess.run(worktree, cwd=REPO).returncode != 0:
            raise SystemExit(f"cannot check out {args.base!r} (see git's message above)")
        if args.base_patch is not None:
            applied = ["git", "apply", str(args.base_patch.resolve())]
            if subprocess.run(applied, cwd=base).returncode != 0:
                raise SystemExit(f"{args.base_patch} does not apply to {args.base!r}")
        unit = UNITS[args.load]
        shown = args.base + (f" + {args.base_patch.name}" if args.base_patch else "")
        columns = (
            f"base {shown}: {unit} | this checkout: {unit} | ratio | CPU ms per 1,000 "
            "(base, this) | CPU ratio | errors (base, this)"
        )
        if args.poll_idle:
            print("idle CPUs poll (--poll-idle)")
        print(f"| round | {columns} |\n|---|---:|---:|---:|---:|---:|---:|")
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        script = None  # the feed loads need none; one script serves every pair
        if args.load == "create":
            script = api.wrk_script(folder, "", token=True, counter=True)
        elif args.load == "query":
            script = api.wrk_script(folder, json.dumps({"query": api.QUERY}), False, False)
        for pair in range(1, args.pairs + 1):
            _start(args.load, base, folder, pair, servers)
            targets = {name: (port, server.pid) for name, (port, server) in servers.items()}
            for number in range(1, args.rounds + 1):
                results = _round(args.load, script, targets, args.seconds)
                (base_rate, base_errors, base_cpu), (rate, errors, cpu) = (
                    results["base"],
                    results["this"],
                )
                ratios.append(rate / base_rate)
                cpu_ratios.append(base_cpu / cpu if cpu else 0.0)
                label = f"{pair}.{number}" if args.pairs > 1 else str(number)
                print(
                    f"| {label} | {base_rate:,.0f} | {rate:,.0f} | {ratios[-1]:.3f} "
                    f"| {base_cpu * 1000:,.0f}, {cpu * 1000:,.0f} | {cpu_ratios[-1]:.3f} "
                    f"| {base_errors}, {errors} |",
                    flush=True,
                )
            for _, server in servers.values():
                _stop(server)
            servers.clear()
        rounds = f"{len(ratios)} rounds" + (f" of {args.pairs} pairs" if args.pairs > 1 else "")
        print(f"\nmedian ratio {statistics.median(ratios):.3f} over {rounds}")
        print(
            f"median CPU ratio {statistics.median(cpu_ratios):.3f} (base's CPU time per "
            "request over this checkout's: above 1 is cheaper)"
        )
    finally:
        if latency is not None:
            os.close(latency)  # idle CPUs halt again
        for _, server in servers.values():
            _stop(server)
        if base.exists():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False
            )
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
