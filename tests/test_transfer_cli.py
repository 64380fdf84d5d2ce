"""The `export` and `import` command lines, in process: their help, and the exit codes and
messages of what they refuse, leaving no file behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from newsroom.__main__ import main
from newsroom.transfer import cli
from tests.store.damage import flip_a_byte, write_log


@pytest.mark.parametrize(
    ("command", "says"),
    [("export", "Write a whole event log"), ("import", "Fill a new, empty store")],
)
def test_each_command_says_what_it_does(
    command: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m newsroom export --help` (and import's) describe the command and exit 0."""
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"python -m newsroom {command}" in out and says in out and "--store" in out


def test_export_of_a_missing_file_is_exit_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No log to export: exit 2 naming it; neither the log nor the output file appear."""
    code = cli.export_main(["--store", f"sqlite:///{tmp_path}/missing.db",
                            "--output", str(tmp_path / "out.ndjson")])  # fmt: skip
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "missing.db: no such file" in err and "out.ndjson was not written" in err
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_damaged_log_is_exit_1_and_writes_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flipped byte in the file: exit 1 naming the position; no output, no temporary file."""
    log = tmp_path / "newsroom.db"
    asyncio.run(write_log(log))
    flip_a_byte(log, b"Marker 00007")
    output = tmp_path / "out" / "log.ndjson"
    output.parent.mkdir()
    code = cli.export_main(["--store", f"sqlite:///{log}", "--output", str(output)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "DAMAGED" in err and "the event at position 7 fails its checksum" in err
    assert list(output.parent.iterdir()) == []


def test_import_of_a_missing_file_is_exit_2_and_creates_no_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No export to read: exit 2 naming it, and the target store is not created."""
    code = cli.import_main(["--store", f"sqlite:///{tmp_path}/new.db", str(tmp_path / "x")])
    _, err = capsys.readouterr()
    assert code == 2
    assert f"{tmp_path / 'x'}: No such file" in err and "nothing was imported" in err
    assert list(tmp_path.iterdir()) == []
