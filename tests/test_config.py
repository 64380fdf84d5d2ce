"""Settings from flags over NEWSROOM_* variables: the publication's settings and their checks."""

from __future__ import annotations

import pytest

from newsroom.config import load
from newsroom.errors import ConfigError


def test_publication_settings_come_from_flags_over_the_environment() -> None:
    """Flags win over variables; unset ones keep their defaults."""
    env = {"NEWSROOM_SITE_NAME": "The Example Times", "NEWSROOM_LANGUAGE": "de"}
    settings = load(["--language", "zh-tw", "--feed-items", "50"], env=env)
    assert (settings.site_name, settings.language, settings.feed_items) == (
        "The Example Times",
        "zh-tw",
        50,
    )
    assert load([], env={}).site_description == "The latest news"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--language", "English"], "ISO 639"),
        (["--language", "EN"], "ISO 639"),
        (["--feed-items", "0"], "feed items"),
        (["--feed-items", "501"], "feed items"),
        (["--feed-items", "ten"], "feed items"),
        (["--site-name", "   "], "site name"),
        (["--site-name", "Line\nbreak"], "site name"),
        (["--base-url", "news.example.com"], "absolute http"),
        (["--base-url", "ftp://news.example"], "absolute http"),
        (["--base-url", "https://"], "absolute http"),
    ],
)
def test_bad_publication_settings_are_refused_by_name(argv: list[str], problem: str) -> None:
    """A language Google News would reject, an odd item count, a blank name: refused at start."""
    with pytest.raises(ConfigError, match=problem):
        load(argv, env={})
