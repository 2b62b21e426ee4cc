"""cgroup v1 driver: one directory per controller hierarchy.

    /sys/fs/cgroup/memory/labkit/c1/memory.limit_in_bytes
    /sys/fs/cgroup/pids/labkit/c1/pids.max

A group is made in each hierarchy of MANAGED that the host mounts, so its processes can be
counted (pids), limited (memory, cpu, cpuset, blkio), measured (cpuacct) and frozen (freezer).
On a hybrid host the group is also made in the cgroup2 mount, which holds no controller but
still reports pressure (PSI) and cpu.stat for it.
"""

from __future__ import annotations

import os
import select
from pathlib import Path

from ..errors import FeatureMissing, InvalidArgument, translate_oserror
from . import figures, files
from .base import FileWrite, Group, read, read_keyed, read_small, wait_until, write
from .hierarchies import Layout
from .resources import CPU_PERIOD_US, Resources
from .stats import Stats

MANAGED = ("pids", "memory", "cpu", "cpuacct", "cpuset", "freezer", "blkio", "devices")



#: Settings that are one value in one file: (Resources field, hierarchy, file).
#: cpuset.mems comes before cpuset.cpus, as the kernel wants a group's memory nodes first.
SIMPLE = tuple((k, *files.v1(k)) for k in ("memory_reservation", "cpu_shares", "cpuset_mems", "cpuset_cpus", "pids"))


class V1Group(Group):
    version = 1
    FILES, OTHER_FILES = files.V1, files.V2

    def __init__(self, name: str, layout: Layout):
        self.by_controller: dict[str, Path] = {}
        for ctrl in MANAGED:
            h = layout.v1(ctrl)
            if h is not None:
                self.by_controller[ctrl] = h.mountpoint / name
        dirs = list(dict.fromkeys(self.by_controller.values()))  # cpu,cpuacct may share one hierarchy
        u = layout.unified
        self.unified = u.mountpoint / name if u is not None else None
        if self.unified is not None:
            dirs.append(self.unified)
        super().__init__(name, dirs)
        # The limits are all in v1 hierarchies; the hybrid host's v2 group only shows the container
        # (PSI, a v2 view), so PID 1 can be born there.
        self.birth_dir = self.unified

    def _dir(self, ctrl: str) -> Path:
        if ctrl not in self.by_controller:
            raise FeatureMissing("error.cgroups.cgroup-controller-mounted-host", ctrl=ctrl)
        return self.by_controller[ctrl]

    def create(self) -> None:
        for d in self.dirs:
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise translate_oserror(e, "create-cgroup", path=d) from None
        cs = self.by_controller.get("cpuset")
        if cs is not None:
            # A new v1 cpuset group starts with no CPUs and no memory nodes, and no process may
            # join it then (ENOSPC): give each level its parent's, from the top down.
            parts = self.name.split("/")
            top = cs.parents[len(parts) - 1]
            for d in (top / "/".join(parts[: i + 1]) for i in range(len(parts))):
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not (read(d / f) or "").strip():
                        write(d / f, (read(d.parent / f) or "").strip())

    def apply(self, r: Resources) -> list[FileWrite]:
        if r.memory_high is not None:
            raise InvalidArgument("error.cgroups.memory-high-memory-high")
        done: list[FileWrite] = []
        if r.memory is not None:
            mem = self._dir("memory")
            memsw, limit = mem / files.v1("memory_swap")[1], mem / files.v1("memory")[1]
            want_sw = r.memory_swap if r.memory_swap is not None else r.memory  # None: no swap at all
            if memsw.exists():
                # The kernel keeps memsw >= the memory limit at every step: raising, memsw goes first.
                if want_sw > int(read(memsw) or 0):
                    done.append(self._record(memsw, want_sw, "memory_swap"))
                    done.append(self._record(limit, r.memory, "memory"))
                else:
                    done.append(self._record(limit, r.memory, "memory"))
                    done.append(self._record(memsw, want_sw, "memory_swap"))
            else:
                done.append(self._record(limit, r.memory, "memory"))
        if r.cpu_quota is not None:
            cpu = self._dir("cpu")
            done.append(self._record(cpu / files.v1("cpu_period")[1], CPU_PERIOD_US, "cpu_quota"))
            done.append(self._record(cpu / files.v1("cpu_quota")[1], r.cpu_quota, "cpu_quota"))
        for field_, ctrl, fname in SIMPLE:
            value = getattr(r, field_)
            if value is not None:
                done.append(self._record(self._dir(ctrl) / fname, value, field_))
        if r.devices:
            from ..security.devices import v1_writes

            dev = self._dir("devices")
            done += [self._record(dev / fname, line, "devices") for fname, line in v1_writes(r.devices)]
        for lim in r.io:
            blk = self._dir("blkio")
            for attr, fname in (("read_bps", "read_bps_device"), ("write_bps", "write_bps_device"),
                                ("read_iops", "read_iops_device"), ("write_iops", "write_iops_device")):
                value = getattr(lim, attr)
                if value is not None:
                    done.append(self._record(blk / f"blkio.throttle.{fname}", f"{lim.device} {value}", "io"))
        return done

    def oom_kills(self) -> int:
        mem = self.by_controller.get("memory")
        return read_keyed(self._dir("memory") / figures.V1["oom_kills"][1]).get("oom_kill", 0) if mem else 0

    def frozen(self) -> bool:
        if "freezer" not in self.by_controller:
            return False
        return read_small(f"{self._dir('freezer')}/{files.v1('freeze')[1]}").strip() in ("FROZEN", "FREEZING")

    def freeze(self, frozen: bool = True, timeout: float = 5.0) -> None:
        if not frozen and "freezer" not in self.by_controller:
            return  # no freezer hierarchy: nothing can be frozen
        state = self._dir("freezer") / files.v1("freeze")[1]
        want = "FROZEN" if frozen else "THAWED"
        if (read(state) or "").strip() == want:
            return  # already there: nothing to write or wait for (remove() thaws every group it removes)
        write(state, want)
        # FREEZING is the in-between state while the kernel stops each task. A thawed group may be
        # removed before we look again (its container ran to its end): gone counts as thawed.
        wait_until(lambda: (read(state) or ("" if frozen else want)).strip() == want, timeout,
                   f"{want.lower()} cgroup {self.name}")

    def stats(self) -> Stats:
        """Memory, CPU, PIDs, I/O and pressure now, under the same names on v1 and v2 (cgroups/figures.py)."""
        return Stats.from_figures(figures.read_now(self))
    def wait_oom(self, timeout: float | None = None) -> bool:
        """v1's OOM notification: register an eventfd for memory.oom_control in cgroup.event_control
        ("<eventfd> <fd of memory.oom_control>"); the kernel signals the eventfd on each OOM."""
        mem = self._dir("memory")
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        ofd = os.open(mem / figures.V1["oom_kills"][1], os.O_RDONLY | os.O_CLOEXEC)
        try:
            write(mem / "cgroup.event_control", f"{efd} {ofd}")
            ready, _, _ = select.select([efd], [], [], timeout)
            if not ready:
                return False
            os.eventfd_read(efd)
            return True
        finally:
            os.close(efd)
            os.close(ofd)
