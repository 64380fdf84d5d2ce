"""Benchmark: two checkouts under the same createArticle load, sharing one core, at the same time.

This VM's speed swings by up to a third from one run to the next, more than most single changes
gain. Here both servers (this checkout and BASE, a git ref checked out into a temporary
worktree) run pinned to CPU 0 and are loaded at once, each by its own `wrk` on CPU 1 sending
`createArticle` over 32 connections (the script of `bench/api.py`). The kernel shares the core
between them, so the ratio of their rates is the ratio of their CPU cost per create, whatever
the machine's speed of the moment. Each server is `bench/api.py --serve` of its own checkout.

With the same code in both slots, single rounds came out at 0.98-1.02: differences of a few
percent are within the noise.

Run from the repo root:  python bench/compare.py BASE [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from api import wrk, wrk_script
from machine import REPO, free_port, wait_ready


def _server(checkout: Path, folder: Path, port: int) -> subprocess.Popen[bytes]:
    store = f"sqlite:///{folder}/{port}.db"
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


def _round(ports: dict[str, int], script: Path, seconds: int) -> dict[str, float]:
    """One round: every server loaded at the same time; their creates/s by name."""
    rates: dict[str, float] = {}

    def load(name: str) -> None:
        rates[name] = wrk(f"http://127.0.0.1:{ports[name]}/graphql", script, seconds)["rps"]

    threads = [threading.Thread(target=load, args=(name,)) for name in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the git ref to compare this checkout against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("taskset"):
        raise SystemExit("needs wrk and taskset: apt-get install wrk util-linux")
    folder = Path(tempfile.mkdtemp(prefix="newsroom-compare-"))
    base = folder / "base"
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        worktree = ["git", "worktree", "add", "--detach", str(base), args.base]
        if subprocess.run(worktree, cwd=REPO).returncode != 0:
            raise SystemExit(f"cannot check out {args.base!r} (see git's message above)")
        ports = {"base": free_port(), "this": free_port()}
        for name, checkout in (("base", base), ("this", REPO)):
            servers[name] = _server(checkout, folder, ports[name])
        for name, port in ports.items():
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process=servers[name], name=f"the {name} server")
        script = wrk_script(folder, "", token=True, counter=True)
        print(f"| round | base {args.base}: creates/s | this checkout: creates/s | ratio |")
        print("|---|---:|---:|---:|")
        ratios = []
        for number in range(1, args.rounds + 1):
            rates = _round(ports, script, args.seconds)
            ratios.append(rates["this"] / rates["base"])
            print(f"| {number} | {rates['base']:,.0f} | {rates['this']:,.0f} | {ratios[-1]:.3f} |")
        print(f"\nmedian ratio {statistics.median(ratios):.3f} over {len(ratios)} rounds")
    finally:
        for server in servers.values():
            _stop(server)
        if base.exists():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False
            )
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
