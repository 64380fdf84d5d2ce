"""Benchmark helper: run the seed query N times through the GraphQL pipeline, in process, no HTTP.

For counting instructions per query with callgrind, which repeats exactly where wall-clock
timings on this VM drift (docs/benchmarks.md §4). Run it twice under callgrind, with N=0 and
N=2000; the difference of the two totals over 2000 is the cost of one query:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        "$(python -c 'import sys; print(sys.executable)')" bench/seed_query_inprocess.py 2000

It also runs on commits from before `newsroom/web/graphql/` existed (with PYTHONPATH set to
that checkout), so two commits can be compared instruction for instruction.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from newsroom.config import Settings
from newsroom.web.app import create_app

QUERY = "{ articles(count: 20) { id title } }"  # as bench/api.py's query load
CREATE = (
    'mutation { createArticle(article: {title: "Story %d", body: "b", category: "news", '
    'author_id: 1, author_name: "n"}) { status } }'
)


class _Request:
    """What the pipeline reads of a request: its application."""

    def __init__(self, app: Any) -> None:
        self.app = app


def _runner(app: Any) -> Any:
    """One seed query, prepared and executed, on whichever API this checkout has."""
    request = _Request(app)
    try:
        from newsroom.web.graphql import pipeline
        from newsroom.web.graphql.pipeline import OPERATIONS

        async def run() -> Any:
            return await pipeline.execute(app[OPERATIONS].prepare(QUERY, None, {}), request)
    except ImportError:  # before issue 11
        from newsroom.web import graphql_schema as old

        async def run() -> Any:
            prepared = app[old.DOCUMENTS].operation(QUERY, None, {})
            return old.response_payload(
                await old.execute_prepared(prepared, old.context_for(request))
            )

    return run


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(store=f"sqlite:///{folder}/n.db"))
        async with TestClient(TestServer(app)) as client:
            for n in range(30):
                await client.post("/graphql", json={"query": CREATE % n})
            run = _runner(app)
            reply = await run()
            assert "errors" not in reply, reply
            for _ in range(count):
                await run()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
