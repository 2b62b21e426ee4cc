"""cgroup layout detection and the two drivers: parsing on fake files, behaviour on the real kernel."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from labkit import cgroups
from labkit.cgroups.hierarchies import Hierarchy, Layout, read_layout
from labkit.cgroups.resources import IOLimit, Resources, shares_to_weight
from labkit.errors import InvalidArgument
from labkit.security import devices

HYBRID = """\
25 1 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
29 25 0:26 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
30 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
31 25 0:28 /sub /mnt/elsewhere rw,relatime - cgroup cgroup rw,freezer
"""
V2 = "30 1 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def test_hybrid_layout_is_v1_driver_with_its_controllers(tmp_path):
    f = tmp_path / "mountinfo"
    f.write_text(HYBRID)
    lay = read_layout(f)
    assert lay.kind == "hybrid" and lay.version == 1
    assert lay.controllers() == ("cpu", "memory", "pids")  # not name=systemd; not a bind of a sub-group
    assert lay.v1("memory").mountpoint == Path("/sys/fs/cgroup/memory")


def test_pure_v2_layout_reads_controllers_from_cgroup_controllers(tmp_path):
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    f = tmp_path / "mountinfo"
    f.write_text(V2.replace("/sys/fs/cgroup", str(root)))
    lay = read_layout(f)
    assert (lay.kind, lay.version) == ("v2", 2)
    assert "memory" in lay.controllers()


def test_v2_driver_enables_controllers_on_the_way_down_and_writes_v2_files(tmp_path):
    # Fake files stand in for the kernel's: this checks file names and order, the real test is below.
    root = tmp_path
    (root / "cgroup.subtree_control").write_text("")
    lay = Layout((Hierarchy(root, 2, ("memory", "pids")),))
    g = cgroups.group("labkit.test/c1", lay)
    (root / "labkit.test").mkdir()
    (root / "labkit.test" / "cgroup.subtree_control").write_text("")
    g.create()
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    written = g.apply(Resources(memory=1 << 20, pids=7))
    assert [(w.path.name, w.value) for w in written] == [("memory.max", "1048576"), ("pids.max", "7")]
    assert written[0].other_version == "memory/memory.limit_in_bytes"  # "show me the files": the v1 name


def test_v1_driver_writes_v1_files(tmp_path):
    lay = Layout((Hierarchy(tmp_path / "memory", 1, ("memory",)), Hierarchy(tmp_path / "pids", 1, ("pids",))))
    g = cgroups.group("labkit.test/c1", lay)
    g.create()
    written = g.apply(Resources(memory=1 << 20, pids=7))
    assert [(w.path.parent.parent.parent.name, w.path.name) for w in written] == [
        ("memory", "memory.limit_in_bytes"), ("pids", "pids.max")]
    assert written[0].other_version == "memory.max"


@pytest.mark.parametrize("name", ["process_api", "/labkit/x", "labkit/../process_api", "user.slice/labkit"])
def test_a_group_outside_labkits_parent_is_refused(name):
    with pytest.raises(InvalidArgument):
        cgroups.group(name)


@pytest.mark.v2
def test_real_group_limits_counts_kills_and_removes(inst):
    import subprocess

    g = cgroups.group(f"{inst.tag}/contract")
    g.create()
    try:
        written = g.apply(Resources(memory=64 << 20, pids=10))
        for w in written:
            assert w.path.read_text().strip() == w.value
        p = subprocess.Popen(["sleep", "600"])
        g.add(p.pid)
        assert g.pids() == [p.pid]
        g.kill()
        assert p.wait(timeout=10) == -9 and g.pids() == []
    finally:
        g.remove()
    assert not g.exists()
    # The empty labkit parent is removed with its last group (labkitd's own group, if it runs, stays).
    left = [c.name for d in cgroups.labkit_dirs(tag=inst.tag) for c in d.iterdir() if c.is_dir()]
    assert set(left) <= {"labkitd"}, left


@pytest.mark.skipif(cgroups.layout().version != 1, reason="v1 only: memory.memsw.limit_in_bytes")
def test_v1_memory_limit_can_be_lowered_and_raised_with_swap_accounting(inst):
    g = cgroups.group(f"{inst.tag}/memsw")
    g.create()
    try:
        for mib in (64, 32, 128):
            g.apply(Resources(memory=mib << 20))
            mem = g.by_controller["memory"]
            assert int((mem / "memory.limit_in_bytes").read_text()) == mib << 20
            memsw = mem / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                assert int(memsw.read_text()) == mib << 20
    finally:
        g.remove()


def _fake_v2(root):
    (root / "cgroup.subtree_control").write_text("")
    (root / "labkit.test").mkdir()
    (root / "labkit.test" / "cgroup.subtree_control").write_text("")
    lay = Layout((Hierarchy(root, 2, ("cpuset", "cpu", "io", "memory", "pids")),))
    g = cgroups.group("labkit.test/c1", lay)
    g.create()
    (g.dir / "memory.swap.max").write_text("max\n")  # the kernel's file exists where swap accounting is on
    return g


def _fake_v1(root):
    ctrls = ("memory", "cpu", "cpuset", "pids", "blkio", "devices")
    lay = Layout(tuple(Hierarchy(root / c, 1, (c,)) for c in ctrls))
    for c in ctrls:
        (root / c).mkdir()
    (root / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    g = cgroups.group("labkit.test/c1", lay)
    g.create()
    (g.by_controller["memory"] / "memory.memsw.limit_in_bytes").write_text("0\n")
    return g


EVERY = Resources(memory=64 << 20, memory_swap=96 << 20, memory_reservation=32 << 20, cpu_quota=50000,
                  cpu_shares=512, cpuset_cpus="0", cpuset_mems="0", pids=20,
                  io=(IOLimit("8:0", read_bps=1 << 20, write_iops=100),))


def test_the_v2_driver_writes_exactly_these_bytes_for_every_setting(tmp_path):
    """Against fake files, so a slip (quota and period swapped, a wrong unit) fails on any host."""
    g = _fake_v2(tmp_path)
    g.apply(dataclasses.replace(EVERY, memory_high=48 << 20))
    files = {f: (g.dir / f).read_text() for f in ("memory.max", "memory.swap.max", "memory.low", "memory.high",
                                                    "cpu.max", "cpu.weight", "cpuset.cpus", "cpuset.mems", "pids.max",
                                                    "io.max")}
    assert files == {"memory.max": "67108864", "memory.swap.max": str(32 << 20),  # v2 counts swap alone
                     "memory.low": "33554432", "memory.high": "50331648", "cpu.max": "50000 100000",
                     "cpu.weight": str(shares_to_weight(512)), "cpuset.cpus": "0", "cpuset.mems": "0",
                     "pids.max": "20", "io.max": "8:0 rbps=1048576 wiops=100"}


def test_the_v1_driver_writes_exactly_these_bytes_for_every_setting(tmp_path):
    g = _fake_v1(tmp_path)
    written = g.apply(dataclasses.replace(EVERY, devices=devices.DOCKER_DEFAULT[:3]))
    d = g.by_controller
    assert (d["memory"] / "memory.limit_in_bytes").read_text() == "67108864"
    assert (d["memory"] / "memory.memsw.limit_in_bytes").read_text() == str(96 << 20)  # v1 counts memory + swap
    assert (d["memory"] / "memory.soft_limit_in_bytes").read_text() == "33554432"
    assert (d["cpu"] / "cpu.cfs_quota_us").read_text() == "50000"
    assert (d["cpu"] / "cpu.cfs_period_us").read_text() == "100000"
    assert (d["cpu"] / "cpu.shares").read_text() == "512"
    assert (d["cpuset"] / "cpuset.cpus").read_text() == "0" and (d["cpuset"] / "cpuset.mems").read_text() == "0"
    assert (d["pids"] / "pids.max").read_text() == "20"
    assert (d["blkio"] / "blkio.throttle.read_bps_device").read_text() == "8:0 1048576"
    assert (d["blkio"] / "blkio.throttle.write_iops_device").read_text() == "8:0 100"
    # The devices controller takes one line per write, in order: deny everything, then allow.
    assert [(w.path.name, w.value) for w in written if w.resource == "devices"] == [
        ("devices.deny", "a *:* rwm"), ("devices.allow", "c *:* m"), ("devices.allow", "b *:* m")]


@pytest.mark.parametrize("version", [1, 2])
def test_thawing_a_group_removed_meanwhile_is_done_not_a_timeout(tmp_path, monkeypatch, version):
    """Thawed, a container may run to its end and labkitd remove its group before the driver looks
    again (test_faults' hung start saw this): a group that is gone holds nothing frozen."""
    import shutil

    from labkit.cgroups import v1, v2

    if version == 1:
        lay = Layout((Hierarchy(tmp_path / "freezer", 1, ("freezer",)),))
        mod, state_file, frozen = v1, "freezer.state", "FROZEN\n"
    else:
        lay = Layout((Hierarchy(tmp_path, 2, ("memory",)),))
        mod, state_file, frozen = v2, "cgroup.freeze", "1\n"
    g = cgroups.group("labkit.test/c1", lay)
    d = g.dirs[0]
    d.mkdir(parents=True)
    (d / state_file).write_text(frozen)
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    real_write = mod.write

    def write_then_vanish(path, value):  # the kernel thaws, the container exits, labkitd rmdirs
        real_write(path, value)
        shutil.rmtree(d)

    monkeypatch.setattr(mod, "write", write_then_vanish)
    g.freeze(False, timeout=1.0)  # returns: no LabkitError after a second of waiting
    assert not d.exists()


@pytest.mark.parametrize("version", [1, 2])
def test_a_kill_thaws_a_group_removed_between_the_look_and_the_write(tmp_path, monkeypatch, version):
    """labkitd's SIGKILL after stop's timeout thaws the group first; if the container died and its
    group went between exists() and the write (labkitd's log showed NotFound from a timer), that is
    done, not an error."""
    lay = Layout((Hierarchy(tmp_path / "freezer", 1, ("freezer",)),)) if version == 1 else \
        Layout((Hierarchy(tmp_path, 2, ("memory",)),))
    g = cgroups.group("labkit.test/c2", lay)  # never made: every write finds nothing
    monkeypatch.setattr(type(g), "exists", lambda self: True)  # it was there when looked at
    g.thaw_for_kill()  # no NotFound


def test_reading_the_pids_of_a_group_removed_after_the_open_is_an_empty_list(inst, monkeypatch):
    """A group rmdir'd between the open of cgroup.procs and the read answers ENODEV on the real
    kernel (CI's leak check met it while runc deleted its container's group): no processes, no error."""
    import os as real_os
    from labkit.cgroups import base

    g = cgroups.group(f"{inst.tag}/gone-midway")
    g.create()
    d = g.dirs[0]

    class RemovesAfterOpen:
        def __getattr__(self, name):
            return getattr(real_os, name)

        def open(self, path, flags):
            fd = real_os.open(path, flags)
            real_os.rmdir(real_os.path.dirname(path))
            return fd

    monkeypatch.setattr(base, "os", RemovesAfterOpen())
    try:
        assert base.read_pids(d) == []
    finally:
        monkeypatch.undo()
        g.remove()
    assert not d.exists()


@pytest.mark.v2
def test_a_reader_in_another_pid_namespace_gets_no_pid_it_cannot_name(inst):
    """cgroup.procs read from a PID namespace lists a process it cannot see as 0 (v1) or leaves it out
    (v2): read_pids never answers 0, which os.kill would take for the caller's own process group (a
    reset inside a container once killed its own shell that way)."""
    import subprocess
    import sys

    g = cgroups.group(f"{inst.tag}/pidns")
    g.create()
    p = subprocess.Popen(["sleep", "600"])
    try:
        g.add(p.pid)
        code = "import sys; from labkit.cgroups import group; print(group(sys.argv[1]).pids())"
        seen = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code, f"{inst.tag}/pidns"],
                              capture_output=True, text=True, timeout=60)
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.strip() == "[]"  # outside, it is there: [p.pid]
        assert g.pids() == [p.pid]
    finally:
        p.kill()
        p.wait()
        g.remove()


@pytest.mark.v2
def test_notebook_03s_cgroup_by_hand_passes_on_this_version(monkeypatch):
    """The solution of 03.by-hand (a folder, a limit file, a PID into cgroup.procs), run as the notebook
    runs it, on whichever version this is: the file it writes and the one the check reads differ."""
    import labkit as lk
    from labkit.exercises import progress, solutions

    monkeypatch.setenv("LABKIT_LEARNER", "by-hand")
    anchor = lk.cgroup("nb03-anchor")  # as 03's first cell: this lab's parent groups exist
    try:
        exec(solutions("03-cgroups")["03.by-hand"], {"lk": lk})
    finally:
        anchor.remove()
    assert progress.load(who="by-hand")["03.by-hand"]["status"] == "passed"
    assert not any(d.exists() for d in cgroups.group(f"{lk.paths.instance().tag}/nb03-by-hand").dirs)
