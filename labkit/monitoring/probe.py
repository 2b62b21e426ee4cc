"""Read one cgroup's figures cheaply, many times a second: a file descriptor kept open per file, and
one pread(2) each time (a cgroup file is made anew by the kernel at every read from offset 0).

    p = Probe(cgroups.group("labkit/3f9a..."))
    p.read()  ->  {"memory_current": 7340032, "memory_limit": 67108864, "oom_kills": 0,
                   "cpu_usage_us": 15130, "cpu_throttled_us": 0, "cpu_limit": 0.5,
                   "pids_current": 2, "pids_limit": 20, "io_read_bytes": 0, "io_write_bytes": 4096,
                   "memory_pressure": 0.0, "cpu_pressure": 0.12}
    p.close()

group.stats() reads the same figures, but opens each file by path: fine for a cell, too slow to do
for 20 containers ten times a second (bench/sampler_cost.py measures both). The tables below say,
per cgroup version, which file gives which figure and how to read it.
"""

from __future__ import annotations

import os

UNLIMITED = 1 << 62  # v1 writes "no limit" as a huge number (9223372036854771712)


def _int(text: str) -> int | None:
    text = text.strip()
    return None if text in ("max", "") else int(text)


def _limit(text: str) -> int | None:
    n = _int(text)
    return None if n is None or n >= UNLIMITED else n


def _keyed(key: str, scale: int = 1):
    def parse(text: str) -> int | None:
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v) // scale
        return None
    return parse


def _cpu_max(text: str) -> float | None:
    """v2 cpu.max "50000 100000" -> 0.5 CPUs; "max 100000" -> None."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return int(parts[0]) / int(parts[1])


def _avg10(text: str) -> float | None:
    """PSI "some avg10=1.23 avg60=... total=..." -> 1.23 (% of the last 10 s that some task waited)."""
    first = text.split("\n", 1)[0].split()
    for f in first[1:]:
        if f.startswith("avg10="):
            return float(f[6:])
    return None


def _io(kind: str):
    def parse(text: str) -> int:
        total = 0
        for line in text.splitlines():
            parts = line.split()
            if kind in ("Read", "Write"):  # v1: "254:0 Read 4096"
                if len(parts) == 3 and parts[1] == kind:
                    total += int(parts[2])
            else:  # v2: "254:0 rbytes=4096 wbytes=0 ..."
                for f in parts[1:]:
                    if f.startswith(kind + "="):
                        total += int(f[len(kind) + 1:])
        return total
    return parse


#: figure -> (v1 controller, file, parse). cpu_limit on v1 is two files: see Probe.read.
V1 = {
    "memory_current": ("memory", "memory.usage_in_bytes", _int),
    "memory_peak": ("memory", "memory.max_usage_in_bytes", _int),
    "memory_limit": ("memory", "memory.limit_in_bytes", _limit),
    "oom_kills": ("memory", "memory.oom_control", _keyed("oom_kill")),
    "cpu_usage_us": ("cpuacct", "cpuacct.usage", lambda t: int(t) // 1000),
    "cpu_throttled_us": ("cpu", "cpu.stat", _keyed("throttled_time", 1000)),
    "cpu_quota_us": ("cpu", "cpu.cfs_quota_us", _int),
    "cpu_period_us": ("cpu", "cpu.cfs_period_us", _int),
    "pids_current": ("pids", "pids.current", _int),
    "pids_limit": ("pids", "pids.max", _int),
    "io_read_bytes": ("blkio", "blkio.throttle.io_service_bytes", _io("Read")),
    "io_write_bytes": ("blkio", "blkio.throttle.io_service_bytes", _io("Write")),
}
#: figure -> (file, parse), in the group's one directory.
V2 = {
    "memory_current": ("memory.current", _int),
    "memory_peak": ("memory.peak", _int),
    "memory_limit": ("memory.max", _int),
    "oom_kills": ("memory.events", _keyed("oom_kill")),
    "cpu_usage_us": ("cpu.stat", _keyed("usage_usec")),
    "cpu_throttled_us": ("cpu.stat", _keyed("throttled_usec")),
    "cpu_limit": ("cpu.max", _cpu_max),
    "pids_current": ("pids.current", _int),
    "pids_limit": ("pids.max", _int),
    "io_read_bytes": ("io.stat", _io("rbytes")),
    "io_write_bytes": ("io.stat", _io("wbytes")),
    "memory_pressure": ("memory.pressure", _avg10),
    "cpu_pressure": ("cpu.pressure", _avg10),
}
#: On a v1 (hybrid) host, the cgroup2 mount may give PSI for the same group.
PRESSURE = {"memory_pressure": ("memory.pressure", _avg10), "cpu_pressure": ("cpu.pressure", _avg10)}


class Gone(Exception):
    """The group was removed: its files answer ENODEV (or are gone)."""


class Probe:
    def __init__(self, group):
        self.group = group
        self.fds: dict[str, int] = {}  # path -> open fd
        self.plan: list[tuple[str, str, object]] = []  # (figure, path, parse)
        if group.version == 2:
            for fig, (name, parse) in V2.items():
                self.plan.append((fig, os.path.join(group.dir, name), parse))
        else:
            for fig, (ctrl, name, parse) in V1.items():
                d = group.by_controller.get(ctrl)
                if d is not None:
                    self.plan.append((fig, os.path.join(group._dir(ctrl), name), parse))
            if getattr(group, "unified", None):
                for fig, (name, parse) in PRESSURE.items():
                    self.plan.append((fig, os.path.join(group.unified, name), parse))
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
        texts: dict[str, str] = {}
        out: dict = {}
        for fig, path, parse in self.plan:
            text = texts.get(path)
            if text is None:
                try:
                    text = texts[path] = os.pread(self.fds[path], 65536, 0).decode()
                except OSError as e:
                    if e.errno in (19, 2):  # ENODEV, ENOENT: rmdir'd
                        raise Gone(self.group.name) from None
                    continue
            try:
                out[fig] = parse(text)
            except (ValueError, IndexError):
                out[fig] = None
        if "cpu_quota_us" in out:  # v1: quota and period -> CPUs
            quota, period = out.pop("cpu_quota_us"), out.pop("cpu_period_us", None)
            out["cpu_limit"] = quota / period if quota and quota > 0 and period else None
        return out

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
