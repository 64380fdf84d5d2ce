"""The seed's six demo articles, written as ordinary commands when the log is empty."""

from __future__ import annotations

from newsroom.articles import Command, CreateArticle, CreateDraft, RetractArticle
from newsroom.commands import CommandHandler

# The seed's articles (pavelnikolov/eventsourcing-go, cmd/demo-articles): ids 1-6, four published,
# one draft (4), one retracted (6), in business, politics, lifestyle and environment.
_SEED = [
    (1, "business", "Pavel", "PUBLISHED"),
    (2, "politics", "Someone", "PUBLISHED"),
    (3, "business", "Alicia G.", "PUBLISHED"),
    (4, "lifestyle", "Peter Pan", "DRAFT"),
    (5, "lifestyle", "Peter H.", "PUBLISHED"),
    (6, "environment", "John Smith", "RETRACTED"),
]


def demo_commands() -> list[Command]:
    """The commands that recreate the seed's articles, in order."""
    commands: list[Command] = []
    for article_id, category, author, status in _SEED:
        create = CreateDraft if status == "DRAFT" else CreateArticle
        commands.append(
            create(
                article_id=article_id,
                title=f"My article title {article_id}",
                body=f"some articl text here {article_id}",
                category=category,
                author_id=10,
                author_name=author,
            )
        )
        if status == "RETRACTED":
            commands.append(RetractArticle(article_id, reason="Retracted in the seed's demo data"))
    return commands


async def write_demo_articles(handler: CommandHandler) -> int:
    """Write the demo articles; the idempotency keys make a re-run after a crash harmless."""
    position = 0
    for number, command in enumerate(demo_commands(), start=1):
        outcome = await handler.handle(command, idempotency_key=f"newsroom-demo-{number}")
        position = outcome.position
    return position
