"""Screenshots of the reader's pages, as a person sees them in Chromium: the home page, a search,
an article and a retracted article, each at a phone's width (390 px) and a desktop's (1280 px),
in the light and the dark scheme, full length.

It starts `python -m newsroom` on a new store (its demo articles), retracts one article, and
writes PNG files named `{page}-{width}-{scheme}.png` to `--out` (default `docs/screenshots/`,
which git ignores: they are large and made again at will). Needs the test extra (Playwright)
and Chromium, as the browser test does (tests/e2e/browser.py).

Run from the repo root:  python bench/screenshots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from machine import REPO

sys.path.insert(0, str(REPO))
from tests.e2e.browser import DESKTOP, HOW_TO_INSTALL, PHONE, chromium, open_browser
from tests.e2e.conftest import launching

ARTICLES = "{ articles(count: 3) { id title url } }"
RETRACT = """mutation ($id: ID!) {
  retractArticle(id: $id, reason: "The quoted figures were wrong") { status position }
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    executable = chromium()
    if executable is None:
        sys.exit(HOW_TO_INSTALL)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, launching(Path(folder)) as launch:
        server = launch(Path(folder) / "news.db")
        server.wait_for_search()
        articles = server.graphql(ARTICLES)["data"]["articles"]
        answer = server.graphql(RETRACT, {"id": articles[-1]["id"]})["data"]["retractArticle"]
        word = max(re.findall(r"[A-Za-z]{4,}", articles[0]["title"]), key=len)
        pages = {
            "home": "/",
            "search": f"/search?q={word}",
            "article": re.sub(r"^https?://[^/]+", "", articles[0]["url"]),
            "retracted": re.sub(r"^https?://[^/]+", "", articles[-1]["url"]),
        }
        with open_browser(executable) as browser:
            for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                for scheme in ("light", "dark"):
                    context = browser.new_context(viewport=viewport, color_scheme=scheme)
                    page = context.new_page()
                    page.set_extra_http_headers({"Newsroom-Min-Position": str(answer["position"])})
                    for name, path in pages.items():
                        page.goto(server.url + path)
                        file = args.out / f"{name}-{width}-{scheme}.png"
                        page.screenshot(path=str(file), full_page=True)
                        print(file.relative_to(REPO) if file.is_relative_to(REPO) else file)
                    context.close()
        server.terminate()


if __name__ == "__main__":
    main()
