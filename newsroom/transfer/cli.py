"""`python -m newsroom export` and `python -m newsroom import`: their command lines, exit codes
and messages, and where the file's bytes come from and go.

    export --store URL [--output FILE]   0: written; 1: the log is damaged (the first bad
                                         position is named, and FILE is not written);
                                         2: nothing to export, or no way to write FILE
    import --store URL FILE              0: imported; 1: FILE is damaged (its line or position
                                         is named); 2: the store is not new and empty, or FILE
                                         is no export. A failed import leaves the store as it was.

Both exit 130 when interrupted, and show their progress on stderr when it is a terminal. A store
is always named by its location, which never holds a password (`store/postgres.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from newsroom.app import log_source, log_target
from newsroom.config import store_option
from newsroom.errors import ConfigError, StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.progress import Ticker
from newsroom.store.integrity import Progress
from newsroom.store.transfer import Contents
from newsroom.transfer.exporting import export_log
from newsroom.transfer.importing import import_log
from newsroom.transfer.ndjson import ExportReader

DONE, DAMAGED, UNUSABLE, INTERRUPTED = 0, 1, 2, 130
STDIN = "-"
BUFFER = 1024 * 1024  # bytes buffered between the file and the disk
Work = Callable[[Progress], Coroutine[Any, Any, None]]  # a command's work, told its progress


def export_parser() -> argparse.ArgumentParser:
    """The command line of `python -m newsroom export`."""
    p = argparse.ArgumentParser(
        prog="python -m newsroom export",
        description="Write a whole event log, SQLite or PostgreSQL, as NDJSON: a header line, "
        "every event exactly as stored (position, stream, version, id, type, data, metadata, "
        "time, checksum), then every idempotency record. Checks each event's checksum on the "
        "way; reads one consistent snapshot, so servers may keep running. Exit 0: written; "
        "1: the log is damaged (the first bad position is named); 2: nothing to export.",
    )
    store_option(p, "the log to export")
    p.add_argument(
        "--output",
        metavar="FILE",
        help="write to FILE (whole or not at all: a temporary file renamed once complete) "
        "instead of stdout",
    )
    return p


def import_parser() -> argparse.ArgumentParser:
    """The command line of `python -m newsroom import`."""
    p = argparse.ArgumentParser(
        prog="python -m newsroom import",
        description="Fill a new, empty store (a new SQLite file, or a PostgreSQL database "
        "without a log) from a file `newsroom export` wrote, keeping every position, version, "
        "id, time and checksum, and the idempotency records. Checks every event's checksum, "
        "dense positions and each stream's versions first; all or nothing. Exit 0: imported; "
        "1: the file is damaged (its line or position is named); 2: the store is not new and "
        "empty, or the file is no export.",
    )
    store_option(p, "the store to fill")
    p.add_argument("file", metavar="FILE", help=f"the export to read ({STDIN}: stdin)")
    return p


def export_main(argv: Sequence[str]) -> int:
    """Export the log named by `--store`; return the exit code."""
    args = export_parser().parse_args(argv)
    unchanged = f"{args.output} was not written" if args.output else "stdout got no whole export"
    return _run("export", lambda tell: _export(args.store, args.output, tell), unchanged)


def import_main(argv: Sequence[str]) -> int:
    """Import FILE into the store named by `--store`; return the exit code."""
    args = import_parser().parse_args(argv)
    return _run("import", lambda tell: _import(args.store, args.file, tell), "nothing was imported")


async def _export(url: str, output: str | None, tell: Progress) -> None:
    started = time.monotonic()
    async with log_source(url) as source:
        if output is None:
            contents = await export_log(source, sys.stdout.buffer, tell)
            sys.stdout.buffer.flush()
        else:
            with _replacing(Path(output)) as out:
                contents = await export_log(source, out, tell)
    done = f"exported {_counted(contents)} from {source.location} to {output or 'stdout'}"
    _say(done, started, sys.stderr)  # stdout may be the export itself


async def _import(url: str, file: str, tell: Progress) -> None:
    started = time.monotonic()
    with _reading(file) as lines:
        reader = ExportReader(lines, "stdin" if file == STDIN else file)  # refuses a foreign file
        async with log_target(url) as target:
            contents = await import_log(reader, target, tell)
    done = f"imported {_counted(contents)} from {reader.name} into {target.location}"
    _say(done, started, sys.stdout)


def _run(command: str, work: Work, unchanged: str) -> int:
    """Run the command's work; turn what went wrong into a message (ending with `unchanged`,
    what was left as it was) and an exit code."""
    ticker = Ticker(sys.stderr, f"{command}ing") if sys.stderr.isatty() else None
    failed = f"newsroom {command}: cannot {command}:"
    try:
        asyncio.run(work(ticker or _quiet))
    except (ConfigError, StoreUnrecognised) as e:
        return _fail(f"{failed} {e}; {unchanged}", UNUSABLE)
    except StoreCorrupted as e:
        return _fail(f"newsroom {command}: DAMAGED: {e}; {unchanged}", DAMAGED)
    except StoreError as e:
        return _fail(f"{failed} {e}; {unchanged}", UNUSABLE)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{failed} {where}{e.strerror or e}; {unchanged}", UNUSABLE)
    except KeyboardInterrupt:
        return _fail(f"newsroom {command}: interrupted; {unchanged}", INTERRUPTED)
    finally:
        if ticker is not None:
            ticker.clear()
    return DONE


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[IO[bytes]]:
    """A file that becomes `path` only once written whole and flushed to disk: until then a
    temporary file beside it, removed if the writing fails."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb", buffering=BUFFER) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename is durable once its directory is
        finally:
            os.close(directory)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def _reading(file: str) -> Iterator[IO[bytes]]:
    if file == STDIN:
        yield sys.stdin.buffer
        return
    with open(file, "rb", buffering=BUFFER) as lines:
        yield lines


def _counted(contents: Contents) -> str:
    return f"{_many(contents.events, 'event')} and {_many(contents.keys, 'idempotency record')}"


def _many(count: int, thing: str) -> str:
    return f"{count:,} {thing}{'' if count == 1 else 's'}"


def _say(what: str, started: float, out: IO[str]) -> None:
    print(f"{what} in {time.monotonic() - started:.1f} s", file=out, flush=True)


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr, flush=True)
    return code


def _quiet(stage: str, done: int, total: int) -> None:
    """Progress nobody sees (stderr is not a terminal)."""
