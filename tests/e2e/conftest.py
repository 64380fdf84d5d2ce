"""End-to-end fixtures: start real `python -m newsroom` processes and always stop them again.

`launch(store_path)` starts a server on a free port and returns once it prints the line
`newsroom is running: open http://...` (which it prints only after it listens), or once it exits
(start-up refused). Every process a test launched is killed at teardown if it is still running.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

READY_LINE = b"newsroom is running: open "
START_TIMEOUT = 20.0  # seconds a server gets to replay its log and listen
STOP_TIMEOUT = 5.0  # seconds a server gets to exit after SIGTERM
HTTP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def store_url(store: Path | str) -> str:
    """The `--store` value: an SQLite file (an absolute path gives `sqlite:////abs/path`), or a
    store URL given as it is (`postgresql://...`)."""
    return store if isinstance(store, str) else f"sqlite:///{store}"


class NewsroomProcess:
    """One `python -m newsroom` process: its port, its stderr (in a file) and plain HTTP helpers."""

    def __init__(self, store: Path | str, log_dir: Path, *extra: str) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = log_dir / f"newsroom-{self.port}-{time.monotonic_ns()}.stderr"
        args = ["--store", store_url(store), "--port", str(self.port), *extra]
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "newsroom", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.stdout = b""

    # --- life cycle ----------------------------------------------------------------------------

    def wait_until_listening(self, timeout: float = START_TIMEOUT) -> bool:
        """Read stdout until the ready line (True) or until the process exits (False)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.stdout or not self.stdout.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise AssertionError(
                    f"newsroom did not start within {timeout} s; stderr:\n{self.stderr()}"
                )
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:  # EOF: the process exited (or closed stdout) before listening
                    self.proc.wait(timeout=STOP_TIMEOUT)
                    return False
                self.stdout += chunk
        return True

    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """Send SIGTERM and return the exit code; fail (after killing it) if it does not exit."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"newsroom did not exit within {timeout} s of SIGTERM; stderr:\n{self.stderr()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL the process (if it still runs) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    # --- HTTP ----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One HTTP request; returns (status, body) for every status, 4xx and 5xx included."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type is not None:
            req.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()

    def get_json(self, path: str) -> tuple[int, Any]:
        """GET `path` and decode the JSON reply."""
        status, body = self.request("GET", path)
        return status, json.loads(body)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL operation; assert HTTP 200 and return the decoded result."""
        payload = json.dumps({"query": query, "variables": variables or {}}).encode()
        status, body = self.request("POST", "/graphql", payload, "application/json")
        assert status == 200, (status, body)
        result: dict[str, Any] = json.loads(body)
        return result

    def wait_for_search(self, timeout: float = START_TIMEOUT) -> None:
        """Poll /healthz until the search index's build after the replay is over (search
        answers 503 until then); it reports no position to wait for, only whether it is done."""
        deadline = time.monotonic() + timeout
        while True:
            status, report = self.get_json("/healthz")
            assert status == 200, report
            if report["projections"]["search"]["index"]["caught_up"]:
                return
            assert time.monotonic() < deadline, f"the search index was not built: {report}"
            time.sleep(0.02)

    def fingerprints(self, at: int, timeout: float = START_TIMEOUT) -> dict[str, str]:
        """Each view's fingerprint, once every view reached log position `at` and the search
        index is built (polled on /healthz, which has no position to wait on)."""
        deadline = time.monotonic() + timeout
        while True:
            status, report = self.get_json("/healthz?fingerprint")
            assert status == 200, report
            views = report["projections"]
            if all(v["position"] >= at and "fingerprint" in v for v in views.values()):
                return {name: view["fingerprint"] for name, view in views.items()}
            assert time.monotonic() < deadline, f"the views did not reach {at}: {report}"
            time.sleep(0.02)

    def wait_for_subscriptions(self, count: int, timeout: float = HTTP_TIMEOUT) -> None:
        """Poll /metrics until `count` GraphQL subscriptions run on this server (a client's
        subscription is registered, so an event written now reaches it)."""
        deadline = time.monotonic() + timeout
        wanted = f"newsroom_subscriptions_active {float(count)}"
        while wanted not in self.request("GET", "/metrics")[1].decode():
            assert time.monotonic() < deadline, f"{count} subscriptions did not start"
            time.sleep(0.02)

    def head(self) -> int:
        """The log head the server reports on /healthz."""
        status, report = self.get_json("/healthz")
        assert status == 200, report
        head: int = report["head"]
        return head


Launch = Callable[..., NewsroomProcess]


@contextlib.contextmanager
def launching(log_dir: Path) -> Iterator[Launch]:
    """Yield a function that starts servers; kill every one still running on exit."""
    started: list[NewsroomProcess] = []

    def start(store: Path | str, *extra: str, wait: bool = True) -> NewsroomProcess:
        server = NewsroomProcess(store, log_dir, *extra)
        started.append(server)
        if wait and not server.wait_until_listening():
            raise AssertionError(
                f"newsroom exited with {server.proc.returncode} instead of starting; "
                f"stderr:\n{server.stderr()}"
            )
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start `python -m newsroom` on a store file (waiting until it listens unless wait=False)."""
    with launching(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def module_launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    """Like `launch`, for servers shared by every test of a module."""
    with launching(tmp_path_factory.mktemp("newsroom")) as start:
        yield start
