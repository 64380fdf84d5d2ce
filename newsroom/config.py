"""Settings: one frozen object from command-line flags over `NEWSROOM_*` environment variables.

Each setting is declared once, as a field of `Settings` made with `setting(...)`: its default, its
help text and the parser that checks its text. The flag (`--feed-items`), the variable
(`NEWSROOM_FEED_ITEMS`), `--help` and `load` are all derived from that declaration, so adding a
setting is one line here plus its row in the README's configuration table (a test holds them equal).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import urlsplit

from newsroom.errors import ConfigError

DEFAULT_STORE = "sqlite:///./newsroom-data/newsroom.db"
FEED_ITEMS_MAX = 500
CONNECTIONS_MAX = 1_000_000  # far beyond what one process serves; a typo's guard, not a tuning
RATE_MAX = 1_000_000  # requests (per second, or at once)
# Google News: "ISO 639 language code (2 or 3 letters)", zh-cn / zh-tw for Chinese
# (https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap).
_LANGUAGE = re.compile("zh-cn|zh-tw|[a-z]{2,3}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")

T = TypeVar("T")
Parse = Callable[[str], T]
"""Turns a setting's text into its value, or raises ValueError saying what the text must be."""


@dataclass(frozen=True, slots=True)
class Declaration:
    """What `Settings` knows about one setting besides its name, type and default."""

    help: str
    parse: Parse[object] | None  # None: a switch, a flag without a value
    shown: str  # the default as --help and the README show it


def setting(
    default: T,
    help: str,
    parse: Parse[T] | None = None,
    shown: str | None = None,
    secret: bool = False,
) -> T:
    """Declare a setting: a `Settings` field with its help text and the parser of its text.

    A `bool` default makes a switch that flips it: `--no-demo` for `demo=True`,
    `--allow-anonymous-writes` for `allow_anonymous_writes=False`. Other settings need `parse`,
    except text, which is taken as given. `shown` replaces the default in `--help` and the README.
    A `secret` is left out of the settings' repr, so printing or logging them never shows it.
    """
    if isinstance(default, bool):
        declaration = Declaration(help, None, shown or "off")
    else:
        declaration = Declaration(help, parse or str, str(default) if shown is None else shown)
    return field(default=default, repr=not secret, metadata={"setting": declaration})


def _store(text: str) -> str:
    """A store URL; a PostgreSQL one must parse and name a database (it is used as given)."""
    if text.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(text)
            _ = parts.hostname, parts.port  # each raises ValueError if malformed
        except ValueError as e:
            raise ValueError(f"a well-formed PostgreSQL URL ({e})") from None
        if not parts.path.strip("/"):
            raise ValueError("a PostgreSQL URL that names a database: postgresql://user@host/db")
    return text


def _port(text: str) -> int:
    return _whole(text, 1, 65535)


def _feed_items(text: str) -> int:
    return _whole(text, 1, FEED_ITEMS_MAX)


def _between(low: int, high: int) -> Callable[[str], int]:
    """A parser for a whole number from `low` to `high`."""
    return lambda text: _whole(text, low, high)


def _whole(text: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise ValueError(f"a number from {low} to {high}")
    return int(text)


def _connections(text: str) -> int:
    return _whole(text, 1, CONNECTIONS_MAX)


def _rate(text: str) -> int:
    return _whole(text, 0, RATE_MAX)


def _burst(text: str) -> int:
    return _whole(text, 1, RATE_MAX)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:  # also refuses nan
        raise ValueError("a number of seconds above 0 and at most 300")
    return value


def _log_level(text: str) -> str:
    if text.upper() not in _LOG_LEVELS:
        raise ValueError("DEBUG, INFO, WARNING or ERROR")
    return text.upper()


def _log_format(text: str) -> str:
    if text.lower() not in ("text", "json"):
        raise ValueError("text or json")
    return text.lower()


def _language(text: str) -> str:
    if not _LANGUAGE.fullmatch(text):
        raise ValueError(
            "an ISO 639 code of 2 or 3 lowercase letters (or zh-cn, zh-tw) as Google News requires"
        )
    return text


def _line(text: str) -> str:
    if not text.strip() or not text.isprintable():
        raise ValueError("one printable line")
    return text


def _base_url(text: str) -> str:
    """An absolute http(s) URL with a host, or empty (derived from host and port)."""
    parts = urlsplit(text)
    if text and (
        parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
    ):
        raise ValueError("an absolute http(s) URL such as https://news.example")
    return text


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """How big a GraphQL document may be, and how its cache and new documents are bounded; the
    defaults fit every legitimate use of the API (web/graphql/limits.py says why each is so)."""

    max_length: int = 16_384  # characters of document text
    max_tokens: int = 1_000  # introspection (GraphiQL, schemathesis) takes 183
    max_comments: int = 200  # GraphiQL's welcome text has 29 lines of comments
    max_depth: int = 20  # introspection nests 15 deep
    max_fields: int = 500  # after expanding fragments; introspection selects 469
    max_definitions: int = 16  # operations and fragments; introspection has 4
    max_fragment_uses: int = 100  # after expanding fragments; introspection has 18
    max_overlaps: int = 200  # pairs of fields sharing a response name; introspection needs 0
    max_cost: int = 5_000
    max_errors: int = 20  # validation stops after so many (each costs ~60 µs)
    cache_bytes: int = 8 * 2**20  # estimated memory of the cached documents (see cache.py)
    new_documents_wait: float = 0.1  # seconds a new document may wait for its turn


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything newsroom can be told at start; every field but `graphql_limits` is a setting."""

    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(8080, "port to listen on", _port)
    store: str = setting(
        DEFAULT_STORE,
        "event store URL: sqlite:///relative/path, sqlite:////absolute/path, or "
        "postgresql://user@host:port/database (a log several processes share; "
        "pass the password in PGPASSWORD or ~/.pgpass rather than in the URL)",
        _store,
    )
    verify_on_start: bool = setting(
        False,
        "before the replay, check the whole log as python -m newsroom verify does (every page "
        "and every event; time grows with the log) and refuse to start if it is damaged",
    )
    base_url: str = setting(
        "",
        "public URL of the site: article urls and the links in feeds, sitemaps and pages use it",
        _base_url,
        shown="derived from host and port",
    )
    demo: bool = setting(True, "do not write the demo articles into an empty log")
    log_level: str = setting("INFO", "DEBUG, INFO, WARNING or ERROR", _log_level)
    log_format: str = setting(
        "text",
        "text (one readable line per record) or json (one JSON object per line: time, level, "
        "logger, message, request_id and the record's fields), for a log search tool",
        _log_format,
    )
    log_file: str = setting(
        "",
        "write the log to this file instead of stderr; SIGHUP reopens it (after logrotate moved "
        "it)",
        shown="stderr",
    )
    access_log: bool = setting(
        True, "do not log a line per request (method, route, status, duration, bytes, request id)"
    )
    metrics_public: bool = setting(
        False, "serve /metrics without the token even when --token is set (e.g. to a scraper on "
        "a private network)"
    )  # fmt: skip
    shutdown_grace: float = setting(
        10.0,
        "seconds (up to 300) that in-flight requests get to finish after SIGTERM before the "
        "server closes their connections",
        _seconds,
    )
    token: str = setting(
        "",
        "bearer token that mutations, /healthz?fingerprint and /metrics must carry, never logged; "
        "without "
        "one writes are open, so a non-loopback host also needs --allow-anonymous-writes. On the "
        "command line it shows in the process list: prefer --token-file or the variable",
        shown="none",
        secret=True,
    )
    token_file: str = setting(
        "",
        "file whose content is the bearer token (trailing white space ignored); the way to pass "
        "it without showing it in the process list",
        shown="none",
    )
    allow_anonymous_writes: bool = setting(
        False, "listen on a non-loopback address without a token (anyone may write)"
    )
    view_wait: float = setting(
        2.0, "seconds (up to 300) a read with Newsroom-Min-Position waits for the views", _seconds
    )
    body_timeout: float = setting(
        10.0, "seconds (up to 300) a request body may take to arrive", _seconds
    )
    header_timeout: float = setting(
        10.0, "seconds (up to 300) a new connection has to send its first request's head", _seconds
    )
    keepalive_timeout: float = setting(
        15.0, "seconds (up to 300) an idle connection is kept open for its next request", _seconds
    )
    send_timeout: float = setting(
        30.0,
        "seconds (up to 300) a reply may wait unread by its client, with no progress, before the "
        "connection is cut",
        _seconds,
    )
    max_connections: int = setting(
        4096,
        "most connections open at once, WebSockets included (lowered at start to what the "
        "process's descriptor limit leaves room for)",
        _connections,
    )
    max_connections_per_address: int = setting(
        64, "most connections open at once from one client address (IPv6: one /64)", _connections
    )
    rate_limit: int = setting(
        50, "requests per second one client address may make on average; 0: no limit", _rate
    )
    rate_burst: int = setting(
        100, "requests one client address may make at once, above its average rate", _burst
    )
    limit_loopback: bool = setting(
        False,
        "apply the per-address limits to loopback clients too (off: behind a reverse proxy on "
        "the same machine every client is loopback)",
    )
    graphql_limits: GraphQLLimits = GraphQLLimits()  # not a setting: tests and benchmarks tune it
    site_name: str = setting(
        "newsroom", "the publication's name: feed titles, Google News' news:name, pages", _line
    )
    site_description: str = setting(
        "The latest news",
        "one line that says what the publication is: on the home page, in every page's footer, "
        "and as the feeds' description",
        _line,
    )
    language: str = setting(
        "en", "ISO 639 code of the publication's language: feeds, news sitemap, pages", _language
    )
    feed_items: int = setting(
        20, f"how many of the newest articles each feed lists, 1 to {FEED_ITEMS_MAX}", _feed_items
    )
    max_writes: int = setting(
        256,
        "mutations in progress at once (they share the store's group commit); more wait a "
        "second, then get 503",
        _between(1, 100_000),
    )
    max_replays: int = setting(
        8,
        "subscriptions that may replay the log at once (articleEvents with an old `after`); "
        "more wait a second, then get a BUSY error",
        _between(1, 1_000),
    )
    replay_rate: int = setting(
        1_000,
        "events a second that replaying subscriptions may send, all of them together; keeps "
        "replays from taking the event loop from other requests",
        _between(1, 1_000_000),
    )
    max_log_reads: int = setting(
        8,
        "reads of the log (the `events` query, `history`, past versions) that may run at once; "
        "more wait a second, then get 503",
        _between(1, 1_000),
    )
    max_reply_bytes: int = setting(
        4 * 1024 * 1024,
        "bytes of text (bodies, event data) one GraphQL reply may carry, counted while it is "
        "built; a query that asks for more gets an error instead",
        _between(64 * 1024, 1024**3),
    )
    max_websockets: int = setting(
        1_000, "WebSocket connections open at once; more get 503", _between(1, 100_000)
    )
    max_websockets_per_address: int = setting(
        16,
        "WebSocket connections one client address may hold (loopback only with "
        "--limit-loopback); more get 503",
        _between(1, 100_000),
    )
    max_subscriptions: int = setting(
        4_000, "subscriptions running at once over all WebSockets", _between(1, 1_000_000)
    )

    checkpoints: bool = setting(
        True,
        "neither save view checkpoints nor load one at start: every start replays the whole log",
    )
    checkpoint_path: str = setting(
        "",
        "directory for the view checkpoints (a cache of the views, safe to delete); needed "
        "for a store that is not a file",
        shown="the SQLite log's path + .views",
    )
    checkpoint_every_events: int = setting(
        10_000,
        "save a view checkpoint once the views moved this many events past the last one; "
        "0: not by count",
        _between(0, 1_000_000_000),
    )
    checkpoint_every_minutes: int = setting(
        10,
        "save a view checkpoint this many minutes after the last one, if any event came since; "
        "0: not by time (one is saved at every clean shutdown either way)",
        _between(0, 10_080),
    )

    @property
    def public_url(self) -> str:
        """The URL readers use: `base_url` if set, else the local one."""
        return self.base_url.rstrip("/") if self.base_url else self.local_url

    @property
    def local_url(self) -> str:
        """Where this process listens, as a URL a browser on this machine can open."""
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        return f"http://{host}:{self.port}"


def store_option(parser: argparse.ArgumentParser, what: str, urls: str = "") -> None:
    """The `--store` option of the offline commands (verify, backup, export, import): the same
    variable and default as the server's, `what` the command does with the log."""
    urls = urls or "sqlite:///path or postgresql://user@host:port/database"
    parser.add_argument(
        "--store",
        default=os.environ.get("NEWSROOM_STORE", DEFAULT_STORE),
        help=f"{what}: {urls} (env NEWSROOM_STORE; default: {DEFAULT_STORE})",
    )


def declared() -> list[Field[Any]]:
    """The fields of `Settings` that are settings, in declaration order."""
    return [f for f in fields(Settings) if "setting" in f.metadata]


def declaration(f: Field[Any]) -> Declaration:
    """How the setting `f` is described and parsed."""
    found: Declaration = f.metadata["setting"]
    return found


def flag(f: Field[Any]) -> str:
    """The flag of `f`: `--feed-items`; a switch's flag says what it turns on: `--no-demo`."""
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.default is True else f"--{name}"


def variable(f: Field[Any]) -> str:
    """The environment variable of `f`, named after its flag: `NEWSROOM_NO_DEMO`."""
    return "NEWSROOM_" + flag(f).removeprefix("--").replace("-", "_").upper()


def parser() -> argparse.ArgumentParser:
    """The command-line interface of `python -m newsroom`, one flag per declared setting."""
    p = argparse.ArgumentParser(
        prog="python -m newsroom",
        description="Run newsroom: an event-sourced news back end with a GraphQL API.",
        epilog="Every flag can also be set by the environment variable shown; flags win. "
        "Other commands work on a log instead of serving it (each has --help): "
        "python -m newsroom verify --store URL checks it; backup --store URL DEST copies a live "
        "SQLite log; export --store URL [--output FILE] writes it as NDJSON; import --store URL "
        "FILE fills a new, empty store from such a file.",
    )
    for f in declared():
        about = declaration(f)
        text = f"{about.help} (env {variable(f)}; default: {about.shown})".replace("%", "%%")
        if about.parse is None:
            p.add_argument(flag(f), dest=f.name, action="store_true", default=None, help=text)
        else:
            p.add_argument(flag(f), dest=f.name, metavar=f.name.upper(), help=text)
    return p


def load(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Parse `argv` over `env`; flags win. Raise `ConfigError` naming the bad value."""
    given = vars(parser().parse_args(argv))
    env = os.environ if env is None else env
    values: dict[str, Any] = {f.name: _value(f, given[f.name], env) for f in declared()}
    if values["token_file"]:
        if values["token"]:
            raise ConfigError("give the token once: --token (NEWSROOM_TOKEN) or --token-file")
        values["token"] = _token_from(values["token_file"])
    settings = Settings(**values)
    if not settings.token and not settings.allow_anonymous_writes and not _loopback(settings.host):
        raise ConfigError(
            f"listening on {settings.host} without a token would let anyone write; set --token "
            "(or NEWSROOM_TOKEN), or pass --allow-anonymous-writes if that is really intended"
        )
    return settings


def _value(f: Field[Any], given: str | bool | None, env: Mapping[str, str]) -> object:
    """The value of one setting: its flag if given, else its variable if set, else its default."""
    about, source = declaration(f), flag(f)
    if given is None and variable(f) in env:
        given, source = env[variable(f)], variable(f)
    if given is None:
        return f.default
    try:
        if about.parse is None:  # a switch turned on flips its default
            return (not f.default) if _switched_on(given) else f.default
        return about.parse(str(given))
    except ValueError as e:
        name = flag(f).removeprefix("--").replace("-", " ")
        shown = _without_password(str(given))
        raise ConfigError(f"{name} must be {e}, got {shown!r} (from {source})") from None


def _without_password(text: str) -> str:
    """`text` with the password of a URL in it (scheme://user:password@host) masked."""
    return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)


def _switched_on(given: str | bool) -> bool:
    """A switch's flag is True when given; its variable is 1/true/yes/on or 0/false/no/off/empty."""
    if isinstance(given, bool) or given.lower() in _ON:
        return True
    if given.lower() in _OFF:
        return False
    raise ValueError(f"{'/'.join(_ON)} to turn it on or {'/'.join(_OFF[1:])} (or empty) not to")


TOKEN_FILE_MAX = 4096  # bytes; a token is a line, not a document


def _token_from(path: str) -> str:
    """The token held in the file at `path`; a `ConfigError` saying why it cannot be used."""
    try:
        with open(path, "rb") as file:
            raw = file.read(TOKEN_FILE_MAX + 1)
    except OSError as e:
        raise ConfigError(f"cannot read the token file {path!r}: {e.strerror}") from None
    token = raw.decode("utf-8", "replace").strip()
    if len(raw) > TOKEN_FILE_MAX or not token or not token.isprintable():
        raise ConfigError(f"the token file {path!r} must hold one line: the token")
    return token


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
