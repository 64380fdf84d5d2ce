"""The event codec: stable type names, JSON round trips, and upcasting of old schema versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsroom.errors import CodecError
from newsroom.events import EVENT_TYPES, Codec, Event, UnknownEvent, codec

xml_safe_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=50)
times = st.datetimes(timezones=st.just(UTC))
ids = st.integers(min_value=1, max_value=2**31 - 1)


def events_of(cls: type[Event]) -> st.SearchStrategy[Event]:
    return st.builds(
        cls,
        **{
            name: (times if "_at" in name else ids if name.endswith("_id") else xml_safe_text)
            for name in cls.__dataclass_fields__
            if name not in ("type_name", "schema_version")
        },
    )


any_event = st.one_of(*[events_of(cls) for cls in EVENT_TYPES])


@given(any_event)
def test_every_event_round_trips_through_json(event: Event) -> None:
    """Decoding an encoded event gives an equal event, whatever text and times it holds."""
    assert codec.decode(*codec.encode(event)) == event


def test_type_names_are_stable_strings() -> None:
    """Stored type names are the plain event names, never Python module paths."""
    assert [cls.type_name for cls in EVENT_TYPES] == [
        "ArticleDraftCreated",
        "ArticleDraftUpdated",
        "ArticlePublished",
        "ArticleCreated",
        "ArticleUpdated",
        "ArticleRetracted",
    ]


def test_unset_update_fields_are_not_stored() -> None:
    """An update stores only the fields it changed."""
    from tests.factories import updated

    _, _, data = codec.encode(updated(1, title="New"))
    assert set(orjson.loads(data)) == {"article_id", "updated_at", "title"}


def test_unknown_types_decode_to_unknown_event() -> None:
    """An event type this version does not know is kept as UnknownEvent, not an error."""
    event = codec.decode("ArticleSyndicated", 1, b'{"article_id": 1}')
    assert event == UnknownEvent("ArticleSyndicated", {"article_id": 1})


@dataclass(frozen=True, slots=True)
class _Retitled:
    """A test event at schema version 2: version 1 called the field `headline`."""

    type_name: ClassVar[str] = "Retitled"
    schema_version: ClassVar[int] = 2
    article_id: int
    title: str


def _rename_headline(data: dict[str, Any]) -> dict[str, Any]:
    data["title"] = data.pop("headline")
    return data


def test_upcaster_lifts_old_schema_versions() -> None:
    """Data written at schema version 1 is upcast to version 2 when read."""
    versioned = Codec([_Retitled], {("Retitled", 1): _rename_headline})  # type: ignore[list-item]
    assert versioned.decode("Retitled", 1, b'{"article_id": 4, "headline": "Old"}') == _Retitled(
        4, "Old"
    )
    assert versioned.decode("Retitled", 2, b'{"article_id": 4, "title": "New"}') == _Retitled(
        4, "New"
    )


def test_missing_upcaster_and_future_versions_are_clear_errors() -> None:
    """A gap in the upcaster chain or a newer schema than known is a CodecError naming both."""
    versioned = Codec([_Retitled])  # type: ignore[list-item]
    with pytest.raises(CodecError, match="no upcaster lifts Retitled from schema version 1"):
        versioned.decode("Retitled", 1, b'{"article_id": 4, "headline": "Old"}')
    with pytest.raises(CodecError, match=r"schema version 3.*up to version 2"):
        versioned.decode("Retitled", 3, b'{"article_id": 4, "title": "x"}')


def test_data_that_does_not_fit_is_a_codec_error() -> None:
    """Wrong or missing fields and broken JSON are CodecErrors, not TypeErrors."""
    with pytest.raises(CodecError, match="does not fit"):
        codec.decode("ArticlePublished", 1, b'{"article_id": 1}')
    with pytest.raises(CodecError, match="not valid JSON"):
        codec.decode("ArticlePublished", 1, b"{nope")
