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
from labkit.paths import Instance, is_labkit_link, is_labkit_name


#: labkitd and its keeper are the lab's server, not a leak: they start on first use and stay (as
#: dockerd does), in their own group <tag>/labkitd.
SUPERVISOR = "labkitd"


def _default_bridge(name: str) -> bool:
    """The default network's bridge ("labkit0", "lk3f9c-br0"): made on first use and kept, as
    Docker keeps docker0; reset removes it. Not a leak, nor are the rules that name only it."""
    return name == "labkit0" or name.endswith("-br0")


def _infrastructure_rule(line: str) -> bool:
    """A chain of the lab's, a jump into one, the loopback wall (network/rules.py), or a rule for the
    default bridge alone (its NAT and forwarding): there from the first container on, like the bridge.
    A published port's DNAT, or a rule naming another bridge (a user-defined network's), is not."""
    words = line.split()
    if line.startswith(":") or (len(words) >= 3 and words[0] == "-A" and words[1].isupper() and words[-2] == "-j"):
        return True
    if line.endswith("-d 127.0.0.0/8 ! -i lo -j DROP"):
        return True
    bridges = [w for w in words if w.startswith("lk") or w == "labkit0"]
    return "DNAT" not in line and bool(bridges) and all(_default_bridge(b) for b in bridges)


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
    for cmd in (["iptables-save"], ["ebtables-save"], ["nft", "list", "tables"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines += [l for l in out.splitlines() if "labkit" in l]
    return lines


class Others:
    """The labs that were on this machine before the suite began (an instructor's at /var/lib/labkit,
    a second checkout's): their objects come and go as their users work, and are not the suite's
    leaks. Seen by their cgroup parents ("labkit", "labkit.3f9c0a1b"), their chains ("labkit-FORWARD")
    and their links' prefixes ("lk-", "lk3f9c-"). Labs the tests make later are the suite's own."""

    def __init__(self, ours: str):
        tags = set()
        for h in read_layout().hierarchies:
            try:
                tags.update(d.name for d in h.mountpoint.iterdir() if d.is_dir() and is_labkit_name(d.name))
            except OSError:
                pass
        for line in _firewall():
            if line.startswith(":") and "-" in line.split()[0]:
                tags.add(line.split()[0][1:].rsplit("-", 1)[0])
        self.tags = {t for t in tags if t != ours and (t == "labkit" or t.startswith("labkit."))}
        ours_prefix = Instance(Path("/"), Path("/"), ours).link_prefix
        try:
            links = [n for n in os.listdir("/sys/class/net") if is_labkit_link(n)]
        except OSError:
            links = []
        self.prefixes = {Instance(Path("/"), Path("/"), t).link_prefix for t in self.tags}
        self.prefixes |= {n.split("-", 1)[0] + "-" for n in links if "-" in n and not n.startswith(ours_prefix)}
        self.links = {n for n in links if n == "labkit0"} if "labkit" in self.tags else set()

    def own(self, name: str) -> bool:
        """A name one of those labs gave: "labkit.3f9c0a1b-web", "labkit-FORWARD", "lk3f9c-br0"."""
        return any(name == t or name.startswith(t + "-") for t in self.tags)

    def own_link(self, name: str) -> bool:
        return name in self.links or any(name.startswith(p) for p in self.prefixes)

    def own_rule(self, line: str) -> bool:
        words = [w for w in line.split() if is_labkit_name(w) or w.startswith("lk")]
        return bool(words) and all(self.own(w.lstrip(":")) or self.own_link(w) for w in words)


_others: Others | None = None


def others() -> Others:
    global _others
    if _others is None:
        from labkit.paths import instance

        _others = Others(instance().tag)
    return _others


def snapshot() -> set[str]:
    """The suite's labkit objects in the kernel now (other labs' left out: Others)."""
    other = others()
    objs: set[str] = set()
    for m in mounts():
        if (is_labkit_name(m.source) or is_labkit_name(m.mountpoint)) and not other.own(m.source):
            objs.add(f"mount {m.fstype} {m.source} on {m.mountpoint}")
    for d in _cgroup_dirs():
        if any(other.own(part) for part in d.parts):
            continue
        objs.add(f"cgroup {d}")
        objs.update(f"process {pid} in {d}" for pid in read_pids(d))
    try:
        objs.update(f"netns {n}" for n in os.listdir("/run/netns") if is_labkit_name(n) and not other.own(n))
    except OSError:
        pass
    try:
        objs.update(f"link {n}" for n in os.listdir("/sys/class/net")
                    if is_labkit_link(n) and not _default_bridge(n) and not other.own_link(n))
    except OSError:
        pass
    objs.update(f"firewall {l}" for l in _firewall() if not _infrastructure_rule(l) and not other.own_rule(l))
    objs.update(f"process {pid} (labkit-exec)" for pid in _helpers())
    return objs
