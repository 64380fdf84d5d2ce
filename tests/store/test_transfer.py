"""`export` and `import` through the store adapters, in process: a log moves between SQLite and
PostgreSQL byte for byte, keeps what appends and id claims read, and a bad file or a non-empty
target changes nothing."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from newsroom.app import log_source, log_target, open_store
from newsroom.errors import StoreCorrupted, StoreError, StoreUnrecognised
from newsroom.store.postgres import PostgresEventStore
from newsroom.store.postgres_verify import verify_database
from newsroom.store.rows import checksum
from newsroom.store.sqlite_verify import verify_file
from newsroom.store.transfer import Contents
from newsroom.transfer.exporting import export_log
from newsroom.transfer.importing import import_log
from newsroom.transfer.ndjson import ExportReader
from tests.factories import updated
from tests.postgres import Databases
from tests.store.damage import flip_a_byte
from tests.store.varied import written

PAGED = ["newsroom.store.sqlite_transfer", "newsroom.store.postgres_transfer",
         "newsroom.store.postgres_verify", "newsroom.transfer.importing"]  # fmt: skip

NewStore = Callable[[str], str]  # kind ("sqlite" or "postgres") -> the URL of a new, empty store


def quiet(stage: str, done: int, total: int) -> None:
    """Progress nobody reads."""


@pytest.fixture
def new_store(tmp_path: Path, request: pytest.FixtureRequest) -> NewStore:
    made = 0

    def new(kind: str) -> str:
        nonlocal made
        made += 1
        if kind == "sqlite":
            return f"sqlite:///{tmp_path}/log-{made}.db"
        databases: Databases = request.getfixturevalue("postgres_databases")
        return databases.new()

    return new


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 2 rows, so the small logs here take many pages, as a long log would."""
    for module in PAGED:
        monkeypatch.setattr(f"{module}.PAGE", 2)


async def export(url: str) -> bytes:
    out = io.BytesIO()
    async with log_source(url) as source:
        await export_log(source, out, quiet)
    return out.getvalue()


async def import_(url: str, exported: bytes) -> Contents:
    reader = ExportReader(io.BytesIO(exported), "export.ndjson")
    async with log_target(url) as target:
        return await import_log(reader, target, quiet)


async def verified(url: str) -> bool:
    if url.startswith("sqlite:///"):
        return verify_file(Path(url.removeprefix("sqlite:///"))).intact
    return (await verify_database(url)).intact


async def test_a_log_moves_sqlite_postgres_sqlite_byte_for_byte(
    new_store: NewStore, small_pages: None
) -> None:
    """SQLite -> export -> PostgreSQL -> export -> SQLite -> export: three equal files, and
    every store verifies intact."""
    original = await written(new_store("sqlite"))
    first = await export(original)
    postgres = new_store("postgres")
    assert await import_(postgres, first) == Contents(8, 3)
    second = await export(postgres)
    copy = new_store("sqlite")
    await import_(copy, second)
    assert first == second == await export(copy)
    assert all([await verified(url) for url in (original, postgres, copy)])


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_the_imported_log_reads_and_appends_as_the_original(
    new_store: NewStore, kind: str
) -> None:
    """Same events, envelopes and metadata; a repeated idempotency key answers as before; the
    next append continues each stream's versions and the log's positions."""
    original = await written(new_store("sqlite"))
    target = new_store(kind)
    await import_(target, await export(original))
    before, after = await open_store(original), await open_store(target)
    try:
        assert await after.read_all(0, 100) == await before.read_all(0, 100)
        assert await after.find_idempotent("ключ-2") == await before.find_idempotent("ключ-2")
        again = await after.append("article-1", [updated(1, body="x")], 1,
                                   idempotency_key="ключ-2", fingerprint="f-2")  # fmt: skip
        assert again.replayed and again.last_position == 3
        nxt = await after.append("article-12", [updated(12, title="Next")], 2)
        assert (nxt.version, nxt.first_position) == (3, 9)
    finally:
        await before.close()
        await after.close()


async def test_ids_claimed_on_postgres_continue_above_the_imported_ones(
    new_store: NewStore, postgres_databases: Databases
) -> None:
    """The numbers table and the head are restored: a server-assigned id is above article-30."""
    target = new_store("postgres")
    await import_(target, await export(await written(new_store("sqlite"))))
    database = target.rsplit("/", 1)[1]
    assert postgres_databases.server.psql("SELECT prefix, last FROM numbers", database) == (
        "article-|30"
    )
    store = await PostgresEventStore.open(target)
    try:
        assert await store.head() == 8
        assert await store.claim_numbers("article-", 1) == 31
    finally:
        await store.close()


def lines(exported: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in exported.splitlines()]


def joined(parsed: list[dict[str, object]]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in parsed)


def with_event(exported: bytes, line: int, **changes: object) -> bytes:
    """The export with the event on `line` (1: the first event) changed, and its checksum
    recomputed: each row is intact on its own, only the rules between rows can tell."""
    parsed = lines(exported)
    event = parsed[line] | changes
    values = [event[f] for f in list(event)[:9]]
    values[6:8] = [str(values[6]).encode(), str(values[7]).encode()]
    event["checksum"] = checksum(values)
    parsed[line] = event
    return joined(parsed)


async def is_empty(url: str, databases: Databases) -> bool:
    """No log at all: no SQLite file (nor a temporary one beside it), or a database without
    tables (the import's transaction, schema included, rolled back)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return not any(p.name.startswith((path.name, f".{path.name}")) and not p.name.endswith(
            ".lock") for p in path.parent.iterdir())  # fmt: skip
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    return databases.server.psql(tables, url.rsplit("/", 1)[1]) == "0"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_flipped_byte_in_the_last_event_leaves_the_target_without_a_log(
    new_store: NewStore, small_pages: None, kind: str, request: pytest.FixtureRequest
) -> None:
    """Pages of earlier events were already written when the last one fails its checksum: the
    import names its position and the target has no log, as before."""
    exported = await export(await written(new_store("sqlite")))
    damaged = exported.replace(b"Wrong \xc2\xabfacts", b"wrong \xc2\xabfacts")
    assert damaged != exported
    target = new_store(kind)
    with pytest.raises(StoreCorrupted, match="position 5 fails its checksum"):
        await import_(target, damaged)
    databases = request.getfixturevalue("postgres_databases") if kind == "postgres" else None
    assert await is_empty(target, databases)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda e: with_event(e, 4, version=7), "position 4 is version 7 of article-1"),
        (lambda e: with_event(e, 3, position=4), "position 3 is missing"),
        (lambda e: with_event(e, 2, stream="article-1"), "is version 1 of article-1, but"),
        (lambda e: e.replace(b'"first_position":3', b'"first_position":2'),
         "record of key 'ключ-2' names positions 2-3"),
        (lambda e: b"\n".join(e.split(b"\n")[:-3]) + b"\n", "line 11: the file ends here"),
        (lambda e: e + e.split(b"\n")[1] + b"\n", "line 13: more lines than line 1 announced"),
        (lambda e: e.replace(b'"type":"ArticlePublished"', b'"kind":"ArticlePublished"'),
         "line 5: not an event"),
        (lambda e: e.replace(b'"version":2,"event', b'"version":"2","event'),
         "version must be a number"),
        (lambda e: e.replace(b"}\n{", b"}\n\n{", 1), "line 2: not JSON"),
    ],
    ids=["version gap", "position gap", "a stream's versions restart", "idempotency record",
         "cut short", "a line too many", "a field renamed", "a number as text", "blank line"],
)  # fmt: skip
async def test_a_damaged_file_is_refused_naming_where(
    new_store: NewStore, damage: Callable[[bytes], bytes], problem: str
) -> None:
    """Every kind of damage to the file stops the import before anything is committed."""
    exported = await export(await written(new_store("sqlite")))
    target = new_store("sqlite")
    with pytest.raises(StoreCorrupted) as refused:
        await import_(target, damage(exported))
    assert problem in str(refused.value)
    assert await is_empty(target, None)  # type: ignore[arg-type]


async def test_a_postgres_log_with_events_is_refused_and_left_unchanged(
    new_store: NewStore, postgres_databases: Databases
) -> None:
    """Importing twice into one database: the second is refused, naming the database."""
    exported = await export(await written(new_store("sqlite")))
    target = new_store("postgres")
    await import_(target, exported)
    with pytest.raises(StoreError, match=r"not empty \(its log holds 8 events\)") as refused:
        await import_(target, exported)
    assert not isinstance(refused.value, StoreCorrupted)
    assert await export(target) == exported


async def test_an_empty_postgres_log_is_a_fine_target(new_store: NewStore) -> None:
    """A database a server set up (schema, no events) takes an import."""
    target = new_store("postgres")
    await (await PostgresEventStore.open(target)).close()
    exported = await export(await written(new_store("sqlite")))
    await import_(target, exported)
    assert await export(target) == exported


async def test_a_database_with_other_tables_is_refused(
    new_store: NewStore, postgres_databases: Databases
) -> None:
    """A database that holds another program's tables is not newsroom's to fill."""
    target = new_store("postgres")
    postgres_databases.server.psql("CREATE TABLE invoices (id int)", target.rsplit("/", 1)[1])
    with pytest.raises(StoreUnrecognised, match="other tables: invoices"):
        await import_(target, await export(await written(new_store("sqlite"))))


async def test_an_existing_sqlite_file_is_never_written_over(new_store: NewStore) -> None:
    """Import writes new files only: an existing one, even without events, is refused."""
    exported = await export(await written(new_store("sqlite")))
    target = new_store("sqlite")
    await (await open_store(target)).close()
    path = Path(target.removeprefix("sqlite:///"))
    before = await asyncio.to_thread(path.read_bytes)
    with pytest.raises(StoreError, match="exists already"):
        await import_(target, exported)
    assert await asyncio.to_thread(path.read_bytes) == before


async def test_export_refuses_a_damaged_log_naming_the_position(new_store: NewStore) -> None:
    """A byte flipped in an SQLite file fails that event's checksum on export."""
    original = await written(new_store("sqlite"))
    flip_a_byte(Path(original.removeprefix("sqlite:///")), b"Corrected: 100 %")
    with pytest.raises(StoreCorrupted, match="position 3 fails its checksum"):
        await export(original)
