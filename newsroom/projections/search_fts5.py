"""A `SearchIndex` on SQLite FTS5 (https://www.sqlite.org/fts5.html), in a private temporary file.

Titles and bodies are tokenized by `unicode61` with diacritics removed ("cafe" finds "café")
and stemmed by `porter` ("rallies" finds "rally"). Hits are ranked by BM25 with a title match
weighing ten times a body match; equal scores go newest first. Parsed terms are written into
FTS5's query syntax here, each one as a quoted string, so nothing a reader types is ever
read as an operator.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import sqlite3
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from newsroom.errors import Busy, ConfigError, ValidationError
from newsroom.projections.search import Document, Hit, Results, SortKey
from newsroom.projections.search_query import Query, Term

log = logging.getLogger(__name__)
TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0
SNIPPET_TOKENS = 24
# A snippet is the SNIPPET_TOKENS words around the first match in the title or the body (the one
# with more matches in its window), cut out here from FTS5's highlight() of each. FTS5's own
# snippet() costs the square of the matches in its text times the square of the query's terms,
# in one call SQLite cannot interrupt: 8 s for 16 terms over a 5,000-byte body of one word
# repeated, where highlight() took 4 ms (docs/benchmarks.md, §7). The body is highlighted up to
# its first SNIPPET_TEXT bytes (cut after a word; the whole of most articles), one hit at a
# time in rank order until SNIPPET_BUDGET seconds have passed. A hit without a snippet (its
# match lies further on, or the time ran out) shows its body's start instead (web/search.py).
SNIPPET_TEXT = 5_000
SNIPPET_BUDGET = 0.05
# Private-use characters mark matches inside snippets; they are removed from indexed text, so a
# marker in a snippet is always ours and the rest can be escaped before the marks become <mark>.
_OPEN, _CLOSE = "\ue000", "\ue001"
# The full-text table is contentless (content=''): it holds the index of the words, not the text,
# which the articles view holds already (a second copy was about 150 MB on the 1,000,000-event
# log). The index keeps a reference to the text it indexed, to remove it again (FTS5's 'delete'
# needs the old values) and for snippets, which a small table built per search gives. What a hit
# sorts or is counted by (category, time) lives in a small table beside it, cheap to read for
# every match. https://www.sqlite.org/fts5.html#contentless_tables
_COLUMNS = "title, body, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '3'"
_SCHEMA = [
    f"CREATE VIRTUAL TABLE docs USING fts5({_COLUMNS}, content = '')",
    "CREATE TABLE meta (id INTEGER PRIMARY KEY, category TEXT NOT NULL, newest REAL NOT NULL)",
]
# A page of hits, for snippets: on a connection of its own, in memory (a few articles at a time),
# so that a search never opens a transaction on the index, whose writes may not be committed.
_PAGE_SCHEMA = f"CREATE VIRTUAL TABLE page USING fts5({_COLUMNS})"
COMMIT_EVERY = 1_000  # writes per transaction: FTS5 turns each commit into a new index segment
# A bulk load (the build after a replay) writes this many articles per transaction, with FTS5's
# incremental merging off: it would otherwise merge segments over and over as they pile up. The
# load ends with one merge of them all. https://www.sqlite.org/fts5.html#the_automerge_option
LOAD_EVERY = 10_000
AUTOMERGE = 4  # FTS5's default, restored after a load
# Ranking and counting read every match they cover. A search matching more than this many
# articles covers only the newest of them (highest ids): in a newsroom that is what a reader of a
# very broad search wants, and it keeps every search's cost bounded. Results say when it happened.
WINDOW = 1_000
# A search runs on the event loop: one that takes longer than this is stopped and refused, so
# a few broad searches cannot stall every other reader.
TIME_BUDGET = 0.1  # seconds a search may hold the event loop (matching and ranking)
PROGRESS_STEPS = 100  # steps of SQLite's machine between two looks at the time
# Pages (of 4 KiB) a checkpoint's copy takes at a time, each step flushed to disk before the next:
# a search waits for one step at most, and so does a log commit that meets a flush. At 256 pages
# (1 MiB) the writes due during the copy had a p99 of 5 ms against 2 ms (docs/benchmarks.md, 8).
SAVE_STEP = 64
_RANK = f"bm25(docs, {TITLE_WEIGHT}, {BODY_WEIGHT})"
# The index lives in a temporary file that SQLite makes (under $SQLITE_TMPDIR, $TMPDIR or
# /var/tmp) and deletes at once, so nothing is left behind even after a kill -9. Its pages are
# kept by the operating system's file cache, which gives them back under memory pressure,
# instead of in the process: in memory, it was 180 MB of the server's RSS on the 1,000,000-event
# log. SQLite's own cache of it is bounded; the file is never flushed to disk (a crash loses
# nothing: the index is rebuilt from the log, or loaded from a checkpoint).
CACHE_KIB = 16 * 1024
_ON_DISK = [
    f"PRAGMA cache_size = -{CACHE_KIB}",
    # The rollback journal in memory, not none: a commit that fails (the disk is full) is
    # rolled back whole, and the index stays sound (without a journal it would be malformed).
    "PRAGMA journal_mode = MEMORY",
    "PRAGMA synchronous = OFF",
]


class Fts5Index:
    """Published articles in an FTS5 table; rowid is the article id.

    Used from the event loop only, except `load` (the bulk build after a replay: search.py) and
    `save` and `restore`, which a checkpoint runs on a worker thread while nothing else writes
    (SQLite serializes calls on one connection)."""

    def __init__(self, in_memory: bool = False) -> None:
        """`in_memory`: keep the whole index in the process instead (tests, benchmarks)."""
        name = ":memory:" if in_memory else ""  # "": a temporary file, deleted when closed
        self._db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        if not in_memory:
            _make_the_file_now(self._db)
        for statement in [] if in_memory else _ON_DISK:
            self._db.execute(statement)
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._page = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._page.execute(_PAGE_SCHEMA)
        self._writes = 0  # since the last commit
        self._texts: dict[int, Text] = {}
        """The text indexed under each id: the articles view's own bytes, not a copy. Once the
        search view is caught up it is, for every id in `meta`, exactly what the articles view's
        `published_text` gives (markers blanked), so a saved index can rebuild it from there
        rather than store the text a second time."""

    def put(self, document: Document) -> None:
        self.remove(document.article_id)
        self._write()
        row = _text(document)
        self._db.execute(_INSERT_TEXT.format(table="docs"), row)
        self._db.execute(_INSERT_META, _meta(document))
        self._texts[document.article_id] = row[1:]

    def load(self, documents: Sequence[Document], loaded: Callable[[int], None]) -> None:
        """Index articles not indexed yet, many per transaction, merging segments once at the
        end; `loaded(n)` after each transaction (it may raise to stop the load there)."""
        self._commit()
        self._db.execute("INSERT INTO docs (docs, rank) VALUES ('automerge', 0)")
        # No rollback journal while loading: the final merge rewrites the whole index in one
        # transaction, and the journal would hold a copy of each page it reuses (about 40 MB
        # more at the peak on the benchmark log). A load that fails stops the search view for
        # good (search_build.py), so nothing would be rolled back anyway.
        self._db.execute("PRAGMA journal_mode = OFF")
        try:
            for start in range(0, len(documents), LOAD_EVERY):
                chunk = documents[start : start + LOAD_EVERY]
                rows = [_text(document) for document in chunk]
                self._db.execute("BEGIN")
                self._db.executemany(_INSERT_TEXT.format(table="docs"), rows)
                self._db.executemany(_INSERT_META, map(_meta, chunk))
                self._db.execute("COMMIT")
                self._texts.update((article_id, (title, body)) for article_id, title, body in rows)
                loaded(len(chunk))
            self._db.execute("INSERT INTO docs (docs) VALUES ('optimize')")
        finally:
            if not self._db.in_transaction:  # else the load failed, and the view stops
                self._db.execute(f"INSERT INTO docs (docs, rank) VALUES ('automerge', {AUTOMERGE})")
                self._db.execute("PRAGMA journal_mode = MEMORY")  # as _ON_DISK, and :memory:'s

    def remove(self, article_id: int) -> None:
        text = self._texts.pop(article_id, None)
        if text is None:
            return  # not indexed: a new article needs no delete first
        self._write()
        self._db.execute(_DELETE_TEXT, (article_id, *text))
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
            self._writes = 0
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:  # the disk is full, say: undo all of it; the view then stops
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def flush(self) -> None:
        self._commit()

    def save(self, path: Path, between_steps: Callable[[], None]) -> None:
        # SQLite's backup API lets go of the interpreter while it copies pages, and takes the
        # connection for one step at a time, so a search on the loop waits for a step at most.
        # What each step wrote goes to disk before the next, so no large backlog builds up for
        # a final fsync to write while the log's own commits wait behind it.
        target = _overwritable(path)

        def flush(status: int, remaining: int, total: int) -> None:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
            between_steps()

        try:
            self._db.backup(target, pages=SAVE_STEP, progress=flush, sleep=0.001)
        finally:
            target.close()

    def restore(self, path: Path) -> None:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            source.backup(self._db)
        finally:
            source.close()

    def relink(self, text_of: Callable[[int], Document | None]) -> None:
        texts: dict[int, Text] = {}
        for (article_id,) in self._db.execute("SELECT id FROM meta"):
            if (document := text_of(article_id)) is None:
                raise ValueError(f"article {article_id} is indexed but not published")
            texts[article_id] = _text(document)[1:]
        self._texts = texts

    def search(
        self,
        query: Query,
        category: str | None,
        first: int,
        after: SortKey | None,
        before: SortKey | None = None,
    ) -> Results:
        # Nothing is committed first: a search reads the writes not yet committed as they stand
        # (one connection), and a commit that fails (a full disk) stops the search view where it
        # writes, never a search.
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
            if before is None:
                start = bisect_right(keys, after) if after is not None else 0
                end = min(start + first, len(keys))
            else:
                end = bisect_left(keys, before)
                start = max(0, end - first)
            page = keys[start:end]
        snippets = self._snippets(expression, [-key[2] for key in page])
        hits = [Hit(-key[2], -key[0], snippets.get(-key[2], ""), key) for key in page]
        more, exact = end < len(keys), len(matches) <= WINDOW
        return Results(hits, len(keys), dict(facets), more=more, exact=exact, earlier=start > 0)

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
        """Matching and ranking, stopped and refused past `TIME_BUDGET`. SQLite checks the time
        every `PROGRESS_STEPS` steps of its machine: one step may be a whole row of a match,
        and a row of a query of long phrases over a text dense with them took 6 ms."""
        deadline = time.perf_counter() + TIME_BUDGET
        self._db.set_progress_handler(lambda: time.perf_counter() > deadline, PROGRESS_STEPS)
        try:
            yield
        except sqlite3.Error as e:
            if "interrupt" in str(e):
                raise ValidationError(
                    "the search matches too much to rank in time; add words or use fewer prefixes"
                ) from None
            # Its temporary file could not be read (an I/O error): the reader may try again.
            log.error("the search index could not be read: %s", e)
            raise Busy("the search index cannot be read at the moment", retry_after=5) from None
        finally:
            self._db.set_progress_handler(None, 0)

    def _snippets(self, expression: str, ids: list[int]) -> dict[int, str]:
        """Snippets of the page's hits (`ids`, best first), from a table of just those articles,
        filled and emptied (rolled back) in one transaction: a snippet depends only on its own
        article's text. One hit at a time, while `SNIPPET_BUDGET` lasts; the rest get none, as
        do all if the table fails (a snippet is worth no error)."""
        if not ids:
            return {}
        deadline = time.perf_counter() + SNIPPET_BUDGET
        snippets: dict[int, str] = {}
        try:
            self._page.execute("BEGIN")
            page = [(article_id, *self._snippet_text(article_id)) for article_id in ids]
            self._page.executemany(_INSERT_TEXT.format(table="page"), page)
            for article_id in ids:
                if time.perf_counter() > deadline:
                    break
                found = self._page.execute(_HIGHLIGHT, (*_MARKS, *_MARKS, expression, article_id))
                if (row := found.fetchone()) is not None and (best := _best_window(row)):
                    snippets[article_id] = _marked(best)
        except sqlite3.Error as e:  # out of memory, say: the hits stand without their snippets
            log.error("search snippets could not be made: %s", e)
        finally:
            if self._page.in_transaction:
                self._page.execute("ROLLBACK")
        return snippets

    def _snippet_text(self, article_id: int) -> Text:
        """The article's title and the start of its body that a snippet is made from: up to
        `SNIPPET_TEXT` bytes, cut after the last whole word in them (or where a character
        starts, if none ends near there), so no match is made on part of a word."""
        title, body = self._texts[article_id]
        if len(body) > SNIPPET_TEXT:
            space = body.rfind(b" ", SNIPPET_TEXT - _WORD_MAX, SNIPPET_TEXT + 1)
            if space >= 0:
                body = body[:space]
            else:  # a character cut in two is left out
                body = body[:SNIPPET_TEXT].decode(errors="ignore").encode()
        return title, body

    def fingerprint(self) -> str:
        digest = hashlib.sha256()  # of what the index holds, committed or not
        for article_id, category, newest in self._db.execute(
            "SELECT id, category, newest FROM meta ORDER BY id"
        ):
            title, body = self._texts[article_id]
            row = (article_id, title.decode(), body.decode(), category, newest)
            digest.update(repr(row).encode())
        return digest.hexdigest()


def _make_the_file_now(db: sqlite3.Connection) -> None:
    """Make SQLite create the index's temporary file at once (it would when the index first
    outgrows its cache): a machine with no writable temporary directory is told at start, not
    by a search view that stops hours later."""
    try:
        db.execute("PRAGMA cache_size = 2")  # pages: the row below does not fit, and is written
        db.execute("BEGIN")
        db.execute("CREATE TABLE probe (x BLOB)")
        db.execute("INSERT INTO probe VALUES (zeroblob(65536))")
        db.execute("ROLLBACK")
    except sqlite3.Error as e:
        db.close()
        raise ConfigError(
            f"the search index needs a writable temporary directory ({e}): point TMPDIR at one"
        ) from None


def _overwritable(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` that a backup overwrites in place: no journal
    (the copy is checked by its checksum, and flushed by the caller), so the file keeps the
    disk space it has rather than a journal taking and freeing as much again."""
    try:
        return _unjournaled(sqlite3.connect(path))
    except sqlite3.DatabaseError:  # not a database (a damaged copy, say): start it afresh
        path.unlink(missing_ok=True)
        return _unjournaled(sqlite3.connect(path))


def _unjournaled(db: sqlite3.Connection) -> sqlite3.Connection:
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
    except sqlite3.Error:
        db.close()
        raise
    return db


# Text comes as UTF-8 bytes (as the articles view holds it) and is stored as TEXT: binding a
# Python str would make the sqlite3 module attach a UTF-8 copy to that string for its lifetime.
_INSERT_TEXT = (
    "INSERT INTO {table} (rowid, title, body) VALUES (?, CAST(? AS TEXT), CAST(? AS TEXT))"
)
_DELETE_TEXT = (  # FTS5's command to remove a row from a contentless table: its old values
    "INSERT INTO docs (docs, rowid, title, body)"
    " VALUES ('delete', ?, CAST(? AS TEXT), CAST(? AS TEXT))"
)
_HIGHLIGHT = (
    "SELECT highlight(page, 0, ?, ?), highlight(page, 1, ?, ?) FROM page"
    " WHERE page MATCH ? AND rowid = ?"
)
_MARKS = (_OPEN, _CLOSE)
_WORD = re.compile(r"\S+")
_LEAD = SNIPPET_TOKENS // 4  # words shown before the first match
_REACH = 40 * SNIPPET_TOKENS  # characters looked at around the first match for the window
_WORD_MAX = 200  # bytes back from a snippet text's end where a space is looked for
Text = tuple[bytes, bytes]
"""An indexed article's title and body, UTF-8."""
_INSERT_META = "INSERT INTO meta (id, category, newest) VALUES (?, ?, ?)"
_OPEN_UTF8, _CLOSE_UTF8 = _OPEN.encode(), _CLOSE.encode()


def _text(document: Document) -> tuple[int, bytes, bytes]:
    """The full-text row: the article's text without our snippet markers."""
    return document.article_id, _unmarked(document.title), _unmarked(document.body)


def _unmarked(text: bytes) -> bytes:
    """The text with our markers blanked (UTF-8 never has one character's bytes inside another's,
    so replacing bytes replaces characters). Nearly every text has none, and `replace` then
    hands back the text itself, without a copy."""
    return text.replace(_OPEN_UTF8, b" ").replace(_CLOSE_UTF8, b" ")


def _meta(document: Document) -> tuple[int, str, float]:
    """The row beside it: what hits sort and are counted by."""
    return document.article_id, document.category, -document.published


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


def _best_window(highlighted: Sequence[str]) -> str:
    """The window (`_window`) of the column with the most matches in it, the first on a tie;
    empty if no column has a match."""
    shown, best = 0, ""
    for text in highlighted:
        window = _window(text)
        if (matches := window.count(_OPEN)) > shown:
            shown, best = matches, window
    return best


def _window(text: str) -> str:
    """`SNIPPET_TOKENS` words of a highlighted text, from a few before its first match, cut
    where words start and end, with '…' where text was left out and the marks kept in pairs.
    The work is bounded: only `_REACH` characters around the first match are looked at."""
    at = text.find(_OPEN)
    if at < 0:
        return ""
    low, high = max(0, at - _REACH), at + 4 * _REACH
    spans = [word.span() for word in _WORD.finditer(text, low, high)]
    if low > 0:
        spans = spans[1:]  # it may begin inside a word
    if high < len(text):
        spans = spans[:-1]  # it may end inside one
    first = next((n for n, (_, end) in enumerate(spans) if end > at), None)
    if first is None:  # the match is inside a word longer than the characters looked at
        return ""
    begin = max(0, first - _LEAD)
    end = min(len(spans), begin + SNIPPET_TOKENS)
    start, stop = spans[begin][0], spans[end - 1][1]
    window = text[start:stop]
    opened, closed = window.find(_OPEN), window.find(_CLOSE)
    if closed >= 0 and (opened < 0 or closed < opened):  # it begins inside a marked phrase
        window = _OPEN + window
    if window.rfind(_OPEN) > window.rfind(_CLOSE):  # it ends inside one
        window += _CLOSE
    before = "…" if text[:start].strip() else ""
    after = "…" if text[stop:].strip() else ""
    return f"{before}{window}{after}"


def _marked(snippet: str) -> str:
    """The snippet HTML-escaped, with FTS5's match markers turned into <mark> elements."""
    return html.escape(snippet).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
