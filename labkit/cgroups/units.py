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
        raise InvalidArgument(f"{what} limit {value!r} is not a size", hint='give a size such as "64M" or "1.5G".')
    if isinstance(value, int):
        n = value
    else:
        m = _PATTERN.match(str(value))
        if not m:
            raise InvalidArgument(
                f"{what} limit {value!r} is not a size",
                hint='give a number with an optional unit: "64M", "1.5G", "512KiB" (k, M, G, T are powers of 1024).',
            )
        number, unit = m.group(1), m.group(2).lower()
        n = int(float(number) * _UNITS[unit])
    if n <= 0:
        raise InvalidArgument(f"{what} limit {value!r} must be more than zero", hint='give a size such as "64M".')
    return n


def check_memory_fits(n: int) -> None:
    """Refuse a memory limit above the host's RAM: the kernel would accept it, and it would limit nothing."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n > total:
        raise InvalidArgument(
            f"memory limit {format_bytes(n)} is more than this host has ({format_bytes(total)})",
            hint="choose a limit below the host's memory; `labkit doctor` shows the host.",
        )


def check_pids_fit(n: int) -> None:
    """Refuse a pids limit above the host's pid_max: the kernel can never reach it, so it limits nothing
    (and a value past 64 bits is refused by pids.max itself, after the container was made)."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    if n > pid_max:
        raise InvalidArgument(f"pids limit {n} is above this host's pid_max ({pid_max})",
                              hint="a limit the kernel can never reach limits nothing; give a smaller one.")


def parse_count(value: int | str, what: str = "pids") -> int:
    """A positive whole number, e.g. a pids limit."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        n = int(value)
    else:
        raise InvalidArgument(f"{what} limit {value!r} is not a whole number", hint="give a count such as 20.")
    if n <= 0:
        raise InvalidArgument(f"{what} limit {value!r} must be more than zero", hint="give a count such as 20.")
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
        raise InvalidArgument(f"cpus {value!r} is not a number", hint="give a number of CPUs such as 0.5 or 1.5.") from None
    host = os.cpu_count() or 1
    if cpus != cpus or cpus in (float("inf"), float("-inf")):
        raise InvalidArgument(f"cpus {value!r} is not a number", hint="give a number of CPUs such as 0.5 or 1.5.")
    if 0 < cpus < 0.01:
        raise InvalidArgument(f"cpus {value!r} is below docker's minimum of 0.01", hint="give at least 0.01.")
    if cpus <= 0:
        raise InvalidArgument(f"cpus {value!r} must be more than zero", hint="give a number of CPUs such as 0.5.")
    if cpus > host:
        raise InvalidArgument(f"cpus {value!r} is more than this host's {host} CPUs", hint=f"give at most {host}.")
    quota = int(round(cpus * CPU_PERIOD_US))
    return max(quota, 1000)  # the kernel's smallest quota is 1 ms


def parse_cpu_list(value, available: str) -> str:
    """A cpuset list such as "0", "0-1", "0,2", checked against the host's `available` list (same syntax)."""
    text = str(value).strip()
    wanted, have = _expand(text), _expand(available)
    if wanted is None or not wanted:
        raise InvalidArgument(f"cpuset {value!r} is not a list like \"0\", \"0-1\" or \"0,2\"")
    missing = sorted(wanted - (have or set()))
    if missing:
        raise InvalidArgument(f"cpuset {value!r} names {missing}, which this host does not have ({available.strip()})",
                              hint=f"choose from {available.strip()}.")
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
