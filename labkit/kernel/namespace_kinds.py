"""The kinds of namespace (`man 7 namespaces`), one row each: everything labkit needs to know of a kind.

    kind      clone flag        OCI name     what it isolates
    mnt       CLONE_NEWNS       mount        the mount table (the first namespace, 2002: hence "NS")
    uts       CLONE_NEWUTS      uts          hostname and domain name
    ipc       CLONE_NEWIPC      ipc          System V IPC, POSIX message queues
    pid       CLONE_NEWPID      pid          process IDs (the next child is PID 1)
    net       CLONE_NEWNET      network      interfaces, routes, firewall, ports
    user      CLONE_NEWUSER     user         user and group IDs, capabilities
    cgroup    CLONE_NEWCGROUP   cgroup       the view of /proc/self/cgroup
    time      CLONE_NEWTIME     time         the monotonic and boot-time clocks

`kind` is the name /proc/PID/ns/ uses. ENTER lists the order in which to join another process's
namespaces with setns(2): user first (it grants the rights to join the others), mnt last (after it,
the host's /proc/PID/ns files are out of sight).
"""

from __future__ import annotations

from . import syscalls as sc


class Kind:
    __slots__ = ("name", "flag", "flag_name", "oci", "isolates")

    def __init__(self, name: str, flag: int, flag_name: str, oci: str, isolates: str):
        self.name, self.flag, self.flag_name, self.oci, self.isolates = name, flag, flag_name, oci, isolates

    def __repr__(self) -> str:
        return f"<namespace kind {self.name} ({self.flag_name}, OCI {self.oci!r})>"


KINDS = (
    Kind("mnt", sc.CLONE_NEWNS, "CLONE_NEWNS", "mount", "the mount table"),
    Kind("uts", sc.CLONE_NEWUTS, "CLONE_NEWUTS", "uts", "hostname and domain name"),
    Kind("ipc", sc.CLONE_NEWIPC, "CLONE_NEWIPC", "ipc", "System V IPC and POSIX message queues"),
    Kind("pid", sc.CLONE_NEWPID, "CLONE_NEWPID", "pid", "process IDs (the first process is PID 1)"),
    Kind("net", sc.CLONE_NEWNET, "CLONE_NEWNET", "network", "network devices, addresses, routes, firewall rules, ports"),
    Kind("user", sc.CLONE_NEWUSER, "CLONE_NEWUSER", "user", "user and group IDs (uid 0 inside, unprivileged outside)"),
    Kind("cgroup", sc.CLONE_NEWCGROUP, "CLONE_NEWCGROUP", "cgroup", "the view of /proc/self/cgroup"),
    Kind("time", sc.CLONE_NEWTIME, "CLONE_NEWTIME", "time", "CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets"),
)
NAMES = tuple(k.name for k in KINDS)
BY_NAME = {k.name: k for k in KINDS}
BY_OCI = {k.oci: k for k in KINDS}
ENTER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")


def flags(names) -> int:
    """CLONE_NEW* flags for kinds by name: flags(["uts", "pid"]) == CLONE_NEWUTS | CLONE_NEWPID."""
    out = 0
    for n in names:
        out |= BY_NAME[n].flag
    return out


def oci_flags(oci_namespaces) -> int:
    """The same for a config.json's linux.namespaces: [{"type": "pid"}, {"type": "network"}, ...]."""
    out = 0
    for ns in oci_namespaces:
        out |= BY_OCI[ns["type"]].flag
    return out
