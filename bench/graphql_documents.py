"""Benchmark: what one new GraphQL document costs to prepare (parse, limits, validation, cost,
argument rules), for the costliest shapes a client can send, in process, without HTTP.

Each shape is a family of documents of growing size n. For each, the script finds the largest n
that the checkout's limits let through to validation and times preparing that document; then
the shape at the largest size a request body can carry, which the limits may refuse (the
verdict shows why, and the time how fast). Each document is timed RUNS times on a fresh
`Operations` (nothing cached): the median and the slowest run, which includes any cyclic
garbage collection the work set off.

Run from the repo root, on this checkout or on an older one (issue 12 changed the pipeline):

    PYTHONPATH=. python bench/graphql_documents.py [SHAPE ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from newsroom.config import GraphQLLimits
from newsroom.web.graphql.pipeline import Operations

Shape = Callable[[int], str]


def _fragments(n: int, body: Callable[[int], str], spread_in: str = "articles") -> str:
    spreads = " ".join(f"...F{i}" for i in range(n))
    definitions = " ".join(f"fragment F{i} on Article {{ {body(i)} }}" for i in range(n))
    return f"{{ {spread_in} {{ {spreads} }} }} {definitions}"


def _diamond(n: int) -> str:
    """Two fragments a level, each spreading both of the next level: 2^n paths, no fields."""
    levels = [
        f"fragment A{i} on Article {{ ...A{i + 1} ...B{i + 1} }} "
        f"fragment B{i} on Article {{ ...A{i + 1} ...B{i + 1} }}"
        for i in range(n)
    ]
    last = f"fragment A{n} on Article {{ id }} fragment B{n} on Article {{ id }}"
    return "{ articles { ...A0 } } " + " ".join(levels) + " " + last


SHAPES: dict[str, Shape] = {
    # The finding: one response name, many times, in one selection set (pairs compared: n^2/2).
    "same name x n (the finding)": lambda n: (
        "{ " + " ".join("x: article(id: 1) { id }" for _ in range(n)) + " }"
    ),
    "same name, leaf x n": lambda n: "{ " + "x: __typename " * n + "}",
    "same name, nested n x n": lambda n: (
        "{ " + " ".join("x: articles { " + "y: id " * n + "}" for _ in range(n)) + " }"
    ),
    "same name in n inline fragments": lambda n: (
        "{ articles { " + "... on Article { x: id } " * n + "} }"
    ),
    "same name in n fragments": lambda n: _fragments(n, lambda i: "x: id"),
    "n empty fragments spread together": lambda n: _fragments(n, lambda i: ""),
    "n distinct fragments spread together": lambda n: _fragments(n, lambda i: f"f{i}: id"),
    "fragment chain of n": lambda n: (
        "{ articles { ...F0 } } "
        + " ".join(f"fragment F{i} on Article {{ ...F{i + 1} }}" for i in range(n))
        + f" fragment F{n} on Article {{ id }}"
    ),
    "fragment diamond n levels": _diamond,
    "n operations": lambda n: " ".join(f"query Q{i} {{ __typename }}" for i in range(n)),
    "n operations x fragment chain n": lambda n: (
        " ".join(f"query Q{i} {{ articles {{ ...F0 }} }}" for i in range(n))
        + " "
        + " ".join(f"fragment F{i} on Article {{ ...F{i + 1} }}" for i in range(n))
        + f" fragment F{n} on Article {{ id }}"
    ),
    "n variables, each used": lambda n: (
        "query(" + " ".join(f"$v{i}: Boolean! = true" for i in range(n)) + ") { "
        + " ".join(f"a{i}: __typename @include(if: $v{i})" for i in range(n)) + " }"
    ),
    "n variables, unused": lambda n: (
        "query(" + " ".join(f"$v{i}: Int" for i in range(n)) + ") { __typename }"
    ),
    "n directives on one field": lambda n: "{ __typename " + "@include(if: true) " * n + "}",
    "n distinct fields with arguments": lambda n: (
        "{ " + " ".join(f"a{i}: article(id: {i}) {{ id }}" for i in range(n)) + " }"
    ),
    "same name, n different arguments": lambda n: (
        "{ " + " ".join(f"x: article(id: {i}) {{ id }}" for i in range(n)) + " }"
    ),
    "n unknown fields": lambda n: "{ " + " ".join(f"a{i}: nope{i}" for i in range(n)) + " }",
    "string of n KiB": lambda n: '{ search(query: "' + "a" * (n * 1024) + '") { total } }',
    "n arguments on one field": lambda n: "{ article(id: 1" + ", version: 1" * n + ") { id } }",
}  # fmt: skip

RUNS = 9  # timings of each document, each on a fresh pipeline
SIZES = [2**k for k in range(0, 17)]  # n tried for each shape, up to the largest that parses
BODY_MAX = 64 * 1024  # the server reads no larger request (newsroom/web/app.py)


def timed(text: str, runs: int = RUNS) -> tuple[float, float, str]:
    """Median and worst milliseconds to prepare `text` on a fresh pipeline, and its verdict."""
    times, verdict = [], ""
    for _ in range(runs):
        operations = Operations(GraphQLLimits())
        started = time.perf_counter()
        result = _prepare(operations, text)
        times.append((time.perf_counter() - started) * 1000)
        verdict = "accepted" if not isinstance(result, list) else result[0].message
    return statistics.median(times), max(times), verdict


def _prepare(operations: Operations, text: str) -> Any:
    """`text` prepared at once, on this checkout's pipeline or an older one."""
    if hasattr(operations, "operation"):  # since issue 12, `prepare` waits for a turn
        return operations.operation(operations.document(text), None, {})
    return operations.prepare(text, None, {})


def _passes(text: str) -> bool:
    """Whether the limits let the document through to validation (valid or not)."""
    result = Operations(GraphQLLimits()).document(text)
    return not isinstance(result, list) or not _refused_by_limits(result[0].message)


def _refused_by_limits(message: str) -> bool:
    words = ("limit", "nests", "fragment cycle", "tokens", "code points", "comments")
    return any(word in message for word in words)


def _largest(shape: Shape, sizes: list[int]) -> int | None:
    """The largest n (up to the last size) whose document the limits let through."""
    passing = [n for n in sizes if _passes(shape(n))]
    if not passing:
        return None
    low, high = passing[-1], min(2 * passing[-1], sizes[-1] + 1)  # low passes, high does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _passes(shape(middle)) else (low, middle)
    return low


def measure(name: str, shape: Shape) -> None:
    sizes = []
    for n in SIZES:  # documents grow with n: stop at the first one the server would not read
        if len(shape(n)) + 20 > BODY_MAX:
            break
        sizes.append(n)
    largest_passing = _largest(shape, sizes)
    if largest_passing is not None:
        median, worst, verdict = timed(shape(largest_passing))
        print(f"| {name} | {largest_passing} | {median:.1f} | {worst:.1f} | {verdict[:60]} |")
    if sizes and sizes[-1] != largest_passing:
        median, worst, verdict = timed(shape(sizes[-1]))
        print(f"| {name} | {sizes[-1]} | {median:.1f} | {worst:.1f} | {verdict[:60]} |")


def main(names: list[str]) -> None:
    print(f"| shape | n | ms, median of {RUNS} | ms, slowest | verdict |")
    print("|---|---:|---:|---:|---|")
    for name, shape in SHAPES.items():
        if not names or any(n in name for n in names):
            measure(name, shape)


if __name__ == "__main__":
    main(sys.argv[1:])
