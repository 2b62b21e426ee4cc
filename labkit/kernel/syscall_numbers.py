"""System call numbers, for the calls labkit makes without a libc wrapper (kernel/syscalls.py) and
those the seccomp profile names (security/seccomp.py): one table, two machines.

From <asm/unistd_64.h> on x86_64 and <asm-generic/unistd.h> on aarch64; None where the machine has
no such call. For example `ausyscall x86_64 pivot_root` prints 155.
"""

from __future__ import annotations

import os

NUMBERS = {
    #                      x86_64 aarch64
    "acct":               (163, 89),
    "add_key":            (248, 217),
    "bpf":                (321, 280),
    "clock_adjtime":      (305, 266),
    "clock_settime":      (227, 112),
    "clone":              (56, 220),
    "clone3":             (435, 435),
    "create_module":      (174, None),
    "delete_module":      (176, 106),
    "fanotify_init":      (300, 262),
    "finit_module":       (313, 273),
    "fsconfig":           (431, 431),
    "fsmount":            (432, 432),
    "fsopen":             (430, 430),
    "fspick":             (433, 433),
    "get_kernel_syms":    (177, None),
    "get_mempolicy":      (239, 236),
    "init_module":        (175, 105),
    "io_uring_enter":     (426, 426),
    "io_uring_register":  (427, 427),
    "io_uring_setup":     (425, 425),
    "ioperm":             (173, None),
    "iopl":               (172, None),
    "kcmp":               (312, 272),
    "kexec_file_load":    (320, 294),
    "kexec_load":         (246, 104),
    "keyctl":             (250, 219),
    "lookup_dcookie":     (212, 18),
    "mbind":              (237, 235),
    "mount":              (165, 40),
    "mount_setattr":      (442, 442),
    "move_mount":         (429, 429),
    "move_pages":         (279, 239),
    "name_to_handle_at":  (303, 264),
    "nfsservctl":         (180, 42),
    "open_by_handle_at":  (304, 265),
    "open_tree":          (428, 428),
    "openat2":            (437, 437),
    "perf_event_open":    (298, 241),
    "pivot_root":         (155, 41),
    "query_module":       (178, None),
    "quotactl":           (179, 60),
    "quotactl_fd":        (443, 443),
    "reboot":             (169, 142),
    "request_key":        (249, 218),
    "set_mempolicy":      (238, 237),
    "set_mempolicy_home_node": (450, 450),
    "setns":              (308, 268),
    "settimeofday":       (164, 170),
    "swapoff":            (168, 225),
    "swapon":             (167, 224),
    "_sysctl":            (156, None),
    "seccomp":            (317, 277),
    "sysfs":              (139, None),
    "syslog":             (103, 116),
    "umount2":            (166, 39),
    "unshare":            (272, 97),
    "uselib":             (134, None),
    "userfaultfd":        (323, 282),
    "ustat":              (136, None),
    "vhangup":            (153, 58),
}

#: The column of this machine in NUMBERS: 0 on x86_64, 1 on aarch64, None elsewhere.
COLUMN = {"x86_64": 0, "aarch64": 1}.get(os.uname().machine)


def number(name: str) -> int | None:
    """This machine's number for the call `name`, or None (another machine, or a call it lacks)."""
    return NUMBERS[name][COLUMN] if COLUMN is not None else None
