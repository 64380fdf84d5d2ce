"""What people type into a search box, parsed into terms. Pure functions, no search engine here.

Supported: words (all must match), `"exact phrases"`, `prefix*`, and `-excluded` words or
phrases. Everything else is taken as literal text: `AND`, `OR`, `NEAR`, parentheses and
`column:` prefixes are just words, an unbalanced quote runs to the end, a lone `*` or `-` is
ignored, control characters are dropped. An engine turns the terms into its own syntax, so user
text never reaches a query language raw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsroom.errors import ValidationError

QUERY_MAX = 500  # characters; longer is not a search but an attempt to make one expensive
TERMS_MAX = 16
PREFIX_MIN = 3  # characters before a `*`: "b*" would match a good part of the dictionary
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# An optional minus, then a quoted phrase (its closing quote optional) or a run of non-spaces.
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|(\S+))')


@dataclass(frozen=True, slots=True)
class Term:
    """One thing to look for: a word or a phrase, maybe as a prefix, maybe excluded."""

    text: str
    phrase: bool = False
    prefix: bool = False
    excluded: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: the terms to match (all of them) and the terms to exclude."""

    terms: tuple[Term, ...]

    @property
    def wanted(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.excluded)

    @property
    def unwanted(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.excluded)


def parse(text: str) -> Query:
    """Parse a search box's text; raise ValidationError when there is nothing to search for."""
    if len(text) > QUERY_MAX:
        raise ValidationError(
            f"the search is {len(text):,} characters long; the limit is {QUERY_MAX}"
        )
    terms = [term for match in _TOKEN.finditer(_CONTROL.sub(" ", text)) if (term := _term(match))]
    if len(terms) > TERMS_MAX:
        raise ValidationError(f"the search has {len(terms)} terms; the limit is {TERMS_MAX}")
    query = Query(tuple(terms))
    if not query.wanted:
        raise ValidationError(
            "the search has no words to look for (excluded words alone find nothing)"
            if terms
            else "the search has no words to look for"
        )
    return query


def _term(match: re.Match[str]) -> Term | None:
    excluded, phrase, word = bool(match.group(1)), match.group(2), match.group(3)
    if phrase is not None:
        text, prefix = " ".join(phrase.split()), False
    else:
        text, prefix = word.rstrip("*"), word.endswith("*")
    if not any(c.isalnum() for c in text):
        return None  # punctuation alone ("*", "-", "()") finds nothing; skip it
    if prefix and len(text) < PREFIX_MIN:
        raise ValidationError(
            f"the search's prefix {text}* is too short: give at least {PREFIX_MIN} characters"
        )
    return Term(text, phrase=phrase is not None, prefix=prefix, excluded=excluded)
