"""pyproject.toml, environment.yml and binder/environment.yml name the same dependencies."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO


def _conda(path) -> dict[str, str]:
    deps = {}
    in_deps = False
    for line in path.read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"\s+-\s+([A-Za-z0-9_.-]+)\s*(.*)$", line)
        if in_deps and m and m.group(1) not in ("python", "pip"):
            deps[m.group(1).lower()] = m.group(2).strip()
        elif in_deps and line and not line.startswith(" "):
            in_deps = False
    return deps


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    out = {}
    for r in reqs:
        m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)$", r)
        out[m.group(1).lower()] = m.group(2).strip()
    return out


def test_the_three_dependency_lists_agree():
    py = _pyproject()
    top = _conda(REPO / "environment.yml")
    binder = _conda(REPO / "binder" / "environment.yml")
    assert py == top, f"pyproject.toml and environment.yml differ: {set(py.items()) ^ set(top.items())}"
    assert top == binder, f"environment.yml and binder/environment.yml differ: {set(top.items()) ^ set(binder.items())}"


def test_the_design_cards_packages_are_there():
    assert {"jupyterlab", "ipywidgets", "pyroute2", "matplotlib", "psutil"} <= set(_pyproject())
