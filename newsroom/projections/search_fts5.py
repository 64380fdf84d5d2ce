"""A `SearchIndex` on SQLite FTS5, in memory (https://www.sqlite.org/fts5.html).

Titles and bodies are tokenized by `unicode61` with diacritics removed ("cafe" finds "café")
and stemmed by `porter` ("rallies" finds "rally"). Hits are ranked by BM25 with a title match
weighing ten times a body match; equal scores go newest first. Parsed terms are written into
FTS5's query syntax here, each one as a quoted string, so nothing a reader types is ever
read as an operator.
"""

from __future__ import annotations

import hashlib
import html
import os
import sqlite3
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsroom.errors import ValidationError
from newsroom.projections.articles import ArticleView
from newsroom.projections.search import Hit, Results, SortKey
from newsroom.projections.search_query import Query, Term

TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0
SNIPPET_TOKENS = 24
# Private-use characters mark matches inside snippets; they are removed from indexed text, so a
# marker in a snippet is always ours and the rest can be escaped before the marks become <mark>.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKERS = str.maketrans({_OPEN: " ", _CLOSE: " "})
# The full-text table holds only the text; what a hit sorts or is counted by (category, time)
# lives in a small table beside it, cheap to read for every match, unlike the text's rows.
_SCHEMA = [
    """CREATE VIRTUAL TABLE docs USING fts5(
        title, body, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '3'
    )""",
    "CREATE TABLE meta (id INTEGER PRIMARY KEY, category TEXT NOT NULL, newest REAL NOT NULL)",
]
COMMIT_EVERY = 1_000  # writes per transaction: FTS5 turns each commit into a new index segment
# Ranking and counting read every match they cover. A search matching more than this many
# articles covers only the newest of them (highest ids): in a newsroom that is what a reader of a
# very broad search wants, and it keeps every search's cost bounded. Results say when it happened.
WINDOW = 1_000
# A search runs on the event loop: one that takes longer than this is stopped and refused, so
# a few broad searches cannot stall every other reader.
TIME_BUDGET = 0.1  # seconds a search may hold the event loop (matching and ranking)
SAVE_STEP = 256  # pages (of 4 KiB) a checkpoint's copy takes at a time; a search waits for one
FLUSH_STEPS = 1  # steps between two flushes of the copy to disk
STEP_REST = 0.001  # seconds the copy rests after each step (a step takes about as long)
_RANK = f"bm25(docs, {TITLE_WEIGHT}, {BODY_WEIGHT})"


class Fts5Index:
    """Published articles in an in-memory FTS5 table; rowid is the article id.

    Used from the event loop only, except `save` and `load`, which a checkpoint runs on a
    worker thread while nothing else writes (SQLite serializes calls on one connection)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._writes = 0  # since the last commit
        self._indexed: set[int] = set()  # ids in the index: a new article needs no delete first

    def put(self, article: ArticleView) -> None:
        assert article.published_at is not None  # only published articles are searchable
        self.remove(article.id)
        self._write()
        self._indexed.add(article.id)
        text = (article.title.translate(_MARKERS), article.body.translate(_MARKERS))
        self._db.execute(
            "INSERT INTO docs (rowid, title, body) VALUES (?, ?, ?)", (article.id, *text)
        )
        self._db.execute(
            "INSERT INTO meta (id, category, newest) VALUES (?, ?, ?)",
            (article.id, article.category, -article.published_at.timestamp()),
        )

    def remove(self, article_id: int) -> None:
        if article_id not in self._indexed:
            return
        self._indexed.discard(article_id)
        self._write()
        self._db.execute("DELETE FROM docs WHERE rowid = ?", (article_id,))
        self._db.execute("DELETE FROM meta WHERE id = ?", (article_id,))

    def _write(self) -> None:
        """Group writes into transactions (a replay writes thousands in a row)."""
        if self._writes == 0:
            self._db.execute("BEGIN")
        self._writes += 1
        if self._writes >= COMMIT_EVERY:
            self._commit()

    def _commit(self) -> None:
        if self._writes:
            self._db.execute("COMMIT")
            self._writes = 0

    def flush(self) -> None:
        self._commit()

    def save(self, path: Path) -> None:
        # SQLite's backup API lets go of the interpreter while it copies pages, and takes the
        # connection for one step at a time, so a search on the loop waits for a step at most.
        # What it wrote goes to disk every few steps, so no large backlog builds up for a
        # final fsync to write while the log's own commits wait behind it.
        target = sqlite3.connect(path)
        steps = 0

        def flush(status: int, remaining: int, total: int) -> None:
            nonlocal steps
            steps += 1
            time.sleep(STEP_REST)  # leave the CPU to the rest of the process for a moment
            if steps % FLUSH_STEPS == 0:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)

        try:
            self._db.backup(target, pages=SAVE_STEP, progress=flush, sleep=0.001)
        finally:
            target.close()

    def load(self, path: Path) -> None:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            source.backup(self._db)
        finally:
            source.close()
        self._indexed = {article_id for (article_id,) in self._db.execute("SELECT id FROM meta")}

    def search(
        self, query: Query, category: str | None, first: int, after: SortKey | None
    ) -> Results:
        self._commit()  # searches read committed segments, not a large pending buffer
        expression = fts5_expression(query)
        with self._time_budget():
            matches = self._window(expression)
            covered = matches[:WINDOW]
            facets = Counter(match[3] for match in covered)
            keys = sorted(
                (score, newest, -article_id)
                for score, newest, article_id, in_category in covered
                if category is None or in_category == category
            )
            page = keys[bisect_right(keys, after) if after is not None else 0 :][: first + 1]
            snippets = self._snippets(expression, [-key[2] for key in page[:first]])
        hits = [Hit(-key[2], -key[0], snippets.get(-key[2], ""), key) for key in page[:first]]
        more, exact = len(page) > first, len(matches) <= WINDOW
        return Results(hits, len(keys), dict(facets), more=more, exact=exact)

    def _window(self, expression: str) -> list[tuple[float, float, int, str]]:
        """The newest WINDOW + 1 matches (score, -published, id, category), in one pass: FTS5
        walks its lists newest id first and stops there. Counting, faceting and ranking then
        happen on these rows, not by running the match again for each."""
        return self._db.execute(
            f"SELECT {_RANK}, m.newest, docs.rowid, m.category"
            " FROM docs JOIN meta AS m ON m.id = docs.rowid"
            " WHERE docs MATCH ? ORDER BY docs.rowid DESC LIMIT ?",
            (expression, WINDOW + 1),
        ).fetchall()

    @contextmanager
    def _time_budget(self) -> Iterator[None]:
        deadline = time.perf_counter() + TIME_BUDGET
        self._db.set_progress_handler(lambda: time.perf_counter() > deadline, 1_000)
        try:
            yield
        except sqlite3.OperationalError as e:
            if "interrupt" not in str(e):
                raise
            raise ValidationError(
                "the search matches too much to rank in time; add words or use fewer prefixes"
            ) from None
        finally:
            self._db.set_progress_handler(None, 0)

    def _snippets(self, expression: str, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = self._db.execute(
            f"SELECT rowid, snippet(docs, -1, ?, ?, '…', {SNIPPET_TOKENS}) FROM docs"
            f" WHERE docs MATCH ? AND rowid IN ({', '.join('?' * len(ids))})",
            (_OPEN, _CLOSE, expression, *ids),
        )
        return {article_id: _marked(text) for article_id, text in rows}

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        self._commit()
        rows = self._db.execute(
            "SELECT docs.rowid, title, body, category, newest"
            " FROM docs JOIN meta ON id = docs.rowid ORDER BY docs.rowid"
        )
        for row in rows:
            digest.update(repr(row).encode())
        return digest.hexdigest()


def fts5_expression(query: Query) -> str:
    """The query in FTS5 syntax: wanted terms ANDed, excluded ones removed with NOT."""
    wanted = " AND ".join(_quoted(t) for t in query.wanted)
    if not query.unwanted:
        return wanted
    return f"({wanted}) NOT ({' OR '.join(_quoted(t) for t in query.unwanted)})"


def _quoted(term: Term) -> str:
    """A term as an FTS5 string (quotes doubled inside), which FTS5 never parses as syntax."""
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def _marked(snippet: str) -> str:
    """The snippet HTML-escaped, with FTS5's match markers turned into <mark> elements."""
    return html.escape(snippet).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
