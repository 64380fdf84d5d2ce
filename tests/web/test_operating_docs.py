"""The README's "Operating newsroom" section stays true: its metrics table names exactly what
/metrics serves, its systemd command line parses, its backup commands work as written (in a
fresh folder), its Prometheus job is well-formed and its sample log line has the shape newsroom
writes."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from newsroom.app import open_store
from newsroom.config import load
from tests.web.conftest import Client

README = (Path(__file__).parents[2] / "README.md").read_text()
SECTION = README.split("## Operating newsroom", 1)[1].split("\n## ", 1)[0]


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, flags=re.DOTALL)


async def test_the_metrics_table_names_what_metrics_serves(client: Client) -> None:
    response = await client.get("/metrics")
    served = {f.name for f in text_string_to_metric_families(await response.text())}
    ours = {name for name in served if name.startswith("newsroom_")}
    table = set()
    for row in re.findall(r"^\| (`newsroom_.*?) \|", SECTION, flags=re.MULTILINE):
        table |= {
            re.sub(r"\{.*", "", n).removesuffix("_total") for n in re.findall(r"`([^`]+)`", row)
        }
    assert table == ours
    assert {"process_resident_memory_bytes", "python_gc_objects_collected"} <= served


def test_the_systemd_command_line_is_accepted(tmp_path: Path) -> None:
    (unit,) = fenced("ini")
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", unit, flags=re.MULTILINE)
    args = shlex.split(exec_start)
    assert args[1:3] == ["-m", "newsroom"]
    token = tmp_path / "token"
    token.write_text("a-token")
    flags = [str(token) if a == "/etc/newsroom/token" else a for a in args[3:]]
    settings = load(flags, env={})
    assert settings.log_format == "json" and settings.shutdown_grace == 20
    assert settings.token == "a-token"


def test_the_prometheus_job_and_the_log_line_are_well_formed() -> None:
    (job,) = (yaml.safe_load(text) for text in fenced("yaml"))
    (scrape,) = job["scrape_configs"]
    assert scrape["metrics_path"] == "/metrics" and scrape["static_configs"][0]["targets"]
    (line,) = fenced("json")
    entry = json.loads(line)
    assert {"time", "level", "logger", "message", "request_id", "route", "status"} <= set(entry)
    # one object per line, as compact as newsroom writes it (orjson: no spaces)
    assert line.strip() == json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


async def _log_at(path: Path) -> None:
    path.parent.mkdir(parents=True)
    store = await open_store(f"sqlite:///{path}")
    await store.close()


def test_the_backup_commands_work_as_written(tmp_path: Path) -> None:
    """Run in a folder holding the quick start's log (`./newsroom-data/newsroom.db`), the
    section's backup commands succeed one after the other and print what it shows."""
    (block,) = [c for c in fenced("bash") if "newsroom backup" in c]
    asyncio.run(_log_at(tmp_path / "newsroom-data" / "newsroom.db"))
    for command in [line for line in block.splitlines() if line and not line.startswith("#")]:
        args = shlex.split(command)
        args[0] = sys.executable if args[0] == "python" else args[0]
        done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stderr)
    shown = re.findall(r"^# -> (.*?: intact: )", block, flags=re.MULTILINE)
    assert shown and done.stdout.startswith(shown[0]), (shown, done.stdout)
