"""Issue 12, finding 2, on a real server: the reported GraphQL document (one response name 240
times, 300 ms of validation each) and its variants are refused naming their limit, the server
keeps answering, and its memory stays bounded however many distinct large documents arrive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsroom.config import GraphQLLimits
from tests.e2e.conftest import Launch, NewsroomProcess

pytestmark = pytest.mark.e2e

LIMITS = GraphQLLimits()
LIST = "{ articles { id title } }"


def _same_name(n: int, arguments: str = "id: 1") -> str:
    return "{ " + " ".join(f"x: article({arguments}) {{ id }}" for _ in range(n)) + " }"


REPORTED = _same_name(240)
# Each variant and the words its refusal must contain.
VARIANTS = {
    "as reported": (REPORTED, "more than 1000 tokens"),
    "within the token limit": (_same_name(45), "the limit is 200 comparisons per document"),
    "different arguments": (
        "{ " + " ".join(f"x: article(id: {n}) {{ id }}" for n in range(1, 46)) + " }",
        "the limit is 200 comparisons per document",
    ),
    "through inline fragments": (
        "{ articles { " + "... on Article { x: id } " * 40 + "} }",
        "the limit is 200 comparisons per document",
    ),
    "through fragments": (
        "{ articles { ...F0 ...F1 ...F2 } } "
        + " ".join(f"fragment F{n} on Article {{ {'x: id ' * 12}}}" for n in range(3)),
        "the limit is 200 comparisons per document",
    ),
}


def _post(server: NewsroomProcess, query: str) -> tuple[int, dict[str, Any]]:
    """POST `query` asking for application/graphql-response+json, where a refusal is a 400."""
    payload = json.dumps({"query": query}).encode()
    accept = {"Accept": "application/graphql-response+json"}
    status, body = server.request("POST", "/graphql", payload, "application/json", accept)
    return status, json.loads(body)


def test_the_reported_document_and_its_variants_are_refused_naming_the_limit(
    launch: Launch, tmp_path: Path
) -> None:
    """Each variant of the reported shape gets a 400 whose message names the limit it passed,
    and a normal query answers as before."""
    server = launch(tmp_path / "db.sqlite")
    before = server.graphql(LIST)
    for name, (document, limit) in VARIANTS.items():
        status, body = _post(server, document)
        assert status == 400, (name, status, str(body)[:200])
        assert limit in body["errors"][0]["message"], (name, body)
        assert "data" not in body, name
    assert server.graphql(LIST) == before
    assert server.terminate() == 0


def _rss(server: NewsroomProcess) -> int:
    """The server's resident memory in bytes (VmRSS in /proc/<pid>/status)."""
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


def _batch(n: int) -> str:
    """A legitimate large document: 50 articles by id (600 tokens), distinct for each `n`."""
    fields = " ".join(f'a{i}: article(id: "{i}") {{ id title }}' for i in range(n + 1, n + 51))
    return f"{{ {fields} }}"


# What the server may grow by: the document cache's budget (an estimate that covers the memory
# tracemalloc measures, tests/web/test_document_cache.py), plus room for what Python's allocator
# keeps after freeing and for requests in flight. Before issue 12 each reported document stayed
# in the cache with 0.9 MB, so 40 of them passed this bound.
GROWTH = LIMITS.cache_bytes + 24 * 2**20


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/<pid>/status")
def test_memory_stays_bounded_under_600_distinct_large_documents(
    launch: Launch, tmp_path: Path
) -> None:
    """500 distinct copies of the reported document and 100 distinct 600-token queries (each
    sent twice, so the cache keeps them) leave the server within its cache budget plus slack,
    and answering normally."""
    server = launch(tmp_path / "db.sqlite")
    before = server.graphql(LIST)
    for n in range(3):
        _post(server, _batch(1000 + n))  # the first requests' one-time allocations
    baseline = _rss(server)
    for n in range(600):
        if n % 6 == 0:
            for _ in range(2):
                status, body = _post(server, _batch(n))
                assert status == 200 and "errors" not in body, (n, str(body)[:200])
        else:
            status, body = _post(server, f"{REPORTED}\n# copy {n}")
            assert status < 500, (n, status)  # refused (400) here; what matters is memory
        if n % 50 == 49:  # stop early where the bound is passed (before issue 12: at once)
            assert _rss(server) - baseline <= GROWTH, f"after {n + 1} documents"
    assert _rss(server) - baseline <= GROWTH
    assert server.graphql(LIST) == before
    assert server.terminate() == 0
