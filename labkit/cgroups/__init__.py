"""cgroups: limit and measure groups of processes, through a v1 or a v2 driver.

    from labkit import cgroups
    g = cgroups.group("labkit/demo")      # the driver fits this host's layout
    g.create(); g.apply(Resources(memory=64 << 20)); g.add(pid); ...; g.remove()
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import FeatureMissing
from ..paths import is_labkit_name

__all__ = ["Group", "Layout", "Resources", "group", "layout", "labkit_dirs"]


def __getattr__(name: str):
    # Imported on first use, so that `from labkit.cgroups.units import ...` (the CLI checking a
    # memory size) does not pull in the drivers and dataclasses.
    if name == "Group":
        from .base import Group

        return Group
    if name == "Layout":
        from .hierarchies import Layout

        return Layout
    if name == "Resources":
        from .resources import Resources

        return Resources
    raise AttributeError(name)


@functools.lru_cache(maxsize=1)
def layout():
    """This host's cgroup layout (read once per process)."""
    from .hierarchies import read_layout

    return read_layout()


def group(name: str, lay=None):
    """The labkit cgroup `name` (e.g. "labkit/c1") through the driver this host needs."""
    lay = lay or layout()
    if lay.version == 2:
        from .v2 import V2Group

        return V2Group(name, lay)
    if lay.version == 1:
        from .v1 import V1Group

        return V1Group(name, lay)
    raise FeatureMissing("error.cgroups.no-usable-cgroup-hierarchy")


def labkit_dirs(lay=None, tag: str | None = None) -> list[Path]:
    """labkit parent groups directly under each hierarchy's root: all instances', or only `tag`'s."""
    lay = lay or layout()
    found = []
    for h in lay.hierarchies:
        try:
            children = list(h.mountpoint.iterdir())
        except OSError:
            continue
        for d in children:
            if d.is_dir() and (d.name == tag if tag else is_labkit_name(d.name)):
                found.append(d)
    return found
