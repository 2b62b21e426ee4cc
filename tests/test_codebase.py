"""The codebase stays one a newcomer can read: no import cycle inside labkit/, no module past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "labkit"


def _module_name(path: Path) -> tuple[str, str]:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _imports() -> dict[str, set[str]]:
    """Module -> the labkit modules it imports at its top level (imports inside functions are lazy
    on purpose: the CLI's lean path, labkitd's forked children)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        mod, pkg = _module_name(path)
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = deps
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def test_no_import_cycle_inside_labkit():
    graph, done, cycles = _imports(), set(), []

    def visit(mod, path):
        for dep in sorted(graph[mod]):
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(mod)

    for mod in sorted(graph):
        if mod not in done:
            visit(mod, [mod])
    assert not cycles, cycles[:3]
    assert "labkit.cgroups.v1" not in graph["labkit.cgroups.v2"] and "labkit.cgroups.v2" not in graph["labkit.cgroups.v1"]


def test_no_module_is_longer_than_a_sitting():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 420}
    assert not long, long
