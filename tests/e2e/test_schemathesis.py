"""Schemathesis fuzzes the whole GraphQL API of a real server, with a token, and finds nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Launch

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]  # schemathesis.toml lives here
TOKEN = "e2e-secret-token-4f9c"


def test_schemathesis_finds_no_failure(launch: Launch, tmp_path: Path) -> None:
    """At least 200 generated queries and mutations pass every check; the token is never logged."""
    server = launch(tmp_path / "db.sqlite", "--token", TOKEN)
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/graphql",
            "-H", f"Authorization: Bearer {TOKEN}", "--max-examples", "30", "--seed", "1",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-3000:]
    assert int(generated.group(1)) >= 200 and generated.group(1) == generated.group(2)
    assert server.terminate() == 0
    assert TOKEN not in server.stderr()
