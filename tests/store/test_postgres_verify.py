"""`newsroom verify` on a PostgreSQL log: intact passes, and each kind of damage, done to the
tables as a tool or a bug would, names its first bad position; a database without a log is
nothing to verify. Nothing is written."""

from __future__ import annotations

import asyncio

import pytest

from newsroom import verify
from newsroom.errors import StoreError, StoreUnrecognised
from newsroom.store.postgres_verify import verify_database
from newsroom.store.rows import checksum
from tests.postgres import Databases
from tests.store.varied import EVENTS, STREAMS, written

SECRET = "pw-must-stay-secret"


@pytest.fixture
def url(postgres_databases: Databases) -> str:
    """A fresh database holding the varied log; its URL carries a password (the test server
    trusts loopback, so any password is accepted)."""
    url = postgres_databases.new().replace("postgres@", f"postgres:{SECRET}@")
    asyncio.run(written(url))
    return url


def psql(postgres_databases: Databases, url: str, sql: str) -> str:
    return postgres_databases.server.psql(sql, url.rsplit("/", 1)[1])


def run(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`python -m newsroom verify --store URL`, in process: exit code, stdout, stderr."""
    code = verify.main(["--store", url])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def test_an_intact_log_passes_with_a_one_line_summary(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0, one line naming the database (without its password), its events and head."""
    code, out, err = run(url, capsys)
    assert (code, err) == (0, "")
    location = url.replace(f":{SECRET}", "")
    assert out.startswith(f"{location}: intact: {EVENTS} events, {STREAMS} streams, head 8, in ")


FLIP = (
    "UPDATE events SET data = convert_to(replace(convert_from(data, 'UTF8'), "
    "'Corrected', 'corrected'), 'UTF8') WHERE position = 3"
)


@pytest.mark.parametrize(
    ("damage", "position", "problem"),
    [
        (FLIP, 3, "the event at position 3 fails its checksum"),
        ("DELETE FROM events WHERE position = 4", 4, "the event at position 4 is missing"),
        ("UPDATE newsroom_log SET head = 9", 9, "the event at position 9 is missing"),
        ("UPDATE newsroom_log SET head = 6", 7,
         "the event at position 7 lies beyond the log's head (6)"),
        ("UPDATE streams SET version = 7 WHERE stream = 'article-12'", 4,
         "the streams table says version 7 for article-12, whose last event (position 4)"),
        ("UPDATE idempotency SET first_position = 2, last_position = 2 WHERE version = 2", 2,
         "the idempotency record of key 'ключ-2' names positions 2-2"),
    ],
    ids=["flipped byte", "deleted row", "head too high", "head too low", "streams table",
         "idempotency record"],
)  # fmt: skip
def test_damage_exits_1_naming_the_first_bad_position(
    url: str,
    postgres_databases: Databases,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    position: int,
    problem: str,
) -> None:
    """Each kind of damage gives exit 1 with the position it concerns and what is wrong."""
    psql(postgres_databases, url, damage)
    code, out, err = run(url, capsys)
    assert (code, out) == (1, "")
    assert f"first bad position {position}" in err and problem in err
    assert "Traceback" not in err


async def test_an_event_that_does_not_decode_is_named(
    postgres_databases: Databases, url: str
) -> None:
    """A row intact on its own (checksum recomputed) whose event no replay could decode."""
    psql(postgres_databases, url, "UPDATE events SET data = convert_to('[1]', 'UTF8') "
         "WHERE position = 2")  # fmt: skip
    row = psql(postgres_databases, url, "SELECT position, stream, version, event_id, type, "
               "schema_version, encode(data, 'escape'), encode(metadata, 'escape'), recorded_at "
               "FROM events WHERE position = 2").split("|")  # fmt: skip
    values = [int(row[0]), row[1], int(row[2]), row[3], row[4], int(row[5]), row[6].encode(),
              row[7].encode(), row[8]]  # fmt: skip
    psql(postgres_databases, url, f"UPDATE events SET checksum = {checksum(values)} "
         "WHERE position = 2")  # fmt: skip
    verdict = await verify_database(url)
    assert verdict.first_bad_position == 2
    assert "the event at position 2 cannot be decoded" in verdict.summary()


async def test_a_database_without_a_log_is_nothing_to_verify(
    postgres_databases: Databases,
) -> None:
    """An empty database is unrecognised, and stays empty (verify creates no schema)."""
    url = postgres_databases.new()
    with pytest.raises(StoreUnrecognised, match="holds no newsroom log"):
        await verify_database(url)
    assert psql(postgres_databases, url, "SELECT count(*) FROM pg_tables "
                "WHERE schemaname = 'public'") == "0"  # fmt: skip


def test_a_database_that_is_not_there_exits_2(
    postgres_databases: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database the server does not have: exit 2 with the driver's reason, no password."""
    url = postgres_databases.server.url("no_such_database").replace(
        "postgres@", f"postgres:{SECRET}@"
    )
    code, out, err = run(url, capsys)
    assert (code, out) == (2, "")
    assert "cannot connect" in err and "no_such_database" in err


async def test_a_store_error_is_no_driver_type(postgres_databases: Databases) -> None:
    """What the driver raises comes out as newsroom's StoreError."""
    with pytest.raises(StoreError):
        await verify_database(postgres_databases.server.url("no_such_database"))
