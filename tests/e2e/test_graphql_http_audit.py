"""The GraphQL over HTTP spec's reference audit (`serverAudits` of the npm package graphql-http,
run by tests/graphql_http/audit.mjs) against a real server: no error, no warning.

It needs Node.js and npm; the packages are installed from the committed package-lock.json
(`npm ci`) the first time. Without Node the test fails, saying how to install it: the spec's
audit is part of the suite, not an extra.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Launch

pytestmark = pytest.mark.e2e

AUDIT = Path(__file__).resolve().parents[1] / "graphql_http"
INSTALLED = AUDIT / "node_modules" / "graphql-http" / "package.json"
AUDITS = 61  # what graphql-http 1.23.1 (package-lock.json) runs
HOW_TO_INSTALL = (
    "The GraphQL over HTTP audit needs Node.js and npm on PATH: on Debian or Ubuntu "
    "`apt-get install nodejs npm` (as root), elsewhere see https://nodejs.org; "
    ".ci/run installs them when node is missing"
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` was not found. {HOW_TO_INSTALL}", pytrace=False)
    return path


def _install(npm: str) -> None:
    """`npm ci` into tests/graphql_http/node_modules, once: the exact versions of the lock."""
    if INSTALLED.exists():
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=AUDIT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"npm ci failed in {AUDIT}:\n{done.stdout}\n{done.stderr}"


def test_every_graphql_over_http_audit_passes(launch: Launch, tmp_path: Path) -> None:
    """All of graphql-http's server audits run against `python -m newsroom`, and none ends in
    an error (a MUST broken) or a warning (a SHOULD broken)."""
    node, npm = _tool("node"), _tool("npm")
    _install(npm)
    server = launch(tmp_path / "db.sqlite")
    done = subprocess.run(
        [node, "audit.mjs", f"{server.url}/graphql"],
        cwd=AUDIT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"the audit did not run:\n{done.stderr}"
    summary = json.loads(done.stdout)
    print(json.dumps({k: summary[k] for k in ("total", "ok", "notice", "warn", "error")}))
    reasons = "\n".join(
        f"{f['status']} {f['id']} {f['name']}: {f['reason']}; got {f['response']}"
        for f in summary["failed"]
    )
    assert (summary["error"], summary["warn"]) == (0, 0), reasons
    assert summary["total"] == AUDITS, summary
    assert server.terminate() == 0, server.stderr()
