"""The lab's version, and whether the Python packages installed match the lock `./lab setup` used.

    requirements/lock-py3.11.txt      anyio==4.16.0 \\ --hash=sha256:c66a...   (one per target Python)

    compare() -> Drift(lock="requirements/lock-py3.11.txt", locked=114, differ=[("numpy", "2.4.6", "2.2.6")],
                       missing=["nbclient"])

A venv made with LABKIT_LOCK=off, or changed by hand (`pip install -U ...`), drifts from what the lab
was tested with: the doctor says which packages, and how to come back.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"


def lab_version() -> str:
    try:
        return version("labkit")
    except PackageNotFoundError:
        return "unknown (not installed: run ./lab setup)"


def lock_path() -> Path:
    return REQUIREMENTS / f"lock-py{sys.version_info[0]}.{sys.version_info[1]}.txt"


def read_lock(path: Path) -> dict[str, str]:
    """{"anyio": "4.16.0", ...}: the pins of a lock file (its hashes are pip's business)."""
    text = path.read_text().replace("\\\n", " ")
    return {m.group(1): m.group(2) for m in re.finditer(r"^([a-z0-9-]+)==(\S+)", text, re.M)}


def normalize(name: str) -> str:
    """PEP 503's form of a package name: "Jupyter_Server" -> "jupyter-server"."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Drift:
    lock: str
    locked: int = 0
    differ: list[tuple[str, str, str]] = field(default_factory=list)  # (name, installed, locked)
    missing: list[str] = field(default_factory=list)
    no_lock: bool = False

    @property
    def matches(self) -> bool:
        return not (self.no_lock or self.differ or self.missing)


def compare(path: Path | None = None) -> Drift:
    path = path or lock_path()
    shown = f"requirements/{path.name}"
    try:
        pins = read_lock(path)
    except OSError:
        return Drift(shown, no_lock=True)
    installed = {normalize(d.metadata["Name"]): d.version for d in distributions()}
    differ = [(n, installed[n], v) for n, v in sorted(pins.items()) if n in installed and installed[n] != v]
    missing = [n for n in sorted(pins) if n not in installed]
    return Drift(shown, len(pins), differ, missing)
