"""A throwaway PostgreSQL server for the tests, started from binaries the test install ships.

`pip install -e '.[test]'` brings `pgserver`, a wheel that carries a PostgreSQL build; only its
binaries are used here (its own Python API is not needed). `NEWSROOM_TEST_PG_BIN` may name another
`bin/` folder (e.g. Debian's /usr/lib/postgresql/15/bin). The server runs in a fresh temporary
cluster on a free loopback port and is stopped (and its files removed) when the tests end.

PostgreSQL refuses to run as root, and CI runs as root: then the binaries are copied into the
cluster's folder and the server runs as the unprivileged user `nobody`, so nothing on the machine
is changed. There is no skip anywhere: if no server can be started, every PostgreSQL test errors
with the reason, on a developer's machine and on CI alike.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 30.0  # seconds for initdb plus the server's start
NOBODY = 65534


def find_binaries() -> Path:
    """The `bin/` folder of a PostgreSQL build: $NEWSROOM_TEST_PG_BIN, else pgserver's."""
    if named := os.environ.get("NEWSROOM_TEST_PG_BIN"):
        return Path(named)
    spec = importlib.util.find_spec("pgserver")  # found, not imported: no side effects
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "no PostgreSQL for the tests: install the test extra (pip install -e '.[test]', "
            "which brings pgserver) or set NEWSROOM_TEST_PG_BIN to a PostgreSQL bin/ folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _open_to_others(path: Path) -> bool:
    """True if every folder from / down to `path` lets other users in."""
    return all(os.stat(p).st_mode & 0o001 for p in [*reversed(path.parents), path])


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; `url(database)` names a database in it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="newsroom-pg-"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.bin = self._binaries()
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _binaries(self) -> Path:
        found = find_binaries()
        if not self.as_root or _open_to_others(found):
            return found
        # `nobody` must be able to read the build, and /root (where pip put it) is closed to
        # others: copy it, keeping the place of the libraries it finds relative to itself
        # (pgserver's wheel keeps them in `pgserver.libs`, three levels up from bin/).
        install = found.parent
        copy = self.root / "site" / install.parent.name / install.name
        shutil.copytree(install, copy, symlinks=True)
        libs = install.parent.parent / f"{install.parent.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, self.root / "site" / libs.name, symlinks=True)
        return copy / "bin"

    def _run_as_server_user(self) -> dict[str, int]:
        return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if self.as_root else {}

    def start(self) -> None:
        self.data.mkdir(mode=0o700)
        if self.as_root:
            os.chmod(self.root, 0o755)  # nobody must reach its data folder inside
            os.chown(self.data, NOBODY, NOBODY)
            self.log.touch()
            os.chown(self.log, NOBODY, NOBODY)
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, cwd=self.root, **self._run_as_server_user(),
        )  # fmt: skip
        self._launch()

    def _launch(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 "-c", "max_connections=300", "-c", "shared_buffers=64MB"],
                stdout=log, stderr=log, cwd=self.root, **self._run_as_server_user(),
            )  # fmt: skip
        self._wait_until_accepting()

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start:\n{self.log.read_text()}")
            probe = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not accept connections:\n{self.log.read_text()}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql as the superuser; return what it printed."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout.strip()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server the way an operator's fast restart does (every session is cut, open
        transactions roll back), stay down for `down_for` seconds, and start it again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # "fast" shutdown
        self.process.wait(30)
        time.sleep(down_for)
        self._launch()

    def terminate_sessions(self, database: str) -> int:
        """Kill every session connected to `database`, as a DBA or a failover would; return
        how many were killed."""
        killed = self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        return int(killed)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT: PostgreSQL's "fast" shutdown, which ends the sessions still open. The
            # "smart" one (SIGTERM) waited for them, ran into the timeout below, and was killed:
            # 10 s lost, and its shared memory segments left in /dev/shm at every run.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A started server, stopped (and its files removed) on exit, whatever happened."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Databases:
    """Hands out a fresh, empty database per test on one shared server."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self._count = 0

    def new(self) -> str:
        self._count += 1
        name = f"newsroom_test_{self._count}"
        self.server.psql(f"CREATE DATABASE {name}")
        return self.server.url(name)
