"""Write the lab's Python lock files: every package `./lab setup` installs, pinned, with its hash.

    .venv/bin/python requirements/lock.py            # all targets (what `./lab lock` runs)
    .venv/bin/python requirements/lock.py 3.12       # one
    .venv/bin/python requirements/lock.py --upgrade  # every package to the newest pyproject.toml allows

One lock per target Python, because compiled packages ship one wheel per Python version:
    requirements/lock-py3.11.txt     Debian 12's python3 (glibc 2.36)
    requirements/lock-py3.12.txt     Ubuntu 24.04's python3 (glibc 2.39)

How: pip resolves pyproject.toml's dependencies and extras (lab, test) as the target would, without
installing anything (`pip install --dry-run --report`, with the target's Python version and the
manylinux tags its glibc accepts, best first: pip then picks the very file the target will), and the
report gives each file's sha256. `./lab setup` installs with `--require-hashes`, so the same files
come back months later, or the install stops and says which package differs.

A package already in a lock keeps its version (the lock is pip's constraints file): adding a
dependency adds it and what it needs, and moves nothing else unless the new one requires it.
`--upgrade` resolves afresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from labkit.host.packages import normalize  # noqa: E402  (one definition of a package's name)
#: target Python -> the glibc of the OS that ships it (its newest manylinux tag)
TARGETS = {"3.11": (2, 36), "3.12": (2, 39)}
ARCH = "x86_64"
EXTRAS = ("lab", "test", "room")


def requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + [r for extra in EXTRAS for r in project["optional-dependencies"][extra]]


def platforms(glibc: tuple[int, int]) -> list[str]:
    """The platform tags a glibc accepts, best first: manylinux_2_36_x86_64 ... manylinux_2_17, then the
    legacy names and plain linux."""
    major, newest = glibc
    tags = [f"manylinux_{major}_{minor}_{ARCH}" for minor in range(newest, 16, -1)]
    return tags + [f"manylinux2014_{ARCH}", f"manylinux2010_{ARCH}", f"manylinux1_{ARCH}", f"linux_{ARCH}"]


def pins(path: Path) -> list[str]:
    """["httpx==0.29.0", ...]: a lock's versions, without their hashes (pip's constraints)."""
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if "==" in line and not line.startswith("#")]


def resolve(version: str, keep: list[str] | None = None) -> list[tuple[str, str, str]]:
    """[(name, version, sha256)] of every package the target installs, sorted by name; `keep`: pins
    that stay as they are unless a requirement excludes them."""
    abi = "cp" + version.replace(".", "")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "--python-version", version, "--implementation", "cp", "--abi", abi,
               "--only-binary=:all:", "--target", str(Path(tmp) / "t")]
        for tag in platforms(TARGETS[version]):
            cmd += ["--platform", tag]
        env = dict(os.environ, PIP_CONSTRAINT="")  # a machine's own pip caps are not the lab's
        if keep:
            # pip checks a constraint's Requires-Python against the Python running pip, not the target's
            # (contourpy==1.4.0, >=3.12, refused from 3.11 for the 3.12 lock): the check is done below,
            # on every package of the report, against the target
            cmd.append("--ignore-requires-python")
            constraints = Path(tmp) / "keep.txt"
            # a pin that pyproject.toml's range no longer allows is left out: that one moves
            constraints.write_text("\n".join(p for p in keep if _in_range(p)) + "\n")
            cmd += ["-c", str(constraints)]
        subprocess.run(cmd + requirements(), check=True, env=env)
        out = []
        from packaging.specifiers import SpecifierSet

        for item in json.loads(report.read_text())["install"]:
            needs = item["metadata"].get("requires_python")
            if needs and not SpecifierSet(needs).contains(f"{version}.0"):
                raise SystemExit(f"{item['metadata']['name']} {item['metadata']['version']} needs Python {needs}, not {version}")
            sha = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
            if not sha:
                raise SystemExit(f"no sha256 for {item['metadata']['name']}: {item['download_info']['url']}")
            out.append((normalize(item["metadata"]["name"]), item["metadata"]["version"], sha))
    return sorted(out)


def _in_range(pin: str) -> bool:
    """Does pyproject.toml's requirement of this pinned package allow the pinned version?"""
    from packaging.requirements import Requirement

    name, version = pin.split("==")
    for r in requirements():
        req = Requirement(r)
        if normalize(req.name) == normalize(name):
            return req.specifier.contains(version, prereleases=True)
    return True


def write(version: str, upgrade: bool = False) -> Path:
    path = HERE / f"lock-py{version}.txt"
    pinned = resolve(version, None if upgrade else pins(path))
    lines = [f"# The lab's Python packages for Python {version} on {ARCH} (glibc up to "
             f"{'.'.join(map(str, TARGETS[version]))}), pinned, with their hashes.",
             "# Made by `./lab lock` (requirements/lock.py) from pyproject.toml's dependencies and its "
             f"extras {', '.join(EXTRAS)}; edit pyproject.toml, never this file.", ""]
    for name, ver, sha in pinned:
        lines.append(f"{name}=={ver} \\\n    --hash=sha256:{sha}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--upgrade"]
    for version in args or list(TARGETS):
        if version not in TARGETS:
            raise SystemExit(f"no target Python {version}: one of {', '.join(TARGETS)}")
        path = write(version, "--upgrade" in sys.argv[1:])
        print(f"{path.relative_to(REPO)}: {sum(1 for line in path.read_text().splitlines() if '==' in line)} packages")


if __name__ == "__main__":
    main()
