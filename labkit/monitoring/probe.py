"""Read one cgroup's figures cheaply, many times a second: a file descriptor kept open per file, and
one pread(2) each time (a cgroup file is made anew by the kernel at every read from offset 0).

    p = Probe(cgroups.group("labkit/3f9a..."))
    p.read()  ->  {"memory_current": 7340032, "memory_limit": 67108864, "oom_kills": 0,
                   "cpu_usage_us": 15130, "cpu_throttled_us": 0, "cpu_limit": 0.5,
                   "pids_current": 2, "pids_limit": 20, "io_read_bytes": 0, "io_write_bytes": 4096,
                   "memory_pressure": 0.0, "cpu_pressure": 0.12}
    p.close()

group.stats() reads the same figures, but opens each file by path: fine for a cell, too slow to do
for 20 containers ten times a second (bench/sampler_cost.py measures both). The table says,
per cgroup version, which file gives which figure and how to read it (cgroups/figures.py).
"""

from __future__ import annotations

import errno
import os

from ..cgroups import figures


def read_once(group) -> dict:
    """One reading of a group's figures (lk.check, lk.pictures): a Probe opened, read once, closed."""
    p = Probe(group)
    try:
        return p.read()
    finally:
        p.close()


class Gone(Exception):
    """The group was removed: its files answer ENODEV (or are gone)."""


class Probe:
    def __init__(self, group):
        self.group = group
        self.fds: dict[str, int] = {}  # path -> open fd
        # (figure, path, parse): the same table the drivers' stats() read (cgroups/figures.py)
        self.plan: list[tuple[str, str, object]] = figures.plan(group)
        self.plan = [(fig, path, parse) for fig, path, parse in self.plan if self._open(path)]
        if not self.plan:
            raise Gone(group.name)

    def _open(self, path: str) -> bool:
        if path in self.fds:
            return True
        try:
            self.fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            return True
        except OSError:
            return False  # a controller this group or kernel lacks (memory.peak before 5.19, PSI off)

    def read(self) -> dict:
        """The figures now. Raises Gone once the group is removed."""
        def pread(path: str) -> str | None:
            try:
                return os.pread(self.fds[path], 65536, 0).decode()
            except OSError as e:
                if e.errno in (errno.ENODEV, errno.ENOENT):  # rmdir'd
                    raise Gone(self.group.name) from None
                return None

        return figures.parse_all(self.plan, pread)

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
