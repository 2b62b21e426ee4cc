"""Write the lab's Python lock files: every package `./lab setup` installs, pinned, with its hash.

    .venv/bin/python requirements/lock.py            # all targets (what `./lab lock` runs)
    .venv/bin/python requirements/lock.py 3.12       # one

One lock per target Python, because compiled packages ship one wheel per Python version:
    requirements/lock-py3.11.txt     Debian 12's python3 (glibc 2.36)
    requirements/lock-py3.12.txt     Ubuntu 24.04's python3 (glibc 2.39)

How: pip resolves pyproject.toml's dependencies and extras (lab, test) as the target would, without
installing anything (`pip install --dry-run --report`, with the target's Python version and the
manylinux tags its glibc accepts, best first: pip then picks the very file the target will), and the
report gives each file's sha256. `./lab setup` installs with `--require-hashes`, so the same files
come back months later, or the install stops and says which package differs.
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
EXTRAS = ("lab", "test")


def requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + [r for extra in EXTRAS for r in project["optional-dependencies"][extra]]


def platforms(glibc: tuple[int, int]) -> list[str]:
    """The platform tags a glibc accepts, best first: manylinux_2_36_x86_64 ... manylinux_2_17, then the
    legacy names and plain linux."""
    major, newest = glibc
    tags = [f"manylinux_{major}_{minor}_{ARCH}" for minor in range(newest, 16, -1)]
    return tags + [f"manylinux2014_{ARCH}", f"manylinux2010_{ARCH}", f"manylinux1_{ARCH}", f"linux_{ARCH}"]


def resolve(version: str) -> list[tuple[str, str, str]]:
    """[(name, version, sha256)] of every package the target installs, sorted by name."""
    abi = "cp" + version.replace(".", "")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "--python-version", version, "--implementation", "cp", "--abi", abi,
               "--only-binary=:all:", "--target", str(Path(tmp) / "t")]
        for tag in platforms(TARGETS[version]):
            cmd += ["--platform", tag]
        env = dict(os.environ, PIP_CONSTRAINT="")  # a machine's own pip caps are not the lab's
        subprocess.run(cmd + requirements(), check=True, env=env)
        out = []
        for item in json.loads(report.read_text())["install"]:
            sha = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
            if not sha:
                raise SystemExit(f"no sha256 for {item['metadata']['name']}: {item['download_info']['url']}")
            out.append((normalize(item["metadata"]["name"]), item["metadata"]["version"], sha))
    return sorted(out)


def write(version: str) -> Path:
    pins = resolve(version)
    path = HERE / f"lock-py{version}.txt"
    lines = [f"# The lab's Python packages for Python {version} on {ARCH} (glibc up to "
             f"{'.'.join(map(str, TARGETS[version]))}), pinned, with their hashes.",
             "# Made by `./lab lock` (requirements/lock.py) from pyproject.toml's dependencies and its "
             f"extras {', '.join(EXTRAS)}; edit pyproject.toml, never this file.", ""]
    for name, ver, sha in pins:
        lines.append(f"{name}=={ver} \\\n    --hash=sha256:{sha}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    for version in sys.argv[1:] or list(TARGETS):
        if version not in TARGETS:
            raise SystemExit(f"no target Python {version}: one of {', '.join(TARGETS)}")
        path = write(version)
        print(f"{path.relative_to(REPO)}: {sum(1 for line in path.read_text().splitlines() if '==' in line)} packages")


if __name__ == "__main__":
    main()
