"""Linux capabilities by name and number (<linux/capability.h>; `man 7 capabilities`).

A capability is one slice of root's power. A container's process runs as uid 0 but with
only some of them: Docker keeps the 14 in DOCKER_DEFAULT. In /proc/PID/status they show as
a bit mask, e.g. "CapBnd: 00000000a80425fb" is exactly Docker's default set.
"""

from __future__ import annotations

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBER = {name: i for i, name in enumerate(NAMES)}

#: What `docker run` keeps by default (moby's oci/caps defaults); everything else is dropped,
#: CAP_SYS_ADMIN (mount, sethostname, ...) and CAP_NET_ADMIN among them.
DOCKER_DEFAULT = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def mask(names) -> int:
    """The bit mask of a set of capability names: mask(DOCKER_DEFAULT) == 0xa80425fb."""
    return sum(1 << NUMBER[n] for n in names if n in NUMBER)


def names(bits: int) -> list[str]:
    """The names in a mask, e.g. from "CapEff: 00000000a80425fb" in /proc/PID/status."""
    return [n for i, n in enumerate(NAMES) if bits >> i & 1]
