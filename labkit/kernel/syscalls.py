"""Raw Linux system calls that Python's standard library lacks (on 3.11).

This is the only module in labkit that uses ctypes. Each wrapper raises OSError
with the kernel's errno, like the os module does; the man page's main failure
cases are listed in each docstring so a learner knows what the kernel refuses.

Python 3.12 adds os.unshare and os.setns; we use them when present.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct

from .syscall_numbers import number

_libc = ctypes.CDLL(None, use_errno=True)

# Namespace flags, from <linux/sched.h>. `man 7 namespaces` names each kind.
CLONE_NEWNS = 0x00020000  # mount
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# (Each kind's flag, names and order of entering: kernel/namespace_kinds.py.)

# mount(2) flags, from <linux/mount.h>.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_STRICTATIME = 1 << 24

# umount2(2) flags.
MNT_DETACH = 2

# prctl(2) options.
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4



def _check(result: int, what: str, path: str | None = None) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return result


def _b(s: str | bytes | os.PathLike | None) -> bytes | None:
    if s is None:
        return None
    return os.fsencode(s)


def unshare(flags: int) -> None:
    """Move this process into new namespaces of the kinds in `flags` (CLONE_NEW*).

    A new PID namespace applies to this process's *children* only: the next
    child forked becomes PID 1 there. Fails with EPERM without CAP_SYS_ADMIN
    (except CLONE_NEWUSER), and EINVAL for CLONE_NEWUSER in a threaded process.
    """
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that `fd` (an open /proc/PID/ns/KIND) refers to.

    `nstype` 0 accepts any kind. EINVAL if the fd is not a namespace or joining
    is not allowed (a threaded process cannot join a user or mount namespace);
    EPERM without CAP_SYS_ADMIN.
    """
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    """mount(2): attach a filesystem at `target`.

    Example: mount("labkit", "/var/lib/labkit/containers/c1/rootfs", "overlay", 0,
    "lowerdir=...,upperdir=...,workdir=..."). EPERM without CAP_SYS_ADMIN; ENODEV
    for an unknown fstype; EINVAL for bad options (overlay explains why in dmesg);
    ENOENT if target is missing.
    """
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
        f"mount {fstype or ''} on {target}".replace("  ", " "),
        target,
    )


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2): detach the filesystem at `target`.

    MNT_DETACH detaches it now and frees it when the last user leaves. EBUSY if
    in use (without MNT_DETACH); EINVAL if `target` is not a mount point.
    """
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make `new_root` the root mount of this mount namespace.

    The old root moves to `put_old`. Fails with EINVAL if new_root is not a mount
    point, if put_old is not at or under new_root, or if the current root is on
    a shared mount (make "/" private first); EBUSY if new_root or put_old is the
    current root. pivot_root(".", ".") stacks the old root on top of the new one,
    so it can be unmounted from "." without needing a put_old directory.
    """
    if number("pivot_root") is None:
        raise OSError(errno.ENOSYS, "pivot_root: unknown syscall number on this architecture")
    _check(_libc.syscall(ctypes.c_long(number("pivot_root")), _b(new_root), _b(put_old)), "pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    """prctl(2) with integer arguments, e.g. prctl(PR_SET_NO_NEW_PRIVS, 1) or prctl(PR_CAPBSET_DROP, 21).

    PR_CAPBSET_DROP needs CAP_SETPCAP; EINVAL for a capability the kernel does not know.
    """
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), "prctl")


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) for this thread: set the three capability masks (64 bits each, as two 32-bit halves).

    EPERM when asking for a permitted capability not held now, or an inheritable one outside
    the bounding set and the permitted set.
    """
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset")


# Network device flags, from <linux/if.h>; ioctl numbers from <linux/sockios.h>.
IFF_UP = 0x1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914


def link_up(ifname: str = "lo") -> None:
    """Set a network interface up, like `ip link set lo up`, with the old SIOCSIFFLAGS ioctl.

    A new network namespace has only `lo`, and it starts down. Used inside a
    container where importing pyroute2 would cost more than the whole start
    (and after pivot_root, where the host's modules can no longer be imported).
    ENODEV if there is no such interface; EPERM without CAP_NET_ADMIN.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", ifname.encode(), 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", ifname.encode(), flags | IFF_UP))


# -- seccomp, eBPF and keyrings: the container's last locks ------------------------------------------------
def _syscall(name: str, *args) -> int:
    nr = number(name)
    if nr is None:
        raise OSError(errno.ENOSYS, f"{name}: unknown syscall number on this architecture")
    return _check(_libc.syscall(ctypes.c_long(nr), *args), name)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


SECCOMP_SET_MODE_FILTER = 1


def seccomp_filter(program: bytes) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER): from now on every system call of this thread (and of what it
    execs and forks) is first run through `program`, classic BPF (struct sock_filter[], 8 bytes each;
    security/seccomp.py makes one). Filters stack and can never be removed.

    EACCES unless no_new_privs is set or the caller has CAP_SYS_ADMIN; EINVAL for a program the kernel's
    checker refuses (a jump past the end, no return at the end); ENOMEM past 32768 instructions in all.
    """
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    _syscall("seccomp", ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(0), ctypes.byref(prog))


# bpf(2) commands, program and attach types, from <linux/bpf.h>.
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_QUERY = 5, 8, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


def bpf_prog_load(prog_type: int, insns: bytes, license: str = "Apache-2.0", name: str = "") -> int:  # noqa: A002
    """bpf(BPF_PROG_LOAD): hand an eBPF program (struct bpf_insn[], 8 bytes each) to the kernel's
    verifier; returns a file descriptor for it. EPERM without CAP_BPF/CAP_SYS_ADMIN; EINVAL or
    EACCES when the verifier refuses the program (its log says why: pass through `OSError.filename`)."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(65536)
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf,
    # kern_version, prog_flags, prog_name[16] (the rest stays zero, as the kernel wants).
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIQQIIQII16s", attr, 0, prog_type, len(insns) // 8, ctypes.addressof(code),
                     ctypes.addressof(lic), 1, len(log), ctypes.addressof(log), 0, 0, name.encode()[:15])
    nr = number("bpf")
    # EAGAIN: the verifier gave up for now (a signal pending, the CPU wanted elsewhere: seen with
    # twenty starts at once); as libbpf does (PROG_LOAD_ATTEMPTS), the load is simply tried again.
    for _ in range(5):
        fd = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(BPF_PROG_LOAD), attr, ctypes.c_uint(len(attr)))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err != errno.EAGAIN:
            break
    raise OSError(err, f"bpf(BPF_PROG_LOAD): {os.strerror(err)}", log.value.decode(errors="replace")[-2000:] or None)


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    """bpf(BPF_PROG_ATTACH): run program `prog_fd` for `target_fd` (an open cgroup directory); the
    cgroup keeps the program alive after prog_fd is closed, and frees it when the cgroup is removed.
    EPERM without privilege; EEXIST/EPERM when another program is attached without BPF_F_ALLOW_MULTI."""
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIII", attr, 0, target_fd, prog_fd, attach_type, flags)
    _syscall("bpf", ctypes.c_int(BPF_PROG_ATTACH), attr, ctypes.c_uint(len(attr)))


def bpf_prog_query(target_fd: int, attach_type: int) -> list[int]:
    """bpf(BPF_PROG_QUERY): the IDs of the programs attached to a cgroup for `attach_type`."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(128)
    # target_fd, attach_type, query_flags, attach_flags, prog_ids (pointer), prog_cnt
    struct.pack_into("=IIIIQI", attr, 0, target_fd, attach_type, 0, 0, ctypes.addressof(ids), 64)
    _syscall("bpf", ctypes.c_int(BPF_PROG_QUERY), attr, ctypes.c_uint(len(attr)))
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:count])


# keyctl(2) operations and special keyring IDs, from <linux/keyctl.h>.
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING = 0, 1
KEY_SPEC_SESSION_KEYRING = -3


def join_session_keyring(name: str | None) -> int:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING): give this process a session keyring of its own, `name`d
    (joined if one of that name exists and may be searched) or anonymous (None); returns its serial.
    Keys are not namespaced: without this a container shares the session keyring of whoever started
    labkitd. EDQUOT when the user has too many keys."""
    arg = ctypes.c_char_p(name.encode()) if name else ctypes.c_char_p(None)
    return _syscall("keyctl", ctypes.c_int(KEYCTL_JOIN_SESSION_KEYRING), arg)


def keyring_id(special: int = KEY_SPEC_SESSION_KEYRING) -> int:
    """The serial of this process's session (or user, ...) keyring, as in /proc/keys (hex there)."""
    return _syscall("keyctl", ctypes.c_int(KEYCTL_GET_KEYRING_ID), ctypes.c_int(special), ctypes.c_int(0))


def add_key(key_type: str, description: str, payload: bytes, keyring: int) -> int:
    """add_key(2): e.g. add_key("user", "labkit-secret", b"s3cret", KEY_SPEC_SESSION_KEYRING) -> serial."""
    nr = number("add_key")
    return _check(_libc.syscall(ctypes.c_long(nr), key_type.encode(), description.encode(), payload,
                                ctypes.c_size_t(len(payload)), ctypes.c_int(keyring)), "add_key")


# -- clone3: a child born in its cgroup ---------------------------------------------------------------------
CLONE_INTO_CGROUP = 0x200000000  # Linux 5.7
CLONE_PARENT = 0x00008000  # the child's parent is the caller's parent


class _CloneArgs(ctypes.Structure):  # struct clone_args, <linux/sched.h>
    _fields_ = [(name, ctypes.c_uint64) for name in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal",
                                                     "stack", "stack_size", "tls", "set_tid", "set_tid_size",
                                                     "cgroup")]


# Called holding the GIL, as os.fork calls fork(): the child must not find another thread's lock.
_libc_gil = ctypes.PyDLL(None, use_errno=True)


def fork_into_cgroup(cgroup_fd: int, flags: int = 0) -> int:
    """fork(), but the child starts life in the cgroup v2 group open at `cgroup_fd` (a directory
    such as /sys/fs/cgroup/labkit/3f9a0c1b2d4e), and in new namespaces for the CLONE_NEW* `flags`.
    Returns the child's PID in the parent and 0 in the child, like os.fork().

    Why not fork, then write the PID to cgroup.procs: moving a process takes a lock every fork on the
    host reads, and the writer waits an RCU grace period for the readers to leave (~10 ms here, on each
    start). A child born in the group is never moved. Fails with ENOSYS before Linux 5.3, E2BIG or
    EINVAL for CLONE_INTO_CGROUP before 5.7, EBADF if cgroup_fd is not a cgroup2 directory."""
    return clone3(flags, cgroup_fd)


def clone3(flags: int = 0, cgroup_fd: int | None = None) -> int:
    """clone3(2) as a fork: the child gets SIGCHLD's place in its parent's life, and with cgroup_fd
    is born in that v2 group (CLONE_INTO_CGROUP). flags, e.g. CLONE_NEWPID | CLONE_PARENT: PID 1 of
    a new PID namespace whose parent is this process's parent (daemon/zygote.py). Python's
    before/after-fork steps run around the call as os.fork runs them."""
    if cgroup_fd is not None:
        flags |= CLONE_INTO_CGROUP
    # With CLONE_PARENT the kernel takes the caller's own exit signal and refuses any other (EINVAL).
    args = _CloneArgs(flags=flags, exit_signal=0 if flags & CLONE_PARENT else 17, cgroup=cgroup_fd or 0)  # 17: SIGCHLD
    nr = number("clone3")
    if nr is None:
        raise OSError(errno.ENOSYS, "clone3: unknown syscall number on this architecture")
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _libc_gil.syscall(ctypes.c_long(nr), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
    else:
        ctypes.pythonapi.PyOS_AfterFork_Parent()
    return _check(pid, "clone3")


# -- openat2: a path resolved without leaving a directory ---------------------------------------------
RESOLVE_NO_SYMLINKS = 0x04  # no symlink anywhere on the path (ELOOP)
RESOLVE_BENEATH = 0x08  # never above dir_fd: "..", an absolute path or a magic link fails (EXDEV)
RESOLVE_IN_ROOT = 0x10  # dir_fd is "/": "..", absolute paths and symlinks resolve inside it, as chroot's would


class _OpenHow(ctypes.Structure):  # struct open_how, <linux/openat2.h>
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2) (Linux 5.6): open `path` below dir_fd with the kernel enforcing `resolve`, e.g.
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: one call where a walk with O_NOFOLLOW takes one per part.
    ENOSYS before 5.6; ELOOP for a symlink on the way, EXDEV for a path that would leave dir_fd."""
    nr = number("openat2")
    if nr is None:
        raise OSError(errno.ENOSYS, "openat2: unknown syscall number on this architecture")
    how = _OpenHow(flags=flags, mode=mode, resolve=resolve)
    fd = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(dir_fd), _b(path), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    return _check(fd, "openat2", path)
