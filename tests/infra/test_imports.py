"""The import graph of `infra` has no cycle, counting every import (TYPE_CHECKING blocks and function bodies too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import infra

pytestmark = pytest.mark.infra

ROOT = Path(infra.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the `infra` modules it imports (a `from package import name` counts the submodule when it is one)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_infra_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "infra.constructs.platform" in graph and graph["infra.constructs.api"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_shared_helpers_import_no_construct() -> None:
    # infra.constructs.common holds Consumer, acknowledge, managed_policy_finding, log_retention
    imported = _graph()["infra.constructs.common"]
    assert not {name for name in imported if name.startswith("infra.constructs.")}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
