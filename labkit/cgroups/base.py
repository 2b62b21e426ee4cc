"""The interface both cgroup drivers keep, and what they share.

A Group is one labkit cgroup, named by its path below each hierarchy's root, e.g.
"labkit/c3f9a" -> /sys/fs/cgroup/memory/labkit/c3f9a (v1) or /sys/fs/cgroup/labkit/c3f9a (v2).

    create()          make the directories (and the labkit parent); no-op if they exist
    apply(resources)  write the limit files; returns the (file, value) pairs written
    add(pid)          move a process in; pid 0 means the calling process
    pids()            the processes inside, by host PID
    kill()            SIGKILL everything inside and wait until it is empty
    remove()          kill(), then remove the directories; no-op if they are gone
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

from ..cgroups.resources import Resources
from ..errors import InvalidArgument, translate_oserror
from ..paths import MARK


class Group:
    version = 0

    def __init__(self, name: str, dirs: list[Path]):
        # Never act outside a labkit parent: the first path component must carry the mark.
        first = name.split("/", 1)[0]
        if MARK not in first or ".." in name.split("/") or name.startswith("/"):
            raise InvalidArgument(f"cgroup {name!r} is not under a labkit parent group")
        self.name = name
        self.dirs = dirs

    # -- the driver-specific part --------------------------------------------------------
    def create(self) -> None:
        raise NotImplementedError

    def apply(self, resources: Resources) -> list[tuple[Path, str]]:
        raise NotImplementedError

    def add(self, pid: int = 0) -> None:
        for d in self.dirs:
            write(d / "cgroup.procs", str(pid))

    # -- shared ----------------------------------------------------------------------------
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
                raise translate_oserror(OSError(errno.EBUSY, "processes remain"), f"empty cgroup {self.name}")
            time.sleep(0.002)

    def remove(self) -> None:
        """Kill what is inside, remove the group, and the labkit parent too if this was its last child."""
        self.kill()
        for d in self.dirs:
            remove_tree(d)
            try:
                os.rmdir(d.parent)
            except OSError:
                pass  # another group still lives there (EBUSY), or another process removed it first

    def __repr__(self) -> str:
        return f"<cgroup v{self.version} {self.name} pids={self.pids() if self.exists() else 'gone'}>"


def write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise translate_oserror(e, f"write {value!r} to {path}") from None


def read_pids(d: Path) -> list[int]:
    try:
        return [int(x) for x in (d / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def remove_tree(d: Path, timeout: float = 2.0) -> None:
    """rmdir a cgroup and its children, deepest first. A cgroup is removed with rmdir, never rm -r:
    its files are not real files. EBUSY right after a kill means a task is still exiting; retry."""
    if not d.is_dir():
        return
    for child in sorted((p for p in d.iterdir() if p.is_dir()), reverse=True):
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
                raise translate_oserror(e, f"remove cgroup {d}") from None
            for pid in read_pids(d):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
