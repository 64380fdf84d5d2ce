"""Logging set up for operators: text or JSON lines, the request id on every line, a file that
SIGHUP reopens, and no secret in any line.

- `--log-format text`: `time LEVEL logger: message [request id]`, for a terminal.
- `--log-format json`: one JSON object per line with `time` (ISO 8601, UTC), `level`, `logger`,
  `message`, `request_id` (while a request is handled), the record's own fields (an access
  line's `method`, `route`, `status`, `duration_ms`, `bytes`), and `error` with the traceback
  when there is one; what log shippers and search tools read without parsing text.
- `--log-file PATH`: append to PATH; `reopen()` (SIGHUP, see `__main__.py`) opens it again, so
  logrotate can move it away.

newsroom never puts its token or a store password in a message (the PostgreSQL store names its
database without the password); as a safety net, anything shaped like `scheme://user:secret@`
in a line is masked before it is written.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
"""The id of the request being handled, set by the web layer (`web/observe.py`)."""

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
# What every LogRecord has; anything else on a record is a field its caller added (extra=...).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def mask_secrets(text: str) -> str:
    """`text` with the password of any URL in it (scheme://user:password@host) masked."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text) if "://" in text else text


class _RequestId(logging.Filter):
    """Stamps each record with the id of the request being handled (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:  # an access line brings its own
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = mask_secrets(super().format(record))
        rid = getattr(record, "request_id", None)
        return f"{line} [{rid}]" if rid else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["error"] = mask_secrets(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


_handler: logging.Handler | None = None
_file: str | None = None


def configure(level: str, format: str = "text", file: str = "") -> None:
    """Send every newsroom (and library) record to stderr or `file`, in `format`."""
    global _handler, _file
    _file = file or None
    handler = _open(_file)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(_RequestId())
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler


def reopen() -> None:
    """Open the log file again (after logrotate moved it); nothing to do when logging to stderr."""
    global _handler
    if _file is None or _handler is None:
        return
    fresh = _open(_file)
    fresh.setFormatter(_handler.formatter)
    for f in _handler.filters:
        fresh.addFilter(f)
    root = logging.getLogger()
    root.addHandler(fresh)
    root.removeHandler(_handler)
    _handler.close()
    _handler = fresh


def _open(file: str | None) -> logging.Handler:
    return (
        logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(sys.stderr)
    )
