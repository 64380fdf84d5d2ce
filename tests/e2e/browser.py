"""A real browser for the end-to-end tests and the screenshots script: Debian's Chromium, driven
by Playwright (its Python package; Playwright never downloads a browser of its own here).

`open_browser()` starts Chromium headless with the flags a closed network needs (no background
connections, no component updates) and yields it. `Watched` follows one page: what its console
said at level error, the script errors it threw, and every request it made to a host other than
the server's, so a test can assert that a page needs nothing from anywhere else.

Chromium is found at `$NEWSROOM_CHROMIUM`, else as `chromium` or `chromium-browser` on PATH. When
it is missing the caller fails with `HOW_TO_INSTALL` (a browser test never skips); `.ci/run`
installs it when absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

HOW_TO_INSTALL = (
    "Chromium was not found (set NEWSROOM_CHROMIUM to its path, or put `chromium` on PATH): on "
    "Debian `apt-get install chromium` (as root); .ci/run installs it when it is missing"
)
FLAGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # else it calls Google's hosts, refused on a closed net
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium() -> str | None:
    """The path of the Chromium to drive, or None if there is none."""
    given = os.environ.get("NEWSROOM_CHROMIUM")
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def open_browser(executable: str) -> Iterator[Browser]:
    """Headless Chromium at `executable`, closed on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page, and what it did that a reader would not want: console errors, script errors, and
    requests to any host but `origin`'s."""

    page: Page
    origin: str
    errors: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        host = urlsplit(self.origin).netloc
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        self.page.on("request", lambda r: self._request(r, host))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def _request(self, request: Request, host: str) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != host:
            self.elsewhere.append(request.url)
