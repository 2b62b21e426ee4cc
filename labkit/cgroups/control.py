"""A cgroup as a learner drives it from a cell.

    g = lk.cgroup("demo")                  # /sys/fs/cgroup/<ctrl>/labkit/demo (v1) or /sys/fs/cgroup/labkit/demo (v2)
    g.update(memory="64M", cpus=0.5, pids_limit=20)    # shows each file written, and its name on the other version
    p = g.spawn("python3 -c 'x = bytearray(10**8)'")   # a process started inside the group
    g.stats()                              # memory, OOM kills, CPU, pids, io, pressure: same names on v1 and v2
    g.pause(); g.unpause()
    g.remove()                             # kills what is left inside, then removes the group

Every value is parsed and checked against the host before any file is written, so a bad
one changes nothing. `with lk.cgroup("demo") as g:` removes the group at the end.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from ..errors import ContainerError, InvalidArgument, boundary_methods, require_root
from ..exit_codes import of_returncode as exit_code
from ..results import ProcessResult
from ..paths import Instance, instance as current_instance
from .base import PROCS, Group, read_pids
from .resources import IOLimit, Resources, weight_to_shares
from .stats import Stats
from .units import check_memory_fits, parse_bytes, check_pids_fit, parse_count, parse_cpu_list, parse_cpus


JOIN_FAILED = 125  # spawn()'s shell: the command never ran, the group refused the process


class Changes(list):
    """The files one call wrote: a list of FileWrite that shows itself as a table in a notebook."""

    def __repr__(self) -> str:
        from ..catalog import text

        return "\n".join(repr(w) for w in self) or f"({text('shown', 'no-file-written')})"

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td style='text-align:left'><code>{html.escape(str(w.path))}</code></td>"
            f"<td style='text-align:left'><code>{html.escape(w.value)}</code></td>"
            f"<td style='text-align:left'><code>{html.escape(w.other_version) or '—'}</code></td></tr>" for w in self)
        return ("<table><tr><th style='text-align:left'>file written on this host</th><th style='text-align:left'>value"
                "</th><th style='text-align:left'>same setting on the other cgroup version</th></tr>" + rows + "</table>")


@boundary_methods
class CGroup:
    def __init__(self, name: str, inst: Instance | None = None, group: Group | None = None):
        from . import group as make_group

        require_root("creating-cgroup")
        self.inst = inst or current_instance()
        self.short = check_name(name)
        self.group = group or make_group(f"{self.inst.tag}/{self.short}")
        # The levels of "x/y/z" this call makes (not those that were there): remove() takes them away again.
        parts = self.short.split("/")
        self._made = [p for p in ("/".join(parts[:i]) for i in range(1, len(parts)))
                      if not make_group(f"{self.inst.tag}/{p}").exists()] if group is None else []
        self.resources = Resources()
        self.last_changes = Changes()  # what the latest update() wrote
        self.group.create()

    # -- limits ------------------------------------------------------------------------------
    def update(self, *, memory=None, memory_swap=None, memory_reservation=None, memory_high=None, cpus=None,
              cpu_weight=None, cpu_shares=None, cpuset_cpus=None, cpuset_mems=None, pids_limit=None,
              io: dict | None = None) -> Changes:
        """Set limits (only those given; the others stay). Works on a running group.

        memory, memory_swap (memory + swap), memory_reservation (soft), memory_high (v2): "64M", "1.5G".
        cpus: 0.5 = half of one CPU (a quota). cpu_weight: 1..10000, 100 normal (v2's scale);
        cpu_shares: 2..262144, 1024 normal (v1's scale); either converts to the other.
        cpuset_cpus: "0", "0-1"; cpuset_mems: "0". pids_limit: most processes at once (docker's --pids-limit).
        io: {"254:0": {"read_bps": "1M", "write_iops": 100}} throttles a block device.
        """
        new = {}
        for key, value in (("memory", memory), ("memory_swap", memory_swap),
                           ("memory_reservation", memory_reservation), ("memory_high", memory_high)):
            if value is not None:
                new[key] = parse_bytes(value, key.replace("_", " "))
                if key != "memory_swap":  # swap may go past the RAM; the rest may not
                    check_memory_fits(new[key])
        if "memory_swap" in new and new["memory_swap"] < new.get("memory", self.resources.memory or 0):
            raise InvalidArgument("error.cgroups.memory-swap-counts-memory")
        if cpus is not None:
            new["cpu_quota"] = parse_cpus(cpus)
        if cpu_weight is not None and cpu_shares is not None:
            raise InvalidArgument("error.cgroups.give-cpu-weight-cpu")
        if cpu_weight is not None:
            w = parse_count(cpu_weight, "cpu weight")
            if w > 10000:
                raise InvalidArgument("error.cgroups.cpu-weight-above", w=w)
            new["cpu_shares"] = weight_to_shares(w)
        if cpu_shares is not None:
            s = parse_count(cpu_shares, "cpu shares")
            if not 2 <= s <= 262144:
                raise InvalidArgument("error.cgroups.cpu-shares-outside", s=s)
            new["cpu_shares"] = s
        if cpuset_cpus is not None:
            new["cpuset_cpus"] = parse_cpu_list(cpuset_cpus, _host_list("cpus"))
        if cpuset_mems is not None:
            new["cpuset_mems"] = parse_cpu_list(cpuset_mems, _host_list("mems"))
        if pids_limit is not None:
            new["pids"] = parse_count(pids_limit)
            check_pids_fit(new["pids"])
        if io:
            new["io"] = tuple(_io_limit(dev, v) for dev, v in io.items())
        if not new:
            raise InvalidArgument("error.cgroups.no-limit-given")
        # Only what changed is applied; memory comes along with a swap change (they are written together).
        if "memory_swap" in new and "memory" not in new and self.resources.memory is not None:
            new["memory"] = self.resources.memory
        applied = self.group.apply(Resources(**new))
        self.resources = replace(self.resources, **new)
        self.last_changes = Changes(applied)
        return self.last_changes

    # -- processes ---------------------------------------------------------------------------
    def spawn(self, command, **popen) -> subprocess.Popen:
        """Start `command` (a shell line, or a list of arguments) as a process inside this group.

        It starts as `sh`, which writes its own PID into each cgroup.procs and then execs the
        command: that is all "joining a cgroup" is. stdout and stderr are captured as text.
        Memory is charged as pages are allocated, not when a process joins: for a moment after
        spawn() returns (before the exec) the group can still show 0 bytes used.
        """
        joins = " && ".join(f"echo $$ > {shlex.quote(str(d / PROCS))}" for d in self.group.dirs)
        # A shell line runs in a shell of its own; a list of arguments is exec'd as it is.
        args = ["/bin/sh", "-c", command] if isinstance(command, str) else [str(a) for a in command]
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        popen.setdefault("text", True)
        # spawn() returns only once the process is inside every hierarchy, so it is under the
        # group's limits before the caller's next line (and a kill() right after finds it).
        # A join that fails exits 125 (docker's code for "could not start"); any other exit means the
        # command ran: `cat /proc/self/cgroup` can be done before the first look below.
        script = f"{{ {joins}; }} || exit {JOIN_FAILED}; exec {shlex.join(args)}"
        p = subprocess.Popen(["/bin/sh", "-c", script], **popen)
        # Generous: moving a process waits for the kernel's cgroup_mutex, which the kernel's own
        # clean-up holds for long stretches after thousands of groups went away (a 1,000-container run).
        deadline = time.monotonic() + 60
        while not all(p.pid in read_pids(d) for d in self.group.dirs):
            # One poll() per pass: with two, a command that ended between them (`true`, under a busy
            # CPU) was taken for a join that failed (seen once in 300 runs beside the v2 VM).
            returncode = p.poll()
            if returncode is not None and returncode != JOIN_FAILED:
                return p  # it joined, ran and ended before we looked
            if returncode is not None or time.monotonic() > deadline:
                err = p.stderr.read() if p.stderr else ""
                raise ContainerError("error.cgroups.join-failed", short=self.short, err=err.strip() or "-")
            time.sleep(0.0005)
        return p

    def run(self, command, timeout: float | None = 60) -> ProcessResult:
        """spawn() and wait; returns a ProcessResult as c.exec() does (exit_code 137: SIGKILL, e.g. the OOM killer's)."""
        p = self.spawn(command)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.group.kill()
            out, err = p.communicate()
        return ProcessResult(command if not isinstance(command, str) else ("sh", "-c", command),
                             exit_code(p.returncode), out, err)

    def add(self, pid: int) -> None:
        """Move a running process in (writes its PID to cgroup.procs)."""
        self.group.add(pid)

    @property
    def pids(self) -> list[int]:
        return self.group.pids()

    # -- the rest of the driver interface ----------------------------------------------------
    def stats(self) -> Stats:
        return self.group.stats()

    def pause(self) -> None:
        """Freeze every process of the group (the freezer: cgroup.freeze on v2, freezer.state on v1),
        as `docker pause` does to a container's group."""
        self.group.freeze(True)

    def unpause(self) -> None:
        """Thaw the group's processes (`docker unpause`)."""
        self.group.freeze(False)

    def wait_oom(self, timeout: float | None = None) -> bool:
        return self.group.wait_oom(timeout)

    def kill(self) -> None:
        self.group.kill()

    def remove(self) -> None:
        """Kill what is inside, remove the group, and the levels above it that creating it made."""
        from . import group as make_group

        self.group.remove()
        for prefix in reversed(self._made):
            for d in make_group(f"{self.inst.tag}/{prefix}").dirs:
                try:
                    d.rmdir()
                except OSError:
                    pass  # another group of the learner's lives there
            try:
                for d in make_group(f"{self.inst.tag}/{prefix}").dirs:
                    d.parent.rmdir()  # the lab's parent group, if this was its last child
            except OSError:
                pass
        self._made = []

    @property
    def paths(self) -> list[Path]:
        return list(self.group.dirs)

    def __enter__(self) -> "CGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = f"{len(self.pids)} process(es)" if self.group.exists() else "removed"
        return f"<CGroup {self.short!r} v{self.group.version} {state}; limits: {self.resources.set_fields() or 'none'}>"

    def _repr_html_(self) -> str:
        import html

        dirs = "<br>".join(f"<code>{html.escape(str(d))}</code>" for d in self.group.dirs)
        return (f"<b>cgroup {html.escape(self.short)}</b> (v{self.group.version})<br>{dirs}"
                + (self.stats()._repr_html_() if self.group.exists() else "<p>removed</p>"))


#: A learner's group name: parts of letters, digits, "_", "." and "-" (not "." or ".." alone), e.g. "demo", "web/db".
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
#: Names the lab itself uses beside the learner's groups: labkitd's own group, and containers' (their 64-hex IDs).
RESERVED = re.compile(r"^(labkitd|[0-9a-f]{64})$")


def check_name(name) -> str:
    """"demo" -> "demo"; refuses what is not a plain name below the lab's parent group: "", ".", "./.",
    "../x", "a//b", 123, and the lab's own groups ("labkitd", a container's ID)."""
    if not isinstance(name, str):
        raise InvalidArgument("error.cgroups.cgroup-name-text", name=name)
    parts = name.strip("/").split("/")
    if not name.strip("/") or any(p in (".", "..") or not _PART.match(p) for p in parts):
        raise InvalidArgument("error.cgroups.bad-cgroup-name", name=name)
    if RESERVED.match(parts[0]):
        raise InvalidArgument("error.cgroups.cgroup-name-belongs-lab", name=name)
    return "/".join(parts)


def _host_list(kind: str) -> str:
    """The CPUs or memory nodes this host has, in cpuset syntax ("0-1")."""
    path = Path(f"/sys/devices/system/{'cpu' if kind == 'cpus' else 'node'}/online")
    try:
        return path.read_text().strip()
    except OSError:
        return "0"


def _io_limit(device: str, spec: dict) -> IOLimit:
    dev = str(device)
    if not Path(f"/sys/dev/block/{dev}").exists():
        raise InvalidArgument("error.cgroups.no-block-device-host", dev=dev)
    kw = {}
    for key, value in spec.items():
        if key in ("read_bps", "write_bps"):
            kw[key] = parse_bytes(value, key)
        elif key in ("read_iops", "write_iops"):
            kw[key] = parse_count(value, key)
        else:
            raise InvalidArgument("error.cgroups.unknown-io-limit", v_key=key)
    return IOLimit(dev, **kw)
