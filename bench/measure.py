"""What the benchmarks share: timing a command, and a row of figures.

    times = timed(["runc", "list"], runs=10)      # seconds, one per run
    print(row("runc list", times))                # "runc list   63.2   59.9   45.8   10"
"""

from __future__ import annotations

import statistics
import subprocess
import time


def timed(cmd: list[str], runs: int) -> list[float]:
    """Wall time of each of `runs` runs of `cmd` (output discarded; a failure stops the benchmark)."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"{cmd} failed: {r.stderr.decode()[:400]}")
    return out


def row(name: str, ts: list[float]) -> str:
    """median, mean and min in milliseconds, and the number of runs."""
    ms = sorted(t * 1000 for t in ts)
    return f"{name:<34} {statistics.median(ms):8.1f} {statistics.mean(ms):8.1f} {ms[0]:8.1f} {len(ms):6d}"
