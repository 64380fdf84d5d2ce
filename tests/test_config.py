"""Settings from flags over NEWSROOM_* variables: each declared once, and --help, README and load agree."""

from __future__ import annotations

import re
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

import pytest

from newsroom.config import Settings, declaration, declared, flag, load, parser, variable
from newsroom.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_SETTINGS = {"graphql_limits"}  # tuned in code by tests and benchmarks, not at start

# Two valid texts per setting that is not a switch, unlike each other and the default (hosts are
# loopback ones, so no token is needed).
SAMPLES = {
    "host": ("::1", "localhost"),
    "port": ("9000", "9001"),
    "store": ("sqlite:///a.db", "sqlite:///b.db"),
    "base_url": ("https://news.example", "http://other.example/news"),
    "log_level": ("DEBUG", "WARNING"),
    "log_format": ("json", "text"),
    "log_file": ("/var/log/a.log", "/var/log/b.log"),
    "shutdown_grace": ("1", "300"),
    "token": ("secret-a", "secret-b"),
    "view_wait": ("0.5", "30"),
    "body_timeout": ("1", "300"),
    "header_timeout": ("2.5", "60"),
    "keepalive_timeout": ("5", "75"),
    "send_timeout": ("10", "120"),
    "max_connections": ("100", "20000"),
    "max_connections_per_address": ("8", "1000"),
    "rate_limit": ("0", "200"),
    "rate_burst": ("1", "1000"),
    "site_name": ("The Example Times", "Daily"),
    "site_description": ("All of it", "Some of it"),
    "language": ("de", "zh-tw"),
    "feed_items": ("50", "500"),
    "max_replays": ("2", "100"),
    "max_writes": ("4", "1000"),
    "max_log_reads": ("3", "50"),
    "replay_rate": ("500", "100000"),
    "max_reply_bytes": ("65536", "1000000"),
    "max_websockets": ("10", "20000"),
    "max_subscriptions": ("16", "100000"),
    "max_websockets_per_address": ("2", "64"),
    "checkpoint_path": ("/var/cache/newsroom/views", "views"),
    "checkpoint_every_events": ("0", "500"),
    "checkpoint_every_minutes": ("0", "60"),
}
# Settings that name a file: two contents, written to files whose paths are the samples.
FILE_SAMPLES = {"token_file": ("token-a", "token-b")}


def readme_table() -> dict[str, list[str]]:
    """The README's configuration table: the row of each flag, backticks removed."""
    section = README.read_text(encoding="utf-8").split("## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `--")]
    cells = [[c.strip().strip("`") for c in row.strip("|").split("|")] for row in rows]
    return {row[0]: row for row in cells}


def unwrapped(text: str) -> str:
    """`text` without whitespace, so argparse's line wrapping (also after hyphens) cannot matter."""
    return "".join(text.split())


def settings_ids(f: Field[Any]) -> str:
    return f.name


def test_every_settings_field_but_the_internal_ones_is_declared() -> None:
    """A `Settings` field added without `setting(...)` has no flag, variable or help: refused."""
    assert {f.name for f in fields(Settings)} - {f.name for f in declared()} == NOT_SETTINGS


@pytest.mark.parametrize("f", declared(), ids=settings_ids)
def test_help_shows_each_setting_with_its_variable_and_default(f: Field[Any]) -> None:
    """`--help` lists every declared setting's flag, variable, help and default."""
    text = parser().format_help()
    about = declaration(f)
    assert re.search(rf"^  {flag(f)}\b", text, re.MULTILINE)
    line = f"{about.help} (env {variable(f)}; default: {about.shown})"
    assert unwrapped(line) in unwrapped(text)


@pytest.mark.parametrize("f", declared(), ids=settings_ids)
def test_readme_table_has_a_row_for_each_setting(f: Field[Any]) -> None:
    """The README's configuration table names each setting's flag, variable and default."""
    row = readme_table().get(flag(f))
    assert row is not None, f"README's configuration table has no row for {flag(f)}"
    assert row[1:3] == [variable(f), declaration(f).shown]


def test_readme_table_has_no_undeclared_settings() -> None:
    """Every flag in the README's table is a declared setting."""
    assert set(readme_table()) <= {flag(f) for f in declared()}


@pytest.mark.parametrize("f", declared(), ids=settings_ids)
def test_each_default_passes_its_own_check(f: Field[Any]) -> None:
    """A setting's default, given as text, is accepted and read back unchanged."""
    parse = declaration(f).parse
    assert parse is None or parse(str(f.default)) == f.default


def test_help_never_shows_the_token_set_in_the_environment() -> None:
    """The token is a secret: --help shows no default for it, whatever the environment holds."""
    assert declaration(next(f for f in declared() if f.name == "token")).shown == "none"
    assert "secret-a" not in parser().format_help()


@pytest.mark.parametrize("f", declared(), ids=settings_ids)
def test_each_setting_reaches_settings_by_flag_and_by_variable_and_the_flag_wins(
    f: Field[Any], tmp_path: Path
) -> None:
    """Each declared setting is read from its variable, from its flag, and the flag wins over both."""
    parse = declaration(f).parse
    if parse is None:  # a switch: its flag or its variable turned on flips the default
        assert getattr(load([flag(f)], env={}), f.name) is not f.default
        assert getattr(load([], env={variable(f): "yes"}), f.name) is not f.default
        assert getattr(load([flag(f)], env={variable(f): "0"}), f.name) is not f.default
        assert getattr(load([], env={variable(f): "0"}), f.name) is f.default
        return
    if f.name in FILE_SAMPLES:
        for name, content in zip(("env", "flag"), FILE_SAMPLES[f.name], strict=True):
            (tmp_path / name).write_text(content)
        by_env, by_flag = str(tmp_path / "env"), str(tmp_path / "flag")
    else:
        assert f.name in SAMPLES, f"add two sample values for {f.name} to SAMPLES"
        by_env, by_flag = SAMPLES[f.name]
    from_env = getattr(load([], env={variable(f): by_env}), f.name)
    from_flag = getattr(load([flag(f), by_flag], env={variable(f): by_env}), f.name)
    assert from_env == parse(by_env) != f.default
    assert from_flag == parse(by_flag) != from_env


def test_publication_settings_come_from_flags_over_the_environment() -> None:
    """Flags win over variables; unset ones keep their defaults."""
    env = {"NEWSROOM_SITE_NAME": "The Example Times", "NEWSROOM_LANGUAGE": "de"}
    settings = load(["--language", "zh-tw", "--feed-items", "50"], env=env)
    assert (settings.site_name, settings.language, settings.feed_items) == (
        "The Example Times",
        "zh-tw",
        50,
    )
    assert load([], env={}) == Settings()


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--language", "English"], "ISO 639"),
        (["--language", "EN"], "ISO 639"),
        (["--feed-items", "0"], "feed items"),
        (["--feed-items", "501"], "feed items"),
        (["--feed-items", "ten"], "feed items"),
        (["--feed-items", "²"], "feed items"),
        (["--site-name", "   "], "site name"),
        (["--site-name", "Line\nbreak"], "site name"),
        (["--base-url", "news.example.com"], "absolute http"),
        (["--base-url", "ftp://news.example"], "absolute http"),
        (["--base-url", "https://"], "absolute http"),
        (["--port", "0"], "port must be a number from 1 to 65535, got '0'"),
        (["--log-level", "LOUD"], "log level must be DEBUG"),
        (["--view-wait", "0"], "view wait must be a number of seconds"),
        (["--body-timeout", "nan"], "body timeout must be a number of seconds"),
        (["--header-timeout", "0"], "header timeout must be a number of seconds above 0"),
        (["--keepalive-timeout", "301"], "keepalive timeout must be a number of seconds"),
        (["--max-connections", "0"], "max connections must be a number from 1 to 1000000"),
        (["--max-connections-per-address", "-1"], "max connections per address must be a number"),
        (["--max-connections", "1e3"], "max connections must be a number"),
        (["--rate-limit", "1.5"], "rate limit must be a number from 0 to 1000000"),
        (["--rate-burst", "0"], "rate burst must be a number from 1 to 1000000"),
    ],
)
def test_bad_settings_are_refused_by_name(argv: list[str], problem: str) -> None:
    """A language Google News would reject, an odd item count, a blank name: refused at start."""
    with pytest.raises(ConfigError, match=problem):
        load(argv, env={})


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"NEWSROOM_VIEW_WAIT": "301"}, r"view wait .* got '301' \(from NEWSROOM_VIEW_WAIT\)"),
        ({"NEWSROOM_NO_DEMO": "maybe"}, r"no demo .* got 'maybe' \(from NEWSROOM_NO_DEMO\)"),
        ({"NEWSROOM_PORT": ""}, r"port .* got '' \(from NEWSROOM_PORT\)"),
    ],
)
def test_bad_variables_are_refused_naming_the_variable(env: dict[str, str], problem: str) -> None:
    """A bad value from the environment is refused with the variable it came from."""
    with pytest.raises(ConfigError, match=problem):
        load([], env=env)


def test_the_token_never_shows_in_the_settings_repr() -> None:
    """Printing or logging the settings leaves the token out."""
    settings = load(["--token", "s3cret-value-for-the-test"], env={})
    assert settings.token == "s3cret-value-for-the-test"
    assert "s3cret-value-for-the-test" not in repr(settings)


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    """--token-file (or NEWSROOM_TOKEN_FILE) reads the token, trailing newline ignored."""
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    assert load(["--token-file", str(secret)], env={}).token == "from-a-file"
    assert load([], env={"NEWSROOM_TOKEN_FILE": str(secret)}).token == "from-a-file"


@pytest.mark.parametrize(
    ("content", "extra", "problem"),
    [
        (None, [], "cannot read the token file"),
        ("", [], "must hold one line"),
        ("two\nlines", [], "must hold one line"),
        ("fine", ["--token", "also"], "give the token once"),
    ],
)
def test_a_token_file_that_cannot_serve_is_refused(
    tmp_path: Path, content: str | None, extra: list[str], problem: str
) -> None:
    """A missing, empty or multi-line token file, or a token given twice, stops start-up."""
    secret = tmp_path / "token"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        load(["--token-file", str(secret), *extra], env={})


def test_help_warns_that_a_token_flag_shows_in_the_process_list() -> None:
    """--help tells operators to prefer --token-file over --token."""
    text = " ".join(parser().format_help().split())
    assert "process list" in text and "--token-file" in text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://ed:hunter2@db:abc/news", "well-formed PostgreSQL URL"),
        ("postgresql://ed:hunter2@[::1/news", "well-formed PostgreSQL URL"),
        ("postgresql://ed:hunter2@db:5432/", "names a database"),
    ],
)
def test_a_malformed_postgresql_url_is_refused_without_its_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as refused:
        load(["--store", url], env={})
    assert "hunter2" not in str(refused.value) and "ed:***@" in str(refused.value)


def test_a_postgresql_url_is_taken_as_given() -> None:
    url = "postgresql://ed@db.example:5433/news?sslmode=require"
    assert load(["--store", url], env={}).store == url
