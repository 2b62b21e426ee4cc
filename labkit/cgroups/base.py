"""The interface both cgroup drivers keep, and what they share.

A Group is one labkit cgroup, named by its path below each hierarchy's root, e.g.
"labkit/c3f9a" -> /sys/fs/cgroup/memory/labkit/c3f9a (v1) or /sys/fs/cgroup/labkit/c3f9a (v2).

    create()          make the directories (and the labkit parent); no-op if they exist
    apply(resources)  write the limit files; returns a FileWrite for each file written
    add(pid)          move a process in; pid 0 means the calling process
    pids()            the processes inside, by host PID
    freeze(frozen)    stop (True) or resume (False) every process inside, and wait until done
    frozen()          True while the group is frozen
    oom_kills()       how many processes the OOM killer killed inside
    stats()           a Stats with the same names on both versions
    wait_oom(timeout) block until the kernel's OOM killer acts in the group (True) or timeout (False)
    kill()            SIGKILL everything inside and wait until it is empty
    remove()          kill(), then remove the directories; no-op if they are gone

files.py has one row per setting, with its v1 and its v2 file: a driver shows the other version's
name beside each file it writes, so "the same limit on the other version" is a lookup, not an if.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument, LimitRefused, TimedOut, translate_oserror
from ..paths import MARK
from .figures import pairs
from .resources import Resources
from .stats import Stats


@dataclass(frozen=True)
class FileWrite:
    """One kernel file written, e.g. /sys/fs/cgroup/memory/labkit/demo/memory.limit_in_bytes <- 67108864,
    with what the other cgroup version calls the same setting ("memory.max")."""

    path: Path
    value: str
    resource: str  # the Resources field it came from
    other_version: str  # the file name(s) on the other version, or "" if it has none

    def __repr__(self) -> str:
        from ..catalog import text

        other = f"   ({text('shown', 'other-version', name=self.other_version)})" if self.other_version else ""
        return f"{self.path} <- {self.value!r}{other}"


class Group:
    version = 0
    FILES: dict[str, str] = {}
    OTHER_FILES: dict[str, str] = {}

    def __init__(self, name: str, dirs: list[Path]):
        # Never act outside a labkit parent: the first path component must carry the mark.
        first = name.split("/", 1)[0]
        if MARK not in first or ".." in name.split("/") or name.startswith("/") or not name.strip("/"):
            raise InvalidArgument("error.cgroups.cgroup-under-labkit-parent", name=name)
        self.name = name
        self.dirs = dirs

    # -- the driver-specific part --------------------------------------------------------
    #: The cgroup v2 directory a container's PID 1 can be born in (clone3, CLONE_INTO_CGROUP) instead of
    #: joining it later, or None: only where no limit lives, as its set-up must not count against them.
    birth_dir: Path | None = None

    def create(self) -> None:
        raise NotImplementedError

    def apply(self, resources: Resources) -> list[FileWrite]:
        raise NotImplementedError

    def freeze(self, frozen: bool = True, timeout: float = 5.0) -> None:
        """Freeze or thaw, and wait until done. Asking for the state the group is in writes nothing."""
        raise NotImplementedError

    def frozen(self) -> bool:
        """True if the group is frozen (or freezing)."""
        raise NotImplementedError

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in the group (one file: quick)."""
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    def wait_oom(self, timeout: float | None = None) -> bool:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------
    def add(self, pid: int = 0) -> None:
        """Move process `pid` (0: this one) into the group, in every hierarchy."""
        for d in self.dirs:
            write(d / PROCS, str(pid))

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            found.update(read_pids(d))
        return sorted(found)

    def kill(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise translate_oserror(OSError(errno.EBUSY, "processes remain"), "empty-cgroup", name=self.name)
            time.sleep(0.002)

    def thaw_for_kill(self) -> None:
        """Thaw the group if it is frozen: on v1 a frozen process cannot act on SIGKILL until thawed,
        so a kill of a paused container would wait forever. A group removed meanwhile (the kill
        did its work, and the exit step took the group away) holds nothing frozen: not an error."""
        from ..errors import NotFound

        try:
            if self.exists():
                self.freeze(False)
        except NotFound:
            pass

    def remove(self) -> None:
        """Kill what is inside, remove the group, and the labkit parent too if this was its last child."""
        self.thaw_for_kill()
        self.kill()
        for d in self.dirs:
            remove_tree(d)
            try:
                os.rmdir(d.parent)
            except OSError:
                pass  # another group still lives there (EBUSY), or another process removed it first

    def _record(self, path: Path, value, resource: str) -> FileWrite:
        """Write a limit (e.g. "16777216" to memory.limit_in_bytes). A value the kernel will not take
        now is LimitRefused: cgroup v1 keeps a memory limit above what the group holds (EBUSY)."""
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.EINVAL):
                raise translate_oserror(e, "write-file", value=str(value), path=path) from None
            raise LimitRefused("error.cgroups.kernel-refused", resource=resource, value=value, name=self.name, name2=path.name, strerror=e.strerror) from None
        return FileWrite(path, str(value), resource, self.OTHER_FILES.get(resource, ""))

    def __repr__(self) -> str:
        return f"<cgroup v{self.version} {self.name} pids={self.pids() if self.exists() else 'gone'}>"


PROCS = "cgroup.procs"  # a group's members; writing a PID moves that process in, "0" the writer itself
TASKS = "tasks"  # v1 only: a group's threads; writing "0" moves just the calling thread


def open_procs(dirs) -> list[int]:
    """Open each group's member file for writing, to join later with join(): a container's PID 1
    opens them while the host's /sys/fs/cgroup is still in view and joins just before exec, so its
    own set-up is not charged to the container's limits.

    A single-threaded caller gets v1's `tasks` (/sys/fs/cgroup/memory/labkit/3f9a.../tasks): moving
    one thread, itself, the kernel skips the lock that moving a whole process takes, whose writer
    waits an RCU grace period (~10 ms here, on every start). With one thread, the thread is the
    process. A v2 group has no `tasks`; there, cgroup.procs (or Group.birth_dir and clone3)."""
    single = len(os.listdir("/proc/self/task")) == 1
    fds = []
    try:
        for d in dirs:
            tasks = os.path.join(d, TASKS)
            name = tasks if single and os.path.exists(tasks) else os.path.join(d, PROCS)
            fds.append(os.open(name, os.O_WRONLY | os.O_CLOEXEC))
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def join(fds) -> None:
    """Move the calling process into each group opened by open_procs(), and close them."""
    for fd in fds:
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise translate_oserror(e, "write-file", value=value, path=path) from None


def read_small(path: str) -> str:
    """A one-line cgroup file, "" if it cannot be read: read with two system calls and no Path,
    for what `ps` asks of every container (freezer.state, cgroup.freeze)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return os.read(fd, 256).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_keyed(path: Path) -> dict[str, int]:
    """A flat-keyed file such as memory.events ("oom_kill 2") or cpu.stat, as a dict (figures.pairs)."""
    return pairs(read(path) or "")


def read_pids(d: Path) -> list[int]:
    """The PIDs in group d; [] if the group is gone. A group rmdir'd between our open and read
    answers ENODEV (seen when runc deleted its container's group while a leak check read it)."""
    try:
        fd = os.open(os.path.join(d, "cgroup.procs"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENODEV):  # gone, or going (the open met the rmdir)
            return []
        raise
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError as e:
        if e.errno != errno.ENODEV:
            raise
        return []
    finally:
        os.close(fd)
    # A process outside the reader's PID namespace is listed as 0 (cgroup v1 read from inside a
    # container, an LXD one, a test's bare root): it cannot be named from here, and os.kill(0, ...)
    # would signal the caller's own process group. Only the PIDs this namespace can see.
    return [pid for pid in map(int, b"".join(chunks).split()) if pid > 0]


def remove_tree(d: Path, timeout: float = 2.0) -> None:
    """rmdir a cgroup and its children, deepest first. A cgroup is removed with rmdir, never rm -r:
    its files are not real files. EBUSY right after a kill means a task is still exiting; retry."""
    try:
        os.rmdir(d)  # the common case: no child groups, no processes left
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    with os.scandir(d) as entries:  # d_type says which are directories: no stat per file
        children = sorted((Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)), reverse=True)
    for child in children:
        remove_tree(child, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise translate_oserror(e, "remove-cgroup", path=d) from None
            for pid in read_pids(d):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimedOut("error.cgroups.could-timed-out", what=what)
        time.sleep(0.002)
