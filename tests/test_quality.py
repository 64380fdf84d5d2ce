"""Static checks as tests, so the README's one test command also runs them: ruff and mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


LINTED = ["newsroom", *(["bench"] if (ROOT / "bench").is_dir() else [])]


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", *LINTED), ("ruff", "format", "--check", "newsroom")],
    ids=["lint", "format"],
)
def test_ruff_is_clean(command: tuple[str, ...]) -> None:
    """ruff finds nothing to complain about in newsroom/ (and lints bench/)."""
    result = _run(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """mypy --strict (configured in pyproject.toml) passes on newsroom/."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
