"""SQLite's errors in newsroom's terms, so no sqlite3 type leaves the store package."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from newsroom.errors import StoreCorrupted, StoreError


def translate(path: Path, error: sqlite3.Error) -> StoreError:
    """Turn a driver error into newsroom's own, so no sqlite3 type leaves this package."""
    if is_corruption(error):
        return StoreCorrupted(f"{path}: the database is damaged: {error}")
    return StoreError(f"{path}: the event store failed: {error}")


def is_corruption(error: sqlite3.Error) -> bool:
    """True for SQLITE_CORRUPT and SQLITE_NOTADB (https://www.sqlite.org/rescode.html)."""
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in (11, 26)
