"""A realistic article event log for the replay benchmark, written through the public store API.

Shape (deterministic for a given seed): `articles` articles created over two years, about one
every few minutes. Three in four are created published (ArticleCreated); the rest start as a
draft (ArticleDraftCreated, sometimes an ArticleDraftUpdated) and are published later. The
remaining events, up to exactly `events`, are corrections (ArticleUpdated: mostly the body,
sometimes the title, rarely the category), spread unevenly over the published articles; 2 % of
the articles are retracted at the end of their life. Titles run 40-140 characters and bodies
300-900, with some non-ASCII typography, as in real copy.

Events are appended in time order, window by window: the events of one window are grouped by
stream (one multi-event append per article) and all of a window's appends run concurrently, so
the store's group commit writes many of them per transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsroom.events import (
    ArticleCreated,
    ArticleDraftCreated,
    ArticleDraftUpdated,
    ArticlePublished,
    ArticleRetracted,
    ArticleUpdated,
    Event,
)
from newsroom.store.sqlite import SQLiteEventStore

GENERATOR_VERSION = 1  # bump when the shape changes, so cached files are regenerated
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
WINDOW = 4_000  # events per round of concurrent appends
CATEGORIES = ("politics", "business", "world-news", "sport", "culture", "science", "local")
AUTHORS = ("Ada Okafor", "Jonas Weber", "Mariana Souza", "Li Wei", "Zoë Ní Bhriain", "Sam Park")
COMMANDS = {  # the command that causes each event, as the command handler records it
    "ArticleCreated": "CreateArticle",
    "ArticleDraftCreated": "CreateDraft",
    "ArticleDraftUpdated": "UpdateDraft",
    "ArticlePublished": "PublishArticle",
    "ArticleUpdated": "UpdateArticle",
    "ArticleRetracted": "RetractArticle",
}
# Sample copy; its words make titles and bodies (a few with non-ASCII typography, as real copy has).
SAMPLE_COPY = (
    "council budget vote minister harbour strike storm energy prices school river museum "
    "election court ruling rail night bus café São Paulo naïve hospital wind farm data léger "
    "housing market record rain drought festival “exclusive” report police mayor bridge tram "
    "university research — inflation tariffs hearing coast flood vaccine league final"
)
WORDS = SAMPLE_COPY.split()


@dataclass(slots=True)
class Plan:
    """The life of one article: when each of its events happens, and which kind it is."""

    article_id: int
    steps: list[tuple[float, str]] = field(default_factory=list)  # (unix time, kind)


@dataclass(frozen=True, slots=True)
class Generated:
    """What generation wrote and how long it took; saved beside the database as JSON."""

    events: int
    articles: int
    by_type: dict[str, int]
    appends: int
    transactions: int
    seconds: float
    generator: int = GENERATOR_VERSION

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Generated | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


class Texts:
    """Pools of titles and bodies, made once, so building a million events stays cheap."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.titles = [self._sentence(rng.randint(6, 18))[:140] for _ in range(2_000)]
        self.bodies = [self.body_of(rng.randint(300, 900)) for _ in range(4_000)]

    def _sentence(self, words: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(words)).capitalize()

    def body_of(self, chars: int) -> str:
        """A new body of about `chars` characters, in paragraphs."""
        paragraphs: list[str] = []
        while sum(map(len, paragraphs)) < chars:
            paragraphs.append(self._sentence(self.rng.randint(8, 25)) + ".")
        return "\n\n".join(paragraphs)[:chars].rstrip() + "."

    def title(self) -> str:
        return self.rng.choice(self.titles)

    def body(self) -> str:
        return self.rng.choice(self.bodies)


def plan(events: int, articles: int, rng: random.Random) -> list[Plan]:
    """Plan every article's life so that the plans hold exactly `events` events."""
    step = SPAN.total_seconds() / articles
    plans = []
    for article_id in range(1, articles + 1):
        created = START.timestamp() + article_id * step + rng.uniform(0, step)
        p = Plan(article_id, [(created, "created")])
        if rng.random() < 0.25:
            p.steps[0] = (created, "draft")
            if rng.random() < 0.4:
                p.steps.append((created + rng.uniform(60, 1_800), "draft_updated"))
            p.steps.append((created + rng.uniform(1_800, 7_200), "published"))
        plans.append(p)
    retracted = set(rng.sample(range(articles), k=articles // 50))
    corrections = events - sum(len(p.steps) for p in plans) - len(retracted)
    if corrections < 0:
        raise ValueError(f"{events:,} events are too few for {articles:,} articles")
    weights = [rng.paretovariate(1.5) for _ in plans]  # a few stories get corrected a lot
    for index in rng.choices(range(articles), weights=weights, k=corrections):
        p = plans[index]
        p.steps.append((p.steps[-1][0] + rng.expovariate(1 / 21_600), "updated"))
    for index in retracted:
        p = plans[index]
        p.steps.append((p.steps[-1][0] + rng.uniform(3_600, 259_200), "retracted"))
    return plans


def timeline(plans: list[Plan]) -> list[tuple[float, int, int, str]]:
    """Every planned event, (time, article id, step, kind), in time order."""
    steps = [(t, p.article_id, i, kind) for p in plans for i, (t, kind) in enumerate(p.steps)]
    steps.sort()
    return steps


def build(kind: str, article_id: int, at: float, texts: Texts) -> Event:
    """The event of one planned step, with fresh realistic content."""
    rng, when = texts.rng, datetime.fromtimestamp(at, UTC)
    if kind in ("created", "draft"):
        new = ArticleCreated if kind == "created" else ArticleDraftCreated
        author = rng.randrange(len(AUTHORS))
        return new(
            article_id, texts.title(), texts.body(), rng.choice(CATEGORIES),
            author + 1, AUTHORS[author], when,
        )  # fmt: skip
    if kind == "draft_updated":
        return ArticleDraftUpdated(article_id, when, body=texts.body())
    if kind == "published":
        return ArticlePublished(article_id, when)
    if kind == "retracted":
        return ArticleRetracted(article_id, "A source could not be verified after all.", when)
    roll = rng.random()
    if roll < 0.60:
        return ArticleUpdated(article_id, when, body=texts.body())
    if roll < 0.85:
        return ArticleUpdated(article_id, when, title=texts.title())
    if roll < 0.95:
        return ArticleUpdated(article_id, when, title=texts.title(), body=texts.body())
    return ArticleUpdated(article_id, when, category=rng.choice(CATEGORIES))


async def write(path: Path, events: int, articles: int, seed: int = 42) -> Generated:
    """Generate the log into a new file at `path`; return what was written and how fast."""
    rng = random.Random(seed)
    texts = Texts(rng)
    started = time.perf_counter()
    plans = plan(events, articles, rng)
    store = await SQLiteEventStore.open(path)
    versions: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    appends = 0
    try:
        window: dict[str, list[Event]] = {}
        pending = 0
        for at, article_id, _, kind in timeline(plans):
            event = build(kind, article_id, at, texts)
            by_type[event.type_name] += 1
            window.setdefault(f"article-{article_id}", []).append(event)
            pending += 1
            if pending >= WINDOW:
                appends += await _append_window(store, window, versions)
                window, pending = {}, 0
        appends += await _append_window(store, window, versions)
        transactions = store.transactions
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    return Generated(events, articles, dict(by_type), appends, transactions, seconds)


async def _append_window(
    store: SQLiteEventStore, window: dict[str, list[Event]], versions: Counter[str]
) -> int:
    """Append each stream's events of one window as one append, all streams concurrently."""

    async def one(stream: str, events: list[Event]) -> None:
        command = COMMANDS[events[0].type_name]
        await store.append(stream, events, versions[stream], metadata={"command": command})
        versions[stream] += len(events)

    await asyncio.gather(*(one(stream, events) for stream, events in window.items()))
    return len(window)
