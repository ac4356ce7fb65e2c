"""The paper exchange is checked against the facts, not against our connectors: no module
of paper/ may import the exchanges package, so a connector bug cannot hide by agreeing
with itself."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paper import REPO_ROOT

PAPER = REPO_ROOT / "paper"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_paper_exchange_imports_the_connector_library() -> None:
    modules = sorted(PAPER.rglob("*.py"))
    assert len(modules) > 10
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(
            name
            for name in imported_modules(path)
            if name == "exchanges" or name.startswith("exchanges.")
        )
        for path in modules
    }
    assert {path: names for path, names in offenders.items() if names} == {}
