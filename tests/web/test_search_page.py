"""GET /search as an HTML page for browsers: negotiation with JSON, escaping of everything echoed,
snippets, pagination, facets, and refusals in plain words; parsed strictly, never compared with
our own strings."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html
from yarl import URL

from newsroom.validation import NOT_XML
from tests.factories import create_article
from tests.web.conftest import SITE, Client, newsroom_of
from tests.web.test_pages import page
from tests.web.test_search import HOSTILE

HTML = {"Accept": "text/html"}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
INJECTIONS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
              "</textarea><b>storm</b>", "storm &amp; &lt;b&gt;", "' onfocus='alert(1)"]  # fmt: skip


async def _seed(client: Client, count: int = 12) -> None:
    commands = newsroom_of(client).commands
    for n in range(count):
        category = ("business", "weather")[n % 2]
        await commands.handle(
            create_article(title=f"Storm {n}", body="Rates rose.", category=category)
        )


def _query(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def _hit_titles(doc: html.HtmlElement) -> list[str]:
    return [a.text_content() for a in doc.iterfind(".//main/ol/li/h3/a")]


@pytest.mark.parametrize(
    ("accept", "kind"),
    [(None, "application/json"), ("*/*", "application/json"),
     ("application/json", "application/json"), (BROWSER, "text/html"), ("text/html", "text/html"),
     ("text/*", "text/html"), ("text/html;q=0.5, application/json", "application/json"),
     ("application/json;q=0, */*", "text/html"), ("text/html;q=0", "application/json"),
     ("image/png", "application/json"), ("text/html;q=2", "application/json"),
     ("TEXT/HTML", "text/html"), ("nonsense, text/html;q=0.9", "text/html")],
)  # fmt: skip
async def test_accept_picks_html_or_json_and_the_reply_varies_by_it(
    site: Client, accept: str | None, kind: str
) -> None:
    """Browsers (text/html preferred by q-value) get a page; API clients, */* and anything that
    does not prefer HTML get the same JSON as ever; every reply says Vary: Accept."""
    await _seed(site, 2)
    headers = {"Accept": accept} if accept is not None else {}
    response = await site.get("/search", params={"q": "storm"}, headers=headers)
    assert response.status == 200 and response.content_type == kind
    assert "Accept" in response.headers.getall("Vary")
    if kind == "application/json":
        assert (await response.json())["total"] == 2
    else:
        assert _hit_titles(html.fromstring(await response.text())) == ["Storm 1", "Storm 0"]


async def test_refusals_vary_by_accept_too(site: Client) -> None:
    """A 400 in JSON (the default) and in HTML both say Vary: Accept."""
    for headers in ({}, HTML):
        response = await site.get("/search", params={"q": "storm", "first": "0"}, headers=headers)
        assert response.status == 400 and "Accept" in response.headers.getall("Vary")


async def test_results_show_titles_times_and_highlighted_snippets(site: Client) -> None:
    """Each hit: a linked headline, a <time>, and the snippet with the matches in <mark>."""
    await _seed(site, 3)
    doc = await page(site, "/search?q=rates", headers=HTML)
    assert doc.findtext(".//h1") == "Results for “rates”"
    hit = doc.find(".//main/ol/li")
    assert hit is not None and hit.find("h3/a").get("href") == "/business/storm-2-3"  # type: ignore[union-attr]
    assert hit.find(".//time").get("datetime") == "2026-11-26T09:00:03+00:00"  # type: ignore[union-attr]
    snippet = hit.findall("p")[1]
    assert [mark.text for mark in snippet.iter("mark")] == ["Rates"]
    assert snippet.text_content() == "Rates rose."
    assert "3 articles found" in doc.find(".//main").text_content()  # type: ignore[union-attr]
    assert doc.find(".//link[@rel='canonical']").get("href") == SITE + "/search?q=rates"  # type: ignore[union-attr]


async def test_markup_in_articles_stays_text_in_snippets(site: Client) -> None:
    """An article whose text holds tags and entities shows them as text; only <mark> is ours."""
    body = "<b>storm</b> <script>alert(1)</script> &amp; storm <mark>x</mark>"
    await newsroom_of(site).commands.handle(create_article(title="<i>Storm</i>", body=body))
    doc = await page(site, "/search?q=storm", headers=HTML)
    main = doc.find(".//main")
    assert main is not None
    assert not [e for e in main.iter("b", "i", "script")]
    snippet = main.findall(".//ol/li/p")[1]
    assert snippet.text_content() == body
    assert [mark.text for mark in snippet.iter("mark")] == ["storm", "storm"]
    assert main.findtext(".//ol/li/h3/a") == "<i>Storm</i>"


def _no_injection(doc: html.HtmlElement) -> None:
    """Nothing but our own elements and attributes: no script, image, bold text or handler."""
    assert not list(doc.iter("script", "img", "b", "textarea", "iframe"))
    for element in doc.iter():
        assert not [name for name in element.attrib if name.lower().startswith("on")]


@pytest.mark.parametrize(
    "text", HOSTILE + INJECTIONS, ids=[repr(t)[:20] for t in HOSTILE + INJECTIONS]
)
async def test_hostile_queries_are_echoed_as_text_only(site: Client, text: str) -> None:
    """Whatever is searched for, the page (results or 400) parses strictly, the search box holds
    the literal query (less what HTML cannot carry) and no element or attribute was injected."""
    await _seed(site, 2)
    response = await site.get("/search", params={"q": text}, headers=HTML)
    assert response.status in (200, 400)
    doc = await page(site, str(response.url.relative()), response.status, headers=HTML)
    shown = NOT_XML.sub("", text)
    box = doc.find(".//main//input[@name='q']")
    assert box is not None and box.get("value") == shown
    if response.status == 200:
        assert doc.findtext(".//h1") == f"Results for “{shown}”"
        assert doc.findtext(".//title") == f"Search: {shown} — The Example Times"
    _no_injection(doc)


async def test_pages_link_forward_and_back_without_repeats_or_gaps(site: Client) -> None:
    """Following "next" visits every hit once; "previous" from the last page gives the page
    before it again; the first page has no previous link and the last no next."""
    await _seed(site)
    path: str | None = "/search?q=storm&first=5"
    pages: list[list[str]] = []
    while path is not None:
        doc = await page(site, path, headers=HTML)
        pages.append(_hit_titles(doc))
        prev = doc.find(".//nav//a[@rel='prev']")
        assert (prev is None) == (len(pages) == 1)
        following = doc.find(".//nav//a[@rel='next']")
        path = following.get("href") if following is not None else None
        if path is not None:
            assert _query(path)["first"] == ["5"] and _query(path)["q"] == ["storm"]
    assert [len(titles) for titles in pages] == [5, 5, 2]
    assert sorted(title for titles in pages for title in titles) == sorted(
        f"Storm {n}" for n in range(12)
    )
    assert prev is not None
    back = await page(site, prev.get("href"), headers=HTML)  # type: ignore[arg-type]
    assert _hit_titles(back) == pages[1]
    assert back.find(".//nav//a[@rel='next']") is not None


async def test_facets_are_links_that_narrow_the_search(site: Client) -> None:
    """Each category with matches is a link to the same search in it; there the category is
    marked current, only its hits are listed, and a link leads back to every category."""
    await _seed(site, 6)
    doc = await page(site, "/search?q=storm", headers=HTML)
    facets = {a.text: a.get("href") for a in doc.iterfind(".//main/ul/li/a")}
    assert set(facets) == {"business", "weather"}
    assert _query(facets["weather"]) == {"q": ["storm"], "category": ["weather"]}
    narrowed = await page(site, facets["weather"], headers=HTML)  # type: ignore[arg-type]
    assert _hit_titles(narrowed) == ["Storm 5", "Storm 3", "Storm 1"]
    current = narrowed.find(".//main/ul/li/a[@aria-current]")
    assert current is not None and current.text == "weather"
    every = [a for a in narrowed.iter("a") if a.text in ("Every category", "Search every category")]
    assert every and all(_query(a.get("href", "")) == {"q": ["storm"]} for a in every)


async def test_no_results_say_so_plainly(site: Client) -> None:
    """A search that finds nothing answers 200 with a sentence saying so and the search box."""
    await _seed(site, 2)
    doc = await page(site, "/search?q=volcano", headers=HTML)
    main = doc.find(".//main")
    assert main is not None and main.find(".//ol") is None
    assert "No published article matches every word" in main.text_content()
    assert main.find(".//input[@name='q']").get("value") == "volcano"  # type: ignore[union-attr]


async def test_the_search_page_without_a_query_is_the_search_box(site: Client) -> None:
    """/search in a browser, with no q, is the empty search box (JSON clients still get 400)."""
    doc = await page(site, "/search", headers={"Accept": BROWSER})
    assert doc.findtext(".//h1") == "Search"
    assert doc.find(".//main//form[@action='/search']//input[@name='q']") is not None
    assert (await site.get("/search")).status == 400


@pytest.mark.parametrize(
    "query",
    ["/search?q=storm&first=0", "/search?q=storm&first=51", "/search?q=storm&first=x",
     "/search?q=storm&after=nonsense", "/search?q=storm&after=W10%3D",
     "/search?q=storm&after=WzAsMCwxZTMwMF0%3D", "/search?q=sto*&category=Not%20a%20slug",
     "/search?q=b*", "/search?q=", "/search?q=-storm", "/search?q=storm&before=nonsense"],
)  # fmt: skip
async def test_bad_parameters_are_400_pages_that_name_the_problem(site: Client, query: str) -> None:
    """The same checks as the JSON path: a 400 HTML page whose text carries the JSON's message."""
    await _seed(site, 1)
    url = URL(query, encoded=True)
    doc = await page(site, str(url), status=400, headers=HTML)
    reply = await site.get(url.without_query_params("before") if "before" in query else url)
    if reply.status == 400:  # the JSON path knows no `before`: it searches
        message = (await reply.json())["errors"][0]["message"]
        assert message in doc.find(".//main").text_content()  # type: ignore[union-attr]
    assert doc.findtext(".//h1") == "The search could not be run"


async def test_after_and_before_together_are_a_400(site: Client) -> None:
    """A page is asked for by one cursor: both at once is a 400 page that says so."""
    await _seed(site)
    first = await page(site, "/search?q=storm&first=5", headers=HTML)
    cursor = _query(first.find(".//a[@rel='next']").get("href", ""))["after"][0]  # type: ignore[union-attr]
    doc = await page(
        site, f"/search?q=storm&after={cursor}&before={cursor}", status=400, headers=HTML
    )
    assert "not both" in doc.find(".//main").text_content()  # type: ignore[union-attr]


async def test_a_search_the_views_cannot_answer_yet_is_a_503_page(site: Client) -> None:
    """Newsroom-Min-Position beyond the head: a 503 page with Retry-After, in HTML."""
    response = await site.get(
        "/search", params={"q": "storm"}, headers={**HTML, "Newsroom-Min-Position": "99"}
    )
    assert response.status == 503 and response.content_type == "text/html"
    assert response.headers["Retry-After"] == "1"
    assert "did not reach 99" in html.fromstring(await response.text()).text_content()


async def test_bidirectional_overrides_are_not_echoed(site: Client) -> None:
    """U+202E and its kin would make the echoed query (and the site's name after it in the
    title) read as something else, e.g. a phishing line on a link to the real site."""
    await _seed(site, 2)
    asked = "\u202emoc.elpmaxe ta drowssap ruoy teser\u2066x\u2069"
    doc = await page(site, str(URL("/search").with_query(q=asked)), headers=HTML)
    for text in (doc.findtext(".//h1"), doc.findtext(".//title")):
        assert text is not None and "moc.elpmaxe" in text
        assert not set(text) & {"\u202e", "\u2066", "\u2069"}, repr(text)
