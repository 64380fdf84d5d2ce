"""Text for pages and feeds (pure): the one-line summary of a body."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsroom.web.text import SUMMARY_MAX, summary


def _whole_body_summary(body: str) -> str:
    """The summary's definition, worked out on the whole body (what `summary` must equal)."""
    flat = re.sub(r"\s+", " ", body).strip()
    if len(flat) <= SUMMARY_MAX:
        return flat
    cut = flat[: SUMMARY_MAX - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


@pytest.mark.parametrize(
    "body",
    ["Short.", "word " * 100, " " * 5_000 + "late " * 100, "\n\n".join(["para " * 30] * 50),
     "x" * 1_000, "a" + " " * 600 + "b", ("w " + "\t" * 300) * 10],
)  # fmt: skip
def test_a_summary_reads_only_the_start_yet_equals_one_of_the_whole_body(body: str) -> None:
    """However much white space the body starts with, the summary is that of the whole body."""
    assert summary(body) == _whole_body_summary(body)
    assert len(summary(body)) <= SUMMARY_MAX


@given(st.text(alphabet=st.sampled_from("ab \n\t"), max_size=3_000))
def test_summaries_of_any_spacing_equal_the_whole_body_definition(body: str) -> None:
    """A property over bodies of letters and white space of every kind and run length."""
    assert summary(body) == _whole_body_summary(body)
