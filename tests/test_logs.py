"""The log's shapes: JSON lines with the record's fields, access lines in both formats, request
ids on lines written while a request is handled, and URL passwords masked."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from newsroom import logs
from newsroom.logs import (
    REQUEST_ID,
    JsonFormatter,
    LineBudget,
    LineBudgets,
    RequestId,
    TextFormatter,
    _RequestId,
    access_lines,
    lines_held_back,
    mask_secrets,
)
from tests.factories import Monotonic


def record(message: str, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("newsroom.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in fields.items():
        setattr(made, key, value)
    _RequestId().filter(made)
    return made


def test_a_url_password_is_masked_wherever_it_appears() -> None:
    assert mask_secrets("cannot reach postgresql://ed:hunter2@db/news") == (
        "cannot reach postgresql://ed:***@db/news"
    )
    assert mask_secrets("no url here: a:b@c") == "no url here: a:b@c"


def test_json_lines_carry_the_fields_and_the_request_id() -> None:
    token = REQUEST_ID.set(RequestId("req-7"))
    try:
        line = json.loads(JsonFormatter().format(record("at postgresql://u:pw@h/d", route="/feed")))
    finally:
        REQUEST_ID.reset(token)
    assert line["level"] == "WARNING" and line["logger"] == "newsroom.test"
    assert line["request_id"] == "req-7" and line["route"] == "/feed"
    assert line["message"] == "at postgresql://u:***@h/d"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


def test_a_traceback_is_one_json_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        made = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(made))
    assert "ValueError: boom" in line["error"]


def test_text_lines_end_with_the_request_id_when_there_is_one() -> None:
    assert TextFormatter().format(record("plain")).endswith("newsroom.test: plain")
    token = REQUEST_ID.set(RequestId("req-8"))
    try:
        assert TextFormatter().format(record("inside")).endswith("inside [req-8]")
    finally:
        REQUEST_ID.reset(token)


def test_access_lines_in_both_formats() -> None:
    """An entry holds when the request ended (`perf_counter_ns`) and how long it took; `wall`
    turns the first into the time of day."""
    ended = 100_000_420_000
    wall = 1_800_000_000_250_000_000 - ended
    line = (ended, 420_000, "GET", "/feed", 200, 5120, "abc")
    as_json = json.loads(access_lines([line], wall, as_json=True))
    assert as_json == {
        "time": "2027-01-15T08:00:00.250+00:00", "level": "INFO", "logger": "newsroom.access",
        "message": "GET /feed 200 0.4 ms 5120 bytes", "method": "GET", "route": "/feed",
        "status": 200, "duration_ms": 0.42, "bytes": 5120, "request_id": "abc",
    }  # fmt: skip
    text = access_lines([line], wall, as_json=False)
    assert (
        text
        == "2027-01-15 08:00:00,250 INFO newsroom.access: GET /feed 200 0.4 ms 5120 bytes [abc]\n"
    )


def test_a_batch_of_access_lines_keeps_its_order_and_each_time() -> None:
    """Durations from none to minutes, halves of a tenth of a millisecond, and seconds that
    change within a batch: each line says its own time (cut to the millisecond, as `logging`
    cuts a record's) and its own duration (rounded half up to a tenth of a millisecond)."""
    wall = 1_800_000_000_999_000_000  # the batch starts a millisecond before a second ends
    durations = [0, 40_000, 50_000, 9_950_000, 99_949_999, 100_000_000, 1_234_560_000, 754 * 10**9]
    batch = [
        (n * 1_000_000 + d, d, "POST", "/graphql", 200, n, f"r{n}") for n, d in enumerate(durations)
    ]
    lines = access_lines(batch, wall, as_json=False).splitlines()
    assert len(lines) == len(durations)
    for n, (text, (ended, d, *_)) in enumerate(zip(lines, batch, strict=True)):
        at = Decimal(wall + ended) / 10**9
        second = int(at)
        stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
        stamp += f",{int((at - second) * 1000):03d}"
        took = (Decimal(d) / 10**6).quantize(Decimal("0.1"), ROUND_HALF_UP)
        message = f"POST /graphql 200 {took} ms {n} bytes [r{n}]"
        assert text == f"{stamp} INFO newsroom.access: {message}"
    assert [line[17:23] for line in lines[:3]] == ["00,999", "01,000", "01,001"]


def test_alike_requests_in_a_row_each_keep_their_own_line() -> None:
    """A run of alike requests (one feed from cache) shares the text around the duration;
    a request that differs in any of method, route, status or size breaks the run."""
    wall = 1_800_000_000 * 10**9
    kinds = [("GET", "/feed", 200, 100)] * 3 + [
        ("HEAD", "/feed", 200, 100), ("GET", "/rss", 200, 100), ("GET", "/feed", 304, 100),
        ("GET", "/feed", 200, 99), ("GET", "/feed", 200, 100),
    ]  # fmt: skip
    batch = [(n * 10**6 + 2_000_000, 2_000_000, *kind, f"r{n}") for n, kind in enumerate(kinds)]
    lines = access_lines(batch, wall, as_json=False).splitlines()
    for text, (_, _, method, route, status, size, rid) in zip(lines, batch, strict=True):
        assert text.endswith(f": {method} {route} {status} 2.0 ms {size} bytes [{rid}]")


def test_a_full_disk_drops_access_lines_and_serves_on(tmp_path: Path) -> None:
    """Writing the access lines fails (a full disk): the lines are dropped, nothing raises, and
    the buffer is empty again, so it cannot grow while the disk stays full."""

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    logs.configure("INFO", "text", str(tmp_path / "log"))
    try:
        handler = logs._handler
        assert isinstance(handler, logging.StreamHandler)
        replaced = handler.setStream(FullDisk())
        assert replaced is not None
        replaced.close()
        sink = logs.access_log()
        assert sink is not None
        sink.write([(10**9, 10**9 + 400_000, "GET", "/feed", 200, 10, f"r{n}") for n in range(3)])
        sink.flush()
        assert sink._batches == [] and sink._waiting == 0
    finally:
        logging.getLogger().removeHandler(logs._handler)  # leave pytest's logging as it was
        logs._handler = logs._access = None


class SlowDisk(io.StringIO):
    """A stream whose writes wait until the test lets them through (`open`)."""

    def __init__(self) -> None:
        super().__init__()
        self.writing, self.open, self.wrote = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )

    def write(self, text: str) -> int:
        if "newsroom.access" not in text:  # another record, through the same handler
            return super().write(text)
        self.writing.set()
        assert self.open.wait(timeout=10), "the test never let the write through"
        written = super().write(text)
        self.wrote.set()
        return written


@pytest.fixture
def slow_disk(tmp_path: Path) -> Iterator[SlowDisk]:
    """newsroom's logging set up, writing to a `SlowDisk`."""
    logs.configure("INFO", "text", str(tmp_path / "log"))
    disk = SlowDisk()
    handler = logs._handler
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(disk).close()
    try:
        yield disk
    finally:
        disk.open.set()
        logs.flush()
        logging.getLogger().removeHandler(handler)  # leave pytest's logging as it was
        handler.close()
        logs._handler = logs._access = None


def test_a_batch_handed_over_is_written_by_the_thread_with_no_flush_called(
    slow_disk: SlowDisk,
) -> None:
    """The access log's thread takes each batch as it comes (its notes then live briefly):
    nobody calls `flush`, and the lines reach the stream."""
    slow_disk.open.set()
    sink = logs.access_log()
    assert sink is not None
    sink.write([(10**9, 400_000, "GET", "/feed", 200, 10, f"r{n}") for n in range(3)])
    assert slow_disk.wrote.wait(timeout=10)
    lines = slow_disk.getvalue().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["[r0]", "[r1]", "[r2]"]


def test_the_writer_thread_outlives_a_batch_it_could_not_format(
    slow_disk: SlowDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug met while formatting one batch loses that batch, not the thread: the next batch
    is written (else lines would pile up to WAITING_MAX and then all be dropped)."""
    slow_disk.open.set()
    formatted = logs.access_lines
    failed = threading.Event()

    def fails_once(batch: list[logs.AccessEntry], wall: int, as_json: bool) -> str:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a bug")
        return formatted(batch, wall, as_json)

    monkeypatch.setattr(logs, "access_lines", fails_once)
    sink = logs.access_log()
    assert sink is not None
    sink.write([(10**9, 400_000, "GET", "/feed", 200, 10, "lost")])
    assert failed.wait(timeout=10)
    sink.write([(10**9, 400_000, "GET", "/feed", 200, 10, "kept")])
    assert slow_disk.wrote.wait(timeout=10)
    assert slow_disk.getvalue().endswith("[kept]\n") and "[lost]" not in slow_disk.getvalue()


def test_access_lines_past_the_waiting_bound_are_dropped_and_counted(
    slow_disk: SlowDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk slower than the requests: while one batch is being written, at most WAITING_MAX
    lines wait and the rest are dropped (and counted for `/metrics`), so memory stays bounded;
    the waiting ones are written together once the disk takes them."""
    monkeypatch.setattr(logs, "WAITING_MAX", 5)
    sink = logs.access_log()
    assert sink is not None
    batch = [(10**9, 400_000, "GET", "/feed", 200, 10, f"r{n}") for n in range(3)]
    sink.write(batch)
    assert slow_disk.writing.wait(timeout=10)  # the thread took it, and the disk holds it
    sink.write(batch)
    sink.write(batch)  # 6 would wait: dropped
    assert sink.dropped == 3
    slow_disk.open.set()
    sink.flush()  # after the thread's write: one flush at a time
    assert slow_disk.getvalue().count("newsroom.access") == 6


def test_configuring_again_first_writes_what_the_old_access_log_was_handed(
    tmp_path: Path,
) -> None:
    """`configure` a second time (a test, an embedding program): the lines handed to the old
    access log go to the old file, none is lost, and the old log's thread ends."""
    logs.configure("INFO", "text", str(tmp_path / "first"))
    try:
        sink = logs.access_log()
        assert sink is not None
        for block in range(20):
            sink.write(
                [(10**9, 400_000, "GET", "/feed", 200, 10, f"r{block}-{n}") for n in range(256)]
            )
        logs.configure("INFO", "text", str(tmp_path / "second"))
        assert (tmp_path / "first").read_text().count("newsroom.access") == 20 * 256
        assert not sink._writer.is_alive()
    finally:
        assert logs._handler is not None
        logging.getLogger().removeHandler(logs._handler)  # leave pytest's logging as it was
        logs._handler.close()
        logs._handler = logs._access = None


def test_a_line_budget_lets_a_burst_through_then_one_line_a_period_and_counts_the_rest() -> None:
    clock = Monotonic()
    budget = LineBudget("test", 3, 2.0, clock)
    assert [budget.take() for _ in range(5)] == ["", "", "", None, None]
    clock.now += 1.0  # half a line's worth: still held back
    assert budget.take() is None
    clock.now += 1.0
    # the line written says how many were held back since the last one
    assert budget.take() == " (3 more since the last such line)"
    assert budget.take() is None
    clock.now += 60.0  # a long quiet time refills the burst, and no more than it
    assert [budget.take() for _ in range(4)] == [" (1 more since the last such line)", "", "", None]


def test_held_back_lines_stay_counted_after_their_budget_ends() -> None:
    """The metrics' counter of held-back lines never drops and its series never goes: a kind
    is reported from the moment a budget of it exists, and what a budget held back still
    counts once the budget is gone (an app of a test, collected)."""
    budgets = LineBudgets("test_ended", 1, 60.0, Monotonic())
    assert lines_held_back()["test_ended"] == 0  # before any line was held back
    assert [budgets.take("RuntimeError") for _ in range(3)] == ["", None, None]
    del budgets
    gc.collect()
    assert lines_held_back()["test_ended"] == 2


def test_each_key_has_a_budget_of_its_own_and_the_held_back_lines_are_counted() -> None:
    """One failure repeated (a key: its type of error) spends only its own budget, so another's
    first lines are still written; what was held back is counted for the metrics by kind."""
    clock = Monotonic()
    budgets = LineBudgets("test_keys", 2, 1.0, clock)
    before = lines_held_back().get("test_keys", 0)
    assert [budgets.take("RuntimeError") for _ in range(5)] == ["", "", None, None, None]
    assert budgets.take("KeyError") == ""  # another kind of failure: its own budget
    assert lines_held_back()["test_keys"] == before + 3
    for n in range(LineBudgets.KEYS_MAX - 2):  # up to the bound, each key its own budget
        assert budgets.take(f"Error{n}") == ""
    # keys past the bound share one budget
    assert [budgets.take(f"Late{n}") for n in range(3)] == ["", "", None]


def test_a_batch_of_json_access_lines_says_what_each_request_did() -> None:
    """The JSON shape put together from parts (`logs._json_lines`) is the object
    `JsonFormatter` would write: for runs of alike requests, a route whose text needs escaping,
    durations of every size (hundredths looked up or not), and a batch whose ends go back."""
    wall = 1_800_000_000_999_000_000
    took = [0, 5_000, 420_000, 99_994_999, 99_995_000, 2_345_678_901, 40_000, 40_000, 7 * 10**9]
    routes = ["/feed"] * 3 + ['/odd "route" \\ é'] * 2 + ["/feed"] + ["/graphql"] * 3
    statuses = [200, 200, 304, 200, 200, 200, 200, 200, 200]
    ends = [n * 1_000_000 for n in range(8)] + [0]  # the last, alike, goes back a second
    batch = [
        (ended, d, "GET", route, status, 7, f"r{n}")
        for n, (ended, d, route, status) in enumerate(
            zip(ends, took, routes, statuses, strict=True)
        )
    ]
    lines = access_lines(batch, wall, as_json=True).splitlines()
    texts = access_lines(batch, wall, as_json=False).splitlines()
    assert len(lines) == len(texts) == len(batch)
    for line, text, entry in zip(lines, texts, batch, strict=True):
        ended, d, method, route, status, size, rid = entry
        at = Decimal(wall + ended) / 10**9
        second = int(at)
        stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        stamp += f".{int((at - second) * 1000):03d}+00:00"
        tenths = (Decimal(d) / 10**6).quantize(Decimal("0.1"), ROUND_HALF_UP)
        hundredths = (Decimal(d) / 10**6).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert json.loads(line) == {
            "time": stamp, "level": "INFO", "logger": "newsroom.access",
            "message": f"{method} {route} {status} {tenths} ms {size} bytes", "method": method,
            "route": route, "status": status, "duration_ms": float(hundredths), "bytes": size,
            "request_id": rid,
        }  # fmt: skip
        assert text.startswith(stamp[:10] + " " + stamp[11:23].replace(".", ",") + " INFO ")
