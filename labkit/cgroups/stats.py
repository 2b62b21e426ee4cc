"""A cgroup's statistics, with the same names on v1 and v2.

Where each comes from:

    field               v1                                          v2
    memory_current      memory.usage_in_bytes                       memory.current
    memory_peak         memory.max_usage_in_bytes                   memory.peak (Linux 5.19+)
    memory_limit        memory.limit_in_bytes                       memory.max
    oom_kills           memory.oom_control: oom_kill                memory.events: oom_kill
    cpu_usage_us        cpuacct.usage (ns) / 1000                   cpu.stat: usage_usec
    cpu_periods         cpu.stat: nr_periods                        cpu.stat: nr_periods
    cpu_throttled       cpu.stat: nr_throttled                      cpu.stat: nr_throttled
    cpu_throttled_us    cpu.stat: throttled_time (ns) / 1000        cpu.stat: throttled_usec
    pids_current        pids.current                                pids.current
    pids_limit          pids.max                                    pids.max
    io_read_bytes       blkio.throttle.io_service_bytes: Read       io.stat: rbytes
    io_write_bytes      blkio.throttle.io_service_bytes: Write      io.stat: wbytes
    pressure            the cgroup2 mount's group, on hybrid hosts  cpu/memory/io.pressure: some avg10

None means "no limit" for a limit, and "this host does not tell" for a figure.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from .units import format_bytes


@dataclass(frozen=True)
class Stats:
    memory_current: int | None = None
    memory_peak: int | None = None
    memory_limit: int | None = None
    oom_kills: int | None = None
    cpu_usage_us: int | None = None
    cpu_periods: int | None = None
    cpu_throttled: int | None = None
    cpu_throttled_us: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    pressure: dict | None = None
    time: float = field(default_factory=time.monotonic)  # when read, for rates between two samples

    @classmethod
    def from_figures(cls, f: dict) -> "Stats":
        """From cgroups/figures.py's figures: {"memory_current": 7340032, ..., "cpu_pressure": 0.12}."""
        pressure = {k: f[f"{k}_pressure"] for k in ("cpu", "memory", "io") if f.get(f"{k}_pressure") is not None}
        return cls(**{name: f.get(name) for name in (
            "memory_current", "memory_peak", "memory_limit", "oom_kills", "cpu_usage_us", "cpu_periods", "cpu_throttled",
            "cpu_throttled_us", "pids_current", "pids_limit", "io_read_bytes", "io_write_bytes")}, pressure=pressure or None)

    def to_dict(self) -> dict:
        return asdict(self)

    def _rows(self) -> list[tuple[str, str]]:
        def b(n):
            return "-" if n is None else format_bytes(n)

        def n(x):
            return "-" if x is None else str(x)

        rows = [
            ("memory", f"{b(self.memory_current)} now, {b(self.memory_peak)} peak, limit {b(self.memory_limit) if self.memory_limit else 'none'}"),
            ("OOM kills", n(self.oom_kills)),
            ("CPU", f"{'-' if self.cpu_usage_us is None else f'{self.cpu_usage_us / 1e6:.3f} s'} used; "
                    f"throttled {n(self.cpu_throttled)} of {n(self.cpu_periods)} periods"),
            ("pids", f"{n(self.pids_current)} of {n(self.pids_limit) if self.pids_limit else 'no limit'}"),
            ("io", f"{b(self.io_read_bytes)} read, {b(self.io_write_bytes)} written"),
        ]
        if self.pressure:
            rows.append(("pressure (avg10)", ", ".join(f"{k} {v:.2f}%" for k, v in self.pressure.items())))
        return rows

    def __repr__(self) -> str:
        return "\n".join(f"{k:<17} {v}" for k, v in self._rows())

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(k)}</td><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self._rows())
        return f"<table>{rows}</table>"


def cpu_percent(before: Stats, after: Stats) -> float | None:
    """CPU use between two samples, in % of one core (100 = one core busy all the time)."""
    if before.cpu_usage_us is None or after.cpu_usage_us is None or after.time <= before.time:
        return None
    return (after.cpu_usage_us - before.cpu_usage_us) / 1e6 / (after.time - before.time) * 100
