"""Where labkit keeps its state, and how it names what it creates in the kernel.

All on-disk state of one lab lives under one root:

    /var/lib/labkit/                 the data root (LABKIT_ROOT moves it)
        images/                      an OCI image layout: oci-layout, index.json, blobs/sha256/<hex>
        layers/<diff-id hex>/        each image layer unpacked once, the read-only lower dirs of overlays
        containers/<id>/             a container's bundle: config.json, upper/, work/, rootfs/ (merged)
    /run/labkit/                     runtime files: locks, pid files (LABKIT_ROOT/run when moved)

Each lab is an *instance* with a tag that every kernel object it creates carries:
"labkit" for the default root, "labkit.<the root path's CRC-32 in 8 hex>" for any other root
(tests, a second lab on the same host). So the default lab's memory cgroups live under
/sys/fs/cgroup/memory/labkit/ and a test's under /sys/fs/cgroup/memory/labkit.3f9c0a1b/,
and one lab's reset never touches another's objects. `labkit reset --all` removes every
instance's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/labkit")
DEFAULT_RUN = Path("/run/labkit")
#: Every kernel object of every instance has this in its name; "lk" starts veth names (15-char limit).
MARK = "labkit"
VETH_MARK = "lk"


class Instance:
    """One lab: its data root, its runtime folder, its tag. Plain data (not a dataclass: the CLI's
    quick commands import this, and dataclasses costs ~9 ms of imports)."""

    __slots__ = ("root", "run", "tag")

    def __init__(self, root: Path, run: Path, tag: str):
        self.root, self.run, self.tag = root, run, tag

    def __eq__(self, other) -> bool:
        return isinstance(other, Instance) and (self.root, self.run, self.tag) == (other.root, other.run, other.tag)

    def __hash__(self) -> int:
        return hash((self.root, self.run, self.tag))

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def link_prefix(self) -> str:
        """Network links (veths, bridges) of this instance start with this: "lk-" by default,
        "lk3f9c-" for another root. Link names are at most 15 characters, so no tag fits."""
        return VETH_MARK + "-" if self.tag == MARK else VETH_MARK + self.tag[len(MARK) + 1 :][:4] + "-"

    def owns_link(self, ifname: str) -> bool:
        """Its veths and bridges ("lk-3f9a0c1b2d0", "lk-br3f9a0c1b2d"), and the default lab's
        default bridge, "labkit0"."""
        return ifname.startswith(self.link_prefix) or self.owns(ifname) or (self.tag == MARK and ifname == "labkit0")

    def object_name(self, name: str) -> str:
        """Name for a kernel object of this instance, e.g. a netns: "labkit-web1"."""
        return f"{self.tag}-{name}"

    def owns(self, name: str) -> bool:
        """True if a kernel object called `name` (a netns, a mount source) belongs to this instance."""
        return name == self.tag or name.startswith(self.tag + "-")

    def __repr__(self) -> str:
        return f"Instance(tag={self.tag!r}, root={str(self.root)!r}, run={str(self.run)!r})"


def instance(root: str | os.PathLike | None = None) -> Instance:
    """The lab instance for `root`, or for $LABKIT_ROOT, or the default one."""
    if root is None:
        root = os.environ.get("LABKIT_ROOT") or None
    if root is None:
        return Instance(DEFAULT_ROOT, DEFAULT_RUN, MARK)
    root = Path(root).absolute()
    if root == DEFAULT_ROOT:
        return Instance(DEFAULT_ROOT, DEFAULT_RUN, MARK)
    import zlib  # CRC-32 tells roots apart well enough, and costs no OpenSSL load (hashlib: ~3 ms a command)

    return Instance(root, root / "run", f"{MARK}.{zlib.crc32(str(root).encode()):08x}")


def is_labkit_name(name: str) -> bool:
    """True for a name any labkit instance could have given: "labkit", "labkit-x", "labkit.3f9c0a1b-x".
    Not LXD's objects for a room's learners, though their names carry labkit too (is_room_lxd)."""
    return MARK in name and not is_room_lxd(name)


#: LXD's names of a container's cgroups ("lxc.payload.labkit-ada", "lxc.monitor.labkit-ada") and the
#: room's LXD folder ("/var/lib/labkit-room/lxd/..."): a room's learners live there. They are LXD's, and
#: `./lab room reset` removes them; labkit's reset and the tests' leak check leave them alone (a
#: `labkit reset --all` on a room's machine must not end the learners' containers).
ROOM_LXD_MARKS = ("lxc.payload.", "lxc.monitor.", "labkit-room/lxd")


def is_room_lxd(name: str) -> bool:
    return any(m in name for m in ROOM_LXD_MARKS)


def is_labkit_link(ifname: str) -> bool:
    """True for a link name any labkit instance could have given: "lk-...", "lk3f9c-...", "labkit0"."""
    return ifname.startswith(VETH_MARK) or MARK in ifname


@contextlib.contextmanager
def dir_lock(d: Path):
    """Hold d/.lock (flock, exclusive) while changing the records in d: networks/, volumes/.
    Made with d if missing; released when the block ends, or when the process dies."""
    import fcntl

    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield d
    finally:
        os.close(fd)
