"""The README's "Operating newsroom" section stays true: its metrics table names exactly what
/metrics serves, its systemd command line and backup command parse, its Prometheus job and its
sample log line are well-formed."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from newsroom import backup
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


def test_the_backup_command_parses() -> None:
    (command,) = [c for c in fenced("bash") if "newsroom backup" in c]
    args = shlex.split(command.splitlines()[0])
    assert args[:4] == ["python", "-m", "newsroom", "backup"]
    parsed = backup.parser().parse_args(args[4:])
    assert parsed.store.startswith("sqlite:///") and parsed.destination.endswith(".db")
