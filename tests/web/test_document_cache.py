"""The document cache: bounded in bytes by an estimate that tracemalloc confirms, refusals kept
small, and only documents that come again are kept (issue 12: 500 entries held 400 MB)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from graphql import GraphQLError, get_introspection_query, parse

from newsroom.config import GraphQLLimits
from newsroom.web.graphql.cache import DocumentCache
from newsroom.web.graphql.pipeline import Operations, Parsed

FINDING = "{ " + " ".join("x: article(id: 1) { id }" for _ in range(240)) + " }"


def _batch(n: int) -> str:
    """50 articles by id, starting at `n`: about 600 tokens, distinct for each `n`."""
    return (
        "{ " + " ".join(f'a{i}: article(id: "{i}") {{ id title }}' for i in range(n, n + 50)) + " }"
    )


def _learn(operations: Operations, text: str) -> Parsed | list[GraphQLError]:
    """`text` as the cache keeps it: documents are kept the second time they come."""
    operations.document(text)
    found = operations.document(text)
    assert operations.cache.get(text) is found
    return found


def test_many_distinct_large_documents_stay_within_the_byte_budget() -> None:
    """A hundred distinct 600-token documents, each sent twice, never make the estimate exceed
    a 2 MiB budget; the latest stays cached and the oldest are dropped."""
    operations = Operations(replace(GraphQLLimits(), cache_bytes=2 * 2**20))
    for n in range(100):
        _learn(operations, _batch(n))
        assert operations.cache.bytes <= 2 * 2**20
    assert operations.cache.get(_batch(99)) is not None
    assert operations.cache.get(_batch(0)) is None
    assert 5 <= len(operations.cache) < 100


def _held_by_cache(texts: Callable[[], Iterator[str]]) -> tuple[float, float]:
    """(bytes measured by tracemalloc, bytes estimated by the cache) per document, for the
    documents `texts` makes, cached in a fresh pipeline (their text held by the cache alone)."""
    operations = Operations(GraphQLLimits())
    _learn(operations, "{ articles { id } }")  # graphql-core's own first-use caches
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        for text in texts():
            _learn(operations, text)
            count += 1
        gc.collect()
        estimate = operations.cache.bytes
        held = tracemalloc.get_traced_memory()[0]
        del operations
        gc.collect()
        held -= tracemalloc.get_traced_memory()[0]  # what the pipeline held, its cache above all
    finally:
        tracemalloc.stop()
    return held / count, estimate / count


INTROSPECTION = get_introspection_query(descriptions=True, input_value_deprecation=True)
SAMPLES: dict[str, Callable[[], Iterator[str]]] = {
    "introspection": lambda: (f"{INTROSPECTION}\n# {n}" for n in range(8)),
    "seed query": lambda: (f"{{ articles(count: {n}) {{ id title }} }}" for n in range(1, 41)),
    "50 articles by id": lambda: (_batch(n) for n in range(8)),
    "a 15 KiB string": lambda: (
        f'{{ search(query: "{n:05}{"a" * 15_000}") {{ total }} }}' for n in range(8)
    ),
    "refused: the finding": lambda: (f"{FINDING}\n# {n}" for n in range(20)),
    "refused: unknown fields": lambda: (
        "{ " + " ".join(f"a{i}: nope{n}x{i}" for i in range(30)) + " }" for n in range(20)
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_estimate_covers_the_measured_memory_within_a_factor_of_two(name: str) -> None:
    """For documents of every kind, tracemalloc measures no more memory held by the cache than
    it estimates, and at least half of it: the budget bounds the real memory."""
    held, estimate = _held_by_cache(SAMPLES[name])
    assert held <= estimate <= 2 * held, (held, estimate)


def test_a_refused_document_is_kept_as_its_message_alone() -> None:
    """The reported document, refused, is cached as an error without nodes or traceback (which
    kept the whole parsed document alive), with the message and location clients saw."""
    with pytest.raises(GraphQLError) as raised:
        parse(FINDING, max_lexical_tokens=GraphQLLimits().max_tokens)
    [error] = _learn(Operations(GraphQLLimits()), FINDING)
    assert isinstance(error, GraphQLError) and error.formatted == raised.value.formatted
    assert "more than 1000 tokens" in error.message
    assert error.nodes is None and error.__traceback__ is None
    held, _ = _held_by_cache(SAMPLES["refused: the finding"])
    assert held < 2 * len(FINDING)  # the text (its key) and a few small objects


def test_only_documents_that_come_again_are_kept() -> None:
    """A document is kept the second time it comes, and a flood of documents that each come
    once pushes no kept document out."""
    operations = Operations(GraphQLLimits())
    hot = "{ articles { id title } }"
    operations.document(hot)
    assert operations.cache.get(hot) is None
    operations.document(hot)
    assert operations.cache.get(hot) is not None
    for n in range(3000):
        operations.document(f"{{ flood{n}: articles {{ id }} }}")
    assert operations.cache.get(hot) is not None
    assert len(operations.cache) == 1


def test_the_least_recently_used_entry_goes_first() -> None:
    """Over budget, the entry used longest ago is dropped, not the one just read."""
    cache: DocumentCache[str] = DocumentCache(budget=1000, entries=10)
    for text in ("a", "b", "a", "b"):
        cache.put(text, text.upper(), 400)
    assert cache.get("a") == "A"  # now b is the least recently used
    for _ in range(2):
        cache.put("c", "C", 400)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert cache.bytes == 800


DEEP = "{ articles { " + "history { " * 25 + "type" + " }" * 27


@pytest.mark.parametrize(
    "text",
    [FINDING, "{ articles { id ", DEEP],
    ids=["past the token limit", "a syntax error", "past the depth limit"],
)
def test_a_refused_document_leaves_no_garbage_for_the_cyclic_collector(text: str) -> None:
    """A refused document leaves no reference cycles behind: reference counting frees it all,
    so a stream of them does not feed the collector's pauses (graphql-core's tokens link both
    ways, and a refusal's traceback held the parser). (A document that reaches validation
    still does: graphql-core's validation context and rules reference each other.)"""
    operations = Operations(GraphQLLimits())
    operations.document("{ articles { id } }")  # graphql-core's own first-use caches
    gc.collect()
    gc.disable()
    try:
        assert isinstance(operations.document(text), list)
        operations.cache = DocumentCache(0, 0)  # nothing kept: only what is garbage remains
        collected = gc.collect()
    finally:
        gc.enable()
    assert collected == 0
