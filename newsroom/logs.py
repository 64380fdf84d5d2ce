"""Logging set up for operators: text or JSON lines, the request id on every line, a file that
SIGHUP reopens, and no secret in any line.

- `--log-format text`: `time LEVEL logger: message [request id]`, for a terminal.
- `--log-format json`: one JSON object per line with `time` (ISO 8601, UTC), `level`, `logger`,
  `message`, `request_id` (`RequestId` says which lines have one), the record's own fields
  (an access line's `method`, `route`, `status`, `duration_ms`, `bytes`), and `error` with the
  traceback when there is one; what log shippers and search tools read without parsing text.
- `--log-file PATH`: append to PATH; `reopen()` (SIGHUP, see `__main__.py`) opens it again, so
  logrotate can move it away.
- Access lines (one per request) do not go through `logging` once newsroom set up the output:
  a `LogRecord` and its formatting cost about 30 µs, more than serving a cached feed. The web
  layer hands them over in batches of tuples (`AccessLog.write`); a thread formats the lines
  (the same text or JSON shape) and writes each batch out as soon as it is handed over.
  Where newsroom did not set up the output (tests, an embedding program), they go to the
  `newsroom.access` logger instead.

- Lines that clients can cause (about unreadable or failed requests) have budgets
  (`LineBudget`, `LineBudgets`): a burst, then one a period, each line saying how many were
  held back, so no client can fill the disk through them; the metrics count what was held.

newsroom never puts its token or a store password in a message (the PostgreSQL store names its
database without the password); as a safety net, anything shaped like `scheme://user:secret@`
in a line is masked before it is written.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import itertools
import logging
import operator
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson


class RequestId:
    """Where the id of the request being handled is kept, for the log lines written meanwhile
    (`REQUEST_ID`): the web layer's guard (`web/guard.py`) puts each request's id in `value`.

    Why a holder rather than the id itself in the context variable: setting a context variable
    makes a new mapping and a token, five allocations, and that was 2-3 % of the CPU time of
    serving a cached feed (docs/benchmarks.md, section 10). aiohttp handles each request in a
    task of its own, whose context is a copy of its connection's task's (aiohttp #3406). So a
    connection of newsroom's server (`web/connections.py`) sets its one holder in its task's
    context, every request's task finds that same holder there, and the guard only replaces
    `value` (reaching the holder through the request's connection, which is cheaper).
    The connection empties the holder as it takes each next request, before the guard runs.
    What that means for a line: one written while a request is handled carries its id, as do
    aiohttp's own lines about it (an error, a reply cut), even those written after its
    handler; one about a request no handler saw (malformed) carries a new id, as its reply
    does; a task a request started that outlives it carries the id of the request its
    connection handles then, if any. Where no connection set a holder (aiohttp's test server,
    an embedding program), the guard sets one for each request's task."""

    __slots__ = ("value",)

    def __init__(self, value: str | None = None) -> None:
        self.value = value


REQUEST_ID: contextvars.ContextVar[RequestId | None] = contextvars.ContextVar(
    "request_id", default=None
)
"""The holder of the current request's id (`RequestId`), or None where no request is handled."""


def current_request_id() -> str | None:
    """The id of the request being handled in this context, or None."""
    holder = REQUEST_ID.get()
    return None if holder is None else holder.value


_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
# What every LogRecord has; anything else on a record is a field its caller added (extra=...).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def mask_secrets(text: str) -> str:
    """`text` with the password of any URL in it (scheme://user:password@host) masked."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text) if "://" in text else text


class LineBudget:
    """How many lines of one kind a client can make newsroom write: `burst` at once, then one
    every `every` seconds (a token bucket). A line held back is counted, and the next line
    written says how many were (`take`). For lines that anonymous clients cause: without it,
    one client in a loop could add a line per try, faster than any rate limit on requests.
    The metrics show how many lines each kind held back (`lines_held_back`)."""

    def __init__(
        self, kind: str, burst: int, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kind, self.burst, self.every, self._clock = kind, burst, every, clock
        self._tokens, self._at = float(burst), clock()
        self.held_back = 0  # lines held back since the last one written
        _HELD_BACK.setdefault(kind, 0)  # its series shows from the start, at 0

    def take(self) -> str | None:
        """None if this line must be held back; else what the line should end with: how many
        were held back before it (empty if none were)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) / self.every)
        self._at = now
        if self._tokens < 1:
            self.held_back += 1
            _HELD_BACK[self.kind] += 1
            return None
        self._tokens -= 1
        held_back, self.held_back = self.held_back, 0
        return f" ({held_back:,} more since the last such line)" if held_back else ""


class LineBudgets:
    """A `LineBudget` for each key (e.g. each type of error), made when first needed: one
    failure repeated does not spend the budget of another, whose first lines an operator needs.
    At most `KEYS_MAX` keys; those past it share one budget."""

    KEYS_MAX = 100

    def __init__(
        self, kind: str, burst: int, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kind, self.burst, self.every, self.clock = kind, burst, every, clock
        self._budgets: dict[str, LineBudget] = {}
        _HELD_BACK.setdefault(kind, 0)

    def take(self, key: str) -> str | None:
        """`LineBudget.take` for the line's key."""
        if (budget := self._budgets.get(key)) is None:
            if len(self._budgets) >= self.KEYS_MAX:
                key = "(others)"
            budget = self._budgets.get(key)
            if budget is None:
                budget = LineBudget(self.kind, self.burst, self.every, self.clock)
                self._budgets[key] = budget
        return budget.take()

    def reset(self) -> None:
        """Start afresh: every key's budget full, nothing held back."""
        self._budgets.clear()


_HELD_BACK: dict[str, int] = {}
"""Lines held back so far, by kind of budget, for the life of the process: a count read from
the budgets alive would drop when one ended (an app of a test), and the metrics' counter
with it, or lose its series."""
FAILURE_LINES = LineBudgets("failed_request", 20, 1.0)
"""The budget of the ERROR lines about requests that failed (a bug met, the store down), per
type of error: one client repeating a request that meets a bug, or every client while the store
is down, must not fill the log."""


def lines_held_back() -> dict[str, int]:
    """How many lines each kind of budget has held back so far (for the metrics)."""
    return dict(_HELD_BACK)


class _RequestId(logging.Filter):
    """Stamps each record with the id of the request being handled (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:  # an access line brings its own
            record.request_id = current_request_id()
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


WAITING_MAX = 100_000  # access lines kept while the disk is slower than the requests; then dropped

AccessEntry = tuple[int, int, str, str, int, int, str]
"""ended (`time.perf_counter_ns()`), duration (ns), method, route template, status, bytes,
request id. Whole nanoseconds: a line's millisecond and duration are then integer divisions,
exact and cheaper than the float arithmetic and conversions they replace; and a duration under
a second is below 2**30, an integer CPython adds and divides on a fast path."""


class AccessLog:
    """Access lines, handed over in batches (`web/observe.py`) and formatted and written by a
    thread, so neither the formatting nor a slow disk holds up a request. The thread takes each
    batch as soon as it comes: a batch's notes and lines then live for a few hundred requests,
    not for a fixed period (notes held for a quarter of a second had gone cold by the time the
    allocator handed their memory out again: docs/benchmarks.md, section 10). While the disk
    is slow, batches wait and are written together; at most `WAITING_MAX` lines wait, and past
    that a batch is dropped and counted in `dropped`."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json
        self._batches: list[tuple[list[AccessEntry], int]] = []
        self._waiting = 0
        self._handed_over = threading.Condition()  # guards the above; tells the writer
        self._writing = threading.Lock()  # one flush at a time, so lines keep their order
        self.dropped = 0
        self._closed = False
        self._writer = threading.Thread(
            target=self._write_as_handed, name="access log", daemon=True
        )
        self._writer.start()

    def write(self, batch: list[AccessEntry]) -> None:
        wall = time.time_ns() - time.perf_counter_ns()  # turns the entries' clock into wall time
        with self._handed_over:
            if self._waiting + len(batch) > WAITING_MAX:
                self.dropped += len(batch)
                return
            self._waiting += len(batch)
            self._batches.append((batch, wall))
            self._handed_over.notify()

    def flush(self) -> None:
        """Format and write every batch handed over so far."""
        with self._writing:
            with self._handed_over:
                batches, self._batches = self._batches, []
                self._waiting = 0  # the lines are written, or dropped if the disk fails
            handler = _handler
            if not batches or not isinstance(handler, logging.StreamHandler):
                return
            text = "".join(access_lines(batch, wall, self._json) for batch, wall in batches)
            with handler.lock or contextlib.nullcontext():
                try:
                    handler.stream.write(text)
                    handler.stream.flush()
                except (OSError, ValueError):  # a full disk or a closed stream: lines dropped
                    pass

    def close(self) -> None:
        """Write what was handed over, and end the thread (once it has written its last)."""
        with self._handed_over:
            self._closed = True
            self._handed_over.notify()
        self._writer.join()

    def _write_as_handed(self) -> None:
        while True:
            with self._handed_over:
                self._handed_over.wait_for(self._has_work)
                closing = self._closed
            with contextlib.suppress(Exception):  # a bug must not end the thread: later
                self.flush()  # lines would pile up until WAITING_MAX, then be dropped
            if closing:
                return

    def _has_work(self) -> bool:
        return bool(self._batches) or self._closed


_THOUSANDTHS = [f"{n:03d}" for n in range(1000)]  # a second's milliseconds, as a line shows them
_TENTHS = [f"{n / 10:.1f}" for n in range(1000)]  # 0.0 to 99.9 ms, as a line shows them
_HUNDREDTHS = [orjson.dumps(n / 100).decode() for n in range(10_000)]  # 0.0 to 99.99 ms
_ALIKE = operator.itemgetter(slice(2, 6))  # what alike requests share: method, route, status, size


class _Stamps:
    """The time stamps of access lines, cut to the millisecond as `logging` cuts a record's
    time. The date and time to the second are made once a second, with the `perf_counter_ns`
    time that second began at; a millisecond is then found from the line's offset into its
    second, a number small enough for CPython's fast integer paths (the clock's own readings
    are not)."""

    def __init__(self, wall: int, as_json: bool) -> None:
        self._wall = wall  # turns `perf_counter_ns` times into nanoseconds since the epoch
        self._format = "%Y-%m-%dT%H:%M:%S" if as_json else "%Y-%m-%d %H:%M:%S"
        self._point, self._zone = (".", "+00:00") if as_json else (",", "")
        self._second_began = -(2**63)  # none stamped yet: long before any clock reading
        self._moment = ""

    def at(self, ended: int) -> tuple[str, int, int]:
        """The stamp of a line that ended at `ended`, and the `perf_counter_ns` times it holds
        from and until (its millisecond)."""
        offset = ended - self._second_began  # nanoseconds into the second last stamped
        if not 0 <= offset < 1_000_000_000:
            second = (ended + self._wall) // 1_000_000_000
            self._second_began = second * 1_000_000_000 - self._wall
            self._moment = datetime.fromtimestamp(second, UTC).strftime(self._format)
            offset = ended - self._second_began
        since = ended - offset % 1_000_000
        thousandth = _THOUSANDTHS[offset // 1_000_000]
        return f"{self._moment}{self._point}{thousandth}{self._zone}", since, since + 1_000_000


def access_lines(batch: list[AccessEntry], wall: int, as_json: bool) -> str:
    """A batch's access lines, shaped as `TextFormatter` or `JsonFormatter` would shape them;
    `wall` turns the entries' `perf_counter_ns` times into wall-clock time (nanoseconds since
    the epoch).

    Formatting is most of what an access line costs, so what lines share is made once: the
    time stamp once a millisecond (`_Stamps`), and all the text but the duration and the
    request id once for a run of alike requests (same method, route, status and size: a
    popular feed served from cache), which `itertools.groupby` finds in C. Durations under a
    tenth of a second are looked up rather than formatted. What is left for each line is a
    comparison, a division, a lookup and one string joined from a few parts."""
    stamps = _Stamps(wall, as_json)
    return "".join(_json_lines(batch, stamps) if as_json else _text_lines(batch, stamps))


def _text_lines(batch: list[AccessEntry], stamps: _Stamps) -> list[str]:
    """`time LEVEL logger: method route status duration ms size bytes [request id]`."""
    lines: list[str] = []
    stamp, since, until = "", 0, 0  # the last line's stamp, and when it holds (ns)
    for (method, route, status, size), run in itertools.groupby(batch, _ALIKE):
        middle = f" INFO newsroom.access: {method} {route} {status} "
        after = f" ms {size} bytes ["
        head = stamp + middle  # the line up to its duration
        for ended, took, _, _, _, _, rid in run:
            if not since <= ended < until:  # a new millisecond (or, in a test, an earlier one)
                stamp, since, until = stamps.at(ended)
                head = stamp + middle
            tenth = (took + 50_000) // 100_000  # `_tenths`, inlined in the loop the benchmarks run
            ms = _TENTHS[tenth] if tenth < 1000 else _tenths(took)
            lines.append(f"{head}{ms}{after}{rid}]\n")
    return lines


def _json_lines(batch: list[AccessEntry], stamps: _Stamps) -> list[str]:
    """`JsonFormatter`'s object, with the access line's fields. The run's text is encoded by
    orjson once, and put together with the duration and the request id, which need no
    escaping (`web/observe.py` takes or makes only ids of letters, digits and `._:-`)."""
    lines: list[str] = []
    stamp, since, until = "", 0, 0
    for (method, route, status, size), run in itertools.groupby(batch, _ALIKE):
        # `"message":"GET /feed 200 ` (a string left open for the duration) and the rest.
        middle = '","level":"INFO","logger":"newsroom.access","message":' + _json(
            f"{method} {route} {status} "
        ).removesuffix('"')
        fields = _json({"method": method, "route": route, "status": status})[1:-1]
        after = _json(f" ms {size} bytes").removeprefix('"') + f',{fields},"duration_ms":'
        rest = f',"bytes":{size},"request_id":"'
        head = '{"time":"' + stamp + middle
        for ended, took, _, _, _, _, rid in run:
            if not since <= ended < until:
                stamp, since, until = stamps.at(ended)
                head = '{"time":"' + stamp + middle
            lines.append(f'{head}{_tenths(took)}{after}{_hundredths(took)}{rest}{rid}"}}\n')
    return lines


def _tenths(took: int) -> str:
    """A duration in nanoseconds as milliseconds to a tenth, rounded half up."""
    tenth = (took + 50_000) // 100_000
    return _TENTHS[tenth] if tenth < 1000 else f"{tenth / 10:.1f}"


def _hundredths(took: int) -> str:
    """A duration in nanoseconds as milliseconds to a hundredth, a JSON number."""
    hundredth = (took + 5_000) // 10_000
    return _HUNDREDTHS[hundredth] if hundredth < 10_000 else _json(hundredth / 100)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


_handler: logging.Handler | None = None
_file: str | None = None
_access: AccessLog | None = None


def access_log() -> AccessLog | None:
    """Where access lines go once `configure` set up the output; None before."""
    return _access


def configure(level: str, format: str = "text", file: str = "") -> None:
    """Send every newsroom (and library) record to stderr or `file`, in `format`."""
    global _handler, _file, _access
    if _access is not None:  # its lines go where they were headed, then its thread ends
        _access.close()
        _access = None
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
    _access = AccessLog(format == "json") if root.level <= logging.INFO else None
    atexit.unregister(flush)
    atexit.register(flush)


def flush() -> None:
    """Write out the access lines still buffered (at a stop)."""
    if _access is not None:
        _access.flush()


def reopen() -> None:
    """Open the log file again (after logrotate moved it); nothing to do when logging to stderr."""
    global _handler
    if _file is None or _handler is None:
        return
    flush()  # what was buffered belongs to the file being rotated away
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
