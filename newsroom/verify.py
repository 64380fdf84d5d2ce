"""`python -m newsroom verify --store URL`: check a whole event log, reading only.

It exits 0 with one line when the log is intact, 1 naming the first bad position when it is
damaged, and 2 when there is nothing it can check (a bad URL, a missing file, a file or database
that holds no newsroom log). It checks an SQLite file (`store/sqlite_verify.py`) or a PostgreSQL
database (`store/postgres_verify.py`) by the same rules, and can run while servers use the log.
On a terminal it shows its progress on stderr, once a second.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from newsroom.app import verify_store
from newsroom.config import store_option
from newsroom.errors import ConfigError, StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.progress import Ticker

INTACT, DAMAGED, UNUSABLE, INTERRUPTED = 0, 1, 2, 130


def parser() -> argparse.ArgumentParser:
    """The command line of `python -m newsroom verify`."""
    p = argparse.ArgumentParser(
        prog="python -m newsroom verify",
        description="Check a whole newsroom event log, SQLite or PostgreSQL: every event's "
        "checksum, dense positions up to the head, each stream's versions, the streams table "
        "and the idempotency records (on SQLite, its integrity_check first). Only reads; safe "
        "while servers use the log. Exit 0: intact; 1: damaged (the first bad position is "
        "named); 2: nothing to check.",
    )
    store_option(p, "the log to check")
    return p


def main(argv: Sequence[str]) -> int:
    """Verify the log named by `--store`; return the exit code."""
    url = parser().parse_args(argv).store
    progress = Ticker(sys.stderr, "verifying") if sys.stderr.isatty() else None
    try:
        verdict = verify_store(url, progress)
    except (ConfigError, StoreUnrecognised) as e:
        return _fail(f"cannot verify: {e}", UNUSABLE)
    except StoreCorrupted as e:
        return _fail(f"DAMAGED: {e}", DAMAGED)
    except StoreError as e:  # the file could not be read to the end
        return _fail(f"cannot verify: {e}", UNUSABLE)
    except OSError as e:  # e.g. no permission to read the file
        return _fail(f"cannot verify: {e.filename}: {e.strerror}", UNUSABLE)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was changed", INTERRUPTED)
    finally:
        if progress is not None:
            progress.clear()
    if not verdict.intact:
        return _fail(verdict.summary(), DAMAGED)
    print(verdict.summary(), flush=True)
    return INTACT


def _fail(message: str, code: int) -> int:
    print(f"newsroom verify: {message}", file=sys.stderr, flush=True)
    return code
