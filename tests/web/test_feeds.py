"""RSS and Atom feeds through the real application, read by feedparser and lxml (not by our strings)."""

from __future__ import annotations

import gzip
from typing import Any

import feedparser
import pytest
from lxml import etree, html
from multidict import CIMultiDictProxy
from yarl import URL

from newsroom.articles import RetractArticle, UpdateArticle
from newsroom.commands import Outcome
from newsroom.events import ArticleCreated
from newsroom.web.documents import RENDERED
from tests.factories import T0, create_article, create_draft
from tests.web.conftest import SITE, Client, newsroom_of

RTL = "خبر عاجل: الأسواق ترتفع بعد قرار البنك"
HOSTILE = [
    ("🗞️🔥 Breaking: emoji only headlines 🚀", "Body with emoji 🧪 and\nline breaks."),
    (RTL, f"{RTL}\n\nפסקה שנייה בעברית."),
    ("<script>alert('x')</script> & friends", "<script>alert(1)</script> & <b>not bold</b>"),
    ("Fish & Chips ]]> CDATA end", "a ]]> b ]]]]><![CDATA[> c\n\n\n  indented third"),
    ("T" * 299 + "!", "A long title's body."),
]
FEEDS = ["/feed", "/feed.atom", "/feed/world", "/feed/world.atom"]


async def publish(client: Client, **fields: Any) -> Outcome:
    return await newsroom_of(client).commands.handle(create_article(**fields))


async def fetch(
    client: Client, path: str, **headers: str
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    """GET `path` and the raw bytes, uncompressed unless `headers` ask for an encoding."""
    headers.setdefault("Accept-Encoding", "identity")  # aiohttp's client asks for gzip by default
    response = await client.get(path, headers=headers, auto_decompress=False)
    return response.status, response.headers, await response.read()


def body_of(content_html: str) -> str:
    """The plain text back from feed HTML: paragraphs joined by blank lines, <br> as newlines."""
    fragments = html.fragments_fromstring(content_html)
    paragraphs = []
    for p in fragments:
        for br in p.iter("br"):
            br.tail = "\n" + (br.tail or "")
        paragraphs.append(p.text_content())
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize("path", FEEDS)
async def test_feeds_parse_cleanly_and_round_trip_hostile_text(site: Client, path: str) -> None:
    """feedparser reads every feed with bozo 0 and gets each title and body back exactly."""
    for title, body in HOSTILE:
        await publish(site, title=title, body=body, category="world")
    status, headers, raw = await fetch(site, path)
    assert status == 200
    parsed = feedparser.parse(raw)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    got = [(e.title, body_of(e.content[0].value)) for e in parsed.entries]
    assert got == list(reversed(HOSTILE))  # newest first
    expected_type = "application/atom+xml" if path.endswith(".atom") else "application/rss+xml"
    assert headers["Content-Type"] == f"{expected_type}; charset=utf-8"


@pytest.mark.parametrize("path", ["/feed", "/feed.atom"])
async def test_the_all_news_feed_is_there_before_any_article_is_published(
    site: Client, path: str
) -> None:
    """A new site's home page links the all-news feed: before anything is published it is an
    empty, valid feed (not a 404), and a draft leaves it as it was; a category that no
    article used is still a 404."""
    status, headers, raw = await fetch(site, path)
    assert status == 200
    parsed = feedparser.parse(raw)
    assert (parsed.bozo, parsed.entries) == (0, []), parsed.get("bozo_exception")
    etag = headers["ETag"]
    await newsroom_of(site).commands.handle(create_draft(category="world"))
    status, headers, _ = await fetch(site, path)
    assert (status, headers["ETag"]) == (200, etag)  # nothing a reader sees changed
    assert (await fetch(site, "/feed/sport"))[0] == 404
    assert (await fetch(site, "/feed/world"))[0] == 200  # a category is there once used
    await publish(site, title="First news")
    status, headers, raw = await fetch(site, path)
    assert headers["ETag"] != etag
    assert [e.title for e in feedparser.parse(raw).entries] == ["First news"]


async def test_rss_channel_and_items_follow_the_rss_profile(site: Client) -> None:
    """Channel: title, link, description, language, lastBuildDate, ttl, atom:link self; items:
    link to the page, a non-permalink guid, RFC 822 pubDate, summary, content, creator, category."""
    outcome = await publish(site, title="Rates rise", body="<b>Bold</b> claim. " * 30)
    root = etree.fromstring((await fetch(site, "/feed/business"))[2])
    channel = root.find("channel")
    assert channel is not None
    ns = {"atom": "http://www.w3.org/2005/Atom", "dc": "http://purl.org/dc/elements/1.1/"}
    assert channel.findtext("title") == "The Example Times: business"
    assert channel.findtext("link") == SITE + "/"
    assert channel.findtext("language") == "en"
    assert channel.findtext("ttl") is not None
    self_link = channel.find("atom:link", ns)
    assert self_link is not None and self_link.get("href") == SITE + "/feed/business"
    assert self_link.get("rel") == "self"
    item = channel.find("item")
    assert item is not None
    assert item.findtext("link") == f"{SITE}/business/rates-rise-{outcome.article_id}"
    guid = item.find("guid")
    assert guid is not None and guid.get("isPermaLink") == "false"
    assert item.findtext("pubDate") == "Thu, 26 Nov 2026 09:00:01 GMT"
    assert item.findtext("dc:creator", namespaces=ns) == "Ada Reporter"
    assert item.findtext("category") == "business"
    summary = html.fromstring(item.findtext("description") or "").text_content()
    assert summary.startswith("<b>Bold</b> claim.") and summary.endswith("…")


async def test_an_update_changes_the_item_in_place_under_the_same_guid(site: Client) -> None:
    """A new title and category change the item; its guid and Atom id stay the same."""
    outcome = await publish(site, title="First title", category="world")
    before = feedparser.parse((await fetch(site, "/feed"))[2]).entries
    command = UpdateArticle(outcome.article_id, title="Second title", category="science")
    await newsroom_of(site).commands.handle(command)
    after = feedparser.parse((await fetch(site, "/feed"))[2]).entries
    assert [(e.id, e.title) for e in before] == [(before[0].id, "First title")]
    assert [(e.id, e.title) for e in after] == [(before[0].id, "Second title")]
    atom = feedparser.parse((await fetch(site, "/feed/science.atom"))[2]).entries
    assert atom[0].id == before[0].id
    assert feedparser.parse((await fetch(site, "/feed/world"))[2]).entries == []


async def test_feeds_list_the_newest_twenty_published_articles(site: Client) -> None:
    """Twenty items (the seed's number), newest first; drafts never appear."""
    for n in range(25):
        await publish(site, title=f"Story {n}")
    await newsroom_of(site).commands.handle(create_draft(title="Secret draft"))
    entries = feedparser.parse((await fetch(site, "/feed"))[2]).entries
    assert [e.title for e in entries] == [f"Story {n}" for n in range(24, 4, -1)]


async def test_etags_are_per_feed_and_answer_304(site: Client) -> None:
    """An edit in politics changes politics' validators, not business's; both honour 304."""
    await publish(site, category="business")
    politics = await publish(site, category="politics")
    _, business_headers, _ = await fetch(site, "/feed/business")
    _, politics_headers, _ = await fetch(site, "/feed/politics")
    update = UpdateArticle(politics.article_id, title="Politics, edited")
    await newsroom_of(site).commands.handle(update)
    _, business_after, _ = await fetch(site, "/feed/business")
    _, politics_after, _ = await fetch(site, "/feed/politics")
    assert business_after["ETag"] == business_headers["ETag"]
    assert business_after["Last-Modified"] == business_headers["Last-Modified"]
    assert politics_after["ETag"] != politics_headers["ETag"]
    status, _, body = await fetch(
        site, "/feed/business", **{"If-None-Match": business_headers["ETag"]}
    )
    assert (status, body) == (304, b"")
    since = business_headers["Last-Modified"]
    assert (await fetch(site, "/feed/business", **{"If-Modified-Since": since}))[0] == 304
    stale = politics_headers["ETag"]
    assert (await fetch(site, "/feed/politics", **{"If-None-Match": stale}))[0] == 200


async def test_feeds_are_gzipped_for_clients_that_accept_it(site: Client) -> None:
    """Accept-Encoding: gzip gets gzip bytes that decompress to the plain feed; q=0 gets none."""
    await publish(site)
    _, plain_headers, plain = await fetch(site, "/feed", **{"Accept-Encoding": "identity"})
    _, headers, zipped = await fetch(site, "/feed", **{"Accept-Encoding": "br, gzip;q=0.8"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped) == plain
    assert "Content-Encoding" not in plain_headers
    assert headers["Vary"] == "Accept-Encoding" and "max-age" in headers["Cache-Control"]
    _, refused, _ = await fetch(site, "/feed", **{"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused
    gz_etag = headers["ETag"]
    status, _, _ = await fetch(
        site, "/feed", **{"If-None-Match": gz_etag, "Accept-Encoding": "gzip"}
    )
    assert status == 304
    status, _, _ = await fetch(site, "/feed", **{"If-None-Match": gz_etag})  # identity asked
    assert status == 200  # the tag names the gzipped bytes, not the plain ones now sent
    _, star, _ = await fetch(site, "/feed", **{"Accept-Encoding": "*;q=0, gzip"})
    assert star["Content-Encoding"] == "gzip"


async def test_a_burst_of_events_renders_each_feed_once(site: Client) -> None:
    """Fifty writes between two reads: the feed is rendered once for the second read, not 50 times."""
    await publish(site)
    await fetch(site, "/feed")
    documents = site.app[RENDERED]  # type: ignore[index]
    renders = documents.renders
    for n in range(50):
        await publish(site, title=f"Burst {n}")
    await fetch(site, "/feed")
    await fetch(site, "/feed")
    assert documents.renders == renders + 1


@pytest.mark.parametrize(
    "probe",
    ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2e%2e%2f%2e%2e", "%00", "business%00", "%FF", "x" * 5000,
     "<script>alert(1)<%2Fscript>", "business%2F..", "BUSINESS"],
)  # fmt: skip
async def test_path_probes_on_feeds_are_404_and_not_reflected(site: Client, probe: str) -> None:
    """Whatever is in the category segment, an unknown category is a 404 that does not echo it."""
    await publish(site, category="business")
    for suffix in ("", ".atom"):
        # Sent as written: the client would otherwise resolve "%2e%2e" before sending it.
        raw = URL(f"{site.make_url('/')}feed/{probe}{suffix}", encoded=True)
        response = await site.session.get(raw)
        text = await response.text()
        assert response.status == 404, response.url
        assert "<script>" not in text and "passwd" not in text and "xxxxxxxx" not in text


async def test_text_xml_cannot_carry_is_cleaned_when_rendered(site: Client) -> None:
    """An old event holding control characters (written before validation) cannot break a feed."""
    newsroom = newsroom_of(site)
    event = ArticleCreated(
        article_id=7, title="Bad\x01 title\x0b", body="Body\x00 text\ufffe", category="world",
        author_id=1, author_name="Old\x1f importer", created_at=T0,
    )  # fmt: skip
    result = await newsroom.store.append("article-7", [event], expected_version=0)
    newsroom.bus.publish(result.records)
    await newsroom.views.wait_for(result.last_position, timeout=5)
    for path in FEEDS:
        parsed = feedparser.parse((await fetch(site, path))[2])
        assert parsed.bozo == 0
        assert [(e.title, body_of(e.content[0].value)) for e in parsed.entries] == [
            ("Bad title", "Body text")
        ]
    page = await site.get("/world/bad-title-7")
    assert page.status == 200


async def test_a_retracted_article_leaves_the_feeds(site: Client) -> None:
    """After a retraction no feed lists the article; the one before it moves up."""
    first = await publish(site, title="Stays")
    second = await publish(site, title="Goes")
    await newsroom_of(site).commands.handle(RetractArticle(second.article_id, reason="Wrong"))
    for path in ("/feed", "/feed/business", "/feed.atom", "/feed/business.atom"):
        entries = feedparser.parse((await fetch(site, path))[2]).entries
        assert [e.title for e in entries] == ["Stays"], path
    assert first.article_id != second.article_id


async def test_atom_feeds_carry_ids_links_authors_and_dates(site: Client) -> None:
    """Atom: feed id, updated, author, self and alternate links; entries with published/updated."""
    outcome = await publish(site, title="Atom story", category="world")
    await newsroom_of(site).commands.handle(UpdateArticle(outcome.article_id, body="Edited."))
    parsed = feedparser.parse((await fetch(site, "/feed/world.atom"))[2])
    assert parsed.bozo == 0 and parsed.version == "atom10"
    feed = parsed.feed
    assert feed.id == SITE + "/feed/world.atom"
    assert feed.updated == "2026-11-26T09:00:02+00:00"
    assert feed.author == "The Example Times"
    links = {link.rel: link.href for link in feed.links}
    assert links == {"self": SITE + "/feed/world.atom", "alternate": SITE + "/"}
    entry = parsed.entries[0]
    assert (entry.published, entry.updated) == ("2026-11-26T09:00:01+00:00", feed.updated)
    assert entry.author == "Ada Reporter"
    assert entry.link == f"{SITE}/world/atom-story-{outcome.article_id}"
    assert entry.tags[0].term == "world"
    assert entry.id.startswith("tag:news.example,2026-11-26:")
