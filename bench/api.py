"""Benchmark: GraphQL requests/s on one server core, ours against Ariadne's default path.

One server process, pinned to CPU 0 with `taskset`, serves two routes on the same newsroom:
- `POST /graphql`, newsroom's own pipeline (documents parsed, limited and validated once, cached);
- `POST /graphql-ariadne`, the same schema and context through `ariadne.graphql(...)`, which
  parses and validates every request (Ariadne's default execution path).
`wrk` (Debian package `wrk`) on CPU 1 sends the seed query `{ articles(count: 20) { id title } }`
over 32 connections to each route in turn (the order swapped every run), and then
`createArticle` mutations to ours (each durable before its reply; a wrk Lua script gives each
request its own title). Before the first run, SEED articles are created, so the seed query
answers 20 articles from the start, as on any real site (on the 4 demo articles alone it did a
fifth of the work, and run 1 looked much faster than the runs after it).

This VM's speed swings from one second to the next, so the verdicts are medians over runs:
the median of the per-run ratios, and the median create rate.

Run from the repo root:  python bench/api.py [--seconds 5] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from machine import free_port, wait_ready

QUERY = "{ articles(count: 20) { id title } }"
# One document, new variables each time: how clients send mutations (and what the cache keys on).
MUTATION = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status position } }"
ARTICLE = {
    "title": "Bench %d",
    "body": "A body of a benchmark article.",
    "category": "bench",
    "author_id": 1,
    "author_name": "Bench",
}
CONNECTIONS = 32
TOKEN = "bench-token"
SEED = 100  # articles created before the first run


def serve(store: str, port: int) -> None:
    """The server process: newsroom's app plus a route through Ariadne's default path."""
    from collections import defaultdict

    from aiohttp import web
    from ariadne import graphql as ariadne_graphql

    from newsroom.config import Settings
    from newsroom.web.app import create_app
    from newsroom.web.graphql.context import Context
    from newsroom.web.graphql.schema import schema

    settings = Settings(store=store, port=port, token=TOKEN)
    app = create_app(settings)
    try:  # log as `python -m newsroom` does (an access line per request), to a file beside the
        from newsroom import logs  # store; a checkout from before newsroom/logs.py logs nothing

        logs.configure("INFO", "text", str(Path(store.removeprefix("sqlite:///")).parent / "log"))
    except ImportError:
        pass

    async def through_ariadne(request: web.Request) -> web.Response:
        data = await request.json()
        # Ariadne's path runs none of our checks: resolvers get the raw values (the same
        # for the seed query's `count`).
        context = Context.of(request, defaultdict(dict))
        success, result = await ariadne_graphql(schema, data, context_value=context)
        return web.json_response(result, status=200 if success else 400)

    app.router.add_post("/graphql-ariadne", through_ariadne)
    from newsroom.runtime import new_event_loop, tune_collector  # as `python -m newsroom` runs

    async def run() -> None:  # until SIGTERM: through newsroom's front door and on its guarded
        # site (web/connections.py), as `python -m newsroom` serves
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:  # a checkout from before issue 15's front door has none
            from newsroom.web.unmatched import front_door

            assert runner.server is not None
            runner.server.request_handler = front_door(app, runner.server.request_handler)
        except ImportError:
            pass
        tune_collector()
        try:  # a checkout from before issue 12 has no guarded site
            from newsroom.web.connections import guarded_site

            site: web.BaseSite = guarded_site(runner, settings, None)
        except ImportError:
            site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        await stop.wait()
        await runner.cleanup()

    loop = new_event_loop()
    loop.run_until_complete(run())


def wrk_script(folder: Path, body: str, token: bool, counter: bool) -> Path:
    """A wrk script that POSTs JSON (with a fresh title per request for mutations)."""
    script = folder / f"post-{int(token)}-{int(counter)}.lua"
    lines = [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {TOKEN}"')
    if counter:
        template = json.dumps({"query": MUTATION, "variables": {"a": ARTICLE}})
        lines += [
            "local n = 0",
            "request = function()",
            "  n = n + 1",
            f"  local body = string.format({json.dumps(template)}, n + math.random(1, 1e9) * 1000)",
            "  return wrk.format(nil, nil, nil, body)",
            "end",
        ]
    else:
        lines.append(f"wrk.body = {json.dumps(body)}")
    script.write_text("\n".join(lines) + "\n")
    return script


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    command = [
        "taskset", "-c", "1", "wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s",
        "--latency", "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rate,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "errors": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def _seed(url: str) -> None:
    """Create SEED articles (so the seed query lists 20 from the first run on)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    for n in range(SEED):
        article = {**ARTICLE, "title": f"Seed {n}"}
        body = json.dumps({"query": MUTATION, "variables": {"a": article}}).encode()
        request = urllib.request.Request(url + "/graphql", body, headers, method="POST")
        with urllib.request.urlopen(request) as reply:
            assert json.load(reply)["data"]["createArticle"]["status"] == "ACCEPTED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--serve", nargs=2, metavar=("STORE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs wrk and taskset: apt-get install wrk util-linux")
    folder = Path(tempfile.mkdtemp(prefix="newsroom-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{folder}/db"
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, __file__, "--serve", store, str(port)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        wait_ready(url)
        query_script = wrk_script(folder, json.dumps({"query": QUERY}), token=False, counter=False)
        mutation_script = wrk_script(folder, "", token=True, counter=True)
        _seed(url)
        print(
            "| run | ours: seed query req/s (p99 ms) | Ariadne default: req/s (p99 ms) | ratio "
            "| createArticle req/s (p99 ms) |"
        )
        print("|---|---:|---:|---:|---:|")
        ratios, creates = [], []
        for run in range(1, args.runs + 1):
            order = ("/graphql", "/graphql-ariadne")[:: 1 if run % 2 else -1]
            measured = {path: wrk(url + path, query_script, args.seconds) for path in order}
            ours, theirs = measured["/graphql"], measured["/graphql-ariadne"]
            writes = wrk(url + "/graphql", mutation_script, args.seconds)
            assert ours["errors"] == theirs["errors"] == writes["errors"] == 0, (
                ours,
                theirs,
                writes,
            )
            ratios.append(ours["rps"] / theirs["rps"])
            creates.append(writes["rps"])
            print(
                f"| {run} | {ours['rps']:,.0f} ({ours['p99_ms']:.1f}) | {theirs['rps']:,.0f} "
                f"({theirs['p99_ms']:.1f}) | {ratios[-1]:.2f}x | "
                f"{writes['rps']:,.0f} ({writes['p99_ms']:.1f}) |"
            )
        print(
            f"\nseed query: median ratio {statistics.median(ratios):.2f}x "
            f"(lowest {min(ratios):.2f}x) over {len(ratios)} runs; createArticle: median "
            f"{statistics.median(creates):,.0f}/s (lowest {min(creates):,.0f}/s, "
            f"{sum(c >= 2000 for c in creates)} of {len(creates)} runs at 2,000/s or more)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
