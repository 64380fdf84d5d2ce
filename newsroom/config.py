"""Settings: one frozen object from command-line flags over `NEWSROOM_*` environment variables."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsroom.errors import ConfigError

DEFAULT_STORE = "sqlite:///./newsroom-data/newsroom.db"
FEED_ITEMS_MAX = 500
# Google News: "ISO 639 language code (2 or 3 letters)", zh-cn / zh-tw for Chinese
# (https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap).
_LANGUAGE = re.compile("zh-cn|zh-tw|[a-z]{2,3}")


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """How big a GraphQL document may be; the defaults fit every legitimate use of the API."""

    max_tokens: int = 5_000
    max_depth: int = 20  # introspection (GraphiQL, schemathesis) nests 15 deep
    max_fields: int = 500
    max_cost: int = 5_000


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything newsroom can be told at start; see the README's configuration table."""

    host: str = "127.0.0.1"
    port: int = 8080
    store: str = DEFAULT_STORE
    base_url: str = ""
    demo: bool = True
    log_level: str = "INFO"
    token: str = ""
    """Bearer token that mutations must carry; empty: writes are open (loopback only)."""
    allow_anonymous_writes: bool = False
    view_wait: float = 2.0
    """Seconds a read with Newsroom-Min-Position waits for the views before a clear error."""
    body_timeout: float = 10.0
    """Seconds a request body may take to arrive."""
    graphql_limits: GraphQLLimits = GraphQLLimits()
    site_name: str = "newsroom"
    """The publication's name: feed titles, Google News' news:name, page titles."""
    site_description: str = "The latest news"
    language: str = "en"
    """ISO 639 language code of the publication (feeds, news sitemap, pages)."""
    feed_items: int = 20
    """How many of the newest articles each feed lists."""

    @property
    def public_url(self) -> str:
        """The URL readers use: `base_url` if set, else derived from host and port."""
        if self.base_url:
            return self.base_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def parser() -> argparse.ArgumentParser:
    """The command-line interface of `python -m newsroom`."""
    p = argparse.ArgumentParser(
        prog="python -m newsroom",
        description="Run newsroom: an event-sourced news back end with a GraphQL API.",
        epilog="Every flag can also be set as an environment variable, e.g. NEWSROOM_PORT=9000.",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", help="port to listen on (default 8080)")
    p.add_argument("--store", help=f"event store URL (default {DEFAULT_STORE})")
    p.add_argument(
        "--base-url", help="public URL of the site, for article links and GraphiQL's WebSocket"
    )
    p.add_argument(
        "--no-demo", action="store_true", default=None, help="do not write demo articles"
    )
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.add_argument("--token", help="bearer token that mutations must carry (NEWSROOM_TOKEN)")
    p.add_argument("--site-name", help="the publication's name, for feeds and pages")
    p.add_argument("--site-description", help="one line about the publication, for feeds")
    p.add_argument("--language", help="ISO 639 code of the publication's language (default en)")
    p.add_argument("--feed-items", help="articles per feed (default 20)")
    p.add_argument(
        "--allow-anonymous-writes",
        action="store_true",
        default=None,
        help="listen on a non-loopback address without a token (anyone may write)",
    )
    return p


def load(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Parse `argv` over `env`; flags win. Raise `ConfigError` naming the bad value."""
    args = parser().parse_args(argv)
    env = os.environ if env is None else env

    def pick(flag: str | None, name: str, default: str) -> str:
        return flag if flag is not None else env.get(f"NEWSROOM_{name}", default)

    port_text = pick(args.port, "PORT", "8080")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"port must be a number from 1 to 65535, got {port_text!r}")
    no_demo = args.no_demo or _flag(env, "NEWSROOM_NO_DEMO")
    anonymous = args.allow_anonymous_writes or _flag(env, "NEWSROOM_ALLOW_ANONYMOUS_WRITES")
    level = pick(args.log_level, "LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    language = pick(args.language, "LANGUAGE", "en")
    if not _LANGUAGE.fullmatch(language):
        raise ConfigError(
            f"language must be an ISO 639 code of 2 or 3 lowercase letters (or zh-cn, zh-tw) as "
            f"Google News requires, got {language!r}"
        )
    feed_items = pick(args.feed_items, "FEED_ITEMS", "20")
    if not feed_items.isdigit() or not 1 <= int(feed_items) <= FEED_ITEMS_MAX:
        raise ConfigError(
            f"feed items must be a number from 1 to {FEED_ITEMS_MAX}, got {feed_items!r}"
        )
    settings = Settings(
        host=pick(args.host, "HOST", "127.0.0.1"),
        port=int(port_text),
        store=pick(args.store, "STORE", DEFAULT_STORE),
        base_url=_base_url(pick(args.base_url, "BASE_URL", "")),
        demo=not no_demo,
        log_level=level,
        token=pick(args.token, "TOKEN", ""),
        allow_anonymous_writes=bool(anonymous),
        view_wait=_seconds(env, "NEWSROOM_VIEW_WAIT", 2.0),
        body_timeout=_seconds(env, "NEWSROOM_BODY_TIMEOUT", 10.0),
        site_name=_line("site name", pick(args.site_name, "SITE_NAME", "newsroom")),
        site_description=_line(
            "site description", pick(args.site_description, "SITE_DESCRIPTION", "The latest news")
        ),
        language=language,
        feed_items=int(feed_items),
    )
    if not settings.token and not settings.allow_anonymous_writes and not _loopback(settings.host):
        raise ConfigError(
            f"listening on {settings.host} without a token would let anyone write; set --token "
            "(or NEWSROOM_TOKEN), or pass --allow-anonymous-writes if that is really intended"
        )
    return settings


def _base_url(value: str) -> str:
    """An absolute http(s) URL with a host, or empty (derived from host and port)."""
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"base URL must be an absolute http(s) URL such as https://news.example, got {value!r}"
        )
    return value


def _line(name: str, value: str) -> str:
    if not value.strip() or not value.isprintable():
        raise ConfigError(f"{name} must be one printable line, got {value!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").lower() in ("1", "true", "yes")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, str(default))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise ConfigError(f"{name} must be a number of seconds from 0 to 300, got {text!r}")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
