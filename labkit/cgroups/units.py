"""Human units for limits: "64M", "1.5G", "512KiB", 1048576.

Like docker's `-m 64m`, the suffixes are binary: k, K, KB, KiB all mean 1024.
Bad input is refused with InvalidArgument before any file is written.
"""

from __future__ import annotations

import os
import re

from ..errors import InvalidArgument

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_bytes(value: int | str, what: str = "memory") -> int:
    """Bytes for "64M" (= 64 MiB), "1.5G", "512KiB", "100" or 100. Refuses zero, negatives, unknown units."""
    if isinstance(value, bool):
        raise InvalidArgument("error.cgroups.limit-size", what=what, value=value)
    if isinstance(value, int):
        n = value
    else:
        m = _PATTERN.match(str(value))
        if not m:
            raise InvalidArgument("error.cgroups.limit-size-2", what=what, value=value)
        number, unit = m.group(1), m.group(2).lower()
        n = int(float(number) * _UNITS[unit])
    if n <= 0:
        raise InvalidArgument("error.cgroups.limit-must-more-than", what=what, value=value)
    return n


def check_memory_fits(n: int) -> None:
    """Refuse a memory limit above the host's RAM: the kernel would accept it, and it would limit nothing."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n > total:
        raise InvalidArgument("error.cgroups.memory-limit-more-than", format_bytes=format_bytes(n), format_bytes2=format_bytes(total))


def check_pids_fit(n: int) -> None:
    """Refuse a pids limit above the host's pid_max: the kernel can never reach it, so it limits nothing
    (and a value past 64 bits is refused by pids.max itself, after the container was made)."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    if n > pid_max:
        raise InvalidArgument("error.cgroups.pids-limit-above-host", n=n, pid_max=pid_max)


def parse_count(value: int | str, what: str = "pids") -> int:
    """A positive whole number, e.g. a pids limit."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        n = int(value)
    else:
        raise InvalidArgument("error.cgroups.limit-whole-number", what=what, value=value)
    if n <= 0:
        raise InvalidArgument("error.cgroups.limit-must-more-than-2", what=what, value=value)
    return n


def format_bytes(n: int) -> str:
    """1536 -> "1.5KiB"."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" or n == int(n) else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n}B"


def parse_cpus(value) -> int:
    """CPU quota in microseconds per 100 ms period, from a number of CPUs: 0.5 -> 50000 (docker's --cpus).
    Refuses zero, negatives and more CPUs than the host has."""
    from .resources import CPU_PERIOD_US

    try:
        cpus = float(value)
        if isinstance(value, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidArgument("error.cgroups.cpus-number", value=value) from None
    host = os.cpu_count() or 1
    if cpus != cpus or cpus in (float("inf"), float("-inf")):
        raise InvalidArgument("error.cgroups.cpus-number", value=value)
    if 0 < cpus < 0.01:
        raise InvalidArgument("error.cgroups.cpus-below-docker-s", value=value)
    if cpus <= 0:
        raise InvalidArgument("error.cgroups.cpus-must-more-than", value=value)
    if cpus > host:
        raise InvalidArgument("error.cgroups.cpus-more-than-host", value=value, host=host)
    quota = int(round(cpus * CPU_PERIOD_US))
    return max(quota, 1000)  # the kernel's smallest quota is 1 ms


def parse_cpu_list(value, available: str) -> str:
    """A cpuset list such as "0", "0-1", "0,2", checked against the host's `available` list (same syntax)."""
    text = str(value).strip()
    wanted, have = _expand(text), _expand(available)
    if wanted is None or not wanted:
        raise InvalidArgument("error.cgroups.cpuset-list-like", value=value)
    missing = sorted(wanted - (have or set()))
    if missing:
        raise InvalidArgument("error.cgroups.cpuset-names-which-host", value=value, missing=missing, strip=available.strip())
    return text


def _expand(text: str) -> set[int] | None:
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        out.update(range(int(lo), int(hi or lo) + 1))
    return out
