"""Query limits: each cause of validation work beyond linear (issue 12) is refused by a cheap walk
that names its limit, before graphql-core's validation; every legitimate document passes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLError, get_introspection_query, parse
from graphql.language import Lexer, Source, TokenKind

from newsroom.config import GraphQLLimits
from newsroom.web.graphql.limits import _TOKEN, Shape, check_shape, lexical_refusal
from newsroom.web.graphql.pipeline import Operations, Prepared, parse_document

LIMITS = GraphQLLimits()
README = Path(__file__).resolve().parents[2] / "README.md"


def _refused(text: str) -> str:
    """The message of the limit that refuses `text`, asserting that one does."""
    shape = check_shape(parse(text), LIMITS)
    assert isinstance(shape, GraphQLError), f"passed every limit: {text[:80]}"
    return shape.message


def _article(n: int, alias: str = "x") -> str:
    return " ".join(f"{alias}: article(id: 1) {{ id }}" for _ in range(n))


def test_the_reported_shape_is_refused_for_the_comparisons_it_needs() -> None:
    """One response name 45 times in a selection set (issue 12's shape, within the token limit)
    is refused, naming the name, the comparisons and the limit."""
    message = _refused(f"{{ {_article(45)} }}")
    assert "fields share the name 'x' in one selection set" in message
    assert message.endswith("the limit is 200 comparisons per document")


MERGED = {
    "inline fragments": "{ articles { " + "... on Article { x: id } " * 25 + "} }",
    "named fragments": "{ articles { "
    + " ".join(f"...F{i}" for i in range(15))
    + " } } "
    + " ".join(f"fragment F{i} on Article {{ x: id x: id }}" for i in range(15)),
    "same-named parents": "{ " + " ".join("x: articles { y: id y: id }" for _ in range(15)) + " }",
}


@pytest.mark.parametrize("name", sorted(MERGED))
def test_fields_merged_into_one_selection_set_count_together(name: str) -> None:
    """Same-named fields from inline fragments, named fragments and same-named parents' sub-
    selections are counted in the one selection set validation merges them into."""
    message = _refused(MERGED[name])
    assert message.endswith("the limit is 200 comparisons per document")
    assert re.search(r"\d+ or more fields share the name '[xy]'", message), message


def test_distinct_names_need_no_comparison() -> None:
    """Ninety aliased fields with distinct names pass: only shared names are compared."""
    text = "{ " + " ".join(f"a{n}: article(id: {n + 1}) {{ id }}" for n in range(90)) + " }"
    assert check_shape(parse(text), LIMITS) == Shape(sized_by_variables=False)


def test_too_many_operations_and_fragments_are_refused() -> None:
    """Seventeen operations in one document pass the limit of sixteen definitions."""
    text = " ".join(f"query Q{n} {{ __typename }}" for n in range(17))
    assert _refused(text) == "the document has 17 operations and fragments; the limit is 16"


def test_fragments_expanded_without_fields_are_counted() -> None:
    """Empty fragments that each spread the next twice (2^7 expansions, not one field) are
    refused by the fragment-use limit instead of walked for ever."""
    chain = " ".join(f"fragment A{n} on Article {{ ...A{n + 1} ...A{n + 1} }}" for n in range(7))
    text = f"{{ articles {{ ...A0 }} }} {chain} fragment A7 on Article {{ }}"
    assert "uses fragments more than 100 times" in _refused(text)


def test_a_cycle_is_refused_as_one() -> None:
    """A fragment that spreads itself through another is named as a cycle."""
    text = "{ articles { ...A } } fragment A on Article { id ...B } fragment B on Article { ...A }"
    assert _refused(text) == "fragment 'A' spreads itself (a fragment cycle)"


def test_a_list_size_from_a_variable_is_noted() -> None:
    """The walk notes when a list's size (count, first) comes from a variable, so the cost is
    computed for each request."""
    assert check_shape(parse("query($n: Int!) { articles(count: $n) { id } }"), LIMITS) == Shape(
        sized_by_variables=True
    )


PARSE_LIMITS = {
    "length": ("{ __typename }" + " " * LIMITS.max_length, "more than 16384 code points"),
    "tokens": ("{ " + "__typename " * LIMITS.max_tokens + "}", "more than 1000 tokens"),
    "comments": ("#\n" * (LIMITS.max_comments + 1) + "{ __typename }", "more than 200 comments"),
}


@pytest.mark.parametrize("name", sorted(PARSE_LIMITS))
def test_the_parser_stops_at_its_limits(name: str) -> None:
    """Text, tokens and comments beyond their limits stop the parser, which says which."""
    text, message = PARSE_LIMITS[name]
    found = Operations(LIMITS).document(text)
    assert isinstance(found, list) and message in found[0].message


def test_validation_stops_after_the_error_limit() -> None:
    """A document with 30 unknown fields gets the first 20 errors and a note that validation
    stopped (graphql-core's own default is 100, each costing tens of microseconds)."""
    text = "{ " + " ".join(f"a{n}: nope{n}" for n in range(30)) + " }"
    found = Operations(LIMITS).document(text)
    assert isinstance(found, list) and len(found) == LIMITS.max_errors + 1
    assert "Validation aborted" in found[-1].message


def _readme_documents() -> list[str]:
    quoted = re.findall(r'"query": ?("(?:[^"\\]|\\.)*")', README.read_text())
    return [json.loads(text) for text in quoted]


ARTICLE = {"title": "t", "body": "b", "category": "news", "author_id": 1, "author_name": "n"}
FIELDS = "id title body category author_id author_name status"
LEGITIMATE: dict[str, tuple[str, dict[str, Any]]] = {
    "introspection (GraphiQL, schemathesis)": (
        get_introspection_query(
            descriptions=True,
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        ),
        {},
    ),
    "seed: articles": (f"{{ articles {{ {FIELDS} }} }}", {}),
    "seed: article": (f"{{ article(id: 1) {{ {FIELDS} }} }}", {}),
    "seed: createArticle": (
        'mutation { createArticle(article: {title: "t", body: "b", category: "news", '
        'author_id: 1, author_name: "n"}) { id name error status } }',
        {},
    ),
    "50 articles by id in one request (tests/e2e/test_crash_safety.py)": (
        "{ " + " ".join(f'a{n}: article(id: "{n}") {{ id title }}' for n in range(1, 51)) + " }",
        {},
    ),
    "80 creates in one request (tests/e2e/test_drain.py)": (
        "mutation($a: ArticleCreatedInput!) { "
        + " ".join(f"m{n}: createArticle(article: $a) {{ status }}" for n in range(80))
        + " }",
        {"a": ARTICLE},
    ),
    **{
        f"README {n}": (text, {"a": ARTICLE} if "$a" in text else {})
        for n, text in enumerate(_readme_documents(), 1)
    },
}


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_legitimate_documents_pass_every_limit(name: str) -> None:
    """GraphiQL's introspection, the seed's and the README's documents, and the largest requests
    of the test suite are prepared, not refused."""
    text, variables = LEGITIMATE[name]
    operations = Operations(LIMITS)
    prepared = operations.operation(operations.document(text), None, variables)
    assert isinstance(prepared, Prepared), prepared


COUNTED = {
    "introspection": get_introspection_query(descriptions=True),
    "comments and strings": (
        '# a comment with "quotes" and { braces }\n'
        'query Q($a: Float = -1.5e10, $b: String = "a \\" b # not a comment") {\n'
        '  search(query: """block "quoted" text""", first: 3) { total } # trailing\n'
        "}"
    ),
    "fragments and directives": (
        "query($v: Boolean!) { articles(count: 2) { ...F @include(if: $v) } }"
        " fragment F on Article { id, title, history { type } }"
    ),
    "a backslash at a block string's line end": (
        'query { search(query: """a \\\n' + "1" * 50 + ' \\""" done""", first: 3) { total } }'
    ),
    "two backslashes before a block string's triple quote": (
        'query { search(query: """a\\\\""" 1111 """, first: 3) { total } }'
    ),
}
DIGITS = "1" * 50  # past the 40 characters a number may have
VALID_WITH_LONG_DIGITS = {
    "in a string": f'{{ search(query: "{DIGITS}", first: 3) {{ total }} }}',
    "in a block string after a backslash at a line end": (
        f'{{ search(query: """a \\\n{DIGITS}""", first: 3) {{ total }} }}'
    ),
    "in a comment": f"# {DIGITS}\n{{ articles(count: 2) {{ id }} }}",
    "in an alias": f"{{ a{DIGITS}: articles(count: 2) {{ id }} }}",
    "in a block string after an escaped triple quote": (
        f'{{ search(query: """a\\\\""" {DIGITS} """, first: 3) {{ total }} }}'
    ),
}


@pytest.mark.parametrize("text", COUNTED.values(), ids=COUNTED.keys())
def test_the_quick_token_count_is_the_lexers(text: str) -> None:
    """The regular expression that refuses documents far past the token limit counts exactly
    the tokens graphql-core's lexer reads (never more, which would refuse a valid document)."""
    lexer, lexed = Lexer(Source(text)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        lexed += 1
    found = _TOKEN.findall(text)
    assert len(found) - found.count("") == lexed


@pytest.mark.parametrize("text", VALID_WITH_LONG_DIGITS.values(), ids=VALID_WITH_LONG_DIGITS.keys())
def test_long_runs_of_digits_that_are_not_numbers_pass(text: str) -> None:
    """Only a number token is held to 40 characters; digits in a string, a block string, a
    comment or a name are not numbers (each document here parses)."""
    parse_document(text, LIMITS)
    assert lexical_refusal(text, LIMITS) is None
    assert lexical_refusal(text.replace(DIGITS, "1.5e10"), LIMITS) is None


def test_a_number_past_40_characters_is_refused_naming_the_limit() -> None:
    for number in ("1" * 41, "-" + "9" * 40, "1." + "5" * 39, "1e" + "0" * 39):
        error = lexical_refusal(f"{{ articles(count: {number}) {{ id }} }}", LIMITS)
        assert error is not None and "the limit is 40" in error.message, number
    assert lexical_refusal("{ articles(count: " + "1" * 40 + ") { id } }", LIMITS) is None
    # the string goes on past the escaped triple quote, so the number after it is a number
    hidden = '{ search(query: """\\\\""" x """, first: ' + "5" * 5000 + ') { total } } # """'
    error = lexical_refusal(hidden, LIMITS)
    assert error is not None and "5,000 characters" in error.message


async def test_a_document_far_past_the_token_limit_is_refused_without_parsing() -> None:
    """The reported 2,600-token document is refused by the quick count: the parser never
    sees it."""
    operations = Operations(LIMITS)
    reported = "{ " + " ".join("x: article(id: 1) { id }" for _ in range(240)) + " }"

    def never(text: str) -> Any:
        raise AssertionError("the parser was asked")

    operations._parse = never  # type: ignore[method-assign]
    refused = await operations.prepare(reported, None, {})
    assert isinstance(refused, list)
    assert "more than 1000 tokens" in refused[0].message
