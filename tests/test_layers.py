"""The floors of docs/design.md hold: every import points down, SQL stays in the store's query modules,
and package __init__ files only re-export."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Floor of each first-party top-level package; a module may import its own floor or lower.
FLOORS = {"recsys": 1, "prompts": 1, "judge": 2, "pipeline": 3, "tui": 4, "evals": 4}
# Entry points that only dispatch upward (the design names `python -m recsys.train`).
ENTRY_SHIMS = {"recsys/train.py"}
# Where SQL may run: the store's schema and query modules, and the TUI's query module.
SQL_HOMES = ("recsys/store/", "tui/queries.py")


def modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (REPO / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(FLOORS)


@pytest.mark.parametrize("package", ["recsys", "judge", "pipeline"])
def test_every_import_points_down(package):
    upward = {}
    for path in modules(package):
        relative = path.relative_to(REPO).as_posix()
        if relative in ENTRY_SHIMS:
            continue
        above = {name for name in imported_packages(path) if FLOORS[name] > FLOORS[package]}
        if above:
            upward[relative] = sorted(above)
    assert not upward, f"imports that climb a floor: {upward}"


def test_sql_runs_only_in_the_query_modules():
    outside = []
    for path in modules("recsys", "judge", "pipeline", "tui", "evals"):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(SQL_HOMES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "execute", "executemany", "sql"):
                outside.append(f"{relative}:{node.lineno}")
    assert not outside, f"SQL outside recsys/store and tui/queries.py: {outside}"


def test_package_inits_only_re_export():
    for path in REPO.glob("*/**/__init__.py"):
        relative = path.relative_to(REPO).as_posix()
        if relative.split("/")[0] not in FLOORS:
            continue
        tree = ast.parse(path.read_text())
        logic = [node for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr))
                 and not (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.startswith("__")
                                                               for t in node.targets))]
        assert not logic, f"{relative} holds logic: {[type(n).__name__ for n in logic]}"
