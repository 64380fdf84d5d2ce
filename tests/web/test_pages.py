"""Article pages and the home page, parsed with the strict WHATWG (html5lib) parser and lxml."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import html5lib
import pytest
from aiohttp.test_utils import TestClient, TestServer
from lxml import html

from newsroom.articles import RetractArticle, UpdateArticle
from newsroom.commands import Outcome
from newsroom.config import Settings
from newsroom.web.app import create_app
from tests.factories import FakeClock, create_article, create_draft
from tests.web.conftest import SITE, Client, newsroom_of

HOSTILE_TITLE = "</script><script>alert(1)</script> & <!-- “quotes” 🗞️"


async def publish(client: Client, **fields: Any) -> Outcome:
    return await newsroom_of(client).commands.handle(create_article(**fields))


async def page(
    client: Client, path: str, status: int = 200, headers: dict[str, str] | None = None
) -> html.HtmlElement:
    """GET an HTML page; assert it parses as HTML5 without a single parse error."""
    response = await client.get(path, allow_redirects=False, headers=headers)
    assert response.status == status, path
    assert response.content_type == "text/html"
    text = await response.text()
    html5lib.HTMLParser(strict=True).parse(text)  # raises ParseError on any HTML5 parse error
    return html.fromstring(text)


async def test_an_article_page_shows_the_article_with_its_canonical_link(site: Client) -> None:
    """Title, author, time and body paragraphs; a canonical link; the language."""
    outcome = await publish(site, title="Rates rise", body="First para.\n\nSecond <b>para</b>.")
    path = f"/business/rates-rise-{outcome.article_id}"
    doc = await page(site, path)
    assert doc.get("lang") == "en"
    assert doc.findtext(".//h1") == "Rates rise"
    assert [p.text_content() for p in doc.iterfind(".//article/p")][1:] == [
        "First para.",
        "Second <b>para</b>.",
    ]
    assert "Ada Reporter" in doc.find(".//article/p").text_content()  # type: ignore[union-attr]
    canonical = doc.find(".//link[@rel='canonical']")
    assert canonical is not None and canonical.get("href") == SITE + path
    assert doc.find(".//time").get("datetime") == "2026-11-26T09:00:01+00:00"  # type: ignore[union-attr]


async def test_json_ld_describes_a_news_article_and_cannot_break_out(site: Client) -> None:
    """The NewsArticle JSON-LD parses back to the real title, even one holding </script>."""
    outcome = await publish(site, title=HOSTILE_TITLE)
    doc = await page(site, f"/business/script-script-alert-1-script-quotes-{outcome.article_id}")
    scripts = doc.findall(".//script")
    assert len(scripts) == 1 and scripts[0].get("type") == "application/ld+json"
    data = json.loads(scripts[0].text or "")
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == HOSTILE_TITLE
    assert data["author"] == [{"@type": "Person", "name": "Ada Reporter"}]
    assert data["publisher"]["name"] == "The Example Times"
    assert data["datePublished"] == "2026-11-26T09:00:01+00:00"
    assert doc.findtext(".//h1") == HOSTILE_TITLE


async def test_a_wrong_slug_or_category_redirects_to_the_canonical_url(site: Client) -> None:
    """An old title's slug, another category: 301 to /{category}/{slug}-{id}."""
    outcome = await publish(site, title="Old title")
    await newsroom_of(site).commands.handle(
        UpdateArticle(outcome.article_id, title="New title", category="world")
    )
    canonical = f"/world/new-title-{outcome.article_id}"
    for stale in (f"/business/old-title-{outcome.article_id}", f"/world/x-{outcome.article_id}"):
        response = await site.get(stale, allow_redirects=False)
        assert response.status == 301
        assert response.headers["Location"] == canonical
    await page(site, canonical)


async def test_unicode_titles_get_readable_urls_and_emoji_only_titles_a_usable_one(
    site: Client,
) -> None:
    """Cyrillic stays readable (percent-encoded); an emoji-only title still gets a slug."""
    russian = await publish(site, title="Новости дня")
    emoji = await publish(site, title="🗞️🔥")
    for outcome, slug in ((russian, "новости-дня"), (emoji, "article")):
        response = await site.get(f"/business/{slug}-{outcome.article_id}", allow_redirects=False)
        assert response.status == 200, slug


@pytest.mark.parametrize("path", ["/business/nothing-999", "/business/x-0", "/business/no-id",
                                  "/business/x-99999999999999999999", "/a/b-1%00"])  # fmt: skip
async def test_unknown_articles_are_404_pages(site: Client, path: str) -> None:
    """An id nobody has, or no id at all, is a 404 page."""
    await publish(site)
    await page(site, path, status=404)


async def test_a_draft_is_404_until_it_is_published(site: Client) -> None:
    """Drafts have no public page."""
    outcome = await newsroom_of(site).commands.handle(create_draft(title="Secret"))
    await page(site, f"/business/secret-{outcome.article_id}", status=404)


async def test_a_retracted_article_is_410_gone_with_a_notice(site: Client) -> None:
    """The page answers 410 and says in plain words what happened: retracted, withdrawn by the
    publisher, when (a <time>), why; it no longer carries the body, and leads home and to search."""
    outcome = await publish(site, title="Wrong story", body="The wrong claims.")
    retract = RetractArticle(outcome.article_id, reason="The facts were wrong")
    done = await newsroom_of(site).commands.handle(retract)
    doc = await page(site, f"/business/wrong-story-{outcome.article_id}", status=410)
    text = " ".join(doc.find(".//main").text_content().split())  # type: ignore[union-attr]
    assert doc.findtext(".//h1") == "This article was retracted"
    assert "The publisher of The Example Times retracted the article “Wrong story”" in text
    assert "withdrawn" in text and "The reason given: The facts were wrong" in text
    assert "The wrong claims." not in doc.text_content()
    retracted_at = newsroom_of(site).views.articles.get(outcome.article_id).retracted_at  # type: ignore[union-attr]
    assert done.position and retracted_at is not None
    assert doc.find(".//main//time").get("datetime") == retracted_at.isoformat()  # type: ignore[union-attr]
    assert {"/", "/search"} <= {a.get("href") for a in doc.find(".//main").iter("a")}  # type: ignore[union-attr]
    assert doc.find(".//meta[@name='robots']").get("content") == "noindex"  # type: ignore[union-attr]


async def test_a_404_page_says_why_and_where_to_go(site: Client) -> None:
    """An unknown article's 404 page explains there is nothing here, and links home and search."""
    doc = await page(site, "/business/nothing-999", status=404)
    assert doc.findtext(".//h1") == "Page not found"
    assert "no article at this address" in doc.find(".//main").text_content()  # type: ignore[union-attr]
    assert {"/", "/search"} <= {a.get("href") for a in doc.find(".//main").iter("a")}  # type: ignore[union-attr]


def _meta(doc: html.HtmlElement) -> dict[str, str]:
    """The page's <meta name|property=… content=…> tags as a dict."""
    found = {}
    for meta in doc.iterfind(".//head/meta"):
        key = meta.get("property") or meta.get("name")
        if key is not None:
            found[key] = meta.get("content", "")
    return found


async def test_an_article_page_tells_search_engines_and_social_sites_about_it(
    site: Client,
) -> None:
    """A description (the summary), an absolute canonical link, Open Graph and a Twitter card
    with the same title, description and absolute URL, the section and publication time."""
    body = "Markets fell & rose. " * 30 + "\n\nMore."
    outcome = await publish(site, title="Rates <rise>", body=body)
    path = f"/business/rates-rise-{outcome.article_id}"
    doc = await page(site, path)
    meta = _meta(doc)
    description = meta["description"]
    assert description.startswith("Markets fell & rose. Markets") and description.endswith("…")
    assert len(description) <= 280
    assert doc.find(".//link[@rel='canonical']").get("href") == SITE + path  # type: ignore[union-attr]
    assert {key: meta[key] for key in meta if key.startswith(("og:", "article:", "twitter:"))} == {
        "og:type": "article",
        "og:site_name": "The Example Times",
        "og:title": "Rates <rise>",
        "og:description": description,
        "og:url": SITE + path,
        "article:published_time": "2026-11-26T09:00:01+00:00",
        "article:modified_time": "2026-11-26T09:00:01+00:00",
        "article:section": "business",
        "twitter:card": "summary",
        "twitter:title": "Rates <rise>",
        "twitter:description": description,
    }
    assert doc.findtext(".//title") == "Rates <rise> — The Example Times"


async def test_the_page_language_comes_from_the_language_setting(tmp_path: Path) -> None:
    """Articles carry no language of their own: pages and JSON-LD say the site's (--language)."""
    settings = Settings(store=f"sqlite:///{tmp_path}/fr.db", demo=False, language="fr")
    async with TestClient(TestServer(create_app(settings, clock=FakeClock()))) as client:
        outcome = await publish(client, title="Les taux montent")
        for path in ("/", f"/business/les-taux-montent-{outcome.article_id}", "/business/x-99"):
            response = await client.get(path)
            assert html.fromstring(await response.text()).get("lang") == "fr", path
        doc = html.fromstring(await (await client.get("/business/les-taux-montent-1")).text())
        assert json.loads(doc.findtext(".//script") or "")["inLanguage"] == "fr"


async def test_the_home_page_says_what_the_site_is_and_offers_a_search_box(site: Client) -> None:
    """/ names the site in its h1 with its description beside it, lists the latest articles with
    their summary and time, and has a plain GET form to /search; description and canonical too."""
    first = await publish(site, title="Rates rise", body="The bank raised rates.\n\nMore.")
    await publish(site, title="Storm", body="Wind.", category="weather")
    doc = await page(site, "/")
    assert doc.findtext(".//h1") == "The Example Times"
    assert doc.find(".//main/p").text_content() == "The latest news"  # type: ignore[union-attr]
    items = doc.findall(".//main/ol/li")
    assert [item.findtext("h3/a") for item in items] == ["Storm", "Rates rise"]
    assert items[1].findall("p")[1].text_content() == "The bank raised rates. More."
    assert items[1].find("p/time").get("datetime") == "2026-11-26T09:00:01+00:00"  # type: ignore[union-attr]
    assert items[1].find("h3/a").get("href") == f"/business/rates-rise-{first.article_id}"  # type: ignore[union-attr]
    form = doc.find(".//form[@role='search']")
    assert form is not None and (form.get("action"), form.get("method")) == ("/search", "get")
    box = form.find(".//input[@name='q']")
    label = form.find(f".//label[@for='{box.get('id')}']")  # type: ignore[union-attr]
    assert box is not None and box.get("type") == "search" and label is not None
    assert _meta(doc)["description"] == "The latest news" and _meta(doc)["og:type"] == "website"
    assert doc.find(".//link[@rel='canonical']").get("href") == SITE + "/"  # type: ignore[union-attr]


async def test_the_home_page_links_articles_feeds_sitemap_and_graphiql(site: Client) -> None:
    """/ lists the latest articles with links to their pages, and links every feed and tool."""
    outcome = await publish(site, title="Rates rise", category="business")
    await newsroom_of(site).commands.handle(create_draft(title="Draft", category="science"))
    doc = await page(site, "/")
    links = {a.get("href") for a in doc.iter("a")}
    assert f"/business/rates-rise-{outcome.article_id}" in links
    expected = {"/feed", "/feed.atom", "/feed/business", "/feed/science.atom", "/sitemap.xml"}
    assert expected | {"/graphql"} <= links
    alternate = doc.find(".//link[@rel='alternate']")
    assert alternate is not None and alternate.get("type") == "application/rss+xml"


def _directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as directive -> sources."""
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


async def test_every_page_carries_the_security_headers(site: Client) -> None:
    """Home, article, 404 and 410 pages: a CSP that allows no script, no framing, no sniffing."""
    outcome = await publish(site, title="Kept")
    gone = await publish(site, title="Gone")
    await newsroom_of(site).commands.handle(RetractArticle(gone.article_id, reason="wrong"))
    paths = [
        "/",
        f"/business/kept-{outcome.article_id}",
        "/business/nothing-99",
        f"/business/gone-{gone.article_id}",
    ]
    for path in paths:
        response = await site.get(path, allow_redirects=False)
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"] and "script-src" not in policy, path
        assert policy["frame-ancestors"] == ["'none'"], path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path


async def test_graphiql_allows_its_own_inline_script_by_hash_and_no_other(site: Client) -> None:
    """GraphiQL's CSP names the SHA-256 of the page's one inline script, and scripts otherwise
    only from this origin: an injected inline script would not run."""
    response = await site.get("/graphql", headers={"Accept": "text/html"})
    policy = _directives(response.headers["Content-Security-Policy"])
    doc = html.fromstring(await response.text())
    inline = [s.text for s in doc.iter("script") if s.get("src") is None]
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
