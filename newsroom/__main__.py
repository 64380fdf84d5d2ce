"""`python -m newsroom`: start the server, replay the log, print the URL; stop cleanly on a signal.

On SIGTERM or Ctrl-C it stops accepting connections, lets in-flight requests (and their appends)
finish, closes the store and exits 0. A store it must not touch (damaged, foreign, locked) stops
start-up with a message and exit code 2. Other commands work on a log instead of serving it:
`verify` checks one (`verify.py`), `backup` copies a live SQLite one (`backup.py`), `export`
writes one as NDJSON and `import` fills a new store from such a file (`transfer/`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from newsroom import backup, config, logs, verify
from newsroom.errors import NewsroomError
from newsroom.runtime import (
    new_event_loop,
    raise_descriptor_limit,
    share_the_interpreter,
    tune_collector,
)
from newsroom.transfer import cli as transfer
from newsroom.web.app import create_app
from newsroom.web.connections import guarded_site, reserve
from newsroom.web.observe import OBSERVER
from newsroom.web.unmatched import front_door

log = logging.getLogger("newsroom")
COMMANDS = {  # python -m newsroom COMMAND ...: work on a log instead of serving it
    "verify": verify.main,
    "backup": backup.main,
    "export": transfer.export_main,
    "import": transfer.import_main,
}


async def serve(settings: config.Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain and close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)

    def reopen_logs() -> None:  # SIGHUP, after logrotate moved the file away
        app[OBSERVER].drain()  # the requests noted so far belong in the file moved away
        logs.reopen()

    loop.add_signal_handler(signal.SIGHUP, reopen_logs)
    # No handler arguments here: the site builds each connection's handler (web/connections.py).
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_grace)
    if settings.allow_anonymous_writes and not settings.token:
        log.warning(
            "writes need no token: anyone who can reach %s can change articles", settings.host
        )
    # Bind first: a port in use stops start-up before the store is opened or anything written.
    sockets = reserve(settings.host, settings.port)
    try:
        await runner.setup()  # opens the store and replays the log
    except BaseException:
        for s in sockets:
            s.close()
        raise
    # Requests whose target is not a path (`OPTIONS *`, CONNECT) get their reply, request id
    # and access line from the front door (web/unmatched.py); every other goes to the router.
    assert runner.server is not None, "set up above"
    runner.server.request_handler = front_door(app, runner.server.request_handler)
    tune_collector()
    share_the_interpreter()
    try:
        site = guarded_site(runner, settings, raise_descriptor_limit(), sockets)
        await site.start()
        listening = (
            ""
            if settings.public_url == settings.local_url
            else (f" (listening on {settings.local_url}/)")
        )
        print(f"newsroom is running: open {settings.public_url}/{listening}", flush=True)
        await stop.wait()
        log.info("stopping: finishing in-flight requests, then closing the store")
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and (command := COMMANDS.get(args[0])):
        return command(args[1:])
    try:
        settings = config.load(args)
    except NewsroomError as e:
        print(f"newsroom: {e}", file=sys.stderr)
        return 2
    try:
        logs.configure(settings.log_level, settings.log_format, settings.log_file)
    except OSError as e:
        print(f"newsroom: cannot open the log file: {e}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(serve(settings))
    except NewsroomError as e:
        print(f"newsroom: cannot start: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"newsroom: cannot listen on {settings.host}:{settings.port}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
