"""Sitemaps and the Google News sitemap through the real application, checked against the official
XSDs vendored in tests/data/xsd/ (their sources and licences in SOURCES.md there)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from newsroom.commands import Outcome
from tests.factories import FakeClock, create_article
from tests.web.conftest import SITE, Client, newsroom_of

XSD = Path(__file__).resolve().parents[1] / "data" / "xsd"
NS = {
    "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / name)))


async def publish(client: Client, **fields: Any) -> Outcome:
    return await newsroom_of(client).commands.handle(create_article(**fields))


async def xml(client: Client, path: str) -> etree._Element:
    response = await client.get(path)
    assert response.status == 200, path
    assert response.content_type == "application/xml"
    return etree.fromstring(await response.read())


def locs(document: etree._Element) -> list[str]:
    return [loc.text or "" for loc in document.iterfind(".//s:loc", NS)]


async def test_every_sitemap_validates_against_the_official_schemas(site: Client) -> None:
    """The index, the article sitemap and the news sitemap (and /sitemap) all validate."""
    for n in range(3):
        await publish(site, title=f"Story & <{n}> 🗞️", category=("world", "business")[n % 2])
    index = await xml(site, "/sitemap.xml")
    schema("siteindex.xsd").assertValid(index)
    urlset = schema("all-urlset.xsd")
    listed = locs(index)
    assert listed == [f"{SITE}/sitemaps/articles-1.xml", f"{SITE}/sitemaps/news-1.xml"]
    for loc in [*listed, f"{SITE}/sitemap"]:
        urlset.assertValid(await xml(site, loc.removeprefix(SITE)))


async def test_an_empty_news_window_still_validates(site: Client) -> None:
    """With nothing published in 48 hours the news sitemap lists the home page alone (the
    schema requires one URL), without news tags, and the index does not list it."""
    schema("all-urlset.xsd").assertValid(await xml(site, "/sitemap"))
    schema("all-urlset.xsd").assertValid(await xml(site, "/sitemaps/news-1.xml"))
    index = await xml(site, "/sitemap.xml")
    schema("siteindex.xsd").assertValid(index)
    assert locs(index) == [f"{SITE}/sitemaps/articles-1.xml"]


async def test_the_index_last_modified_moves_on_when_news_leaves_it(
    site: Client, clock: FakeClock
) -> None:
    """When the news file drops out of the index as time passes, Last-Modified moves forward,
    so a client asking If-Modified-Since gets the new index, not a 304."""
    await publish(site, title="First")
    clock.now += timedelta(hours=1)
    await publish(site, title="Second")
    clock.now += timedelta(hours=47, minutes=30)  # First has left the window, Second has not
    before = await site.get("/sitemap.xml")
    clock.now += timedelta(hours=1)  # now Second has left too: the index lists no news file
    after = await site.get("/sitemap.xml")
    assert await before.read() != await after.read()
    assert parsedate_to_datetime(after.headers["Last-Modified"]) > parsedate_to_datetime(
        before.headers["Last-Modified"]
    )
    since = {"If-Modified-Since": before.headers["Last-Modified"]}
    assert (await site.get("/sitemap.xml", headers=since)).status == 200


async def test_the_schemas_catch_a_broken_news_sitemap() -> None:
    """The check can fail: a news entry without its title is refused by the official schema."""
    broken = etree.fromstring(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
        b"<loc>https://news.example/a-1</loc><news:news><news:publication><news:name>N"
        b"</news:name><news:language>en</news:language></news:publication>"
        b"<news:publication_date>2026-11-26T09:00:00+00:00</news:publication_date>"
        b"</news:news></url></urlset>"
    )
    assert not schema("all-urlset.xsd").validate(broken)


async def test_locs_are_absolute_and_unique(site: Client) -> None:
    """Every loc in every sitemap is an absolute URL on this site, and none repeats."""
    for _ in range(5):
        await publish(site, title="Same title")  # same slug, different ids
    articles = locs(await xml(site, "/sitemaps/articles-1.xml"))
    news = locs(await xml(site, "/sitemaps/news-1.xml"))
    assert len(articles) == 6 and len(news) == 5  # the home page is in the article sitemap
    for found in (articles, news):
        assert len(set(found)) == len(found)
        assert all(loc.startswith(SITE + "/") for loc in found)


async def test_news_entries_carry_publication_language_date_and_title(site: Client) -> None:
    """news:publication (name, language), a W3C publication date with zone, and the title."""
    await publish(site, title="Rates rise")
    news = (await xml(site, "/sitemap")).find(".//news:news", NS)
    assert news is not None
    assert news.findtext("news:publication/news:name", namespaces=NS) == "The Example Times"
    assert news.findtext("news:publication/news:language", namespaces=NS) == "en"
    assert news.findtext("news:publication_date", namespaces=NS) == "2026-11-26T09:00:01+00:00"
    assert news.findtext("news:title", namespaces=NS) == "Rates rise"


async def test_news_expires_at_48_hours_by_the_clock_alone(site: Client, clock: FakeClock) -> None:
    """Published 47 h ago: in the news sitemap; at 49 h it is gone, with no new event."""
    outcome = await publish(site, title="Yesterday's news")
    head = await newsroom_of(site).store.head()
    clock.now += timedelta(hours=47)
    assert len(locs(await xml(site, "/sitemap"))) == 1
    clock.now += timedelta(hours=2)
    emptied = await xml(site, "/sitemap")
    assert locs(emptied) == [SITE + "/"] and emptied.find(".//news:news", NS) is None
    assert locs(await xml(site, "/sitemap.xml")) == [f"{SITE}/sitemaps/articles-1.xml"]
    assert await newsroom_of(site).store.head() == head == outcome.position
    assert len(locs(await xml(site, "/sitemaps/articles-1.xml"))) == 2  # still in the archive


async def test_fifteen_hundred_news_articles_make_two_files_and_index_entries(site: Client) -> None:
    """1,500 articles in the window: news-1 (1,000) and news-2 (500), both in the index, valid."""
    for n in range(1_500):
        await publish(site, title=f"Story {n}")
    index = locs(await xml(site, "/sitemap.xml"))
    assert index == [f"{SITE}/sitemaps/articles-1.xml"] + [
        f"{SITE}/sitemaps/news-{n}.xml" for n in (1, 2)
    ]
    first, second = await xml(site, "/sitemaps/news-1.xml"), await xml(site, "/sitemaps/news-2.xml")
    assert (len(locs(first)), len(locs(second))) == (1_000, 500)
    assert len(set(locs(first)) | set(locs(second))) == 1_500
    for document in (first, second):
        schema("all-urlset.xsd").assertValid(document)
    assert (await site.get("/sitemaps/news-3.xml")).status == 404


async def test_sitemap_files_answer_conditional_gets(site: Client) -> None:
    """Sitemaps carry ETag and Last-Modified and answer If-None-Match with 304."""
    await publish(site)
    for path in ("/sitemap.xml", "/sitemaps/articles-1.xml", "/sitemaps/news-1.xml", "/sitemap"):
        first = await site.get(path)
        again = await site.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status == 304, path
        assert first.headers["Last-Modified"]


@pytest.mark.parametrize(
    "path", ["/sitemaps/articles-2.xml", "/sitemaps/articles-0.xml", "/sitemaps/../etc",
             "/sitemaps/news-1.xml.gz", "/sitemaps/articles-99999999.xml", "/sitemaps/x"],
)  # fmt: skip
async def test_unknown_sitemaps_are_404(site: Client, path: str) -> None:
    """Only the files the index lists exist."""
    await publish(site)
    assert (await site.get(path)).status == 404


async def test_robots_txt_names_the_sitemap_index(site: Client) -> None:
    """robots.txt allows crawling and points at the absolute sitemap index URL."""
    response = await site.get("/robots.txt")
    lines = (await response.text()).splitlines()
    assert response.content_type == "text/plain"
    assert f"Sitemap: {SITE}/sitemap.xml" in lines
    assert "User-agent: *" in lines


async def test_an_empty_logs_index_invents_no_date(site: Client) -> None:
    """Before any article, the index lists the first file without a lastmod (not 1970); the
    first published article gives it one."""
    index = await xml(site, "/sitemap.xml")
    schema("siteindex.xsd").assertValid(index)
    assert index.findall(".//s:lastmod", NS) == []
    await publish(site, title="The first story")
    index = await xml(site, "/sitemap.xml")
    schema("siteindex.xsd").assertValid(index)
    (lastmod,) = [m.text for m in index.findall(".//s:sitemap/s:lastmod", NS)][:1]
    assert lastmod is not None and not lastmod.startswith("1970")
