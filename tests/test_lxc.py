"""LXC beside labkit (notebook 04): a real lxc-execute, its pieces read from the kernel, its groups
under this lab's parent only, and nothing of it left after stop()."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labkit import cgroups
from labkit.paths import instance

pytestmark = pytest.mark.skipif(shutil.which("lxc-execute") is None, reason="LXC is not installed (./lab setup installs it)")


def _roots_with(name_part: str) -> list[Path]:
    return [d for h in cgroups.layout().hierarchies for d in h.mountpoint.iterdir() if d.is_dir() and name_part in d.name]


@pytest.mark.v2
def test_lxc_makes_the_same_kernel_pieces_under_the_labs_own_groups_and_leaves_nothing(busybox):
    from labkit.runtime.lxc import lxc_execute

    before = _roots_with("lxc")
    box = lxc_execute("test-lxc", ["sh", "-c", "echo ready; exec sleep 30"], memory=24 << 20)
    try:
        for kind in ("pid", "mnt", "uts", "ipc", "net"):
            assert os.readlink(f"/proc/{box.pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"), kind
        status = Path(f"/proc/{box.pid}/status").read_text()
        assert status.split("NSpid:")[1].split("\n")[0].split()[1:] == ["2"]  # PID 2 inside: LXC's init is 1
        assert cgroups.group(f"{instance().tag}/test-lxc").stats().memory_limit == 24 << 20
        groups = [line.split(":", 2)[2] for line in Path(f"/proc/{box.pid}/cgroup").read_text().splitlines()]
        assert all(g.startswith(f"/{instance().tag}/test-lxc") for g in groups), groups  # under this lab's parent
        assert "lxc.rootfs.path = dir:" in box.config
    finally:
        box.stop()
    assert not os.path.exists(f"/proc/{box.pid}")
    assert _roots_with("lxc") == before  # no lxc.pivot, lxc.payload or lxc.monitor at a hierarchy's root
    assert not [p for parent in cgroups.labkit_dirs(tag=instance().tag) for p in parent.glob("test-lxc*")]
    assert not list(Path("/tmp").glob("labkit-test-lxc-*")) and not os.path.ismount(instance().root / "overlays/test-lxc/merged")
