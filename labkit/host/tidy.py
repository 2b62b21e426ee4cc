"""A notebook's own clean-up: what an earlier run of it left, found by the names it gives.

    lk.tidy("nb03")    # containers, networks, volumes, cgroups (and their processes), overlays: "nb03-...",
                       # and scratch folders /tmp/labkit-nb03-*

Run at a notebook's top: after a kernel restart half-way, its containers still run (they belong to
labkitd, not to the kernel), and re-running from the top would meet a taken name. Unlike lk.reset(),
it leaves alone whatever another notebook or a terminal is running.
"""

from __future__ import annotations

from ..errors import LabkitError, NotFound
from ..paths import instance
from .reset import _say


class Tidied(list):
    """What was removed: ["container nb03-bomb", "cgroup nb03-demo"]."""

    def __repr__(self) -> str:
        def shown(item: str) -> str:  # "container nb03-bomb": its kind in the learner's language
            kind, _, name = item.partition(" ")
            return f"{_say('kind_' + kind)} {name}"

        return _say("tidied", items=_say("sep").join(shown(i) for i in self)) if self else _say("tidy_nothing")


def tidy(prefix: str) -> Tidied:
    from .. import cgroups
    from ..filesystems import volumes
    from ..runtime.client.containers import ps

    if not isinstance(prefix, str) or len(prefix) < 3:
        from ..errors import InvalidArgument

        raise InvalidArgument("error.host.prefix-too-short-one", prefix=prefix)
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
        # Another tool's group in every hierarchy, the controller-less name=systemd one too (LXC makes
        # them there, notebook 04): /sys/fs/cgroup/systemd/labkit/nb04-lxc-pivot, deepest first.
        for parent in cgroups.labkit_dirs(tag=inst.tag):
            for d in sorted((parent / name).rglob("*"), key=lambda p: -len(p.parts)) if (parent / name).is_dir() else ():
                if d.is_dir():
                    _rmdir(d)
            _rmdir(parent / name)
    out.extend(_overlays(inst, prefix))
    out.extend(_scratch(prefix))
    return out


def _scratch(prefix: str) -> list[str]:
    """The folders a notebook made with tempfile.mkdtemp(prefix="labkit-nb06-"), e.g. a build context
    (/tmp/labkit-nb06-k2j4x9ab), which a run stopped half-way did not remove. One with a mount in it
    is left alone (it is not a scratch folder then)."""
    import shutil
    import tempfile
    from pathlib import Path

    mounts = Path("/proc/self/mounts").read_text().split("\n")
    out = []
    for d in sorted(Path(tempfile.gettempdir()).glob(f"labkit-{prefix}-*")):
        if d.is_dir() and not d.is_symlink() and not any(f" {d}/" in m or f" {d} " in m for m in mounts):
            shutil.rmtree(d, ignore_errors=True)
            out.append(f"folder {d}")
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


def _rmdir(d) -> None:
    try:
        d.rmdir()  # a cgroup goes with rmdir once no process is in it; its files go with it
    except OSError:
        pass
