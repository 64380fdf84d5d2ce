"""The pipeline's document cache: bounded, and each cost verdict stays with its own document."""

from __future__ import annotations

import gc

from newsroom.config import GraphQLLimits
from newsroom.web.graphql.pipeline import Operations, Parsed, Prepared


def _cheap(n: int) -> str:
    return f"{{ cheap{n}: articles(count: 1) {{ id }} }}"


def _expensive(n: int) -> str:
    fields = " ".join(f"e{n}x{i}: events(count: 1000) {{ position }}" for i in range(6))
    return f"{{ {fields} }}"


async def test_cost_verdicts_leave_the_cache_with_their_documents() -> None:
    """Sending many distinct documents keeps no more cost verdicts than cached documents: each
    verdict is kept in its document's entry."""
    operations = Operations(GraphQLLimits(), size=5)
    for n in range(200):
        for _ in range(2):  # a document is cached the second time it comes
            assert isinstance(await operations.prepare(_cheap(n), None, {}), Prepared)
        cached = operations.cache.get(_cheap(n))
        assert isinstance(cached, Parsed) and cached.costs == {None: []}
    assert len(operations.cache) == 5


async def test_a_document_never_inherits_another_documents_cost_verdict() -> None:
    """With documents coming and going (and their memory reused), every costly one is refused
    and every cheap one runs: a verdict is found by the document's text, never its address."""
    operations = Operations(GraphQLLimits(), size=3)
    for n in range(300):
        for _ in range(2):  # a document is cached the second time it comes
            cheap = await operations.prepare(_cheap(n), None, {})
            costly = await operations.prepare(_expensive(n), None, {})
            assert isinstance(cheap, Prepared), (n, cheap)
            assert isinstance(costly, list) and "maximum cost" in costly[0].message, n
        if n % 50 == 0:
            gc.collect()  # free evicted documents, so their addresses are reused


async def test_only_the_operation_named_is_costed() -> None:
    """In a document of several operations, the one named runs though another needs variables
    it was not given or costs too much; that other one is still refused when named."""
    operations = Operations(GraphQLLimits())
    big = _expensive(0).replace("{", "query Big {", 1)
    document = (
        f"query A($id: ID!) {{ article(id: $id) {{ id }} }} {big} query Small {{ __typename }}"
    )
    for _ in range(2):  # new, then cached
        assert isinstance(await operations.prepare(document, "Small", {}), Prepared)
        costly = await operations.prepare(document, "Big", {})
        assert isinstance(costly, list) and "maximum cost" in costly[0].message
        assert isinstance(await operations.prepare(document, "A", {"id": "1"}), Prepared)
