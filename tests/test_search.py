"""Search: the query parser (pure), and the search view fed with event lists through the dispatcher."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from newsroom.errors import ValidationError
from newsroom.events import Event
from newsroom.projections import search_fts5
from newsroom.projections.articles import ArticlesProjection, PublishedText
from newsroom.projections.base import Dispatcher, Projector
from newsroom.projections.search import Results, SearchProjection
from newsroom.projections.search_fts5 import Fts5Index, fts5_expression
from newsroom.projections.search_query import QUERY_MAX, Term, parse
from tests.factories import (
    T0,
    article_created,
    draft_created,
    published,
    recorded_log,
    retracted,
    updated,
)

FILLER = [  # so that the words searched for are rare, as in a real archive (BM25 needs that)
    article_created(100 + n, T0 - timedelta(days=1), title=f"Filler {n}", body=f"Other news {n}.")
    for n in range(20)
]


class Searcher:
    """The articles and search views, dispatched together as newsroom does."""

    def __init__(self, *events: Event) -> None:
        self.articles = ArticlesProjection()
        self.view = SearchProjection(self.articles, Fts5Index())
        projectors = [Projector(self.articles), Projector(self.view)]
        self.dispatcher = Dispatcher(projectors, subscribe=None)  # type: ignore[arg-type]
        self.events: list[Event] = []
        self.add(*FILLER, *events)

    def add(self, *events: Event) -> None:
        log = recorded_log(*self.events, *events)
        self.events += events
        self.dispatcher.dispatch(log[len(log) - len(events) :])

    def __call__(self, text: str, category: str | None = None, first: int = 10) -> Results:
        return self.view.index.search(parse(text), category, first, None)

    def ids(self, text: str, category: str | None = None) -> list[int]:
        return [hit.article_id for hit in self(text, category).hits]


def story(article_id: int, minutes: int = 0, **fields: str) -> Event:
    return article_created(article_id, T0 + timedelta(minutes=minutes), **fields)


# --- the parser ---------------------------------------------------------------------------------


def test_the_parser_understands_words_phrases_prefixes_and_exclusions() -> None:
    """Words, a quoted phrase, prefix*, -word and -"phrase" become terms; the rest is literal."""
    assert parse('rates "central bank" infla* -sport -"world cup"').terms == (
        Term("rates"),
        Term("central bank", phrase=True),
        Term("infla", prefix=True),
        Term("sport", excluded=True),
        Term("world cup", phrase=True, excluded=True),
    )


@pytest.mark.parametrize(
    "text",
    ['"unbalanced quote', "(parens) AND OR NOT", "NEAR(a b, 3)", "title:rates", "a\x00b\x1fc",
     "**", "x*y*", '""""', "-", "rates -", "'; DROP TABLE docs; --", "^rates", "{title body}:x"],
)  # fmt: skip
def test_hostile_text_becomes_quoted_terms_never_syntax(text: str) -> None:
    """Whatever is typed, every term reaches FTS5 as a quoted string (or the search is refused)."""
    try:
        query = parse(text)
    except ValidationError:
        return
    expression = fts5_expression(query)
    for term in query.terms:
        assert '"' + term.text.replace('"', '""') + '"' in expression
    Fts5Index().search(query, None, 10, None)  # FTS5 accepts it


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "no words"), ("   ", "no words"), ("*", "no words"), ("-rates", "excluded words alone"),
     ("x" * (QUERY_MAX + 1), "limit is"), (" ".join(["w"] * 17), "terms")],
)  # fmt: skip
def test_searches_without_words_or_too_big_are_refused_by_name(text: str, problem: str) -> None:
    """Nothing to look for, only exclusions, 500+ characters, 16+ terms: a ValidationError."""
    with pytest.raises(ValidationError, match=problem):
        parse(text)


# --- the view ---------------------------------------------------------------------------------


def test_stemming_finds_other_forms_of_a_word() -> None:
    """'rallies' finds 'rally' and 'rallied' (porter), and back."""
    search = Searcher(story(1, title="Markets rally"), story(2, body="Prices rallied at noon"))
    assert sorted(search.ids("rallies")) == [1, 2]
    assert sorted(search.ids("rally")) == [1, 2]


def test_diacritics_fold_both_ways() -> None:
    """'cafe' finds 'café' and 'café' finds 'cafe'."""
    search = Searcher(story(1, title="Le café du coin"), story(2, body="A cafe opens"))
    assert sorted(search.ids("cafe")) == [1, 2]
    assert sorted(search.ids("CAFÉ")) == [1, 2]


def test_a_phrase_needs_the_words_together_and_words_need_all() -> None:
    """ "central bank" needs the words side by side; central bank needs both, anywhere."""
    search = Searcher(
        story(1, body="The central bank raised rates."),
        story(2, body="The bank in the central square closed."),
        story(3, body="A central heating story."),
    )
    assert search.ids('"central bank"') == [1]
    assert sorted(search.ids("central bank")) == [1, 2]


def test_prefix_and_exclusion() -> None:
    """infla* finds inflation and inflated; -sport drops what mentions sport."""
    search = Searcher(
        story(1, body="Inflation is up."),
        story(2, body="Prices inflated by sport events."),
        story(3, body="Deflation talk."),
    )
    assert sorted(search.ids("infla*")) == [1, 2]
    assert search.ids("infla* -sport") == [1]


def test_category_filter_and_facets() -> None:
    """The filter narrows hits and total; facets still count every category's matches."""
    search = Searcher(
        story(1, category="business", body="Storm hits ports"),
        story(2, category="weather", body="Storm warning"),
        story(3, category="weather", body="Storm passes"),
    )
    results = search("storm", category="weather")
    assert sorted(h.article_id for h in results.hits) == [2, 3]
    assert results.total == 2
    assert results.facets == {"business": 1, "weather": 2}


def test_a_title_match_outranks_a_body_match_and_ties_go_newest_first() -> None:
    """BM25 weighs the title above the body; equal scores are ordered newest first."""
    search = Searcher(
        story(1, 0, title="Daily roundup", body="Harbour reopens after the storm."),
        story(2, 1, title="Harbour reopens", body="Ships move again after the storm."),
        story(3, 2, title="Same words", body="Identical body text here"),
        story(4, 3, title="Same words", body="Identical body text here"),
    )
    assert search.ids("harbour") == [2, 1]
    assert search("harbour").hits[0].score > search("harbour").hits[1].score
    assert search.ids("identical") == [4, 3]


def test_drafts_are_never_found_until_published() -> None:
    """A draft is invisible; publishing it makes it searchable."""
    search = Searcher(draft_created(1, T0, title="Secret merger plans"))
    assert search.ids("merger") == []
    search.add(published(1, T0 + timedelta(hours=1)))
    assert search.ids("merger") == [1]


def test_updates_reindex_and_retractions_remove_at_once() -> None:
    """After an update the old words are gone and the new found; after a retraction, nothing."""
    search = Searcher(story(1, title="Old headline"))
    search.add(updated(1, T0, title="Fresh headline"))
    assert (search.ids("old"), search.ids("fresh")) == ([], [1])
    search.add(retracted(1, T0))
    assert search.ids("fresh") == []


def test_snippets_mark_matches_and_escape_everything_else() -> None:
    """The snippet is safe HTML: the article's own markup is escaped, matches are in <mark>."""
    search = Searcher(story(1, body="<script>alert(1)</script> & the storm \ue000 came"))
    snippet = search("storm").hits[0].snippet
    assert "<mark>storm</mark>" in snippet
    assert "&lt;script&gt;" in snippet and "&amp;" in snippet and "<script>" not in snippet
    assert snippet.count("<mark>") == snippet.count("</mark>") == 1


def test_pages_follow_each_other_without_repeats_or_gaps() -> None:
    """Paging by cursor through 45 matches, 10 at a time, visits each exactly once, in order."""
    search = Searcher(
        *[story(n, n % 7, body=f"Storm report {'storm ' * (n % 5)}") for n in range(1, 46)]
    )
    everything = [h.article_id for h in search("storm", first=50).hits]
    seen, after = [], None
    while True:
        page = search.view.index.search(parse("storm"), None, 10, after)
        seen += [h.article_id for h in page.hits]
        if not page.more:
            break
        after = page.hits[-1].key
    assert seen == everything and len(seen) == 45


def test_pages_back_mirror_the_pages_forward() -> None:
    """Paging back with `before` from the last page gives the same pages in reverse, and
    `earlier` is true on every page but the first (forward and back alike)."""
    search = Searcher(
        *[story(n, n % 7, body=f"Storm report {'storm ' * (n % 5)}") for n in range(1, 26)]
    )
    index, query = search.view.index, parse("storm")
    forward, after = [], None
    while True:
        page = index.search(query, None, 10, after)
        forward.append(([h.article_id for h in page.hits], page.earlier, page.more))
        if not page.more:
            break
        after = page.hits[-1].key
    assert [len(ids) for ids, _, _ in forward] == [10, 10, 5]
    assert [earlier for _, earlier, _ in forward] == [False, True, True]
    backward, before = [], page.hits[0].key
    while True:
        page = index.search(query, None, 10, None, before=before)
        backward.append(([h.article_id for h in page.hits], page.earlier, page.more))
        if not page.earlier:
            break
        before = page.hits[0].key
    assert backward == [(forward[1][0], True, True), (forward[0][0], False, True)]


def test_a_search_over_its_time_budget_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that cannot finish within the budget stops with a ValidationError (a 400)."""
    search = Searcher(*[story(n, body="storm " * 50) for n in range(1, 300)])
    monkeypatch.setattr(search_fts5, "TIME_BUDGET", -1.0)
    with pytest.raises(ValidationError, match="matches too much"):
        search("storm")


def test_snippets_out_of_time_leave_the_hits_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The snippets have a time budget of their own: once it is spent, the page's hits are
    still answered (the reply gives the body's start instead, web/search.py), rather than the
    whole search refused, and no transaction is left open for the next search."""
    body = " ".join(f"rates{n}" for n in range(20_000))  # a page that takes long to fill
    searcher = Searcher(*[story(n, title="Rates rise", body=body) for n in range(1, 11)])
    monkeypatch.setattr(search_fts5, "SNIPPET_BUDGET", -1.0)  # spent before it begins
    results = searcher("rates")
    assert len(results.hits) == 10 and all(hit.snippet == "" for hit in results.hits)
    monkeypatch.setattr(search_fts5, "SNIPPET_BUDGET", 10.0)
    assert all("<mark>Rates</mark>" in hit.snippet for hit in searcher("rates").hits)


def test_a_snippet_is_made_from_the_start_of_a_long_body() -> None:
    """A snippet costs the square of the matches in its text (a dense 10,000-byte body took
    110 ms), so it is made from the title and the body's first SNIPPET_TEXT bytes, cut after
    the last word in them, or where a character starts if no word ends near there; a match
    only past them gets no snippet."""
    cut = search_fts5.SNIPPET_TEXT
    words = "storm " + "catastrophe " * cut  # the cut falls inside a word
    glyphs = "storms " + "é" * cut  # 7 bytes, then two a character: the cut splits one
    late = "calm " * (cut // 5) + "tempest"
    searcher = Searcher(
        story(1, title="One", body=words), story(2, title="Two", body=glyphs),
        story(3, title="Three", body=late),
    )  # fmt: skip
    title, text = searcher.view.index._snippet_text(1)
    assert title == b"One" and len(text) <= cut and text.endswith(b" catastrophe")
    _, text = searcher.view.index._snippet_text(2)
    assert len(text) == cut - 1 and text.decode().startswith("storms é")
    snippets = {hit.article_id: hit.snippet for hit in searcher("storm").hits}
    assert snippets[1].startswith("<mark>storm</mark> catastrophe")
    assert snippets[2].startswith("<mark>storms</mark> ééé")
    (hit,) = searcher("tempest").hits
    assert (hit.article_id, hit.snippet) == (3, "")


def test_a_snippet_is_a_window_of_words_with_its_marks_in_pairs() -> None:
    """The window around the first match: SNIPPET_TOKENS words from a few before it, '…' where
    text was left out, and a marked phrase cut by the window still closed (or opened)."""
    o, c = "\ue000", "\ue001"
    words = [f"w{n}" for n in range(100)]
    text = " ".join([*words[:50], f"{o}hit", *words[50:53], f"here{c}", *words[53:]])
    window = search_fts5._window(text)
    shown = window.removeprefix("…").removesuffix("…").split()
    assert window.startswith("…") and window.endswith("…")
    assert len(shown) == search_fts5.SNIPPET_TOKENS and shown[search_fts5._LEAD] == f"{o}hit"
    long_phrase = " ".join([*words[:5], o + " ".join(words[5:95]) + c])
    window = search_fts5._window(long_phrase)
    assert window.count(o) == window.count(c) == 1 and window.index(o) < window.index(c)
    assert search_fts5._window(" ".join(words)) == ""  # no match
    assert search_fts5._window("x" * 5_000 + o + "hit" + c + "y" * 5_000) == ""  # one huge word
    assert search_fts5._best_window(["no match", f"a {o}b{c} {o}c{c}"]) == f"a {o}b{c} {o}c{c}"
    assert search_fts5._best_window([f"{o}t{c}", f"{o}b{c}"]) == f"{o}t{c}"  # a tie: the title


def test_a_query_repeating_a_word_over_a_body_of_that_word_gets_its_snippet() -> None:
    """16 times the same word over 5,000 bytes of it: FTS5's snippet() took 8 s on this (the
    square of the matches times the square of the terms, in one call); the window is cut from
    highlight(), whose work grows with the text."""
    searcher = Searcher(story(1, title="a " * 10, body="a " * 2_600))
    (hit,) = searcher(" ".join(["a"] * 16)).hits
    shown = hit.snippet.removesuffix("…").split()
    assert len(shown) == search_fts5.SNIPPET_TOKENS
    assert all(word == "<mark>a</mark>" for word in shown)


def test_snippets_go_to_the_best_hits_first_while_their_time_lasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Snippets are made one hit at a time in rank order, the time checked before each: when
    it runs out, the best hits have theirs and every snippet made is kept."""
    searcher = Searcher(*[story(n, title=f"Storm {n}", body="Storm news.") for n in range(1, 6)])
    ranked = [hit.article_id for hit in searcher("storm").hits]

    class Clock:  # 30 ms pass at each reading: the deadline, then a check before each hit
        now = 0.0

        @classmethod
        def perf_counter(cls) -> float:
            cls.now += 0.03
            return cls.now

    monkeypatch.setattr(search_fts5, "time", Clock)
    made = searcher.view.index._snippets(fts5_expression(parse("storm")), ranked)
    assert list(made) == ranked[:1]  # 30 ms in: the first; 60 ms: past the 50 ms budget


def test_after_a_bulk_load_a_commit_that_fails_leaves_the_index_sound() -> None:
    """The bulk load runs without a rollback journal; the writes after it have one again, so a
    commit the disk cannot take (here SQLite's page limit) is undone whole: the index stays
    sound and keeps what it had."""
    index = Fts5Index()
    index.load([PublishedText(n, b"Rates rise", b"Markets moved.", "business", float(n))
                for n in range(1, 101)], lambda loaded: None)  # fmt: skip
    pages = index._db.execute("PRAGMA page_count").fetchone()[0]
    index._db.execute(f"PRAGMA max_page_count = {pages}")
    body = " ".join(f"word{n}" for n in range(5_000)).encode()
    index.put(PublishedText(101, b"Flood", body, "weather", 101.0))
    with pytest.raises(sqlite3.OperationalError, match="full"):
        index.flush()
    assert index._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert index.search(parse("rates"), None, 10, None).total == 100


def test_a_very_broad_search_covers_the_newest_matches_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past WINDOW matches, hits, total and facets come from the newest WINDOW, marked inexact;
    up to WINDOW they are exact."""
    search = Searcher(*[story(n, body="storm") for n in range(1, 21)])
    monkeypatch.setattr(search_fts5, "WINDOW", 5)
    results = search("storm", first=50)
    assert sorted(h.article_id for h in results.hits) == [16, 17, 18, 19, 20]
    assert (results.total, results.facets, results.exact) == (5, {"business": 5}, False)
    monkeypatch.setattr(search_fts5, "WINDOW", 20)
    results = search("storm", first=50)
    assert (results.total, results.exact) == (20, True)


def test_a_snippet_table_that_fails_leaves_the_hits_without_snippets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Out of memory, say, in the snippets' table: the search still answers its hits, without
    snippets (the reply shows each body's start), and the failure is logged; never a 500."""
    searcher = Searcher(*[story(n, title=f"Storm {n}") for n in range(1, 4)])

    class Failing:  # a connection whose every write fails; no transaction is ever open
        in_transaction = False

        def execute(self, sql: str, *args: object) -> object:
            if sql == "BEGIN":
                return None
            raise sqlite3.OperationalError("out of memory")

        def executemany(self, sql: str, rows: object) -> object:
            raise sqlite3.OperationalError("out of memory")

    searcher.view.index._page = Failing()  # type: ignore[assignment]
    results = searcher("storm")
    assert len(results.hits) == 3 and all(hit.snippet == "" for hit in results.hits)
    assert "search snippets could not be made: out of memory" in caplog.text
