"""Benchmark: full-text search on 100,000 generated articles (index build rate, query latency).

The corpus: 100,000 published articles in 12 categories, titles of 6-12 words and bodies of
90-150 words (about 700-1,100 characters), drawn from a vocabulary of 30,000 made-up words with
Zipf-distributed frequencies (word of rank r appears with weight 1/r^1.07), as in real text.

(a) Index build during replay: the same `ArticleCreated` events dispatched through the real
    `Dispatcher` into the articles view alone, then into the articles view plus the search view
    (FTS5 in a temporary file, as the server keeps it; and, for comparison, in memory, as it was
    before issue 13's memory budget); the difference is what search adds to a replay.
    Articles/s for each.
(b) Query latency, in process, on the built index, through `search_query.parse` +
    `SearchIndex.search` (first page of 10, with the exact total and facets); p50/p90/p99/max
    over 2,000 queries of two words each, on both indexes:
    - topical words: two words of one random article, both outside the 100 commonest words
      (what people type: words they remember from a story, not "the" or "of");
    - text-like: drawn with the text's own Zipf frequencies, so function-word-like common words
      come up as often as in the articles (a harsh mix: many such queries match most articles);
    - the worst case: the two commonest words, matching nearly every article.
(c) The same queries through `GET /search` on the real aiohttp app (aiohttp's test server and
    client in this process, one request at a time), for the HTTP cost on top.

Run from the repo root:  python bench/search.py [--articles 100000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from uuid import uuid4

from machine import CpuWatch, report, table

from newsroom.events import ArticleCreated
from newsroom.projections.articles import ArticlesProjection
from newsroom.projections.base import Dispatcher, Projector
from newsroom.projections.search import SearchProjection
from newsroom.projections.search_fts5 import Fts5Index
from newsroom.projections.search_query import parse
from newsroom.store import Recorded

VOCABULARY = 30_000
ZIPF = 1.07
CATEGORIES = [f"section-{n}" for n in range(12)]
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ar", "en")]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Corpus:
    """Made-up words with Zipf frequencies, and a seeded random source to draw text from."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        words: set[str] = set()
        while len(words) < VOCABULARY:
            words.add("".join(self.random.choices(SYLLABLES, k=self.random.randint(1, 4))))
        self.words = sorted(words, key=lambda w: self.random.random())  # rank order, shuffled
        self.weights = list(accumulate(1 / rank**ZIPF for rank in range(1, VOCABULARY + 1)))

    def text(self, low: int, high: int) -> str:
        count = self.random.randint(low, high)
        return " ".join(self.random.choices(self.words, cum_weights=self.weights, k=count))

    def article(self, article_id: int) -> ArticleCreated:
        body = ".\n\n".join(self.text(30, 50) for _ in range(3)) + "."
        return ArticleCreated(
            article_id=article_id,
            title=self.text(6, 12).capitalize(),
            body=body.capitalize(),
            category=self.random.choice(CATEGORIES),
            author_id=1 + article_id % 50,
            author_name=f"Reporter {article_id % 50}",
            created_at=T0 + timedelta(seconds=article_id),
        )


def topical_pair(corpus: Corpus, article: ArticleCreated) -> str:
    """Two distinct words of the article, neither among the 100 commonest of the vocabulary."""
    common = set(corpus.words[:100])
    words = sorted({w.lower() for w in f"{article.title} {article.body}".replace(".", " ").split()})
    return " ".join(corpus.random.sample([w for w in words if w not in common], 2))


def recorded(events: list[ArticleCreated]) -> list[Recorded]:
    return [
        Recorded(n, f"article-{e.article_id}", 1, str(uuid4()), e, e.created_at)
        for n, e in enumerate(events, start=1)
    ]


def build(
    log: list[Recorded], with_search: bool, in_memory: bool = False
) -> tuple[float, Fts5Index, ArticlesProjection]:
    """Dispatch the log as a replay does (GC off, batches of 5,000); seconds taken."""
    articles = ArticlesProjection()
    index = Fts5Index(in_memory)
    projectors: list[Projector[Any]] = [Projector(articles)]
    if with_search:
        projectors.append(Projector(SearchProjection(articles, index)))
    dispatcher = Dispatcher(projectors, subscribe=None)  # type: ignore[arg-type]
    gc.disable()
    started = time.perf_counter()
    for start in range(0, len(log), 5_000):
        dispatcher.dispatch(log[start : start + 5_000])
    seconds = time.perf_counter() - started
    gc.enable()
    return seconds, index, articles


def percentiles(samples: list[float]) -> list[str]:
    ordered = sorted(samples)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return [f"{v * 1000:.2f}" for v in (cut[49], cut[89], cut[98], ordered[-1])]


def query_latency(index: Fts5Index, queries: list[str]) -> list[float]:
    samples = []
    for text in queries:
        started = time.perf_counter()
        index.search(parse(text), None, 10, None)
        samples.append(time.perf_counter() - started)
    return samples


async def http_latency(
    index: Fts5Index, articles: ArticlesProjection, queries: list[str]
) -> list[float]:
    """GET /search through the real app, its views swapped for the ones built above."""
    import tempfile

    from aiohttp.test_utils import TestClient, TestServer

    from newsroom.config import Settings
    from newsroom.web.app import NEWSROOM, create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(store=f"sqlite:///{folder}/db", demo=False))
        async with TestClient(TestServer(app)) as client:
            newsroom = app[NEWSROOM]
            newsroom.views.search.index = index
            newsroom.views.articles._rows = articles._rows  # read-only use: the hits' articles
            samples = []
            for text in queries:
                started = time.perf_counter()
                response = await client.get("/search", params={"q": text})
                await response.read()
                samples.append(time.perf_counter() - started)
                assert response.status == 200, await response.text()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    corpus = Corpus()
    log = recorded([corpus.article(n) for n in range(1, args.articles + 1)])
    watch = CpuWatch()
    alone, _, _ = build(log, with_search=False)
    together, index, articles = build(log, with_search=True)
    in_memory, memory_index, _ = build(log, with_search=True, in_memory=True)
    # The server freezes what its replay built (runtime.collector_paused): the cyclic GC never
    # scans it again. Without this, a full collection of the views built here (about 240 ms)
    # could fall inside a search and spend its time budget (one run was refused so).
    gc.freeze()
    n, extra, memory_extra = len(log), together - alone, in_memory - alone
    print(f"## Search on {n:,} articles\n")
    print(table(
        ["replay into", "seconds", "articles/s"],
        [["articles view alone", f"{alone:.2f}", f"{n / alone:,.0f}"],
         ["articles + search (FTS5, temporary file: the server's)", f"{together:.2f}",
          f"{n / together:,.0f}"],
         ["search's share (difference)", f"{extra:.2f}", f"{n / extra:,.0f}"],
         ["articles + search (FTS5 in memory, for comparison)", f"{in_memory:.2f}",
          f"{n / in_memory:,.0f}"],
         ["search's share in memory (difference)", f"{memory_extra:.2f}",
          f"{n / memory_extra:,.0f}"]],
    ))  # fmt: skip
    topical = [topical_pair(corpus, corpus.random.choice(log).event) for _ in range(args.queries)]
    text_like = [corpus.text(2, 2) for _ in range(args.queries)]
    common = " ".join(corpus.words[:2])
    rows = []
    for name, queries in (("topical words", topical), ("text-like (Zipf)", text_like)):
        matches = statistics.median(index.search(parse(q), None, 10, None).total for q in queries)
        label = f"{name}, index (median {matches:,.0f} matches)"
        rows.append([label, *percentiles(query_latency(index, queries))])
        in_memory_label = f"{name}, index in memory (for comparison)"
        rows.append([in_memory_label, *percentiles(query_latency(memory_index, queries))])
        http = asyncio.run(http_latency(index, articles, queries))
        rows.append([f"{name}, GET /search (in-process client)", *percentiles(http)])
    matches = index.search(parse(common), None, 10, None).total
    worst = query_latency(index, [common] * 50)
    rows.append([f"the two commonest words, index ({matches:,} matches)", *percentiles(worst)])
    worst = query_latency(memory_index, [common] * 50)
    rows.append(["the two commonest words, index in memory", *percentiles(worst)])
    print()
    print(table(["two-word queries", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows))
    print(f"Other processes used {watch.others()} while this ran.\n")
    print(report("Search", Path(__file__).resolve().parent))


if __name__ == "__main__":
    main()
