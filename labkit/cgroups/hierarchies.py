"""Which cgroup hierarchies this host mounts: v1, v2 or hybrid.

Read from /proc/self/mountinfo, one line per mount, for example (v1 memory, then v2):

    33 25 0:28 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
    35 25 0:30 / /sys/fs/cgroup/unified rw,relatime shared:14 - cgroup2 cgroup2 rw

Field 5 is the mount point, the first field after " - " the filesystem type,
the last the super options (for v1, the controllers bound to that hierarchy).
A v2 hierarchy lists its controllers in <mountpoint>/cgroup.controllers.

"hybrid" means v1 controllers plus a cgroup2 mount that has few or none (this
machine: /sys/fs/cgroup/unified with only hugetlb).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..filesystems.mounts import parse_mountinfo


#: Controllers a v1 hierarchy can carry; other super options (rw, name=systemd, xattr) are not.
V1_CONTROLLERS = frozenset(
    "cpu cpuacct cpuset memory devices freezer net_cls net_prio blkio perf_event hugetlb pids rdma misc".split()
)


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: Path
    version: int  # 1 or 2
    controllers: tuple[str, ...]

    def __repr__(self) -> str:
        return f"<cgroup v{self.version} {self.mountpoint} {','.join(self.controllers) or '-'}>"


@dataclass(frozen=True)
class Layout:
    hierarchies: tuple[Hierarchy, ...]

    @property
    def unified(self) -> Hierarchy | None:
        return next((h for h in self.hierarchies if h.version == 2), None)

    def v1(self, controller: str) -> Hierarchy | None:
        return next((h for h in self.hierarchies if h.version == 1 and controller in h.controllers), None)

    @property
    def kind(self) -> str:
        """ "v2", "v1", "hybrid" or "none"."""
        has_v1 = any(h.version == 1 and h.controllers for h in self.hierarchies)
        if self.unified and not has_v1:
            return "v2"
        if has_v1:
            return "hybrid" if self.unified else "v1"
        return "none"

    @property
    def version(self) -> int:
        """The driver to use: 2 when the unified hierarchy holds the memory controller, else 1."""
        u = self.unified
        if u is not None and "memory" in u.controllers:
            return 2
        return 1 if self.kind in ("v1", "hybrid") else 0

    def controllers(self) -> tuple[str, ...]:
        """The controllers labkit can use through its driver."""
        if self.version == 2:
            return self.unified.controllers  # type: ignore[union-attr]
        return tuple(sorted({c for h in self.hierarchies if h.version == 1 for c in h.controllers}))


def read_layout(mountinfo: str | Path = "/proc/self/mountinfo") -> Layout:
    """The cgroup hierarchies mounted here. Pass another mountinfo file to parse a fake one in tests."""
    hierarchies = []
    seen = set()
    for m in parse_mountinfo(Path(mountinfo).read_text()):
        root, mountpoint, fstype, superopts = m.root, m.mountpoint, m.fstype, m.superopts
        # root != "/" is a bind mount of a sub-group (e.g. inside a container): not a hierarchy root.
        if root != "/" or mountpoint in seen:
            continue
        if fstype == "cgroup":
            opts = superopts.split(",")
            ctrls = tuple(o for o in opts if o in V1_CONTROLLERS)
            hierarchies.append(Hierarchy(Path(mountpoint), 1, ctrls))
            seen.add(mountpoint)
        elif fstype == "cgroup2":
            try:
                ctrls = tuple((Path(mountpoint) / "cgroup.controllers").read_text().split())
            except OSError:
                ctrls = ()
            hierarchies.append(Hierarchy(Path(mountpoint), 2, ctrls))
            seen.add(mountpoint)
    return Layout(tuple(hierarchies))
