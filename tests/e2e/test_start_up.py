"""What start-up does first: bind the port (a busy one stops it before anything is written), and
say where it listens as well as the public URL readers use."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Launch, store_url

pytestmark = pytest.mark.e2e


def test_a_busy_port_stops_start_up_before_the_log_is_touched(tmp_path: Path) -> None:
    store = tmp_path / "new.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "newsroom", "--store", store_url(store), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
    assert not store.exists()  # no store created, so no demo articles written into one


def test_start_up_names_the_public_url_and_where_it_listens(launch: Launch, tmp_path: Path) -> None:
    server = launch(tmp_path / "n.db", "--base-url", "https://news.example")
    line = server.stdout.decode().strip().splitlines()[-1]
    assert line == (
        f"newsroom is running: open https://news.example/ "
        f"(listening on http://localhost:{server.port}/)"
    )
    assert server.request("GET", "/healthz")[0] == 200
    assert "Logging error" not in server.stderr()
