"""`python -m newsroom backup --store URL DEST`: a consistent copy of a running log.

It copies the SQLite log while a server runs and writes (`store/sqlite_backup.py`: SQLite's
online backup API, one snapshot), checks the copy in full as `newsroom verify` does, and only
then puts it at DEST; it prints what the copy holds (events, streams, head). A server started
on the copy serves the views the original served at that position. Exit 0: a verified copy is
at DEST; 1: the copy failed its check (nothing is left at DEST); 2: nothing to copy (a bad URL,
no such log, DEST already exists). For a PostgreSQL log, use `pg_dump` or `newsroom export`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from newsroom.app import backup_store
from newsroom.config import store_option
from newsroom.errors import ConfigError, StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.progress import Ticker

DONE, DAMAGED, UNUSABLE, INTERRUPTED = 0, 1, 2, 130


def parser() -> argparse.ArgumentParser:
    """The command line of `python -m newsroom backup`."""
    p = argparse.ArgumentParser(
        prog="python -m newsroom backup",
        description="Copy a newsroom SQLite log while a server runs and writes (one consistent "
        "snapshot through SQLite's online backup API), verify the copy in full, then put it at "
        "DEST. Exit 0: done; 1: the copy failed its check; 2: nothing to copy. For PostgreSQL, "
        "use pg_dump or python -m newsroom export.",
    )
    store_option(p, "the log to copy", "sqlite:///path")
    p.add_argument("destination", metavar="DEST", help="the new file to write (must not exist)")
    return p


def main(argv: Sequence[str]) -> int:
    """Back up the log named by `--store` to DEST; return the exit code."""
    args = parser().parse_args(argv)
    progress = Ticker(sys.stderr, "backing up") if sys.stderr.isatty() else None
    try:
        verdict = backup_store(args.store, Path(args.destination), progress)
    except (ConfigError, StoreUnrecognised) as e:
        return _fail(f"cannot back up: {e}", UNUSABLE)
    except StoreCorrupted as e:
        return _fail(f"DAMAGED: {e}", DAMAGED)
    except StoreError as e:
        return _fail(f"cannot back up: {e}", UNUSABLE)
    except OSError as e:  # e.g. no room or no permission where DEST goes
        return _fail(f"cannot back up: {e.filename}: {e.strerror}", UNUSABLE)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was left at the destination", INTERRUPTED)
    finally:
        if progress is not None:
            progress.clear()
    print(f"backed up: {verdict.summary()}", flush=True)
    return DONE


def _fail(message: str, code: int) -> int:
    print(f"newsroom backup: {message}", file=sys.stderr, flush=True)
    return code
