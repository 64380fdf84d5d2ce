"""Benchmark helper: run the seed query or createArticle N times through the GraphQL pipeline,
in process, without HTTP.

For counting instructions per operation with callgrind, which repeats exactly where wall-clock
timings on this VM drift (docs/benchmarks.md §4). Run it twice under callgrind, with N=0 and
N=2000; the difference of the two totals over 2000 is the cost of one operation:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        "$(python -c 'import sys; print(sys.executable)')" bench/graphql_inprocess.py query 2000

It also runs on commits from before `newsroom/web/graphql/` existed (with PYTHONPATH set to
that checkout), so two commits can be compared instruction for instruction.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import tempfile
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from newsroom.config import Settings
from newsroom.web.app import create_app

QUERY = "{ articles(count: 20) { id title } }"  # as bench/api.py's query load
MUTATION = "mutation($a: ArticleCreatedInput!) { createArticle(article: $a) { status position } }"
SEED = (
    'mutation { createArticle(article: {title: "Story %d", body: "b", category: "news", '
    'author_id: 1, author_name: "n"}) { status } }'
)


class _Request:
    """What the pipeline reads of a request: its application."""

    def __init__(self, app: Any) -> None:
        self.app = app


def _variables(operation: str, n: int) -> dict[str, Any]:
    if operation == "query":
        return {}
    article = {"title": f"Story {n}", "body": "Ships move again.", "category": "business"}
    return {"a": {**article, "author_id": 7, "author_name": "Mo"}}


def _runner(app: Any, operation: str) -> Any:
    """One operation, prepared and executed, on whichever API this checkout has."""
    request = _Request(app)
    text = QUERY if operation == "query" else MUTATION
    try:
        from newsroom.web.graphql import pipeline
        from newsroom.web.graphql.pipeline import OPERATIONS

        async def run(n: int) -> Any:
            prepared = app[OPERATIONS].prepare(text, None, _variables(operation, n))
            if inspect.isawaitable(prepared):  # since issue 12, a new document waits its turn
                prepared = await prepared
            return await pipeline.execute(prepared, request)
    except ImportError:  # before issue 11
        from newsroom.web import graphql_schema as old

        async def run(n: int) -> Any:
            prepared = app[old.DOCUMENTS].operation(text, None, _variables(operation, n))
            return old.response_payload(
                await old.execute_prepared(prepared, old.context_for(request))
            )

    return run


async def main(operation: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(store=f"sqlite:///{folder}/n.db"))
        async with TestClient(TestServer(app)) as client:
            for n in range(30):
                await client.post("/graphql", json={"query": SEED % n})
            run = _runner(app, operation)
            reply = await run(0)
            assert "errors" not in reply, reply
            for n in range(1, count + 1):
                await run(n)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("query", "create"):
        raise SystemExit("usage: python bench/graphql_inprocess.py query|create N")
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
