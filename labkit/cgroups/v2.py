"""cgroup v2 driver: one unified hierarchy.

    /sys/fs/cgroup/labkit/c1/memory.max
    /sys/fs/cgroup/labkit/c1/pids.max

A controller works in a group only if every ancestor lists it in
cgroup.subtree_control, so create() enables ours on the way down: at the root
(a systemd host already has them) and in the labkit parent, which therefore
must hold no process itself (v2's "no internal processes" rule).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FeatureMissing, translate_oserror
from .base import Group, write
from .layout import Layout
from .resources import Resources

WANTED = ("memory", "pids", "cpu", "io", "cpuset")

FILES = {
    "memory": "memory.max",
    "pids": "pids.max",
}


class V2Group(Group):
    version = 2

    def __init__(self, name: str, layout: Layout):
        u = layout.unified
        if u is None:
            raise FeatureMissing("no cgroup2 hierarchy is mounted")
        self.root = u.mountpoint
        self.available = u.controllers
        super().__init__(name, [u.mountpoint / name])

    def create(self) -> None:
        d = self.dirs[0]
        if d.is_dir():
            return
        wanted = [c for c in WANTED if c in self.available]
        for attempt in range(3):
            try:
                cur = self.root
                for part in Path(self.name).parts:
                    enabled = (cur / "cgroup.subtree_control").read_text().split()
                    missing = [c for c in wanted if c not in enabled]
                    if missing:
                        write(cur / "cgroup.subtree_control", " ".join("+" + c for c in missing))
                    cur = cur / part
                    cur.mkdir(exist_ok=True)
                return
            except FileNotFoundError:
                if attempt == 2:  # the parent vanished under us three times: another lab's reset?
                    raise translate_oserror(OSError(2, "parent group removed meanwhile"), f"create cgroup {d}") from None
            except OSError as e:
                raise translate_oserror(e, f"create cgroup {d}") from None

    def apply(self, resources: Resources) -> list[tuple[Path, str]]:
        written = []
        d = self.dirs[0]
        for key, value in (("memory", resources.memory), ("pids", resources.pids)):
            if value is None:
                continue
            if key not in self.available:
                raise FeatureMissing(f"the {key} cgroup controller is not available in {self.root}")
            write(d / FILES[key], str(value))
            written.append((d / FILES[key], str(value)))
        if resources.memory is not None and (d / "memory.swap.max").exists():
            # Without this, a v2 group may swap past its memory limit instead of meeting the OOM killer.
            write(d / "memory.swap.max", "0")
            written.append((d / "memory.swap.max", "0"))
        return written

    def kill(self, timeout: float = 5.0) -> None:
        kill_file = self.dirs[0] / "cgroup.kill"  # Linux 5.14+: the kernel kills every process, races included
        if kill_file.exists() and self.pids():
            write(kill_file, "1")
        super().kill(timeout)
