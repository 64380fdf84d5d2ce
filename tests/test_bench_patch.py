"""`bench/observation-off.patch` (the base of docs/benchmarks.md's section 10) still applies to
newsroom as it is, and what it leaves is newsroom without its observation: no request id, no
clock and no note, with the request rate and the error boundary still in place."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATCH = ROOT / "bench" / "observation-off.patch"
PATCHED = ["newsroom/web/guard.py", "newsroom/web/connections.py"]


def test_the_observation_off_patch_applies_and_leaves_no_observation(tmp_path: Path) -> None:
    for name in PATCHED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # paths are then its own
    applied = subprocess.run(
        ["git", "apply", str(PATCH)], cwd=tmp_path, capture_output=True, text=True
    )
    assert applied.returncode == 0, applied.stderr
    guard = (tmp_path / "newsroom/web/guard.py").read_text()
    body = guard[guard.index("async def guarded") : guard.index("return guarded")]
    for observed in ("new_request_id(", "clock()", "notes.append", "rid"):
        assert observed not in body, observed
    kept = (
        "rate.wait(request.remote)",
        "await handler(request)",
        "except web.HTTPRequestEntityTooLarge:",
        "except (web.HTTPException, ConnectionResetError):",
        "failure(request, e)",
    )
    for line in kept:
        assert line in body, line
    connection = (tmp_path / "newsroom/web/connections.py").read_text()
    assert "def new_request(" not in connection
    for name in PATCHED:
        compile((tmp_path / name).read_text(), name, "exec")
