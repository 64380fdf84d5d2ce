"""The argument table and the resolvers agree: every field with rules gets its checked values."""

from __future__ import annotations

from newsroom.web.graphql.arguments import RULES
from newsroom.web.graphql.schema import schema


def _takes_checked_values(field_name: str) -> bool:
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        if root is not None and field_name in root.fields:
            field = root.fields[field_name]
            resolver = field.subscribe if root is schema.subscription_type else field.resolve
            code = getattr(resolver, "__code__", None)  # functools.wraps keeps the name, not this
            return code is not None and code.co_name == "with_checked"
    raise AssertionError(f"RULES names {field_name!r}, which is no root field of the schema")


def test_every_field_with_rules_has_a_resolver_that_takes_the_checked_values() -> None:
    """A rule whose converted value never reached its resolver would be a raw value in disguise."""
    assert all(_takes_checked_values(name) for name in RULES), [
        name for name in RULES if not _takes_checked_values(name)
    ]


def test_every_argument_with_a_rule_exists_on_its_field() -> None:
    """A rule for an argument the schema does not have would never run."""
    for field_name, rules in RULES.items():
        root = next(
            r
            for r in (schema.query_type, schema.subscription_type)
            if r is not None and field_name in r.fields
        )
        assert set(rules) <= set(root.fields[field_name].args), field_name
