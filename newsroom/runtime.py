"""How the newsroom process runs: its event loop, its garbage collector's settings and how many
files it may open.

`python -m newsroom` (and the benchmarks' servers) choose the loop and the collector's threshold,
and the server raises its descriptor limit; these are the process's to choose, so tests keep the
interpreter's defaults. The policies the composition root applies itself are `collector_paused`,
around the replay at start, and `release_free_memory` after the search index's build.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import sys
from collections.abc import Iterator

# Once the log is replayed (and what the replay built is frozen), most young objects the cyclic
# GC sees belong to requests in flight, which reference counting frees when they end, or are the
# few each event adds to the views. With CPython's default of a young collection every 700 net
# new container objects, collections took a quarter of the CPU under a stream of creates, more
# as the views grew; with 10,000, under a tenth (docs/benchmarks.md, section 4).
GC_YOUNG_THRESHOLD = 10_000
# Every connection is an open descriptor. The soft limit is often 1,024 while the hard one, which
# an unprivileged process may raise its soft limit to, is far higher; this many is plenty for
# the connection cap (config.py) and what the process opens itself.
DESCRIPTORS_WANTED = 65_536
# Only one thread runs Python at a time. When the event loop's thread wants the interpreter
# back (a request arrived, an append finished) while a worker thread is busy with Python code
# (validating a new GraphQL document, decoding a page of the log), it waits until the worker is
# made to let go: every 5 ms by default, and a request needs many such hand-backs. A shorter
# interval keeps those waits short (docs/benchmarks.md, section 5).
SWITCH_INTERVAL = 0.0005  # seconds


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh uvloop loop (asyncio's own on Windows, where uvloop has no build).

    uvloop is a drop-in asyncio loop written on libuv. Every request spends part of its time in
    the loop and its socket transports; `GET /feed` served about 1.4x the requests per second on
    it (docs/benchmarks.md, section 6). For `asyncio.Runner(loop_factory=…)`."""
    if sys.platform == "win32":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


def tune_collector() -> None:
    """Collect young objects less often (never more often than the process already does)."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)


def share_the_interpreter() -> None:
    """Make a busy worker thread hand Python's interpreter back to the event loop sooner."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))


@contextlib.contextmanager
def collector_paused(freeze: bool) -> Iterator[None]:
    """Pause the cyclic GC for the block; then, if `freeze`, move what it built out of its sight.

    A replay builds millions of objects without a reference cycle among them; the cyclic GC
    would rescan them all, again and again (a third of the replay time). They live as long as
    the process, so once built they are frozen: later collections skip them."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        if freeze:
            gc.freeze()


def release_free_memory() -> None:
    """Hand back to the operating system the memory that C's allocator holds free (glibc only).

    Building the search index on a worker thread leaves about 60 MB free in that thread's malloc
    arena on the 1,000,000-event log (SQLite's buffers of the build); glibc keeps it for reuse
    unless asked to trim it (docs/benchmarks.md, memory). Elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, as on Alpine)
        return
    libc.malloc_trim(0)


def raise_descriptor_limit(wanted: int = DESCRIPTORS_WANTED) -> int | None:
    """Raise the soft limit on open descriptors toward the hard one (up to `wanted`); return
    the soft limit now in force, or None where the platform has none (Windows) or it is
    unlimited."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. macOS refuses more than its OPEN_MAX
            pass
    return None if soft == resource.RLIM_INFINITY else soft
