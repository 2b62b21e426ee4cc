"""Every figure labkit reads from a cgroup, on both versions: which file gives it and how to read it.
One table for the drivers' stats() (a file opened by path: fine for a cell) and for the sampler's
Probe (monitoring/probe.py: a descriptor kept open, one pread(2) a sample).

    figure            cgroup v1 (hierarchy, file)                        cgroup v2 (file)
    memory_current    memory, memory.usage_in_bytes                      memory.current
    oom_kills         memory, memory.oom_control ("oom_kill N")          memory.events ("oom_kill N")
    cpu_usage_us      cpuacct, cpuacct.usage (ns)                        cpu.stat ("usage_usec N")
    ...

Parsers take the file's text: "max\\n" -> None, "oom_kill 2\\n..." -> 2.
"""

from __future__ import annotations

import os

UNLIMITED = 1 << 62  # v1 writes "no limit" as a huge number (9223372036854771712)


def number(text: str) -> int | None:
    """ "123\\n" -> 123; "max" (v2's no limit) -> None."""
    text = text.strip()
    return None if text in ("max", "") else int(text)


def limit(text: str) -> int | None:
    """A v1 limit: v1's "no limit" (a number near 2**63) -> None."""
    n = number(text)
    return None if n is None or n >= UNLIMITED else n


def pairs(text: str) -> dict[str, int]:
    """A flat-keyed file such as memory.events or cpu.stat: "oom 1\\noom_kill 2\\n" -> {"oom": 1, "oom_kill": 2}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def keyed(key: str, scale: int = 1):
    """A parser for one key of a flat-keyed file: keyed("oom_kill")("oom_kill 2\\n...") -> 2."""
    def parse(text: str) -> int | None:
        value = pairs(text).get(key)
        return None if value is None else value // scale
    return parse


def cpu_max(text: str) -> float | None:
    """v2 cpu.max "50000 100000" -> 0.5 CPUs; "max 100000" -> None."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return int(parts[0]) / int(parts[1])


def avg10(text: str) -> float | None:
    """PSI "some avg10=1.23 avg60=... total=..." -> 1.23 (% of the last 10 s that some task waited)."""
    first = text.split("\n", 1)[0].split()
    for f in first[1:]:
        if f.startswith("avg10="):
            return float(f[6:])
    return None


def io_total(kind: str):
    """Bytes over every device: v1 "254:0 Read 4096" lines (kind "Read"/"Write"), v2 "254:0 rbytes=4096
    wbytes=0 ..." lines (kind "rbytes"/"wbytes")."""
    def parse(text: str) -> int:
        total = 0
        for line in text.splitlines():
            parts = line.split()
            if kind in ("Read", "Write"):
                if len(parts) == 3 and parts[1] == kind:
                    total += int(parts[2])
            else:
                for f in parts[1:]:
                    if f.startswith(kind + "="):
                        total += int(f[len(kind) + 1:])
        return total
    return parse


#: figure -> (v1 hierarchy, file, parse). cpu_limit on v1 is two files (quota / period): see cpu_limit_v1.
V1 = {
    "memory_current": ("memory", "memory.usage_in_bytes", number),
    "memory_peak": ("memory", "memory.max_usage_in_bytes", number),
    "memory_limit": ("memory", "memory.limit_in_bytes", limit),
    "oom_kills": ("memory", "memory.oom_control", keyed("oom_kill")),
    "cpu_usage_us": ("cpuacct", "cpuacct.usage", lambda t: int(t) // 1000),
    "cpu_periods": ("cpu", "cpu.stat", keyed("nr_periods")),
    "cpu_throttled": ("cpu", "cpu.stat", keyed("nr_throttled")),
    "cpu_throttled_us": ("cpu", "cpu.stat", keyed("throttled_time", 1000)),
    "cpu_quota_us": ("cpu", "cpu.cfs_quota_us", number),
    "cpu_period_us": ("cpu", "cpu.cfs_period_us", number),
    "pids_current": ("pids", "pids.current", number),
    "pids_limit": ("pids", "pids.max", number),
    "io_read_bytes": ("blkio", "blkio.throttle.io_service_bytes", io_total("Read")),
    "io_write_bytes": ("blkio", "blkio.throttle.io_service_bytes", io_total("Write")),
}
#: figure -> (file, parse), in the group's one directory.
V2 = {
    "memory_current": ("memory.current", number),
    "memory_peak": ("memory.peak", number),
    "memory_limit": ("memory.max", number),
    "oom_kills": ("memory.events", keyed("oom_kill")),
    "cpu_usage_us": ("cpu.stat", keyed("usage_usec")),
    "cpu_periods": ("cpu.stat", keyed("nr_periods")),
    "cpu_throttled": ("cpu.stat", keyed("nr_throttled")),
    "cpu_throttled_us": ("cpu.stat", keyed("throttled_usec")),
    "cpu_limit": ("cpu.max", cpu_max),
    "pids_current": ("pids.current", number),
    "pids_limit": ("pids.max", number),
    "io_read_bytes": ("io.stat", io_total("rbytes")),
    "io_write_bytes": ("io.stat", io_total("wbytes")),
    "memory_pressure": ("memory.pressure", avg10),
    "cpu_pressure": ("cpu.pressure", avg10),
    "io_pressure": ("io.pressure", avg10),
}
#: On a v1 (hybrid) host, the cgroup2 mount may give PSI for the same group.
PRESSURE = {k: V2[k] for k in ("memory_pressure", "cpu_pressure", "io_pressure")}


def plan(group) -> list[tuple[str, str, object]]:
    """(figure, path, parse) for `group` (a v1 or v2 driver's Group), where its files are."""
    out = []
    if group.version == 2:
        out += [(fig, os.path.join(group.dir, name), parse) for fig, (name, parse) in V2.items()]
    else:
        for fig, (ctrl, name, parse) in V1.items():
            d = group.by_controller.get(ctrl)
            if d is not None:
                out.append((fig, os.path.join(d, name), parse))
        if getattr(group, "unified", None):
            out += [(fig, os.path.join(group.unified, name), parse) for fig, (name, parse) in PRESSURE.items()]
    return out


def parse_all(steps, read) -> dict:
    """The figures, given `read(path)` -> text (or None when the file is missing): each file read once.
    v1's quota and period become cpu_limit in CPUs, as v2's cpu.max gives it."""
    texts: dict[str, str | None] = {}
    out: dict = {}
    for fig, path, parse in steps:
        if path not in texts:
            texts[path] = read(path)
        if texts[path] is None:
            continue
        try:
            out[fig] = parse(texts[path])
        except (ValueError, IndexError):
            out[fig] = None
    if "cpu_quota_us" in out or "cpu_period_us" in out:
        quota, period = out.pop("cpu_quota_us", None), out.pop("cpu_period_us", None)
        out["cpu_limit"] = quota / period if quota and quota > 0 and period else None
    return out


def read_now(group) -> dict:
    """Every figure of `group` now, each file opened by path (the drivers' stats())."""
    def read(path: str) -> str | None:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None

    return parse_all(plan(group), read)


def memory_limit_in(directory, version: int) -> int | None:
    """The memory limit the kernel holds for the group whose memory folder is `directory`, in bytes;
    None without a limit, or if there is no such group. What a check reads after a learner made a
    group by hand (notebook 03): /sys/fs/cgroup/labkit.1a2b3c4d/mine/memory.max on v2,
    /sys/fs/cgroup/memory/labkit.1a2b3c4d/mine/memory.limit_in_bytes on v1."""
    file, parse = (V2["memory_limit"] if version == 2 else V1["memory_limit"][1:])
    try:
        with open(f"{directory}/{file}") as f:
            return parse(f.read())
    except (OSError, ValueError):
        return None
