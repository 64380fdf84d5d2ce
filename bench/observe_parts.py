"""Benchmark: instructions per request of each part of observing a request, in isolation.

`bench/instructions.py` counts a whole server; this counts the parts, each in a small loop
under `valgrind --tool=callgrind`, run twice with different counts so that start-up cancels
out: (instructions of the long run - the short run's) / (the difference in requests).
- `guard`: a `GET` through `web/guard.py`'s wrapper around a handler that returns a 31 KB
  body, in a task of its own as aiohttp runs it (a mocked request: no socket, no parsing);
  the event loop's thread and the access log's, which formats what the loop notes;
- `count`: `Metrics.count_requests` on batches of 256 notes of one route;
- `text`, `json`: `logs.access_lines` on the same batches, ten requests a millisecond (a busy
  server's pace: a stamp serves several lines; under valgrind a real server gets one a ms).

Compare checkouts whose notes have the same shape (`logs.AccessEntry`: since 14c9cc5, when a
request ended and how long it took; `count`, `text` and `json` fail on one older); the numbers
repeat to within a few instructions.

Run from the repo root:
    python bench/observe_parts.py [CHECKOUT ...] [--parts guard,count,text,json]
Slow: about four and a half minutes a checkout for all four parts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import REPO

SHORT, LONG = 2_560, 12_800  # requests in the two runs (multiples of 256)

GUARD = """
import asyncio, sys
from unittest import mock
from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import make_mocked_request
from newsroom import logs
from newsroom.runtime import new_event_loop
from newsroom.web.guard import guard
from newsroom.web.http import REQUEST_RATE
from newsroom.web.metrics import Metrics
from newsroom.web.observe import OBSERVER, Observer
from newsroom.web.rates import RequestRate

BODY = b"x" * 31_268

async def handler(request):
    return web.Response(body=BODY, content_type="application/rss+xml")

async def main(requests, log):
    logs.configure("INFO", "text", log)
    app = web.Application()
    app[OBSERVER] = Observer(Metrics(), True)
    app[REQUEST_RATE] = RequestRate(10**9, 10**9)
    guarded = guard(handler, "/feed", app)
    # A real writer (on a mocked connection), that nothing writes to: the guard reads whether
    # the reply's head went out from its attributes, which a mocked writer would make up.
    writer = StreamWriter(mock.Mock(), asyncio.get_running_loop())
    request = make_mocked_request("GET", "/feed", headers={"Host": "x"}, writer=writer)
    for _ in range(requests):
        await asyncio.create_task(guarded(request))
    app[OBSERVER].drain()
    logs.flush()

new_event_loop().run_until_complete(main(int(sys.argv[1]), sys.argv[2]))
"""

BATCHES = """
import sys
from newsroom.logs import access_lines
from newsroom.web.metrics import Metrics
from newsroom.web.observe import new_request_id

requests, part = int(sys.argv[1]), sys.argv[2]
first, wall = 10**14, 1_800_000_000 * 10**9 - 10**14
metrics = Metrics()
for block in range(requests // 256):
    batch = [
        (first + (block * 256 + n) * 100_000, 31_000 + n * 7, "GET", "/feed", 200, 31_268,
         new_request_id())
        for n in range(256)
    ]
    if part == "count":
        metrics.count_requests(batch)
    elif part in ("text", "json"):
        access_lines(batch, wall, part == "json")
"""


def _instructions(checkout: Path, script: str, *args: str) -> dict[str, int]:
    """Instructions by thread of one run of `script` with `checkout` on the path."""
    with tempfile.TemporaryDirectory() as folder:
        out = f"{folder}/callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--separate-threads=yes",
             f"--callgrind-out-file={out}", sys.executable, "-c", script, *args],
            cwd=checkout, check=True, capture_output=True,
            env={"PYTHONHASHSEED": "0", **os.environ, "PYTHONPATH": str(checkout)},
        )  # fmt: skip
        totals = {}
        for name in sorted(os.listdir(folder)):
            for line in Path(folder, name).read_text(errors="replace").splitlines():
                if line.startswith("totals:"):
                    totals[name.removeprefix("callgrind.out-")] = int(line.split()[1])
        return totals


def per_request(checkout: Path, part: str) -> dict[str, float]:
    """Instructions per request of `part`, by thread ("01": the event loop's)."""
    runs = []
    for requests in (SHORT, LONG):
        with tempfile.TemporaryDirectory() as folder:
            if part == "guard":
                runs.append(_instructions(checkout, GUARD, str(requests), f"{folder}/a.log"))
            else:  # the same batches made, without the part, cancel out too
                made = _instructions(checkout, BATCHES, str(requests), "none")
                done = _instructions(checkout, BATCHES, str(requests), part)
                runs.append({t: done[t] - made.get(t, 0) for t in done})
    short, long = runs
    return {t: (long[t] - short.get(t, 0)) / (LONG - SHORT) for t in long}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[REPO])
    parser.add_argument("--parts", default="guard,count,text,json")
    args = parser.parse_args()
    parts = args.parts.split(",")
    print(f"| checkout | {' | '.join(parts)} |\n|---|{'---:|' * len(parts)}")
    for checkout in args.checkouts:
        cells = []
        for part in parts:
            threads = per_request(checkout.resolve(), part)
            each = ", ".join(f"{t}: {n:,.0f}" for t, n in threads.items() if abs(n) >= 1)
            cells.append(f"{sum(threads.values()):,.0f} ({each})" if part == "guard" else
                         f"{sum(threads.values()):,.0f}")  # fmt: skip
        print(f"| {checkout} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
