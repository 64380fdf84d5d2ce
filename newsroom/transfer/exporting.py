"""Exporting a log: every event and idempotency record of a `LogSource`, checked, as the lines
of the export file (`ndjson.py`)."""

from __future__ import annotations

from typing import IO

from newsroom.errors import StoreCorrupted
from newsroom.store.integrity import Problem, Progress
from newsroom.store.log_checks import EventChecks
from newsroom.store.transfer import Contents, LogSource
from newsroom.transfer.ndjson import event_line, header_line, key_line


async def export_log(source: LogSource, out: IO[bytes], tell: Progress) -> Contents:
    """Write the whole log of `source` to `out` and say what it held; raise `StoreCorrupted`
    naming the first event that fails its checksum or is missing (`out` then holds a part).

    Memory stays flat however long the log: a page of rows at a time, and nothing kept per
    stream (each stream's versions are checked by `import` and `verify`).
    """
    contents = await source.contents()
    out.write(header_line(contents))
    checks = EventChecks(contents.events, versions=False)
    async for page in source.events():
        for row in page:
            _refuse(source.location, checks.check(row))
            out.write(event_line(row, source.location))
        tell("exporting events", checks.events, contents.events)
    _refuse(source.location, checks.end())
    async for keys in source.keys():
        out.writelines(key_line(key) for key in keys)
    return contents


def _refuse(location: str, problem: Problem | None) -> None:
    if problem is not None:
        raise StoreCorrupted(f"{location}: {problem.what}")
