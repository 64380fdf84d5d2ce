"""`python -m newsroom export` / `import` / `verify` as an operator runs them: a log a real server
wrote on SQLite moves to PostgreSQL and back byte for byte, a server on the moved log serves
the same views and hands out ids above the moved ones, and damage is refused by position."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Launch, NewsroomProcess, store_url
from tests.postgres import Databases

pytestmark = pytest.mark.e2e

COMMAND_WITHIN = 60.0  # seconds; the logs here are small
SECRET = "pw-must-stay-secret"
CREATE = """
mutation Create($a: ArticleCreatedInput!, $key: String) {
  createArticle(article: $a, idempotency_key: $key) { id status error }
}
"""
DRAFT = "mutation($a: ArticleInput!) { createDraft(article: $a) { id status error } }"
EDIT_DRAFT = """mutation($id: ID!) { updateDraft(id: $id, changes: {body: "Zweite Fassung: \
Grüße aus Köln 🎉"}) { status error } }"""
PUBLISH = "mutation($id: ID!) { publishArticle(id: $id) { status error } }"
CORRECT = """mutation($id: ID!, $key: String) { updateArticle(id: $id, idempotency_key: $key,
  changes: {title: "Corrigé : l’été « caniculaire »"}) { status error } }"""
RETRACT = """mutation($id: ID!) { retractArticle(id: $id, reason: "Source withdrew — 撤回")
  { status error } }"""


def newsroom(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m newsroom ARGS` to its end and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "newsroom", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=COMMAND_WITHIN,
    )


def article(title: str, **fields: str) -> dict[str, str]:
    return {"title": title, "body": "Texte. 本文。", "category": "world", "author_id": "5",
            "author_name": "Åsa Ørsted", **fields}  # fmt: skip


def succeeded(server: NewsroomProcess, query: str, **variables: Any) -> dict[str, Any]:
    data = server.graphql(query, variables)["data"]
    (reply,) = data.values()
    assert reply["status"] == "ACCEPTED", reply
    result: dict[str, Any] = reply
    return result


@pytest.fixture(scope="module")
def original(module_launch: Launch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log a real server wrote, then stopped: the demo articles, and articles through every
    command, with idempotency keys (one sent twice) and text in many scripts."""
    store: Path = tmp_path_factory.mktemp("original") / "newsroom.db"
    server = module_launch(store)
    created = succeeded(server, CREATE, a=article("Ελληνικά und Deutsch 🦊"), key="key-créé")
    again = succeeded(server, CREATE, a=article("Ελληνικά und Deutsch 🦊"), key="key-créé")
    assert again["id"] == created["id"]  # a repeated key: the first result, nothing new
    draft = succeeded(server, DRAFT, a=article("Черновик", id="500"))
    succeeded(server, EDIT_DRAFT, id=draft["id"])
    succeeded(server, PUBLISH, id=draft["id"])
    succeeded(server, CORRECT, id=created["id"], key="key-corrigé")
    retracted = succeeded(server, CREATE, a=article("Soon withdrawn"))
    succeeded(server, RETRACT, id=retracted["id"])
    assert server.terminate() == 0, server.stderr()
    return store


@pytest.fixture
def database(postgres_databases: Databases) -> str:
    """A fresh, empty database; its URL carries a password, which nothing may print."""
    return postgres_databases.new().replace("postgres@", f"postgres:{SECRET}@")


def assert_secret_kept(*outputs: bytes | str) -> None:
    for output in outputs:
        text = output.decode() if isinstance(output, bytes) else output
        assert SECRET not in text


def fingerprints(server: NewsroomProcess) -> dict[str, str]:
    """Each view's fingerprint, once the search index is built."""
    server.wait_for_search()
    status, report = server.get_json("/healthz?fingerprint=1")
    assert status == 200, report
    return {name: view["fingerprint"] for name, view in report["projections"].items()}


def test_a_log_moves_to_postgres_and_back_byte_for_byte_and_serves_the_same(
    original: Path, database: str, launch: Launch, tmp_path: Path
) -> None:
    """SQLite -> export -> PostgreSQL -> export -> a new SQLite file (from stdin) -> export:
    three equal files; servers on the original and on PostgreSQL serve equal views; an id the
    PostgreSQL server picks is above every moved one."""
    first, third = tmp_path / "first.ndjson", tmp_path / "third.ndjson"
    exported = newsroom("export", "--store", store_url(original), "--output", str(first))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == b"" and b"exported " in exported.stderr
    imported = newsroom("import", "--store", database, str(first))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(b"imported ") and b"postgresql://postgres@" in imported.stdout
    second = newsroom("export", "--store", database)
    assert second.returncode == 0, second.stderr
    copy = tmp_path / "copy.db"
    again = newsroom("import", "--store", store_url(copy), "-", stdin=second.stdout)
    assert again.returncode == 0, again.stderr
    last = newsroom("export", "--store", store_url(copy), "--output", str(third))
    assert last.returncode == 0, last.stderr
    assert first.read_bytes() == second.stdout == third.read_bytes()
    assert first.read_bytes().count(b"\n") > 20  # the demo and every command above
    assert_secret_kept(imported.stdout, imported.stderr, second.stderr)

    on_sqlite = launch(original, "--no-demo", "--no-checkpoints")
    on_postgres = launch(database, "--no-demo")
    assert fingerprints(on_postgres) == fingerprints(on_sqlite)
    moved = max(int(line.split(b'"stream":"article-')[1].split(b'"')[0])
                for line in first.read_bytes().splitlines()[1:] if b'"stream":"article-' in line)  # fmt: skip
    created = succeeded(on_postgres, CREATE, a=article("Written after the move"))
    assert int(created["id"]) > moved >= 500
    assert on_postgres.terminate() == 0 and on_sqlite.terminate() == 0
    assert_secret_kept(on_postgres.stderr(), on_postgres.stdout)


def test_import_refuses_a_log_that_is_not_empty_and_leaves_it_unchanged(
    original: Path, database: str, tmp_path: Path
) -> None:
    """A second import into the same database: exit 2, naming the database (no password)."""
    exported = tmp_path / "log.ndjson"
    assert (
        newsroom("export", "--store", store_url(original), "--output", str(exported)).returncode
        == 0
    )
    assert newsroom("import", "--store", database, str(exported)).returncode == 0
    refused = newsroom("import", "--store", database, str(exported))
    assert refused.returncode == 2
    assert b"postgresql://postgres@" in refused.stderr and b"not empty" in refused.stderr
    assert b"nothing was imported" in refused.stderr and b"Traceback" not in refused.stderr
    assert_secret_kept(refused.stderr)
    assert newsroom("export", "--store", database).stdout == exported.read_bytes()


def test_import_refuses_a_flipped_byte_naming_its_position_and_leaves_no_log(
    original: Path, database: str, postgres_databases: Databases, tmp_path: Path
) -> None:
    """One byte changed in one event's data fails its checksum: exit 1 naming the position; the
    database is left as it was (no tables), and an SQLite target gets no file."""
    lines = newsroom("export", "--store", store_url(original)).stdout.splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if b"Soon withdrawn" in line)
    lines[at] = lines[at].replace(b"Soon withdrawn", b"soon withdrawn")
    damaged = tmp_path / "damaged.ndjson"
    damaged.write_bytes(b"".join(lines))
    for target in (database, store_url(tmp_path / "new.db")):
        refused = newsroom("import", "--store", target, str(damaged))
        assert refused.returncode == 1, refused.stderr
        assert f"the event at position {at} fails its checksum".encode() in refused.stderr
        assert_secret_kept(refused.stderr)
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert postgres_databases.server.psql(tables, database.rsplit("/", 1)[1]) == "0"
    assert not (tmp_path / "new.db").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".new.db")]


def test_verify_on_postgres_names_a_flipped_byte_and_a_deleted_row(
    original: Path, database: str, postgres_databases: Databases
) -> None:
    """Intact: exit 0. A byte of an event's data changed with an UPDATE, then that row deleted:
    exit 1 naming its position each time; the password never shows."""
    exported = newsroom("export", "--store", store_url(original)).stdout
    assert newsroom("import", "--store", database, "-", stdin=exported).returncode == 0
    intact = newsroom("verify", "--store", database)
    assert intact.returncode == 0, intact.stderr
    assert b": intact: " in intact.stdout and b"postgresql://postgres@" in intact.stdout
    name = database.rsplit("/", 1)[1]
    position = postgres_databases.server.psql(
        "SELECT position FROM events WHERE position(convert_to('Soon withdrawn', 'UTF8') in data) > 0",
        name,
    )
    postgres_databases.server.psql(
        "UPDATE events SET data = overlay(data placing convert_to('s', 'UTF8') from "
        f"position(convert_to('Soon', 'UTF8') in data) for 1) WHERE position = {position}",
        name,
    )
    flipped = newsroom("verify", "--store", database)
    assert flipped.returncode == 1
    assert f"first bad position {position}".encode() in flipped.stderr
    assert b"fails its checksum" in flipped.stderr
    postgres_databases.server.psql(f"DELETE FROM events WHERE position = {position}", name)
    deleted = newsroom("verify", "--store", database)
    assert deleted.returncode == 1
    assert f"the event at position {position} is missing".encode() in deleted.stderr
    assert_secret_kept(intact.stdout, flipped.stderr, deleted.stderr)
