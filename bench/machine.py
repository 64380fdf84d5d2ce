"""Shared helpers for the benchmark scripts: machine facts, Markdown tables, the command line.

Imported by `bench/appends.py` and `bench/replay.py` (run as scripts, so `bench/` is on sys.path).
Everything here only reads: /proc, /sys and the interpreter; nothing is installed or changed.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data"  # git-ignored; same disk as the repo


def drop_page_cache() -> bool:
    """Write back dirty pages and drop the OS page cache (root on Linux only); True if done."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mount_of(path: Path) -> tuple[str, str, str]:
    """(device, mount point, filesystem type) of the mount holding `path`, from /proc/mounts."""
    best = ("unknown", "/", "unknown")
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best
    resolved = str(path.resolve())
    for line in lines:
        device, mount_point, fs_type, *_ = line.split()
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best[1]):
            best = (device, mount_point, fs_type)
    return best


def disk_kind(device: str) -> str:
    """'SSD' or 'rotational' for a block device, from /sys/block/<dev>/queue/rotational."""
    name = Path(device).name
    for candidate in (name, name.rstrip("0123456789"), name.rsplit("p", 1)[0]):
        flag = Path("/sys/block") / candidate / "queue" / "rotational"
        if flag.exists():
            rotational = flag.read_text().strip() == "1"
            return "rotational (as the kernel reports it)" if rotational else "non-rotational"
    return "unknown"


def fsync_rate(directory: Path, seconds: float = 1.0) -> float:
    """Raw 4 KiB write+fsync calls per second on the disk holding `directory`."""
    probe = directory / ".fsync-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block, count = b"\0" * 4096, 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            os.write(fd, block)
            os.fsync(fd)
            count += 1
    finally:
        os.close(fd)
        probe.unlink()
    return count / elapsed


class CpuWatch:
    """Measures how much CPU other processes used while a benchmark ran (they skew results)."""

    def __init__(self) -> None:
        self._busy, self._own, self._wall = _busy_seconds(), _own_seconds(), time.perf_counter()

    def others(self) -> str:
        """'X.X of Y.Y core-seconds' used by other processes since this watch started."""
        wall = time.perf_counter() - self._wall
        busy, own = _busy_seconds() - self._busy, _own_seconds() - self._own
        if busy < 0:
            return "unknown"
        capacity = wall * (os.cpu_count() or 1)
        return f"{max(busy - own, 0):.1f} of {capacity:.1f} core-seconds"


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat), or -1 if unknown."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return -1.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> dict[str, float]:
    """Seconds all cores spent in each state since boot (user, system, idle, softirq...), from
    /proc/stat; empty if unknown."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    return {name: int(value) / tick for name, value in zip(names, fields, strict=False)}


def process_seconds(pid: int, reaped: bool = False) -> float:
    """CPU seconds process `pid` used so far, all its threads; with `reaped`, plus those of its
    children that ended and were waited for (how PostgreSQL's backends' CPU stays counted)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = map(int, after_name[11:15])  # fields 14-17 of proc(5)
    ticks = utime + stime + (cutime + cstime if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def code_version() -> str:
    """The commit measured, and which newsroom/ files differ from it (the work tree is live)."""
    try:
        commit = _git("rev-parse", "--short", "HEAD").strip()
        dirty = _git("status", "--porcelain", "--", "newsroom").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = ", ".join(line[3:] for line in dirty if line)  # "XY path"
    return f"{commit}" + (
        f" + uncommitted changes in {changed}" if changed else " (clean newsroom/)"
    )


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout


def facts(path: Path) -> list[tuple[str, str]]:
    """The machine facts every result table is printed with."""
    device, mount_point, fs_type = mount_of(path)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        ("CPU", cpu_model()),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", f"{memory:.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("SQLite (linked into sqlite3)", sqlite3.sqlite_version),
        ("newsroom code (git)", code_version()),
        ("data dir", str(path)),
        ("filesystem", f"{fs_type} on {device} (mounted at {mount_point}), {disk_kind(device)}"),
    ]


def command_line() -> str:
    """The exact command that started this script, ready to paste."""
    argv = [Path(sys.executable).name, *sys.argv]
    return shlex.join(argv)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; numbers are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    numeric = [
        bool(cells) and all(_is_number(row[i]) for row in cells) for i in range(len(headers))
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).replace("x", "").strip().isdigit()


def report(title: str, path: Path, extra: Sequence[tuple[str, str]] = ()) -> str:
    """The machine facts and the command, as Markdown, for the end of a script's output."""
    return "\n".join(
        [
            f"### {title}: machine",
            "",
            table(["fact", "value"], [*facts(path), *extra]),
            "",
            f"Command (from the repo root): `{command_line()}`",
        ]
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server a benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn_newsroom(folder: str) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m newsroom` on a new log in `folder`, on a free port; returns once it printed
    its URL (ready), with the process and the port."""
    port = free_port()
    command = [sys.executable, "-m", "newsroom", "--store", f"sqlite:///{folder}/db"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert server.stdout is not None
    server.stdout.readline()
    return server, port


def wait_ready(
    url: str,
    timeout: float = 60,
    process: subprocess.Popen[bytes] | None = None,
    name: str = "the server",
) -> None:
    """Poll `url`/readyz until it answers 200; exit the benchmark if it never does, or at once
    if `process` (the server, when the caller started it) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{name} did not become ready within {timeout:g} s")
