"""Every setting labkit writes into a cgroup, on both versions: one row each.

    setting              cgroup v1 (hierarchy/file)                      cgroup v2 (file)
    memory               memory/memory.limit_in_bytes                    memory.max
    cpu_quota            cpu/cpu.cfs_quota_us (with cpu.cfs_period_us)   cpu.max ("QUOTA PERIOD")
    ...

The drivers (v1.py, v2.py) write these files by these names (v1("pids") -> ("pids", "pids.max"),
v2("memory") -> "memory.max"), and show a learner the other version's name beside each file they
write (FileWrite.other_version): "the same limit on the other version" is a lookup here, not an if,
and neither driver needs the other. What they read (usage, events, stats) is figures.py's table.
"""

from __future__ import annotations

#: setting (a Resources field, or an action) -> (v1 (hierarchy, file) or None, v2 file or None). The
#: drivers write these files by these names, and show a learner the other version's beside each.
FILES = {
    "memory": (("memory", "memory.limit_in_bytes"), "memory.max"),
    "memory_swap": (("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max"),
    "memory_reservation": (("memory", "memory.soft_limit_in_bytes"), "memory.low"),
    "memory_high": (None, "memory.high"),
    "cpu_quota": (("cpu", "cpu.cfs_quota_us"), "cpu.max"),
    "cpu_period": (("cpu", "cpu.cfs_period_us"), None),  # v1 only: v2 writes both in cpu.max
    "cpu_shares": (("cpu", "cpu.shares"), "cpu.weight"),
    "cpuset_cpus": (("cpuset", "cpuset.cpus"), "cpuset.cpus"),
    "cpuset_mems": (("cpuset", "cpuset.mems"), "cpuset.mems"),
    "pids": (("pids", "pids.max"), "pids.max"),
    "io": (("blkio", "blkio.throttle.{read,write}_{bps,iops}_device"), "io.max"),
    "devices": (("devices", "devices.allow + devices.deny"), None),
    "freeze": (("freezer", "freezer.state"), "cgroup.freeze"),
    "procs": (("*", "cgroup.procs"), "cgroup.procs"),
}
#: what a learner reads beside a file's name: how the value is written there
NOTES = {
    "memory_swap": ("", " (= swap - memory)"),
    "cpu_quota": (" (with cpu.cfs_period_us)", ' ("QUOTA PERIOD")'),
    "cpu_shares": ("", " (converted from shares)"),
    "io": ("", ' ("MAJ:MIN rbps=.. wbps=.. riops=.. wiops=..")'),
    "devices": ("", ""),
    "procs": (" (or tasks) in every hierarchy", ""),
}


def v1(setting: str) -> tuple[str, str]:
    """(hierarchy, file) of a setting on v1: v1("pids") -> ("pids", "pids.max")."""
    return FILES[setting][0]


def v2(setting: str) -> str:
    """The file of a setting on v2: v2("memory") -> "memory.max"."""
    return FILES[setting][1]


V1 = {k: (f"{h}/{f}" if h != "*" else f) + NOTES.get(k, ("", ""))[0] for k, (v, _) in FILES.items() if v for h, f in [v]}
V2 = {k: f + NOTES.get(k, ("", ""))[1] for k, (_, f) in FILES.items() if f}
V2["devices"] = "(none: an eBPF program attached to the group, BPF_CGROUP_DEVICE)"
