"""Accept negotiation (RFC 9110 section 12.5.1), pure: which offer a client's header prefers."""

from __future__ import annotations

import pytest

from newsroom.web.negotiation import preferred

OFFERS = ("application/json", "text/html")


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),  # no header: the default
        ("", "application/json"),
        ("*/*", "application/json"),  # a tie: the default
        ("text/html", "text/html"),
        ("text/html, application/json", "application/json"),  # equal q: the default
        ("text/html;q=0.9, application/json;q=0.8", "text/html"),
        ("application/json;q=0.1, text/*;q=0.2", "text/html"),
        ("text/*;q=0.5, text/html;q=0", "application/json"),  # the most specific range decides
        ("*/*;q=0.5, application/json;q=0", "text/html"),
        ("text/html;level=1;q=0.7, */*;q=0.3", "text/html"),  # other parameters are no bar
        ("text/html ; q = 0.6 , application/json ; q=0.5", "text/html"),
        ("text/html;q=1.5", "application/json"),  # not a qvalue: that range is not acceptable
        ("text/html;q=0.1234", "application/json"),
        ("*/html, text/plain", "application/json"),  # not media ranges
        ("image/png, audio/*", "application/json"),  # nothing acceptable: the default
        (",,;;, text/html", "text/html"),
    ],
)
def test_the_offer_with_the_highest_quality_wins(accept: str | None, chosen: str) -> None:
    """Quality by the most specific matching range; ties, junk and no match go to the default."""
    assert preferred(accept, OFFERS) == chosen


def test_the_first_offer_is_the_default_whatever_it_is() -> None:
    """The route's own order decides ties: offers listed the other way round pick HTML."""
    assert preferred("*/*", ("text/html", "application/json")) == "text/html"
