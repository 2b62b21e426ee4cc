"""What labkit has in the kernel right now, by name: the test suite's leak check.

Every kernel object labkit creates carries "labkit" in its name ("lk" for links), so a
snapshot lists them all; a test that ends with objects its start did not have leaked them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from labkit.cgroups.base import read_pids
from labkit.cgroups.hierarchies import read_layout
from labkit.filesystems.mounts import mounts
from labkit.paths import is_labkit_link, is_labkit_name


#: labkitd and its keeper are the lab's server, not a leak: they start on first use and stay (as
#: dockerd does), in their own group <tag>/labkitd.
SUPERVISOR = "labkitd"


def _cgroup_dirs() -> list[Path]:
    """Every labkit cgroup below the instance parents (the parents themselves come and go with labkitd's)."""
    out = []
    for h in read_layout().hierarchies:
        try:
            tops = [d for d in h.mountpoint.iterdir() if d.is_dir() and is_labkit_name(d.name)]
        except OSError:
            continue
        for top in tops:
            out.extend(Path(d) for d, _s, _f in os.walk(top) if Path(d) != top and Path(d).name != SUPERVISOR)
            out.extend(Path(d) for d in [top] if read_pids(top))  # a process left in a parent is a leak
    return out


def _helpers() -> list[int]:
    """labkit's short-lived helper processes (found by reading /proc; never signalled from here).
    Containers are found by their cgroups; labkitd and its keeper are the lab's servers, not leaks."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            # An exec's helper; a zombie is dead already, waiting for its parent to reap it.
            if comm == "labkit-exec" and not _zombie(entry):
                found.append(int(entry))
    return found


def _zombie(pid: str) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return data[data.rindex(b")") + 2 :].startswith(b"Z")


def _firewall() -> list[str]:
    lines = []
    for cmd in (["iptables-save"], ["nft", "list", "tables"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines += [l for l in out.splitlines() if "labkit" in l]
    return lines


def snapshot() -> set[str]:
    objs: set[str] = set()
    for m in mounts():
        if is_labkit_name(m.source) or is_labkit_name(m.mountpoint):
            objs.add(f"mount {m.fstype} {m.source} on {m.mountpoint}")
    for d in _cgroup_dirs():
        objs.add(f"cgroup {d}")
        objs.update(f"process {pid} in {d}" for pid in read_pids(d))
    try:
        objs.update(f"netns {n}" for n in os.listdir("/run/netns") if is_labkit_name(n))
    except OSError:
        pass
    try:
        objs.update(f"link {n}" for n in os.listdir("/sys/class/net") if is_labkit_link(n))
    except OSError:
        pass
    objs.update(f"firewall {l}" for l in _firewall())
    objs.update(f"process {pid} (labkit-exec)" for pid in _helpers())
    return objs
