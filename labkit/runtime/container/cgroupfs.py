"""The container's own /sys/fs/cgroup, as Docker gives it: its own group as the root, read-only.

A process learns its limits from there (a JVM since 8u191 reads memory.max, Go's and .NET's
runtimes do the same). PID 1 calls own_cgroups() after joining its cgroups and pivot_root:

    unshare(CLONE_NEWCGROUP)       the group it is in now becomes "/" of its cgroup namespace:
                                   /proc/self/cgroup says "0::/" instead of "0::/labkit/3f9a..."
    v2:  mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC)
         -> /sys/fs/cgroup/memory.max is the container's limit
    v1:  a tmpfs on /sys/fs/cgroup, and for each hierarchy in /proc/self/cgroup ("4:memory:/")
         mount("cgroup", "/sys/fs/cgroup/memory", "cgroup", MS_RDONLY|..., "memory"), then the tmpfs
         made read-only -> /sys/fs/cgroup/memory/memory.limit_in_bytes is the container's limit

A cgroup filesystem mounted inside a cgroup namespace shows that namespace's root: the rest of the
host's tree is out of reach, as on Docker's default (private cgroup namespace).
"""

from __future__ import annotations

import os

from ...kernel import syscalls as sc
from .report import step

TARGET = "/sys/fs/cgroup"
FLAGS = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def hierarchies(text: str) -> list[tuple[str, str, str]]:
    """/proc/self/cgroup -> (directory, filesystem type, mount data) for each hierarchy:
    "4:memory:/" -> ("memory", "cgroup", "memory"); "1:name=systemd:/" -> ("systemd", "cgroup",
    "none,name=systemd"); "3:cpu,cpuacct:/" -> ("cpu,cpuacct", "cgroup", "cpu,cpuacct");
    "0::/" on a hybrid host -> ("unified", "cgroup2", "")."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers = parts[1]
        if not controllers:
            out.append(("unified", "cgroup2", ""))
        elif controllers.startswith("name="):
            out.append((controllers[5:], "cgroup", f"none,{controllers}"))
        else:
            out.append((controllers, "cgroup", controllers))
    return out


def own_cgroups(cgroup_ns: bool) -> None:
    """Mount the container's cgroups on /sys/fs/cgroup (a failure: report.StepFailed). Without a cgroup namespace (a bundle that asks for none) the
    mounts would show the host's whole tree: an empty read-only tmpfs stands there instead."""
    if not cgroup_ns:
        step("mount", sc.mount, "tmpfs", TARGET, "tmpfs", FLAGS, "mode=755", path=TARGET)
        return
    step("cgroupns", sc.unshare, sc.CLONE_NEWCGROUP)
    with open("/proc/self/cgroup") as f:
        found = hierarchies(f.read())
    if [fstype for _, fstype, _ in found] == ["cgroup2"]:  # v2 only: the one line "0::/"
        step("mount", sc.mount, "cgroup2", TARGET, "cgroup2", FLAGS, None, path=TARGET)
        return
    step("mount", sc.mount, "tmpfs", TARGET, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755",
         path=TARGET)
    for name, fstype, data in found:
        path = f"{TARGET}/{name}"
        step("mkdir", os.mkdir, path, 0o755, path=path)
        step("mount", sc.mount, "cgroup", path, fstype, FLAGS, data or None, path=path)
        if "," in name:  # "cpu,cpuacct": also reachable as cpu/ and cpuacct/, as on the host
            for alias in name.split(","):
                if not os.path.lexists(f"{TARGET}/{alias}"):
                    step("symlink", os.symlink, name, f"{TARGET}/{alias}", path=f"{TARGET}/{alias}")
    step("read-only", sc.mount, None, TARGET, None, sc.MS_REMOUNT | FLAGS, "mode=755", path=TARGET)

