"""What a reader sees, checked in a real browser (Chromium, driven by Playwright): the home page,
a search typed into its box, an article opened from the results, and a retracted article, each
at a phone's width and a desktop's, in the light and the dark scheme.

Each page must say what it is, link where a reader goes next, fit the screen without sideways
scrolling, follow the reader's colour scheme, log no error in the console and ask no other host
for anything. The server is a real `python -m newsroom` with its demo articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import DESKTOP, HOW_TO_INSTALL, PHONE, Watched, chromium, open_browser
from tests.e2e.conftest import Launch, NewsroomProcess

pytestmark = pytest.mark.e2e

SITE = "The Evening Ledger"
ABOUT = "Local news from the river towns, written by people who live there"
REASON = "The quoted figures were wrong"
ARTICLES = "{ articles(count: 10) { id title url category } }"
RETRACT = """mutation ($id: ID!, $reason: String!) {
  retractArticle(id: $id, reason: $reason) { status position }
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    if executable is None:
        pytest.fail(HOW_TO_INSTALL, pytrace=False)
    with open_browser(executable) as browser:
        yield browser


@pytest.fixture(scope="module")
def site(module_launch: Launch, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A server with the demo articles, one of them retracted; what the tests need to know."""
    store = tmp_path_factory.mktemp("browser") / "news.db"
    server = module_launch(store, "--site-name", SITE, "--site-description", ABOUT)
    server.wait_for_search()
    articles = server.graphql(ARTICLES)["data"]["articles"]
    assert len(articles) >= 3, articles
    read, retracted = articles[0], articles[-1]
    reply = server.graphql(RETRACT, {"id": retracted["id"], "reason": REASON})
    answer = reply["data"]["retractArticle"]
    assert answer["status"] == "ACCEPTED", reply
    return {"server": server, "articles": articles, "read": read, "retracted": retracted,
            "position": answer["position"]}  # fmt: skip


def watched(browser: Browser, server: NewsroomProcess, **context: Any) -> Watched:
    page = browser.new_context(**context).new_page()
    return Watched(page, server.url)


def clean(seen: Watched, allowed: tuple[str, ...] = ()) -> None:
    """No console or script error (but those named in `allowed`), no request to another host."""
    errors = [e for e in seen.errors if not any(a in e for a in allowed)]
    assert errors == [], errors
    assert seen.elsewhere == [], seen.elsewhere


def word_of(title: str) -> str:
    """The longest word of a title: one a reader might search for."""
    return max(re.findall(r"[A-Za-z]{4,}", title), key=len)


def test_a_reader_finds_an_article_and_meets_a_retraction(
    browser: Browser, site: dict[str, Any]
) -> None:
    server: NewsroomProcess = site["server"]
    seen = watched(browser, server, viewport=DESKTOP)
    page = seen.page

    # The home page: what the site is, the latest articles, a search box.
    reply = page.goto(server.url + "/")
    assert reply is not None and reply.status == 200
    assert page.locator("h1").inner_text() == SITE
    assert ABOUT in page.locator("main").inner_text()
    listed = page.locator("main ol li h3 a").all_inner_texts()
    published = [a["title"] for a in site["articles"] if a is not site["retracted"]]
    assert listed[: len(published)] == published
    assert page.get_by_role("searchbox").count() >= 1
    for landmark in ("banner", "navigation", "main", "contentinfo"):
        assert page.get_by_role(landmark).count() >= 1, landmark

    # A keyboard user's first Tab lands on the skip link, which shows itself.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    assert page.locator("a.skip").is_visible()

    # A search typed into the box finds the article by a word of its title.
    article = site["read"]
    word = word_of(article["title"])
    page.get_by_role("searchbox").first.fill(word)
    with page.expect_navigation():
        page.get_by_role("searchbox").first.press("Enter")
    assert re.search(r"/search\?(.*&)?q=" + word, page.url), page.url
    assert word in page.locator("h1").inner_text()
    results = page.locator("main ol.stories")
    result = results.get_by_role("link", name=article["title"], exact=True)
    assert result.is_visible()
    marks = page.locator("main ol.stories mark").all_inner_texts()
    assert any(m.lower() == word.lower() for m in marks), marks

    # The result opens the article at its canonical address, with the tags sharing reads.
    with page.expect_navigation():
        result.click()
    path = re.sub(r"^https?://[^/]+", "", article["url"])
    assert page.url == server.url + path
    assert page.locator("h1").inner_text() == article["title"]
    assert page.locator("html").get_attribute("lang")
    og_url = page.locator('meta[property="og:url"]').get_attribute("content")
    assert og_url is not None and og_url.startswith("http") and og_url.endswith(path)
    canonical = page.locator('link[rel="canonical"]').get_attribute("href")
    assert canonical == og_url
    clean(seen)

    # The retracted article: 410, and a page that says what happened and where to go.
    retracted = site["retracted"]
    page.set_extra_http_headers({"Newsroom-Min-Position": str(site["position"])})
    reply = page.goto(server.url + re.sub(r"^https?://[^/]+", "", retracted["url"]))
    assert reply is not None and reply.status == 410
    main = page.locator("main").inner_text()
    assert "retracted" in page.locator("h1").inner_text().lower()
    assert REASON in main and "withdrawn" in main.lower(), main
    assert page.locator('main a[href="/"]').count() == 1
    # Chromium logs the document's own 410 as a console error; nothing else may be there.
    clean(seen, allowed=("status of 410",))


PAGES = ("home", "search", "article", "retracted")


def visit(page: Page, site: dict[str, Any], kind: str) -> None:
    server: NewsroomProcess = site["server"]
    paths = {
        "home": "/",
        "search": "/search?q=" + word_of(site["read"]["title"]),
        "article": re.sub(r"^https?://[^/]+", "", site["read"]["url"]),
        "retracted": re.sub(r"^https?://[^/]+", "", site["retracted"]["url"]),
    }
    page.set_extra_http_headers({"Newsroom-Min-Position": str(site["position"])})
    reply = page.goto(server.url + paths[kind])
    assert reply is not None and reply.status == (410 if kind == "retracted" else 200)


def luminance(css_colour: str) -> float:
    """The relative luminance (WCAG 2) of an `rgb(...)` or `rgba(...)` colour."""
    red, green, blue = (int(v) / 255 for v in re.findall(r"[\d.]+", css_colour)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_every_page_fits_the_screen_and_follows_the_colour_scheme(
    browser: Browser, site: dict[str, Any], width: str, scheme: str
) -> None:
    viewport = PHONE if width == "phone" else DESKTOP
    seen = watched(browser, site["server"], viewport=viewport, color_scheme=scheme)
    for kind in PAGES:
        visit(seen.page, site, kind)
        sizes = seen.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert sizes[0] <= sizes[1], f"{kind} scrolls sideways at {width} width: {sizes}"
        colours = seen.page.evaluate(
            "(() => { const s = getComputedStyle(document.body);"
            " return [s.backgroundColor, s.color]; })()"
        )
        background, text = (luminance(c) for c in colours)
        if scheme == "dark":
            assert background < 0.1 < 0.5 < text, (kind, colours)
        else:
            assert text < 0.1 < 0.8 < background, (kind, colours)
        # WCAG AA: body text at least 4.5:1 against its background
        ratio = (max(background, text) + 0.05) / (min(background, text) + 0.05)
        assert ratio >= 4.5, (kind, scheme, colours, ratio)
    clean(seen, allowed=("status of 410",))
