"""Boot a small virtual machine with QEMU: this host's kernel image, initramfs.py's /init, no disk.

    qemu-system-x86_64 -name labkit-vm -machine q35 -accel tcg -m 128 -smp 1 -nodefaults -nographic
        -no-reboot -serial stdio -kernel /boot/vmlinuz-6.1.0-57-amd64 -initrd /tmp/labkit-vm-x1y2.cpio
        -append "console=ttyS0 quiet panic=-1"

The guest's serial console is QEMU's stdin and stdout: what its /init prints arrives here, and a line
written here ends it. QEMU runs in a labkit cgroup of its own, so its memory is read as a container's
is (the kernel's charge to the group), and `labkit reset` ends it with the group if it is left behind.

KVM runs the guest's instructions on the CPU itself; without it (no /dev/kvm, or a VM whose CPU
offers no vmx/svm to its guests: nested virtualization is off) QEMU's TCG translates every guest
instruction in software, several times slower. `accelerator()` says which, and why.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FeatureMissing, TimedOut
from . import initramfs

QEMU = "qemu-system-x86_64"
#: the guest's first line: the serial console prints SeaBIOS's screen codes and (quiet) the kernel's
#: errors before it, so a marker is searched for anywhere in the output
UP = "LABKIT-VM-UP"


@dataclass
class Guest:
    """What one boot measured. first_user_ms: from QEMU's start to the first line of the guest's /init;
    memory: the bytes the host charged to QEMU's cgroup while the guest was up; facts: what the guest
    said of itself ({"uname": "6.1.0-57-amd64", "cpu": "QEMU Virtual CPU version 2.5+", "memtotal":
    "81920", "uptime": "1.87", "pid1": "init"})."""

    accel: str  # "kvm" or "tcg"
    why: str    # the reason's ID: "kvm", "no_vmx", "no_dev_kvm", "kvm_failed", "forced"
    kernel: str
    memory_mib: int
    first_user_ms: float = 0.0
    memory: int = 0
    facts: dict = field(default_factory=dict)


def kernel_image() -> Path:
    """The newest kernel image in /boot this host boots from (its own kind of kernel: one it can run)."""
    images = sorted((p for p in Path("/boot").glob("vmlinuz-*") if not p.name.endswith(".old")),
                    key=lambda p: [int(x) if x.isdigit() else x for x in p.name.replace("-", ".").split(".")])
    if not images:
        raise FeatureMissing("error.virtualization.no-kernel-image-boot")
    return images[-1]


def accelerator() -> tuple[str, str]:
    """("kvm", why) when the CPU's virtualization extensions reach QEMU, else ("tcg", why); `why` is
    the ID of the reason (its text is the catalog's "vm.side-by-side" why_<ID>). LABKIT_VM_ACCEL=tcg
    (or kvm) decides instead."""
    forced = os.environ.get("LABKIT_VM_ACCEL")
    if forced in ("tcg", "kvm"):
        return forced, "forced"
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if not flags & {"vmx", "svm"}:
        return "tcg", "no_vmx"     # a VM whose host does not pass vmx/svm on (nested virtualization off)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no_dev_kvm"  # the kvm module is not loaded, or /dev/kvm is not ours
    return "kvm", "kvm"


def qemu() -> str:
    found = shutil.which(QEMU)
    if found is None:
        raise FeatureMissing("error.virtualization.qemu-installed-there-nothing")
    return found


def _busybox() -> Path:
    from ..images.default import find_busybox, is_static

    found = find_busybox()
    if found is None or not is_static(found):
        raise FeatureMissing("error.virtualization.no-static-busybox-vm")
    return Path(found)


def boot(memory_mib: int = 128, timeout: float = 180.0, name: str = "vm") -> Guest:
    """Boot the VM, wait for its /init's report, measure, and power it off. Everything it made (the
    initramfs file, the cgroup, QEMU) is gone when this returns, or raises. A KVM that is there but
    fails (a host that hides it from QEMU) is said, and the boot is done again with emulation."""
    accel, why = accelerator()
    try:
        return _boot(accel, why, memory_mib, timeout, name)
    except FeatureMissing:
        if accel != "kvm":
            raise
        return _boot("tcg", "kvm_failed", memory_mib, timeout, name)


def _boot(accel: str, why: str, memory_mib: int, timeout: float, name: str) -> Guest:
    from ..cgroups.control import CGroup

    guest = Guest(accel, why, str(kernel_image()), memory_mib)
    binary = qemu()
    fd, initrd = tempfile.mkstemp(prefix="labkit-vm-", suffix=".cpio")
    with os.fdopen(fd, "wb") as f:
        f.write(initramfs.build(_busybox()))
    group = CGroup(f"{name}-{os.getpid()}")
    p = None
    try:
        args = [binary, "-name", "labkit-vm", "-machine", "q35", "-accel", accel, "-m", str(memory_mib), "-smp", "1",
                "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-kernel", guest.kernel,
                "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1"]
        if accel == "kvm":
            args[args.index("-smp"):args.index("-smp")] = ["-cpu", "host"]
        t0 = time.monotonic()
        p = group.spawn(args, stdin=subprocess.PIPE, text=False)
        buf, deadline = b"", t0 + timeout
        while initramfs.READY.encode() not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut("error.virtualization.vm-did-report-s", timeout=timeout)
            ready, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                err = p.stderr.read().decode(errors="replace").strip()
                raise FeatureMissing("error.virtualization.qemu-stopped-before-vm", err_300_or_no_messag=err[-300:] or 'no message')
            if not guest.first_user_ms and UP.encode() in buf + chunk:
                guest.first_user_ms = (time.monotonic() - t0) * 1000
            buf += chunk
        guest.memory = group.stats().memory_current or 0
        guest.facts = initramfs.facts(buf.decode(errors="replace"))
        p.stdin.write(b"\n")
        p.stdin.flush()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        return guest
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        for stream in (p.stdin, p.stdout, p.stderr) if p is not None else ():
            stream.close()
        group.remove()
        os.unlink(initrd)
