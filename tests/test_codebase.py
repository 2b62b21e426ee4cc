"""The codebase stays one a newcomer can read: no import cycle inside labkit/ (lazy imports counted),
layers that point down, no module past 400 lines."""

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
    """Module -> the labkit modules it imports, anywhere in it: an import inside a function is lazy
    (the CLI's lean path, labkitd's forked children), but a dependency all the same.
    `from .. import cgroups` is an import of labkit.cgroups, not of labkit's __init__."""
    paths = {_module_name(p)[0]: p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in paths.items():
        pkg = _module_name(path)[1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
                subs = {f"{target}.{a.name}" for a in node.names} & paths.keys()
                deps.update(subs or {target})
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


def test_the_layers_point_down():
    """images/ makes and moves images and runs no container: it never imports the client (a build's
    RUN step is handed its runner); the Docker API's shapes are data, and import no client either;
    what runs inside a container imports nothing of labkitd's."""
    graph = _imports()
    up = {m: sorted(d for d in deps if d.startswith("labkit.runtime.client")) for m, deps in graph.items()
          if m.startswith(("labkit.images", "labkit.api.shapes", "labkit.api.filters"))}
    assert not any(up.values()), {m: d for m, d in up.items() if d}
    inside = {m: sorted(d for d in deps if d.startswith(("labkit.runtime.daemon", "labkit.runtime.client")))
              for m, deps in graph.items() if m.startswith("labkit.runtime.container")}
    assert not any(inside.values()), {m: d for m, d in inside.items() if d}


def test_no_module_is_longer_than_a_sitting():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_protocols_reach_containers_only_through_the_service():
    """labkit's protocol and the Docker API are adapters: neither starts, reaps, execs, lays out or
    records a container itself (that is the service's: service.py and its parts), so an operation
    cannot behave one way for `labkit stop` and another for `docker stop`. And the loop knows no
    protocol and no container."""
    graph = _imports()
    daemon = "labkit.runtime.daemon."
    parts = {daemon + m for m in ("starts", "exits", "execs", "create", "live", "pump", "networking", "mounting")}
    # (container.console is allowed: docker exec -t's terminal master is held by labkitd, as HTTP cannot pass it)
    parts |= {"labkit.runtime.state", "labkit.runtime.logs", "labkit.runtime.container.init",
              "labkit.runtime.container.exec_shim", "labkit.runtime.container.report"}
    adapters = [m for m in graph if m.startswith((daemon + "docker_", daemon + "labkit_protocol"))]
    assert daemon + "docker_api" in adapters and daemon + "labkit_protocol" in adapters
    reach = {m: sorted(d for d in graph[m] if any(d == p or d.startswith(p + ".") for p in parts)) for m in adapters}
    assert not any(reach.values()), {m: d for m, d in reach.items() if d}
    loop = sorted(d for d in graph[daemon + "loop"] if d.startswith("labkit"))
    assert not loop, loop
