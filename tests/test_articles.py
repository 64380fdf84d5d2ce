"""Pure domain tests: given past events, when a command is decided, then these events (or an error)."""

from __future__ import annotations

import pytest

from newsroom.articles import (
    ArticleState,
    PublishArticle,
    RetractArticle,
    UpdateArticle,
    UpdateDraft,
    decide,
    fold,
)
from newsroom.errors import AlreadyExists, InvalidTransition, NotFound, ValidationError
from newsroom.events import (
    ArticleCreated,
    ArticleDraftUpdated,
    ArticlePublished,
    ArticleRetracted,
    ArticleUpdated,
    Event,
    Status,
)
from newsroom.validation import BODY_MAX, TITLE_MAX
from tests.factories import (
    T0,
    article_created,
    at,
    create_article,
    create_draft,
    draft_created,
    published,
    retracted,
    updated,
)

NOW = at(60)


def given(*events: Event) -> ArticleState | None:
    return fold(events)


def test_create_article_publishes_at_once() -> None:
    """createArticle on a new id records one ArticleCreated with every field and the time."""
    events = decide(None, create_article(article_id=7), NOW)
    assert events == [
        ArticleCreated(
            article_id=7,
            title="Rates rise again",
            body="The central bank raised rates by a quarter point.",
            category="business",
            author_id=10,
            author_name="Ada Reporter",
            created_at=NOW,
        )
    ]
    state = fold(events)
    assert state is not None
    assert (state.status, state.version, state.published_at) == (Status.PUBLISHED, 1, NOW)


def test_create_draft_is_not_published() -> None:
    """A draft starts in DRAFT with no publication time."""
    state = fold(decide(None, create_draft(article_id=3), NOW))
    assert state is not None
    assert (state.status, state.published_at) == (Status.DRAFT, None)


def test_creating_an_existing_id_is_refused() -> None:
    """A create for an id that already has events is AlreadyExists."""
    with pytest.raises(AlreadyExists, match="article 1 already exists"):
        decide(given(article_created(1)), create_article(article_id=1), NOW)


def test_update_draft_records_only_changed_fields() -> None:
    """An update carries the fields that differ, not the ones sent unchanged."""
    state = given(draft_created(1))
    events = decide(state, UpdateDraft(1, title="New title", category="business"), NOW)
    assert events == [ArticleDraftUpdated(article_id=1, updated_at=NOW, title="New title")]
    after = fold([draft_created(1), *events])
    assert after is not None
    assert (after.title, after.version, after.modified) == ("New title", 2, NOW)


def test_update_that_changes_nothing_is_refused() -> None:
    """Sending only current values is a validation error, not an empty event."""
    with pytest.raises(ValidationError, match="changes nothing"):
        decide(given(article_created(1)), UpdateArticle(1, title="Rates rise again"), NOW)
    with pytest.raises(ValidationError, match="at least one field"):
        decide(given(article_created(1)), UpdateArticle(1), NOW)


def test_publish_moves_a_draft_to_published() -> None:
    """Publishing a draft records ArticlePublished and sets published_at."""
    events = decide(given(draft_created(2)), PublishArticle(2), NOW)
    assert events == [ArticlePublished(article_id=2, published_at=NOW)]
    state = fold([draft_created(2), *events])
    assert state is not None
    assert (state.status, state.published_at, state.created) == (Status.PUBLISHED, NOW, T0)


def test_update_published_article() -> None:
    """A correction of a published article is ArticleUpdated with the changed fields."""
    events = decide(given(article_created(1)), UpdateArticle(1, body="Corrected."), NOW)
    assert events == [ArticleUpdated(article_id=1, updated_at=NOW, body="Corrected.")]


def test_retract_published_article() -> None:
    """Retracting keeps the reason and makes the article RETRACTED."""
    events = decide(given(article_created(1)), RetractArticle(1, "Source withdrew"), NOW)
    assert events == [ArticleRetracted(article_id=1, reason="Source withdrew", retracted_at=NOW)]
    state = fold([article_created(1), *events])
    assert state is not None
    assert (state.status, state.retraction_reason) == (Status.RETRACTED, "Source withdrew")


@pytest.mark.parametrize(
    ("history", "command", "message"),
    [
        ([article_created(1), retracted(1)], UpdateArticle(1, title="x"), "retraction is final"),
        ([article_created(1), retracted(1)], RetractArticle(1, "again"), "retraction is final"),
        ([article_created(1), retracted(1)], PublishArticle(1), "retraction is final"),
        ([article_created(1)], PublishArticle(1), "already published"),
        ([article_created(1)], UpdateDraft(1, title="x"), "use updateArticle"),
        ([draft_created(1)], UpdateArticle(1, title="x"), "use updateDraft"),
        ([draft_created(1)], RetractArticle(1, "why"), "never public"),
        ([draft_created(1), published(1)], PublishArticle(1), "already published"),
    ],
)
def test_invalid_transitions_say_what_to_do(
    history: list[Event], command: object, message: str
) -> None:
    """A command that does not fit the status is refused with an actionable message."""
    with pytest.raises(InvalidTransition, match=message):
        decide(fold(history), command, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "command", [UpdateArticle(9, title="x"), PublishArticle(9), RetractArticle(9, "r")]
)
def test_commands_on_missing_articles_are_not_found(command: object) -> None:
    """Every command but a create needs the article to exist."""
    with pytest.raises(NotFound, match="article 9 does not exist"):
        decide(None, command, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": "   "}, "title is required"),
        ({"body": ""}, "body is required"),
        ({"author_name": "\t"}, "author_name is required"),
        ({"category": ""}, "category is required"),
        ({"category": "World News"}, "lowercase slug"),
        ({"category": "news--today"}, "lowercase slug"),
        ({"category": "graphql"}, "reserved"),
        ({"author_id": 0}, "author_id must be a whole number"),
        ({"author_id": -4}, "author_id must be a whole number"),
        ({"author_id": 2**31}, "author_id must be a whole number"),
        ({"title": "x" * (TITLE_MAX + 1)}, "title is 301 characters long; the limit is 300"),
        ({"body": "x" * (BODY_MAX + 1)}, "the limit is 100,000"),
        ({"title": "bell \x07 here"}, "title contains the character U\\+0007 at index 5"),
        ({"body": "nul \x00"}, "body contains the character U\\+0000"),
        ({"author_name": "ok \ufffe"}, "author_name contains the character U\\+FFFE"),
        ({"body": "half \ud800 pair"}, "body contains the character U\\+D800"),
        ({"title": "two\nlines"}, "title must be a single line"),
    ],
)
def test_validation_names_the_field(overrides: dict[str, object], message: str) -> None:
    """Each broken rule is a ValidationError whose message names the field and the problem."""
    with pytest.raises(ValidationError, match=message):
        decide(None, create_article(article_id=1, **overrides), NOW)


def test_body_may_hold_line_breaks_and_any_unicode() -> None:
    """Bodies keep newlines, tabs, emoji and right-to-left text; titles keep a 300-char line."""
    body = "Line one\n\tLine two 🗞️ שלום <script>&]]>"
    events = decide(None, create_article(article_id=1, body=body, title="t" * 300), NOW)
    assert events[0].body == body  # type: ignore[union-attr]


def test_article_id_must_be_positive() -> None:
    """Ids are positive whole numbers; zero is refused."""
    with pytest.raises(ValidationError, match="article id"):
        decide(None, create_article(article_id=0), NOW)
    with pytest.raises(ValidationError, match="article id"):
        decide(None, UpdateArticle(-1, title="x"), NOW)


def test_update_validates_changed_fields() -> None:
    """An update's fields obey the same rules as a create's."""
    with pytest.raises(ValidationError, match="category"):
        decide(given(article_created(1)), UpdateArticle(1, category="Bad Slug"), NOW)


def test_fold_tracks_versions_and_times() -> None:
    """Every event adds one to the version; modified follows the latest event."""
    state = fold(
        [
            draft_created(1, at(0)),
            published(1, at(5)),
            updated(1, at(9), title="T2"),
            retracted(1, at(20)),
        ]
    )
    assert state is not None
    assert state.version == 4
    assert (state.created, state.published_at, state.modified, state.retracted_at) == (
        at(0), at(5), at(20), at(20),
    )  # fmt: skip
    assert state.title == "T2"
