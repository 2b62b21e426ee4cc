"""cgroup layout detection and the two drivers: parsing on fake files, behaviour on the real kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import cgroups
from labkit.cgroups.hierarchies import Hierarchy, Layout, read_layout
from labkit.cgroups.resources import Resources
from labkit.errors import InvalidArgument

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
