"""The processes a multi-process benchmark starts, loads and stops: a throwaway PostgreSQL,
`python -m newsroom` servers, wrk; and where the machine's CPU went while it measured.

Used by bench/postgres.py. `Fleet.close()` is the one place that ends every process and removes
every folder the run made; call it in a `finally` (bench/postgres.py also turns SIGTERM into an
exception, so that one reaches it too).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import api
from machine import DATA, REPO, cpu_times, free_port, process_seconds, wait_ready

from tests.postgres import Databases, PostgresServer

CREATE = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status id position } }"
WARMUP = 1  # seconds of load before each measured wrk run (documents cached, pools filled)
SETTLE = 0.5  # seconds for the writes in flight when wrk stops to land, before the head is read
THREADS = 2  # wrk threads; with `spread_script`, thread i talks to server i % servers

# --- where the CPU went ---------------------------------------------------------------------------

Parties = dict[str, Callable[[], float]]
"""Who is watched in a measurement: a name, and a function giving its CPU seconds so far."""


def postgres_seconds(postmaster: int) -> float:
    """CPU seconds of the whole PostgreSQL server: the postmaster, its live children (backends,
    WAL writer, checkpointer...) and the children that ended (counted into the postmaster)."""
    total = process_seconds(postmaster, reaped=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            after_name = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile: its time is in the postmaster's `reaped` now
        if int(after_name[1]) == postmaster:  # its parent's pid
            total += process_seconds(int(stat.parent.name))
    return total


def children_seconds() -> float:
    """CPU seconds of this script's children that ended: around a wrk run, that wrk's."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def own_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


class Cores:
    """Started before a measurement; `read()` after it: the cores each party used meanwhile
    (1.00 = one core busy the whole time), then the rest of the machine from /proc/stat: `rest`
    (other processes, and kernel work charged to no party) and `idle`. A process is charged
    the kernel's network work done in its own context (this kernel keeps no separate interrupt
    time), so the loopback traffic mostly shows in the parties; the columns add up to the cores."""

    def __init__(self, parties: Parties) -> None:
        self.parties = parties
        self.start = {name: seconds() for name, seconds in parties.items()}
        self.times, self.wall = cpu_times(), time.perf_counter()

    def read(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        used = {name: (f() - self.start[name]) / wall for name, f in self.parties.items()}
        spent = {state: (t - self.times[state]) / wall for state, t in cpu_times().items()}
        idle = spent["idle"] + spent["iowait"]
        busy = sum(spent.values()) - idle
        return {**used, "rest": max(0.0, busy - sum(used.values())), "idle": idle}


# --- the processes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    """One `python -m newsroom` the fleet started."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seconds(self) -> float:
        return process_seconds(self.process.pid)

    def head(self) -> int:
        """The log's head as this server reads it from its store (GET /healthz)."""
        with urllib.request.urlopen(self.url + "/healthz", timeout=10) as reply:
            found: int = json.load(reply)["head"]
            return found


class Fleet:
    """Every process and folder of one run (in a temporary folder under bench/data/)."""

    def __init__(self, server_flags: Sequence[str]) -> None:
        DATA.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="fleet-", dir=DATA))
        self.token_file = self.folder / "token"
        self.token_file.write_text(api.TOKEN)
        self.server_flags = [*server_flags, "--token-file", str(self.token_file)]
        self.servers: list[Server] = []
        self.postgres: PostgresServer | None = None
        self._databases: Databases | None = None

    def start_postgres(self) -> None:
        self.postgres = PostgresServer()
        self.postgres.start()
        self._databases = Databases(self.postgres)

    def database(self) -> str:
        """The URL of a fresh, empty database."""
        assert self._databases is not None
        return self._databases.new()

    def postgres_seconds(self) -> float:
        assert self.postgres is not None and self.postgres.process is not None
        return postgres_seconds(self.postgres.process.pid)

    def sqlite(self, name: str) -> str:
        return f"sqlite:///{self.folder}/{name}.db"

    def newsroom(self, store: str, name: str) -> Server:
        """Start `python -m newsroom` (this checkout's) on `store`; return once it is ready."""
        port = free_port()
        log = self.folder / f"{name}-{port}.log"
        command = [sys.executable, "-m", "newsroom", "--store", store, "--port", str(port)]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*command, *self.server_flags], stdout=output, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
        server = Server(name, process, port)
        self.servers.append(server)
        try:
            wait_ready(server.url, process=process, name=f"newsroom {name}")
        except SystemExit:
            print(log.read_text()[-3000:], file=sys.stderr)
            raise
        return server

    def stop(self, *servers: Server) -> None:
        """SIGTERM (newsroom's graceful stop), then SIGKILL after 30 s."""
        for server in servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
                try:
                    server.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()

    def close(self) -> None:
        """Stop every server, then PostgreSQL, and remove the folder; Ctrl-C and SIGTERM are
        ignored meanwhile, so that a second one cannot leave anything running."""
        stop_signals = (signal.SIGINT, signal.SIGTERM)
        for stop_signal in stop_signals:
            signal.signal(stop_signal, signal.SIG_IGN)
        try:
            self.stop(*self.servers)
            if self.postgres is not None:
                if self.postgres.process is not None and self.postgres.process.poll() is None:
                    # "fast" shutdown: a client left connected (this script's own store, when
                    # interrupted) must not hold up the "smart" one that stop() asks for
                    self.postgres.process.send_signal(signal.SIGINT)
                self.postgres.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            for stop_signal in stop_signals:
                signal.signal(stop_signal, signal.SIG_DFL)


class Http:
    """One keep-alive HTTP/1.1 connection to one server (stdlib): seeding, checks, probes."""

    def __init__(self, server: Server) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def graphql(self, query: str, variables: dict[str, Any], **headers: str) -> dict[str, Any]:
        """POST one operation (with the token); the reply's JSON, checked for errors."""
        body = json.dumps({"query": query, "variables": variables})
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {api.TOKEN}"}
        self.connection.request("POST", "/graphql", body=body, headers={**sent, **headers})
        reply = self.connection.getresponse()
        data: dict[str, Any] = json.loads(reply.read())
        assert reply.status == 200 and "errors" not in data, (reply.status, data)
        return data

    def create(self, article: dict[str, Any]) -> tuple[str, int]:
        """createArticle; the new article's id and the log position it was written at."""
        created = self.graphql(CREATE, {"a": article})["data"]["createArticle"]
        assert created["status"] == "ACCEPTED", created
        return created["id"], created["position"]


# --- wrk ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """What one wrk run reported, and where the CPU went meanwhile."""

    rate: float
    seconds: float
    p50: float
    p99: float
    errors: int  # non-2xx replies and socket errors
    written: int  # events that reached the log meanwhile, where counted
    cores: dict[str, float]


_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(percent: int, out: str) -> float:
    found = re.search(rf"\n\s+{percent}%\s+([\d.]+)(us|ms|s)\b", out)
    return float(found.group(1)) * _SCALE[found.group(2)] if found else float("nan")


def wrk(
    script: Path,
    url: str,
    seconds: int,
    connections: int,
    parties: Parties,
    log_head: Callable[[], int] | None = None,
) -> Load:
    """One wrk run of `seconds` over `connections`, after WARMUP seconds not measured; with
    `log_head`, also how many events reached the log during the measured run."""
    command = ["wrk", "-t", str(THREADS), "-c", str(connections), "--latency", "-s", str(script)]
    _run([*command, "-d", f"{WARMUP}s", url])
    before = _settled(log_head)
    cores = Cores({**parties, "wrk": children_seconds})
    out = _run([*command, "-d", f"{seconds}s", url])
    used = cores.read()
    written = _settled(log_head) - before
    rate, took = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"in ([\d.]+)s,", out)
    assert rate is not None and took is not None, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(map(int, sockets.groups())) if sockets else 0
    rates = float(rate.group(1)), float(took.group(1))
    return Load(*rates, _ms(50, out), _ms(99, out), errors, written, used)


def _run(command: list[str]) -> str:
    """Run wrk; what it printed, or exit the benchmark with what it said."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


def _settled(log_head: Callable[[], int] | None) -> int:
    """The log's head once the writes in flight landed (0 when not counted)."""
    if log_head is None:
        return 0
    time.sleep(SETTLE)
    return log_head()


def spread_script(folder: Path, name: str, ports: Sequence[int], body: str | None) -> Path:
    """A wrk script (wrk's `setup` hook) whose thread i talks to the server on ports[i % n]:
    GET, or POST of the JSON `body`."""
    listed = ", ".join(f'"{port}"' for port in ports)
    lines = [
        f"local ports = {{{listed}}}",
        "local threads = 0",
        "function setup(thread)",
        "  threads = threads + 1",
        '  thread.addr = wrk.lookup("127.0.0.1", ports[(threads - 1) % #ports + 1])[1]',
        "end",
    ]
    if body is not None:
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = {json.dumps(body)}",
        ]
    script = folder / f"{name}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script
