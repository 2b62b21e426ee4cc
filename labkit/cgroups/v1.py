"""cgroup v1 driver: one directory per controller hierarchy.

    /sys/fs/cgroup/memory/labkit/c1/memory.limit_in_bytes
    /sys/fs/cgroup/pids/labkit/c1/pids.max

A container's group is made in each hierarchy of MANAGED, so its processes
can be counted (pids), limited (memory, cpu), measured (cpuacct) and frozen
(freezer). On a hybrid host the cgroup2 mount (often holding no controller) is
left alone here; reset still cleans it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FeatureMissing, translate_oserror
from .base import Group, write
from .layout import Layout
from .resources import Resources

MANAGED = ("pids", "memory", "cpu", "cpuacct", "freezer")

#: Resource -> (hierarchy, file). The v2 names are in v2.FILES.
FILES = {
    "memory": ("memory", "memory.limit_in_bytes"),
    "pids": ("pids", "pids.max"),
}


class V1Group(Group):
    version = 1

    def __init__(self, name: str, layout: Layout):
        self.by_controller: dict[str, Path] = {}
        for ctrl in MANAGED:
            h = layout.v1(ctrl)
            if h is not None:
                self.by_controller[ctrl] = h.mountpoint / name
        # cpu and cpuacct may share one hierarchy ("cpu,cpuacct"): one directory each, no repeats.
        super().__init__(name, list(dict.fromkeys(self.by_controller.values())))

    def create(self) -> None:
        for d in self.dirs:
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise translate_oserror(e, f"create cgroup {d}") from None

    def apply(self, resources: Resources) -> list[tuple[Path, str]]:
        writes: list[tuple[Path, str]] = []
        for key, value in (("memory", resources.memory), ("pids", resources.pids)):
            if value is None:
                continue
            ctrl, fname = FILES[key]
            if ctrl not in self.by_controller:
                raise FeatureMissing(f"the {ctrl} cgroup controller is not mounted on this host")
            writes.append((self.by_controller[ctrl] / fname, str(value)))
        memsw = self.by_controller.get("memory", Path("/nonexistent")) / "memory.memsw.limit_in_bytes"
        if resources.memory is not None and memsw.exists():
            # memory+swap = memory: no swap, as v2's memory.swap.max=0, so a limit meets the OOM killer.
            # The kernel keeps memsw >= the memory limit at every step: raising, memsw goes first.
            raising = resources.memory > int(memsw.read_text())
            writes.insert(0 if raising else 1, (memsw, str(resources.memory)))
        for path, value in writes:
            write(path, value)
        return writes
