"""Importing a log: the lines of an export file (`ndjson.py`), checked, into an empty
`LogTarget`, all or nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from newsroom.errors import StoreCorrupted
from newsroom.store.integrity import Problem, Progress
from newsroom.store.log_checks import EventChecks
from newsroom.store.transfer import PAGE, Contents, LogTarget
from newsroom.transfer.ndjson import ExportReader

T = TypeVar("T")


async def import_log(reader: ExportReader, target: LogTarget, tell: Progress) -> Contents:
    """Fill `target` with the log `reader` reads and say what it held. Every event is checked
    as `verify` checks a store (positions 1, 2, 3, ..., its checksum, each stream's versions
    1, 2, 3, ...) and so is every idempotency record; the first problem raises
    `StoreCorrupted` naming its line or position, before anything is committed."""
    contents = reader.contents
    checks = EventChecks(contents.events)
    total = contents.events + contents.keys
    for page in _pages(reader.events(contents.events)):
        for row in page:
            _refuse(reader.name, checks.check(row))
        await target.add_events(page)
        tell("importing events", checks.events, total)
    for keys in _pages(reader.keys(contents.keys)):
        await target.add_keys(keys)
    reader.end()
    _refuse(reader.name, await target.key_problem())
    tell("committing", total, total)
    await target.commit({stream: version for stream, (version, _) in checks.streams.items()})
    return contents


def _pages(rows: Iterable[T]) -> Iterator[list[T]]:
    """`rows` in lists of `PAGE`: a page at a time in memory, and one store call per page."""
    it = iter(rows)
    while page := list(islice(it, PAGE)):
        yield page


def _refuse(name: str, problem: Problem | None) -> None:
    if problem is not None:
        raise StoreCorrupted(f"{name}: {problem.what}")
