"""Settings: one frozen object from command-line flags over `NEWSROOM_*` environment variables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from newsroom.errors import ConfigError

DEFAULT_STORE = "sqlite:///./newsroom-data/newsroom.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything newsroom can be told at start; see the README's configuration table."""

    host: str = "127.0.0.1"
    port: int = 8080
    store: str = DEFAULT_STORE
    base_url: str = ""
    demo: bool = True
    log_level: str = "INFO"

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
        description="Run newsroom: an event-sourced news back end (GraphQL, feeds, sitemaps).",
        epilog="Every flag can also be set as an environment variable, e.g. NEWSROOM_PORT=9000.",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", help="port to listen on (default 8080)")
    p.add_argument("--store", help=f"event store URL (default {DEFAULT_STORE})")
    p.add_argument("--base-url", help="public URL of the site, for links in feeds and pages")
    p.add_argument(
        "--no-demo", action="store_true", default=None, help="do not write demo articles"
    )
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
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
    no_demo = args.no_demo or env.get("NEWSROOM_NO_DEMO", "").lower() in ("1", "true", "yes")
    level = pick(args.log_level, "LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return Settings(
        host=pick(args.host, "HOST", "127.0.0.1"),
        port=int(port_text),
        store=pick(args.store, "STORE", DEFAULT_STORE),
        base_url=pick(args.base_url, "BASE_URL", ""),
        demo=not no_demo,
        log_level=level,
    )
