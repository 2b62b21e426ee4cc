"""Every setting labkit writes into a cgroup, on both versions: one row each.

    setting              cgroup v1 (hierarchy/file)                      cgroup v2 (file)
    memory               memory/memory.limit_in_bytes                    memory.max
    cpu_quota            cpu/cpu.cfs_quota_us (with cpu.cfs_period_us)   cpu.max ("QUOTA PERIOD")
    ...

The drivers (v1.py, v2.py) show a learner the other version's name beside each file they write
(FileWrite.other_version): "the same limit on the other version" is a lookup here, not an if, and
neither driver needs the other.
"""

from __future__ import annotations

#: setting (a Resources field, or an action) -> (v1 "hierarchy/file", v2 file)
SETTINGS = {
    "memory": ("memory/memory.limit_in_bytes", "memory.max"),
    "memory_swap": ("memory/memory.memsw.limit_in_bytes", "memory.swap.max (= swap - memory)"),
    "memory_reservation": ("memory/memory.soft_limit_in_bytes", "memory.low"),
    "memory_high": ("", "memory.high"),
    "cpu_quota": ("cpu/cpu.cfs_quota_us (with cpu.cfs_period_us)", 'cpu.max ("QUOTA PERIOD")'),
    "cpu_shares": ("cpu/cpu.shares", "cpu.weight (converted from shares)"),
    "cpuset_cpus": ("cpuset/cpuset.cpus", "cpuset.cpus"),
    "cpuset_mems": ("cpuset/cpuset.mems", "cpuset.mems"),
    "pids": ("pids/pids.max", "pids.max"),
    "io": ("blkio/blkio.throttle.{read,write}_{bps,iops}_device", 'io.max ("MAJ:MIN rbps=.. wbps=.. riops=.. wiops=..")'),
    "devices": ("devices/devices.allow + devices.deny", "(none: an eBPF program attached to the group, BPF_CGROUP_DEVICE)"),
    "freeze": ("freezer/freezer.state", "cgroup.freeze"),
    "procs": ("cgroup.procs (or tasks) in every hierarchy", "cgroup.procs"),
}
V1 = {k: v1 for k, (v1, _) in SETTINGS.items() if v1}
V2 = {k: v2 for k, (_, v2) in SETTINGS.items() if v2}
