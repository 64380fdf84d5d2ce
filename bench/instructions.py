"""Benchmark: CPU instructions per `GET /feed`, counted by valgrind's callgrind: the same count
for the same code whatever else the machine is doing, where a rate drifts with this VM's speed.

A checkout's `bench/api.py --serve` runs under `valgrind --tool=callgrind` with counting off;
once it answers, `bench/feeds.py`'s 200 seed articles go in and 300 warm-up GETs run, then
counting is switched on (`callgrind_control -i on`) for `--requests` GETs of `/feed` over one
keep-alive connection, and off again. Printed: instructions per request, every thread of the
server included (the access log's thread formats lines), and each thread's share. The server
runs with `PYTHONHASHSEED=0` unless the caller sets another: with a random seed per run, the
same code's count moved by up to 6,000 in 236,000 (dict layouts differ); with one seed, runs
of one checkout spread by up to about 2,000. Under valgrind the server answers about one
request a millisecond, so every access line makes its own time stamp; a busy server shares one
stamp among several lines (`bench/observe_parts.py` counts a line at ten a millisecond).

Run from the repo root:  python bench/instructions.py [CHECKOUT ...] [--requests 2000]
(default CHECKOUT: this one). Needs valgrind (Debian's package). Slow: about 30 s a checkout.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feeds
from machine import REPO, free_port


def _get(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path)
    reply = connection.getresponse()
    reply.read()
    return reply.status


def count(checkout: Path, requests: int, keep: Path | None = None) -> dict[str, float]:
    """Instructions per GET /feed for the server of `checkout`, by thread (callgrind's file
    names them: `callgrind.out-01` is the event loop's, the main thread). With `keep`, the
    callgrind files are kept there (for `callgrind_annotate`), one folder per checkout."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = scratch
        if keep is not None:
            folder = str(keep / checkout.name)
            os.makedirs(folder, exist_ok=True)
        port, out = free_port(), f"{folder}/callgrind.out"
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
             f"--callgrind-out-file={out}", sys.executable, "bench/api.py", "--serve",
             f"sqlite:///{scratch}/n.db", str(port)],
            cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={"PYTHONHASHSEED": "0", **os.environ,  # one dict layout for every run
                 "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'bench'}"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if _get(http.client.HTTPConnection("127.0.0.1", port, timeout=60), "/healthz"):
                        break
                except OSError:
                    assert time.monotonic() < deadline, "the server did not start under valgrind"
                    time.sleep(1)
            feeds.seed(feeds.Client(port), feeds.Texts(random.Random(7)))
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for _ in range(300):
                _get(connection, "/feed")
            subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True,
                           capture_output=True)  # fmt: skip
            for _ in range(requests):
                assert _get(connection, "/feed") == 200
            subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True,
                           capture_output=True)  # fmt: skip
            time.sleep(1)  # the access log's thread writes what it holds
        finally:
            server.terminate()
            server.wait()
        threads: dict[str, float] = {}
        for name in sorted(os.listdir(folder)):  # one file per thread, each with its totals
            if name.startswith("callgrind.out"):
                for line in Path(folder, name).read_text(errors="replace").splitlines():
                    if line.startswith("totals:") and (total := int(line.split()[1])):
                        threads[name.removeprefix("callgrind.out-")] = total / requests
        return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[REPO])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="keep callgrind's files here")
    args = parser.parse_args()
    print("| checkout | instructions per GET /feed | by thread (01: the event loop's) |")
    print("|---|---:|---|")
    for checkout in args.checkouts:
        threads = count(checkout.resolve(), args.requests, args.keep)
        each = ", ".join(f"{name}: {n:,.0f}" for name, n in threads.items())
        print(f"| {checkout} | {sum(threads.values()):,.0f} | {each} |", flush=True)


if __name__ == "__main__":
    main()
