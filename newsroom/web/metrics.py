"""Prometheus metrics at `GET /metrics`, through the `prometheus-client` library.

Two kinds of figures:
- **counted as they happen**: HTTP requests by route *template* and status with a latency
  histogram per route (`count_requests`, a batch at a time from the route wrapper's notes,
  `web/guard.py`), append latency and events per transaction (hooks the command handler and
  the store call).
  These are counted in plain dicts and lists (`Buckets`) and handed to the library at scrape
  time: its own labelled instruments cost ten times as much per request;
- **read when scraped** (`NewsroomCollector`): the log head, each view's position and lag, the
  start's replay and checkpoint figures, open WebSockets and running subscriptions, store
  errors and reconnects. Nothing is counted twice; an append pays one histogram observation,
  and a request is counted with the others of its batch.

Every label value comes from a fixed set (route templates, methods, status codes, view names):
no id, path or query text ever becomes a label, so the number of series stays constant
whatever clients request. Each app has a registry of its own (tests run several apps).
"""

from __future__ import annotations

import bisect
import itertools
import operator
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from newsroom import logs
from newsroom.commands import CommandHandler
from newsroom.logs import AccessEntry
from newsroom.projections.views import Views
from newsroom.store import EventStore, SharedEventStore
from newsroom.web.graphql.replies import INTERNAL_ERRORS
from newsroom.web.graphql.websocket import SOCKETS, SUBSCRIPTIONS
from newsroom.web.http import HEALTH, SETTINGS, unauthorized

routes = web.RouteTableDef()
"""The metrics route."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(slots=True)
class Snapshot:
    """What the collector reports, read from the running newsroom just before a scrape."""

    head: int | None = None


class Buckets:
    """A histogram counted by hand: a bisect and two additions a value (about 0.3 µs, where a
    labelled `prometheus_client.Histogram` costs about 5 µs, a tenth of serving a cached feed),
    or a batch of values sorted at once. The library still writes the exposition (`family`)."""

    __slots__ = ("bounds", "counts", "limits", "total", "unit")

    def __init__(self, bounds: tuple[float, ...], unit: float = 1.0) -> None:
        """Bounds as the exposition shows them; values are observed in `unit`s of them (e.g.
        nanoseconds, 1e-9, for seconds' bounds)."""
        self.bounds, self.unit = bounds, unit
        self.limits = bounds if unit == 1.0 else tuple(round(b / unit) for b in bounds)
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total: float = 0  # in `unit`s

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.limits, value)] += 1
        self.total += value

    def observe_all(self, values: list[int]) -> None:
        """Observe many values at once: sorted, then one bisect per bucket, not one per value.
        (Sorts `values` in place.)"""
        values.sort()
        below = 0  # values counted into the buckets so far
        for bucket, limit in enumerate(self.limits):
            upto = bisect.bisect_right(values, limit, below)  # a bucket holds values <= its bound
            self.counts[bucket] += upto - below
            below = upto
        self.counts[-1] += len(values) - below
        self.total += sum(values)

    def add_to(self, family: HistogramMetricFamily, labels: list[str]) -> None:
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric(labels, buckets, sum_value=self.total * self.unit)


_SERIES = operator.itemgetter(3, 2, 4)  # a note's route, method and status (logs.AccessEntry)
_TOOK = operator.itemgetter(1)  # a note's duration


class Metrics:
    """What the hot paths count (requests, appends, transactions) and the app's registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.routes: dict[str, RouteCounts] = {}  # route template -> what its requests did
        self.appends = Buckets(LATENCY_BUCKETS)
        self.transactions = Buckets(GROUP_BUCKETS)
        self.snapshot = Snapshot()
        self.registry.register(_Counted(self))
        self.before_scrape: Callable[[], None] = lambda: None  # the route wrapper's drain

    def watch(self, watched: Watched, app: web.Application) -> None:
        """Hook the append and commit observers, and report what `watched` holds."""
        watched.commands.on_append = self.appends.observe
        watched.store.on_commit = self.transactions.observe
        self.registry.register(NewsroomCollector(watched, app, self.snapshot))

    def count_requests(self, batch: Iterable[AccessEntry]) -> None:
        """Count a batch of requests noted by the route wrapper (`web/guard.py`).

        Requests come in runs of alike ones (the same route, method and status: a popular feed
        served from cache). `itertools.groupby` finds the runs and `map` takes their durations
        out, both in C: the per-request work is theirs, not the interpreter's. The durations
        of each series (route, method, status) go into its route's buckets together, and are
        counted in one addition (docs/benchmarks.md, section 10)."""
        runs: dict[tuple[str, str, int], list[int]] = {}  # (route, method, status) -> durations
        for kind, run in itertools.groupby(batch, _SERIES):
            durations = runs.get(kind) or runs.setdefault(kind, [])
            durations.extend(map(_TOOK, run))
        for (route, method, status), durations in runs.items():
            counts = self.routes.get(route) or self.route(route)
            method = method if method in METHODS else "OTHER"
            by_status = counts.statuses.get(method) or counts.statuses.setdefault(method, {})
            by_status[status] = by_status.get(status, 0) + len(durations)
            counts.latency.observe_all(durations)

    def route(self, template: str) -> RouteCounts:
        """The counts of one route, made when its handler is wrapped (not per request)."""
        if (counts := self.routes.get(template)) is None:
            counts = self.routes[template] = RouteCounts()
        return counts


class RouteCounts:
    """One route's requests by method and status, and their latencies."""

    __slots__ = ("latency", "statuses")

    def __init__(self) -> None:
        self.statuses: dict[str, dict[int, int]] = {}  # method -> status -> requests
        self.latency = Buckets(LATENCY_BUCKETS, unit=1e-9)  # the notes' times are nanoseconds


class _Counted(Collector):
    """Exposes what `Metrics` counted."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        requests = CounterMetricFamily(
            "newsroom_http_requests", "HTTP requests answered, by route template, method and "
            "status", labels=["route", "method", "status"],
        )  # fmt: skip
        for route, counts in list(m.routes.items()):
            for method, by_status in list(counts.statuses.items()):
                for status, count in list(by_status.items()):
                    requests.add_metric([route, method, str(status)], count)
        latency = HistogramMetricFamily(
            "newsroom_http_request_duration_seconds", "Time to answer an HTTP request (until "
            "its reply is prepared; a streamed body may take longer), by route template",
            labels=["route"],
        )  # fmt: skip
        for route, counts in list(m.routes.items()):
            if any(counts.latency.counts):
                counts.latency.add_to(latency, [route])
        appends = HistogramMetricFamily(
            "newsroom_append_duration_seconds", "Time from handing an append to the store to "
            "its durable commit, per command",
        )  # fmt: skip
        m.appends.add_to(appends, [])
        transactions = HistogramMetricFamily(
            "newsroom_events_per_transaction", "Events written per store transaction (group "
            "commit: many commands share one)",
        )  # fmt: skip
        m.transactions.add_to(transactions, [])
        yield from (requests, latency, appends, transactions)


@dataclass(frozen=True, slots=True)
class Watched:
    """The parts of the running newsroom that metrics read (web/app.py hands them over)."""

    store: EventStore
    views: Views
    commands: CommandHandler
    start_figures: Callable[[], dict[str, float]]
    """replayed_events, replay_seconds, checkpoint_used, checkpoints_written, ..._failures"""


class NewsroomCollector(Collector):
    """Figures read from the running system at scrape time."""

    def __init__(self, watched: Watched, app: web.Application, snapshot: Snapshot) -> None:
        self._watched = watched
        self._app = app
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        watched, head = self._watched, self._snapshot.head
        yield _gauge("newsroom_log_head", "The log's last position, as the store reports it "
                     "(absent while the store cannot say)", head)  # fmt: skip
        yield from self._views(head)
        yield _gauge("newsroom_websocket_connections", "WebSocket connections open",
                     len(self._app[SOCKETS]))  # fmt: skip
        yield _gauge("newsroom_subscriptions_active", "GraphQL subscriptions running",
                     self._app[SUBSCRIPTIONS].held)  # fmt: skip
        start = watched.start_figures()
        yield _gauge("newsroom_start_replayed_events", "Events replayed into the views at "
                     "start (after the checkpoint, if one was used)",
                     start["replayed_events"])  # fmt: skip
        yield _gauge("newsroom_start_replay_seconds", "Seconds the replay at start took",
                     start["replay_seconds"])  # fmt: skip
        yield _gauge("newsroom_start_checkpoint_used", "1 if start-up loaded a view checkpoint",
                     start["checkpoint_used"])  # fmt: skip
        yield _counter("newsroom_checkpoints_written", "View checkpoints written",
                       start["checkpoints_written"])  # fmt: skip
        yield _counter("newsroom_checkpoint_failures", "View checkpoints that failed to write",
                       start["checkpoint_failures"])  # fmt: skip
        yield _counter("newsroom_store_errors", "Appends the store failed (full disk, "
                       "database down, ...)", watched.commands.write_fault.count)  # fmt: skip
        sink = logs.access_log()
        yield _counter("newsroom_access_lines_dropped", "Access log lines dropped because the "
                       "log could not be written as fast as requests came",
                       sink.dropped if sink else 0)  # fmt: skip
        held_back = CounterMetricFamily(
            "newsroom_log_lines_held_back", "Log lines not written because their kind's budget "
            "was spent: failed_request (ERROR lines about failed requests, per type of error), "
            "unreadable_request, refused_connections", labels=["kind"],
        )  # fmt: skip
        for kind, lines in sorted(logs.lines_held_back().items()):
            held_back.add_metric([kind], lines)
        yield held_back
        yield _counter("newsroom_graphql_internal_errors", "GraphQL errors that were a bug met "
                       "(answered as 'internal error', in a reply whose status is 200)",
                       INTERNAL_ERRORS.count)  # fmt: skip
        store = watched.store
        reconnects = store.reconnects if isinstance(store, SharedEventStore) else 0
        yield _counter("newsroom_store_reconnects", "Times the store's database connection "
                       "came back after it was lost", reconnects)  # fmt: skip

    def _views(self, head: int | None) -> Iterator[Metric]:
        position = GaugeMetricFamily(
            "newsroom_view_position", "The log position each view reflects", labels=["view"]
        )
        lag = GaugeMetricFamily(
            "newsroom_view_lag_events", "Events the view has still to apply", labels=["view"]
        )
        lag_time = GaugeMetricFamily(
            "newsroom_view_lag_seconds", "How stale the view is when behind: the time since "
            "the last event it applied was recorded (0 when caught up)", labels=["view"],
        )  # fmt: skip
        now = time.time()
        for projector in self._watched.views.projectors:
            behind = max(0, (head or projector.position) - projector.position)
            position.add_metric([projector.name], projector.position)
            lag.add_metric([projector.name], behind)
            since = projector.recorded_at
            age = now - since.timestamp() if behind and since is not None else 0.0
            lag_time.add_metric([projector.name], age)
        yield from (position, lag, lag_time)


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


METRICS = web.AppKey("metrics", Metrics)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """The Prometheus text format. With a token configured it needs the token, unless
    `--metrics-public` says the figures may be read by anyone who reaches the server."""
    settings = request.app[SETTINGS]
    if not settings.metrics_public and (denied := unauthorized(request, "metrics")):
        return denied
    registry = request.app[METRICS]
    registry.before_scrape()  # the requests noted since the last batch count too
    registry.snapshot.head = await request.app[HEALTH].head()
    body = generate_latest(registry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
