"""Benchmark: how long `/healthz` waits while clients flood the server with new GraphQL documents.

Starts `python -m newsroom` on a temporary store. CLIENTS processes each send documents the
server has not seen before, one after another over a kept-alive connection, for SECONDS; a probe
meanwhile asks `GET /healthz` every 20 ms and records how long each answer took. Prints the
probe's latency percentiles and what the flood got back (status counts, and how many documents
were prepared per second).

The documents (`--shape`):
- `finding`: issue 12's report, `{ x: article(id: 1) { id } ... }` with the same response name
  240 times, made distinct by a trailing comment.
- `heavy`: the costliest shape this checkout's limits let through to validation (many variables,
  each used; bench/graphql_documents.py measures every shape), made distinct the same way.

Run from the repo root, on this checkout or an older one:

    PYTHONPATH=. python bench/graphql_flood.py [--shape finding|heavy] [--clients 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import tempfile
import time
from collections import Counter

import graphql_documents  # beside this script, so on the path when it runs
from machine import spawn_newsroom

FINDING = "{ " + " ".join("x: article(id: 1) { id }" for _ in range(240)) + " }"
PROBE_EVERY = 0.02  # seconds between two health checks


def _document(shape: str) -> str:
    if shape == "finding":
        return FINDING
    family = graphql_documents.SHAPES["n variables, each used"]
    n = graphql_documents._largest(family, [2**k for k in range(12)])
    assert n is not None
    return family(n)


def _flood(port: int, document: str, client: int, seconds: float, results: object) -> None:
    """Send distinct copies of `document` until `seconds` passed; report the statuses."""
    statuses: Counter[int] = Counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        body = json.dumps({"query": f"{document}\n# client {client}, document {n}"})
        connection.request("POST", "/graphql", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        statuses[response.status] += 1
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    results.put(dict(statuses))  # type: ignore[attr-defined]


def _probe(port: int, seconds: float) -> list[float]:
    """Milliseconds each `GET /healthz` took, one every PROBE_EVERY seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        took.append((time.perf_counter() - started) * 1000)
        time.sleep(PROBE_EVERY)
    return took


def _percentile(values: list[float], fraction: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("finding", "heavy"), default="finding")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args()
    folder = tempfile.mkdtemp()
    server, port = spawn_newsroom(folder)
    try:
        document = _document(options.shape)
        quiet = _probe(port, 2.0)
        results: multiprocessing.Queue[dict[int, int]] = multiprocessing.Queue()
        flooders = [
            multiprocessing.Process(
                target=_flood, args=(port, document, n, options.seconds, results)
            )
            for n in range(options.clients)
        ]
        for flooder in flooders:
            flooder.start()
        loaded = _probe(port, options.seconds)
        statuses: Counter[int] = Counter()
        for _ in flooders:
            statuses.update(results.get())
        for flooder in flooders:
            flooder.join()
    finally:
        server.terminate()
        server.wait()
    print(f"shape {options.shape!r}: {len(document):,} characters; {options.clients} clients")
    print("| /healthz | probes | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, took in (("quiet", quiet), ("during the flood", loaded)):
        print(
            f"| {name} | {len(took)} | {statistics.median(took):.1f} | "
            f"{_percentile(took, 0.9):.1f} | {_percentile(took, 0.99):.1f} | {max(took):.1f} |"
        )
    per_second = sum(statuses.values()) / options.seconds
    print(f"flood replies by status: {dict(sorted(statuses.items()))} ({per_second:.0f}/s)")


if __name__ == "__main__":
    main()
