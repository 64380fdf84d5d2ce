"""The dependency rule of DESIGN.md, checked on the source: imports flow one way only.

web -> app -> {commands, projections, bus, store} -> articles -> events. `events` and `errors`
import nothing from newsroom; projections see only events and the store's envelope; store
adapters never import projections, bus or web; only the composition root names an adapter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "newsroom"

# module (or package) -> the newsroom modules it may import
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "events": {"errors"},
    "validation": {"errors"},
    "slugs": set(),
    "articles": {"errors", "events", "validation"},
    "store": {"errors", "events", "store"},
    "bus": {"errors", "store"},
    "projections": {"errors", "events", "store", "projections"},
    "commands": {"articles", "bus", "errors", "events", "store", "validation"},
    "gates": {"errors"},
    "history": {"articles", "bus", "commands", "errors", "events", "gates", "store"},
    "health": {"commands", "errors", "projections", "store"},
    "config": {"errors"},
    "checkpoint_body": {"projections"},
    "checkpoints": {"checkpoint_body", "projections", "store"},
    "checkpointer": {"checkpoint_body", "checkpoints", "errors", "projections", "store"},
    "demo": {"articles", "commands"},
    "app": {
        "bus",
        "checkpointer",
        "commands",
        "config",
        "demo",
        "errors",
        "gates",
        "health",
        "history",
        "projections",
        "runtime",
        "store",
    },
    "web": {
        "app",
        "logs",
        "articles",
        "commands",
        "config",
        "errors",
        "events",
        "gates",
        "health",
        "history",
        "projections",
        "slugs",
        "store",
        "validation",
        "web",
    },
    "runtime": set(),
    "progress": set(),
    "verify": {"app", "config", "errors", "progress"},
    "transfer": {"app", "config", "errors", "progress", "store", "transfer"},
    "__main__": {"backup", "config", "errors", "logs", "runtime", "transfer", "verify", "web"},
    "backup": {"app", "config", "errors", "progress"},
    "logs": set(),
    "__init__": set(),
}
ADAPTERS = {
    "store.memory",
    "store.sqlite",
    "store.sqlite_file",
    "store.sqlite_errors",
    "store.sqlite_backup",
    "store.postgres",
    "store.postgres_tools",
    "store.postgres_transfer",
    "store.postgres_verify",
    "store.sqlite_transfer",
    "store.sqlite_verify",
    "projections.search_fts5",
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n.removeprefix("newsroom.") for n in names if n.startswith("newsroom.")}
    return found


def _adapter(imported: str) -> bool:
    return any(imported == a or imported.startswith(f"{a}.") for a in ADAPTERS)


def _layer(module: str) -> str:
    return module.split(".")[0]


MODULES = sorted(
    str(p.relative_to(PACKAGE).with_suffix("")).replace("/", ".") for p in PACKAGE.rglob("*.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_imports_follow_the_dependency_rule(module: str) -> None:
    """Every newsroom import points down the layers of DESIGN.md, never up or sideways."""
    path = PACKAGE / (module.replace(".", "/") + ".py")
    layer = _layer(module)
    allowed = ALLOWED[layer]
    for imported in _imports(path):
        target = _layer(imported)
        if _adapter(imported):
            ok = layer in ("app", _layer(imported))  # only the composition root names an adapter
        else:
            ok = target in allowed or target == layer
        assert ok, f"newsroom.{module} imports newsroom.{imported}, against the dependency rule"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself notices an upward import (so the test above can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from newsroom.web.app import create_app\nimport newsroom.projections.base\n")
    assert _imports(bad) >= {"web.app", "projections.base"}
    assert "web" not in ALLOWED["projections"] and "web" not in ALLOWED["events"]
    assert _adapter("store.sqlite.SQLiteEventStore") and not _adapter("store.base")


# graphql-core's execution machinery, which only the pipeline drives
EXECUTION = {
    "Executor", "ExecutionContext", "ExecutionResult", "execute", "execute_sync", "subscribe",
    "create_source_event_stream", "get_variable_values", "get_argument_values",
    "default_field_resolver", "default_type_resolver",
}  # fmt: skip
PIPELINE = "web.graphql.pipeline"


def _graphql_imports(path: Path) -> set[str]:
    """What a module imports from graphql-core and Ariadne: module names and `from` names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in ("graphql", "ariadne")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "graphql",
            "ariadne",
        ):
            found |= {node.module or ""} | {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("module", [m for m in MODULES if m != PIPELINE])
def test_only_the_pipeline_drives_graphql_execution(module: str) -> None:
    """No module but web/graphql/pipeline.py imports graphql-core's execution internals."""
    imported = _graphql_imports(PACKAGE / (module.replace(".", "/") + ".py"))
    internals = {
        name for name in imported if name in EXECUTION or name.startswith("graphql.execution")
    }
    assert not internals, f"newsroom.{module} imports {sorted(internals)}; only the pipeline may"


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith("web.graphql")])
def test_graphql_stays_inside_its_package(module: str) -> None:
    """Outside web/graphql/, nothing imports graphql-core or Ariadne."""
    imported = _graphql_imports(PACKAGE / (module.replace(".", "/") + ".py"))
    assert not imported, (
        f"newsroom.{module} imports {sorted(imported)}; keep GraphQL in web/graphql"
    )


def test_the_graphql_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checkers see execution internals and GraphQL imports (so the tests above can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from graphql import Executor, parse\nimport ariadne\n")
    assert {"Executor", "parse", "ariadne"} <= _graphql_imports(bad)
    assert PIPELINE in MODULES


RESOLVERS = ["web.graphql.queries", "web.graphql.mutations", "web.graphql.subscriptions",
             "web.graphql.objects"]  # fmt: skip


@pytest.mark.parametrize("module", RESOLVERS)
def test_resolvers_do_not_import_the_store(module: str) -> None:
    """Resolvers read through the views and History, write through the command handler."""
    imported = _imports(PACKAGE / (module.replace(".", "/") + ".py"))
    assert not {i for i in imported if _layer(i) == "store"}, f"newsroom.{module} imports the store"


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) == "web" and m != "web.app"])
def test_only_the_web_app_knows_the_running_newsroom(module: str) -> None:
    """Route handlers reach the parts they use (views, commands, history) by their own keys;
    only web/app.py, which starts and stops it, imports the `Newsroom` composition."""
    imported = _imports(PACKAGE / (module.replace(".", "/") + ".py"))
    assert not {i for i in imported if _layer(i) == "app"}, f"newsroom.{module} imports app"
