"""Slugs and article paths from titles: pure functions."""

from __future__ import annotations

import unicodedata

import pytest

from newsroom.slugs import SLUG_MAX, article_path, slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Rates rise again", "rates-rise-again"),
        ("Café au lait & Crème brûlée!", "cafe-au-lait-creme-brulee"),
        ("Новый день", "новый-день"),
        ("ガソリン価格", "ガソリン価格"),
        ("한국 경제 뉴스", "한국-경제-뉴스"),
        ("🗞️🔥", "article"),
        ("  --  ", "article"),
        ("ﬁnance Ⅳ", "finance-iv"),
    ],
)
def test_slugs_fold_latin_accents_and_keep_other_scripts_whole(title: str, slug: str) -> None:
    """Latin accents fold away; Cyrillic, kana (with its voicing marks) and Hangul stay readable."""
    assert slugify(title) == slug
    assert unicodedata.is_normalized("NFC", slugify(title))


def test_a_long_title_gives_a_bounded_slug_without_a_trailing_dash() -> None:
    """Slugs stop at SLUG_MAX characters and never end in a dash."""
    slug = slugify("word " * 100)
    assert len(slug) <= SLUG_MAX and not slug.endswith("-")


def test_article_paths_are_percent_encoded() -> None:
    """The path is ASCII: other scripts are percent-encoded UTF-8."""
    assert article_path("world", "Новый день", 7) == (
        "/world/%D0%BD%D0%BE%D0%B2%D1%8B%D0%B9-%D0%B4%D0%B5%D0%BD%D1%8C-7"
    )
