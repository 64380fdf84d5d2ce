"""The log's shapes: JSON lines with the record's fields, access lines in both formats, request
ids on lines written while a request is handled, and URL passwords masked."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

from newsroom import logs
from newsroom.logs import (
    REQUEST_ID,
    JsonFormatter,
    TextFormatter,
    _RequestId,
    access_line,
    mask_secrets,
)


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
    token = REQUEST_ID.set("req-7")
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
    token = REQUEST_ID.set("req-8")
    try:
        assert TextFormatter().format(record("inside")).endswith("inside [req-8]")
    finally:
        REQUEST_ID.reset(token)


def test_access_lines_in_both_formats() -> None:
    line = (1_800_000_000.25, "GET", "/feed", 200, 0.42, 5120, "abc")
    as_json = json.loads(access_line(line, as_json=True))
    assert as_json == {
        "time": "2027-01-15T08:00:00.250+00:00", "level": "INFO", "logger": "newsroom.access",
        "message": "GET /feed 200 0.4 ms 5120 bytes", "method": "GET", "route": "/feed",
        "status": 200, "duration_ms": 0.42, "bytes": 5120, "request_id": "abc",
    }  # fmt: skip
    text = access_line(line, as_json=False)
    assert (
        text
        == "2027-01-15 08:00:00,250 INFO newsroom.access: GET /feed 200 0.4 ms 5120 bytes [abc]\n"
    )


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
        for n in range(3):
            sink.write("GET", "/feed", 200, 0.4, 10, f"r{n}")
        sink.flush()
        assert sink._lines == []
    finally:
        logging.getLogger().removeHandler(logs._handler)  # leave pytest's logging as it was
        logs._handler = logs._access = None
