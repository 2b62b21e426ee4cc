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


LOCKS = sorted((REPO / "requirements").glob("lock-py*.txt"))


def _lock(path) -> dict[str, tuple[str, list[str]]]:
    """{"httpx": ("0.29.0", ["sha256:..."])} from a lock file's `name==version \\ --hash=...` entries."""
    out = {}
    for entry in path.read_text().replace("\\\n", " ").splitlines():
        if entry.strip() and not entry.startswith("#"):
            pin, *hashes = entry.split()
            name, _, version = pin.partition("==")
            assert name not in out, f"{path.name}: {name} twice"
            out[name] = (version, [h.split("=", 1)[1] for h in hashes])
    return out


def test_a_lock_for_each_supported_python_and_every_dependency_pinned_within_pyproject_s_range():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    assert [p.name for p in LOCKS] == ["lock-py3.11.txt", "lock-py3.12.txt"]  # Debian 12, Ubuntu 24.04
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]]
    for path in LOCKS:
        pins = _lock(path)
        for req in wanted:  # pyproject.toml (and so environment.yml, binder/: the test above) agree with the lock
            name = canonicalize_name(req.name)
            assert name in pins, f"{path.name} lacks {name}: run ./lab lock"
            assert req.specifier.contains(pins[name][0], prereleases=True), \
                f"{path.name} pins {name}=={pins[name][0]}, outside pyproject.toml's {req}: run ./lab lock"
        for name, (version, hashes) in pins.items():
            assert name == canonicalize_name(name) and version and hashes, (path.name, name)
            assert all(h.startswith("sha256:") and len(h) == 71 for h in hashes), (path.name, name)


def test_the_environment_running_the_tests_is_the_lock_s():
    # ./lab setup installs the lock; a venv that drifted (LABKIT_LOCK=off, a pip install -U by hand) is
    # what the doctor warns about, and is not what this suite should vouch for
    from labkit.host.packages import compare

    d = compare()
    assert d.matches, f"the venv differs from {d.lock}: {d.differ} missing {d.missing}; rm -rf .venv && ./lab setup"


def test_the_doctor_names_the_packages_that_drifted(tmp_path):
    from labkit.host.packages import compare, read_lock

    real = read_lock(LOCKS[0])
    lock = tmp_path / "lock-py3.11.txt"
    lock.write_text("# a lock\nhttpx==0.0.1 \\\n    --hash=sha256:" + "0" * 64 + "\nno-such-package==1.0 \\\n"
                    "    --hash=sha256:" + "1" * 64 + "\n")
    d = compare(lock)
    assert not d.matches and d.locked == 2 and d.missing == ["no-such-package"]
    assert d.differ and d.differ[0][0] == "httpx" and d.differ[0][2] == "0.0.1"
    assert compare(tmp_path / "lock-py9.99.txt").no_lock
    assert "httpx" in real and "jupyterlab" in real
