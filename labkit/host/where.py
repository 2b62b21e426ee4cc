"""Where labkit runs: on a host, or as root of a user namespace inside a container engine (a learner's
unprivileged LXD container, a rootless Podman, Docker-in-LXD), which changes what it may do there.

    root of the initial user namespace      /proc/self/uid_map: "0 0 4294967295"   the host
    root of a nested one                    /proc/self/uid_map: "0 1000000 1000000000"   an unprivileged container

As root of a user namespace that is not the host's, the kernel refuses what only the host's root may
do: mknod of a device, writing the v1 devices controller, loading a BPF device program. The outer
container's device rules hold instead (a child group cannot widen its parent's), so labkit neither
writes nor needs them there, and binds device nodes from the outer /dev, as rootless runc does.

The engine, when it can be told (for the doctor's words only; no decision is taken on it):
    /dev/lxd/sock                 lxd      (LXD's guest API; LXD also sets container=lxc)
    container=lxc (PID 1's env)   lxc
    /run/.containerenv            podman
    /.dockerenv                   docker
    container=systemd-nspawn      systemd-nspawn
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: the initial user namespace's map: every ID is itself
HOST_MAP = "0 0 4294967295"


@dataclass(frozen=True)
class Place:
    nested: bool  # root of a user namespace that is not the host's
    engine: str  # "host", "lxd", "lxc", "podman", "docker", "systemd-nspawn" or "container" (not told)
    uid_map: str  # this process's /proc/self/uid_map, one line per range: "0 1000000 1000000000"

    @property
    def outside_uid(self) -> int | None:
        """The host's UID of root here (1000000 in an unprivileged LXD container; 0 on the host)."""
        first = self.uid_map.split("\n", 1)[0].split()
        return int(first[1]) if len(first) == 3 and first[0] == "0" else None

    def __repr__(self) -> str:
        from ..catalog import text

        if not self.nested:
            return text("where", "host" if self.engine == "host" else "privileged", engine=self.engine)
        return text("where", "nested", engine=text("where", f"engine-{self.engine}"), uid=self.outside_uid)


def _env_of_init(proc: Path) -> dict[str, str]:
    try:
        raw = (proc / "1" / "environ").read_bytes()
    except OSError:  # PID 1 of another user (a rootless engine): not ours to read
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def read(proc: str = "/proc", root: str = "/") -> Place:
    """Read it from the kernel (`proc` and `root` for the tests' fakes)."""
    proc_dir, root_dir = Path(proc), Path(root)
    try:
        uid_map = "\n".join(" ".join(line.split()) for line in (proc_dir / "self" / "uid_map").read_text().splitlines())
    except OSError:
        uid_map = HOST_MAP  # a kernel without user namespaces: the host's root
    nested = uid_map != HOST_MAP
    container = _env_of_init(proc_dir).get("container", "") or os.environ.get("container", "")
    if (root_dir / "dev" / "lxd" / "sock").exists():
        engine = "lxd"
    elif (root_dir / "run" / ".containerenv").exists():
        engine = "podman"
    elif (root_dir / ".dockerenv").exists():
        engine = "docker"
    elif container in ("lxc", "systemd-nspawn", "docker", "podman"):
        engine = container
    else:
        engine = "container" if nested else "host"
    return Place(nested, engine, uid_map)


@lru_cache(maxsize=1)
def place() -> Place:
    """This process's place, read once (it does not change while labkit runs)."""
    return read()
