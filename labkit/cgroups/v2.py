"""cgroup v2 driver: one unified hierarchy.

    /sys/fs/cgroup/labkit/c1/memory.max
    /sys/fs/cgroup/labkit/c1/pids.max

A controller works in a group only if every ancestor lists it in cgroup.subtree_control,
so create() enables ours on the way down: at the root (a systemd host already has them)
and in the labkit parent, which therefore must hold no process itself (v2's "no internal
processes" rule).
"""

from __future__ import annotations

import errno
import select
import time
from pathlib import Path

from ..errors import FeatureMissing, translate_oserror
from . import figures, files
from .base import FileWrite, Group, read, read_keyed, read_small, wait_until, write
from .hierarchies import Layout
from .resources import CPU_PERIOD_US, Resources, shares_to_weight
from .stats import Stats

WANTED = ("memory", "pids", "cpu", "io", "cpuset")

#: Settings that are one value in one file: (Resources field, controller, file, conversion).
#: cpuset.mems comes before cpuset.cpus, as the kernel wants a group's memory nodes first.
SIMPLE = tuple((k, ctrl, files.v2(k), convert) for k, ctrl, convert in (
    ("memory_reservation", "memory", int), ("memory_high", "memory", int), ("cpu_shares", "cpu", shares_to_weight),
    ("cpuset_mems", "cpuset", str), ("cpuset_cpus", "cpuset", str), ("pids", "pids", int)))


#: Device programs loaded in this process, by their rules -> the program's descriptor (kept open).
_LOADED: dict[tuple, int] = {}


def _holds_processes(group: Path) -> FeatureMissing:
    """cgroup v2's "no internal processes" rule: a group that is not the hierarchy's true root cannot
    hand controllers down while processes sit in it. Seen as root of an unprivileged LXD container
    whose init is not systemd: the namespace's root holds PID 1 (`lxc exec` shells go to /.lxc), so
    writing its cgroup.subtree_control answers EBUSY. systemd moves itself into init.scope; labkit
    moves no process it did not start, and says so."""
    try:
        pids = (group / "cgroup.procs").read_text().split()
    except OSError:
        pids = []
    return FeatureMissing("error.cgroups.v2-group-holds-processes", path=group,
                          pids=", ".join(pids[:5]) + (" ..." if len(pids) > 5 else ""))


class V2Group(Group):
    version = 2
    FILES, OTHER_FILES = files.V2, files.V1

    def __init__(self, name: str, layout: Layout):
        u = layout.unified
        if u is None:
            raise FeatureMissing("error.cgroups.no-cgroup2-hierarchy-mounted")
        self.root = u.mountpoint
        self.available = u.controllers
        super().__init__(name, [u.mountpoint / name])

    @property
    def dir(self) -> Path:
        return self.dirs[0]

    def create(self) -> None:
        d = self.dir
        if d.is_dir():
            return
        wanted = [c for c in WANTED if c in self.available]
        for attempt in range(3):
            try:
                cur = self.root
                for part in Path(self.name).parts:
                    enabled = (cur / "cgroup.subtree_control").read_text().split()
                    missing = [c for c in wanted if c not in enabled]
                    if missing:
                        try:
                            with open(cur / "cgroup.subtree_control", "w") as f:
                                f.write(" ".join("+" + c for c in missing))
                        except OSError as e:
                            if e.errno == errno.EBUSY:
                                raise _holds_processes(cur) from None
                            raise translate_oserror(e, "write-file", value=" ".join("+" + c for c in missing),
                                                    path=cur / "cgroup.subtree_control") from None
                    cur = cur / part
                    cur.mkdir(exist_ok=True)
                return
            except FileNotFoundError:
                if attempt == 2:  # the parent vanished under us three times: another lab's reset?
                    raise translate_oserror(OSError(errno.ENOENT, "parent group removed meanwhile"), "create-cgroup", path=d) from None
            except OSError as e:
                raise translate_oserror(e, "create-cgroup", path=d) from None

    def _need(self, ctrl: str) -> None:
        if ctrl not in self.available:
            raise FeatureMissing("error.cgroups.cgroup-controller-available", ctrl=ctrl, root=self.root)

    def apply(self, r: Resources) -> list[FileWrite]:
        d, done = self.dir, []
        if r.memory is not None:
            self._need("memory")
            done.append(self._record(d / files.v2("memory"), r.memory, "memory"))
            if (d / files.v2("memory_swap")).exists():
                # docker's --memory-swap counts memory + swap; v2 counts swap alone. None: no swap, so
                # a limit meets the OOM killer instead of swapping.
                swap = 0 if r.memory_swap is None else max(r.memory_swap - r.memory, 0)
                done.append(self._record(d / files.v2("memory_swap"), swap, "memory_swap"))
        for field_, ctrl, fname, convert in SIMPLE:
            value = getattr(r, field_)
            if value is not None:
                self._need(ctrl)
                done.append(self._record(d / fname, convert(value), field_))
        if r.cpu_quota is not None:
            self._need("cpu")
            done.append(self._record(d / files.v2("cpu_quota"), f"{r.cpu_quota} {CPU_PERIOD_US}", "cpu_quota"))
        if r.devices:
            done.append(self._attach_device_program(r.devices))
        for lim in r.io:
            self._need("io")
            keys = " ".join(f"{k}={getattr(lim, a)}" for a, k in (("read_bps", "rbps"), ("write_bps", "wbps"),
                            ("read_iops", "riops"), ("write_iops", "wiops")) if getattr(lim, a) is not None)
            done.append(self._record(d / files.v2("io"), f"{lim.device} {keys}", "io"))
        return done

    def _attach_device_program(self, rules) -> FileWrite:
        """v2 has no devices controller: the kernel runs an eBPF program attached to the group at
        each open or mknod of a device node (security/devices.py writes it). The group keeps the
        program; it goes when the group is removed. One loaded program serves every group with the
        same rules: the kernel's verifier runs once per labkitd, not at each start (~0.8 ms here)."""
        import os

        from ..kernel import syscalls as sc
        from ..security import devices

        insns = devices.program(rules)
        try:
            prog = _LOADED.get(tuple(rules))
            if prog is None:
                prog = _LOADED[tuple(rules)] = sc.bpf_prog_load(sc.BPF_PROG_TYPE_CGROUP_DEVICE, devices.assemble(insns),
                                                                name="labkit_devices")
            group_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sc.bpf_prog_attach(group_fd, prog, sc.BPF_CGROUP_DEVICE, sc.BPF_F_ALLOW_MULTI)
            finally:
                os.close(group_fd)
        except OSError as e:
            raise translate_oserror(e, "attach-device-rules", path=self.dir) from None
        return FileWrite(self.dir, f"eBPF device program, {len(insns)} instructions ({len(rules)} rules)", "devices",
                         "devices.deny + devices.allow")

    def oom_kills(self) -> int:
        return read_keyed(self.dir / figures.V2["oom_kills"][0]).get("oom_kill", 0)

    def frozen(self) -> bool:
        return read_small(f"{self.dir}/{files.v2('freeze')}").strip() == "1"

    def freeze(self, frozen: bool = True, timeout: float = 5.0) -> None:
        state = self.dir / files.v2("freeze")
        if not frozen and not state.exists():
            return  # Linux before 5.2 has no v2 freezer: nothing can be frozen
        if (read(state) or "").strip() == ("1" if frozen else "0") and \
                read_keyed(self.dir / "cgroup.events").get("frozen") == int(frozen):
            return  # already there: nothing to write or wait for (remove() thaws every group it removes)
        write(state, "1" if frozen else "0")
        # cgroup.events says "frozen 1" once every task has stopped.
        want = 1 if frozen else 0
        # A thawed group may be removed before we look again (its container ran to its end): gone counts as thawed.
        wait_until(lambda: read_keyed(self.dir / "cgroup.events").get("frozen", None if frozen else 0) == want,
                   timeout, f"{'freeze' if frozen else 'thaw'} cgroup {self.name}")

    def stats(self) -> Stats:
        """Memory, CPU, PIDs, I/O and pressure now, under the same names on v1 and v2 (cgroups/figures.py)."""
        return Stats.from_figures(figures.read_now(self))
    def wait_oom(self, timeout: float | None = None) -> bool:
        """v2's OOM notification: memory.events changes when oom_kill rises, and the kernel wakes
        poll() on it (POLLPRI). Returns True once the count is above what it was on entry."""
        path = self.dir / figures.V2["oom_kills"][0]
        start = read_keyed(path).get("oom_kill", 0)
        with open(path, "rb", buffering=0) as f:
            p = select.poll()
            p.register(f, select.POLLPRI | select.POLLERR)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                p.poll(None if left is None else int(left * 1000))
                f.seek(0)
                f.read()
                if read_keyed(path).get("oom_kill", 0) > start:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
