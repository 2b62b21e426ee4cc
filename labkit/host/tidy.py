"""A notebook's own clean-up: what an earlier run of it left, found by the names it gives.

    lk.tidy("nb03")    # containers, networks, volumes, cgroups (and their processes), overlays: "nb03-..."

Run at a notebook's top: after a kernel restart half-way, its containers still run (they belong to
labkitd, not to the kernel), and re-running from the top would meet a taken name. Unlike lk.reset(),
it leaves alone whatever another notebook or a terminal is running.
"""

from __future__ import annotations

from ..errors import LabkitError, NotFound
from ..paths import instance


class Tidied(list):
    """What was removed: ["container nb03-bomb", "cgroup nb03-demo"]."""

    def __repr__(self) -> str:
        return ("removed what an earlier run left: " + ", ".join(self)) if self else "nothing left from an earlier run"


def tidy(prefix: str) -> Tidied:
    from .. import cgroups
    from ..filesystems import volumes
    from ..runtime.client.containers import ps

    if not isinstance(prefix, str) or len(prefix) < 3:
        from ..errors import InvalidArgument

        raise InvalidArgument(f"prefix {prefix!r} is too short to be one notebook's", hint='e.g. lk.tidy("nb03").')
    inst = instance()
    out = Tidied()
    for c in ps(all=True, inst=inst):
        if c.name.startswith(prefix):
            try:
                c.remove(force=True, volumes=True)
                out.append(f"container {c.name}")
            except NotFound:
                pass
    from .. import network

    for n in network.ls():
        if n.name.startswith(prefix):
            try:
                network.rm(n.name)
                out.append(f"network {n.name}")
            except LabkitError:
                pass
    for v in volumes.ls(inst):
        if v["Name"].startswith(prefix):
            try:
                volumes.remove(inst, v["Name"])
                out.append(f"volume {v['Name']}")
            except LabkitError:
                pass
    names = {d.name for parent in cgroups.labkit_dirs(tag=inst.tag) for d in parent.iterdir()
             if d.is_dir() and d.name.startswith(prefix)}
    for name in sorted(names):
        try:
            g = cgroups.group(f"{inst.tag}/{name}")
            g.kill()  # e.g. a process a by-hand container left running (notebook 04)
            g.remove()
            out.append(f"cgroup {name}")
        except LabkitError:
            pass
    out.extend(_overlays(inst, prefix))
    return out


def _overlays(inst, prefix: str) -> list[str]:
    """lk.overlay(name=...)'s folders, <root>/overlays/<name>/{upper,work,merged}: unmounted, removed."""
    import shutil

    from ..filesystems.overlay import Overlay

    base = inst.root / "overlays"
    found = sorted(d for d in base.iterdir() if d.is_dir() and d.name.startswith(prefix)) if base.is_dir() else []
    out = []
    for d in found:
        try:
            left = (d / "upper").exists()  # ov.unmount(remove=True) leaves only the empty folder
            Overlay([], d / "upper", d / "work", d / "merged", inst.tag).unmount(remove=True)
            shutil.rmtree(d, ignore_errors=True)
            if left:
                out.append(f"overlay {d.name}")
        except LabkitError:
            pass
    return out
