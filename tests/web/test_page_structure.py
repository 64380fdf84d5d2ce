"""Every kind of reader page, parsed strictly: the same landmarks, a skip link, one h1, headings
in order, the one stylesheet, no script of their own, and nothing a reader sent left unescaped."""

from __future__ import annotations

import itertools

import pytest
from lxml import html

from newsroom.articles import RetractArticle
from tests.web.conftest import Client, newsroom_of
from tests.web.test_pages import page, publish

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def _every_kind(site: Client) -> dict[str, tuple[str, int]]:
    """One page of each kind, as path and status, on a site with a few articles."""
    for n in range(3):
        await publish(site, title=f"Storm {n}", body="The storm came.", category="weather")
    gone = await publish(site, title="Wrong", body="Wrong storm.")
    await newsroom_of(site).commands.handle(RetractArticle(gone.article_id, reason="Wrong"))
    return {
        "home": ("/", 200),
        "article": ("/weather/storm-0-1", 200),
        "retracted": (f"/business/wrong-{gone.article_id}", 410),
        "not found": ("/business/nothing-99", 404),
        "search form": ("/search", 200),
        "search results": ("/search?q=storm&first=2", 200),
        "no results": ("/search?q=nothing+here", 200),
        "bad search": ("/search?q=storm&first=0", 400),
    }


async def _pages(site: Client) -> dict[str, html.HtmlElement]:
    kinds = await _every_kind(site)
    return {
        kind: await page(site, path, status, headers=BROWSER)
        for kind, (path, status) in kinds.items()
    }


def _headings(doc: html.HtmlElement) -> list[int]:
    return [int(h.tag[1]) for h in doc.iter("h1", "h2", "h3", "h4", "h5", "h6")]


async def test_every_page_has_the_landmarks_and_a_skip_link_to_main(site: Client) -> None:
    """body holds header (with the site's nav), main#main and footer, in that order; the first
    link of the page skips to #main."""
    for kind, doc in (await _pages(site)).items():
        body = doc.find("body")
        assert body is not None
        assert [child.tag for child in body] == ["header", "main", "footer"], kind
        assert body[0].find(".//nav") is not None and body[1].get("id") == "main", kind
        first_link = next(body.iter("a"))
        assert first_link.get("href") == "#main", kind
        assert "skip" in first_link.text_content().lower(), kind


async def test_every_page_has_one_h1_and_never_skips_a_heading_level(site: Client) -> None:
    """Headings start at the one h1 and go down one level at a time at most."""
    for kind, doc in (await _pages(site)).items():
        levels = _headings(doc)
        assert levels[0] == 1 and levels.count(1) == 1, (kind, levels)
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), (kind, levels)


def test_the_heading_check_can_fail() -> None:
    """A page that jumps from h1 to h3 is caught by the check above."""
    doc = html.fromstring("<html><body><h1>a</h1><h3>b</h3></body></html>")
    levels = _headings(doc)
    assert not all(b <= a + 1 for a, b in itertools.pairwise(levels))


async def test_every_page_links_the_one_stylesheet_and_runs_no_script(site: Client) -> None:
    """Each page links the same versioned stylesheet, declares a viewport, and has no script
    but the article's JSON-LD data block."""
    stylesheets = set()
    for kind, doc in (await _pages(site)).items():
        links = doc.findall(".//head/link[@rel='stylesheet']")
        assert len(links) == 1, kind
        stylesheets.add(links[0].get("href"))
        viewport = doc.find(".//meta[@name='viewport']")
        assert viewport is not None and "width=device-width" in viewport.get("content", ""), kind
        scripts = [s.get("type") for s in doc.iter("script")]
        assert scripts == (["application/ld+json"] if kind == "article" else []), kind
        assert not doc.findall(".//*[@style]") and not doc.findall(".//style"), kind
    (stylesheet,) = stylesheets
    assert stylesheet is not None and stylesheet.startswith("/static/site.")


@pytest.mark.parametrize("status_kind", ["retracted", "not found", "bad search"])
async def test_pages_that_stand_for_nothing_ask_not_to_be_indexed(
    site: Client, status_kind: str
) -> None:
    """404, 410 and a refused search say noindex and name no canonical URL."""
    doc = (await _pages(site))[status_kind]
    assert doc.find(".//meta[@name='robots']").get("content") == "noindex"  # type: ignore[union-attr]
    assert doc.find(".//link[@rel='canonical']") is None
