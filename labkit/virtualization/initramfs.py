"""The VM's root filesystem: an initramfs of two files, busybox and /init, in the kernel's cpio format.

The kernel unpacks an initramfs into a RAM filesystem and runs its /init as PID 1: no disk, no
distribution, nothing to install in the guest. The format is "newc" cpio (the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst): for each member, a 110-byte ASCII header,

    070701 0000000200 0000816d ...       "070701", then 13 fields of 8 hex digits: ino, mode, uid, gid,
                                         nlink, mtime, filesize, devmajor, devminor, rdevmajor,
                                         rdevminor, namesize (with its NUL), check (0)

then the name and its NUL, padded to 4 bytes, then the data, padded to 4 bytes; the last member is
named TRAILER!!!.
"""

from __future__ import annotations

import stat
from pathlib import Path

#: What the guest (and the container beside it, compare.py) says of itself, one "LABKIT-VM key value"
#: line each, then LABKIT-VM-READY.
FACT, READY = "LABKIT-VM ", "LABKIT-VM-READY"
FACTS = """echo "LABKIT-VM uname $(uname -r)"
echo "LABKIT-VM cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "LABKIT-VM memtotal $(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2)"
echo "LABKIT-VM uptime $(cut -d' ' -f1 /proc/uptime)"
echo "LABKIT-VM pid1 $(cat /proc/1/comm)"
echo LABKIT-VM-READY
"""
#: What the guest's PID 1 does. Its first line is the first instruction of user code the host can
#: see (on the serial console); then it reports the facts, and waits for a line on the console, while
#: the host measures, before it powers the VM off.
INIT = f"""#!/bin/busybox sh
/bin/busybox echo LABKIT-VM-UP
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc && mount -t proc proc /proc
{FACTS}read -r _line
poweroff -f
"""


def facts(output: str) -> dict[str, str]:
    """The facts in what a guest or a container printed, among other lines (a serial console has SeaBIOS's
    screen codes before them): {"uname": "6.1.0-57-amd64", "pid1": "init", ...}."""
    found = {}
    for line in output.splitlines():
        if FACT in line:
            key, _, value = line.split(FACT, 1)[1].strip().partition(" ")
            found[key] = value.strip()
    return found


def _member(name: str, mode: int, data: bytes, ino: int) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    out = b"070701" + "".join(f"{v:08x}" for v in fields).encode() + encoded
    out += b"\0" * (-len(out) % 4)
    return out + data + b"\0" * (-len(data) % 4)


def build(busybox: Path, init: str = INIT) -> bytes:
    """The initramfs: /bin/busybox (a static one: the guest has no libraries) and /init."""
    members = [("bin", stat.S_IFDIR | 0o755, b""), ("bin/busybox", stat.S_IFREG | 0o755, Path(busybox).read_bytes()),
               ("init", stat.S_IFREG | 0o755, init.encode())]
    out = b"".join(_member(name, mode, data, i + 1) for i, (name, mode, data) in enumerate(members))
    return out + _member("TRAILER!!!", 0, b"", 0)
