"""lk.vm: a real VM (QEMU, this host's kernel image, a busybox initramfs) beside a real container,
measured; nothing of either is left, also when the boot is cut short."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labkit.errors import FeatureMissing, TimedOut
from labkit.virtualization import compare, initramfs, machine

needs_qemu = pytest.mark.skipif(machine.shutil.which(machine.QEMU) is None or not list(Path("/boot").glob("vmlinuz-*")),
                                reason="no QEMU or no kernel image here (./lab setup installs QEMU)")


def test_the_initramfs_is_newc_cpio_that_busybox_cpio_reads(tmp_path):
    from labkit.images.default import find_busybox

    data = initramfs.build(Path(find_busybox()), init="#!/bin/busybox sh\necho hi\n")
    assert data[:6] == b"070701" and len(data) % 4 == 0
    (tmp_path / "initrd.cpio").write_bytes(data)
    listed = subprocess.run([find_busybox(), "cpio", "-t", "-F", str(tmp_path / "initrd.cpio")], capture_output=True, text=True)
    assert listed.stdout.split() == ["bin", "bin/busybox", "init"], listed
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([find_busybox(), "cpio", "-i", "-d", "-F", str(tmp_path / "initrd.cpio")], cwd=out, check=True,
                   capture_output=True)
    assert (out / "init").read_text() == "#!/bin/busybox sh\necho hi\n" and os.access(out / "init", os.X_OK)
    assert (out / "bin" / "busybox").read_bytes() == Path(find_busybox()).read_bytes()


def test_the_accelerator_is_said_and_can_be_forced(monkeypatch):
    accel, why = machine.accelerator()
    assert (accel, why) in {("kvm", "kvm"), ("tcg", "no_vmx"), ("tcg", "no_dev_kvm")}
    monkeypatch.setenv("LABKIT_VM_ACCEL", "tcg")
    assert machine.accelerator() == ("tcg", "forced")


def test_without_qemu_the_boot_is_refused_with_a_hint_before_anything_is_made(monkeypatch, tmp_path):
    monkeypatch.setattr(machine.shutil, "which", lambda name: None)
    monkeypatch.setattr(machine.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(FeatureMissing) as e:
        machine.boot()
    assert "qemu-system-x86" in e.value.hint and not list(tmp_path.iterdir())


@pytest.mark.slow
@needs_qemu
def test_a_vm_and_a_container_side_by_side_are_measured_from_inside_each(busybox):
    side = compare.side_by_side(name="test-vm")
    vm, ct = side.vm, side.container
    # the VM: a kernel of its own, booted seconds ago, with the memory QEMU gave it, and its own PID 1
    assert vm.facts["pid1"] == "init" and float(vm.facts["uptime"]) < 120
    assert int(vm.facts["memtotal"]) * 1024 < vm.memory_mib << 20
    assert vm.first_user_ms > 0 and vm.memory > vm.memory_mib << 19   # QEMU holds at least half the guest's RAM
    # the container: the host's kernel, up as long as the host, the host's memory in /proc/meminfo
    assert ct["facts"]["uname"] == os.uname().release and ct["facts"]["pid1"] == "sh"
    host_up = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(float(ct["facts"]["uptime"]) - host_up) < 120
    assert ct["facts"]["memtotal"] == Path("/proc/meminfo").read_text().split()[1]
    assert 0 < ct["first_user_ms"] < vm.first_user_ms and 0 < ct["memory"] < vm.memory
    rows = dict((r, (a, b)) for r, a, b in side.rows)
    assert set(rows) == set(compare.ROWS) and "MiB" in rows["memory"][0]
    assert "<table>" in side._repr_html_() and vm.kernel in repr(side)


@pytest.mark.slow
@needs_qemu
def test_a_boot_cut_short_leaves_no_qemu_no_cgroup_and_no_file(busybox, tmp_path, monkeypatch):
    """A timeout (as Ctrl-C would) while the guest boots: QEMU is killed, its cgroup and the
    initramfs file go (the suite's leak check looks for the cgroup and the process too)."""
    import psutil

    monkeypatch.setattr(machine.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(TimedOut):
        machine.boot(timeout=0.3, name="test-vm-cut")
    assert not list(tmp_path.iterdir())
    ours = [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert not ours  # its QEMU (whose -initrd is in tmp_path); others' QEMUs (the suite's v2 VM) are not looked at
