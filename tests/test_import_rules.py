"""Imports point one way: config -> workers -> orders -> connections -> core and exchanges,
and config -> dashboard -> orders, connections, core (the dashboard only reads).

Every module of the six packages is parsed with ``ast``; imports at the top and inside
functions both count (a lazy import is still a dependency). The paper exchange
(``exchanges/paper/``, and a top-level ``paper/`` once it moves there) is left out: it has
rules of its own.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "connections", "orders", "workers", "exchanges", "dashboard")
APPS = ("connections", "orders", "workers", "dashboard")
SKIPPED = (Path("exchanges", "paper"), Path("paper"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if not any(relative.is_relative_to(skipped) for skipped in SKIPPED):
                found[_module_name(path)] = path
    return found


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name an ImportFrom names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module name an import in ``module`` names: ``from a.b import c`` gives a.b and
    a.b.c (c may be a module)."""
    path = modules()[module]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _top(name: str) -> str:
    return name.split(".")[0]


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module in modules()
        if _top(module) == package
        for name in imports_of(module)
        if _top(name) in forbidden
    )


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for module in modules():
        graph[_top(module)].update(
            _top(name)
            for name in imports_of(module)
            if _top(name) in PACKAGES and _top(name) != _top(module)
        )
    return graph


def test_every_package_is_read() -> None:
    assert {_top(module) for module in modules()} == set(PACKAGES)
    assert "exchanges.paper" not in modules()


def test_imports_inside_functions_count() -> None:
    # orders.services enqueues its tasks with an import inside a function
    assert "orders.tasks" in imports_of("orders.services")


@pytest.mark.parametrize("package", ["core", "exchanges"])
def test_the_bottom_packages_import_no_app_and_not_config(package: str) -> None:
    assert offenders(package, (*APPS, "config")) == []


def test_exchanges_imports_no_django_and_not_core() -> None:
    assert (
        offenders("exchanges", ("django", "rest_framework", "drf_spectacular", "celery", "core"))
        == []
    )


def test_core_does_not_import_exchanges() -> None:
    assert offenders("core", ("exchanges",)) == []


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_config(app: str) -> None:
    assert offenders(app, ("config",)) == []


def test_connections_imports_neither_orders_nor_workers() -> None:
    assert offenders("connections", ("orders", "workers")) == []


def test_orders_does_not_import_workers() -> None:
    assert offenders("orders", ("workers",)) == []


def test_the_dashboard_imports_only_orders_connections_and_core() -> None:
    assert offenders("dashboard", ("workers", "config", "exchanges")) == []


def test_nothing_but_config_imports_the_dashboard() -> None:
    importers = {
        package for package, imported in package_graph().items() if "dashboard" in imported
    }
    assert importers <= {"config"}


# The modules that write: services, and the app modules services are split into.
WRITE_MODULES = (
    "services",
    "batches",
    "health",
    "submission",
    "reconcile",
    "transitions",
    "tasks",
    "ledger",
    "live",
)


def test_no_selector_imports_a_service() -> None:
    selectors = [module for module in modules() if module.split(".")[-1] == "selectors"]
    assert selectors, "no selectors module found"
    assert (
        sorted(
            f"{module} imports {name}"
            for module in selectors
            for name in imports_of(module)
            if name in modules() and set(name.split(".")) & set(WRITE_MODULES)
        )
        == []
    )


def test_no_package_cycle() -> None:
    graph = package_graph()
    done: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " -> ".join((*path, package))
        if package in done:
            return
        for imported in sorted(graph[package]):
            visit(imported, (*path, package))
        done.add(package)

    for package in PACKAGES:
        visit(package, ())
