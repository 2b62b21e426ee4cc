"""lk.volume and `labkit volume`: named volumes for a learner (the store is volumes.py).

    v = lk.volume.create("cache")          # Volume('cache', files=0, used by -)
    lk.run("busybox", "sh -c 'date > /c/when'", volumes=["cache:/c"], rm=True)
    v.files()                              # ['when']: the data outlived its container
    lk.volume.ls(); lk.volume.rm("cache")

    labkit volume create cache      labkit volume ls [-q]      labkit volume inspect cache      labkit volume rm cache
"""

from __future__ import annotations

import html
import json
import os

from ..paths import Instance, instance
from . import volumes


class Volume:
    def __init__(self, record: dict, inst: Instance):
        self.record, self._inst = record, inst
        self.name, self.mountpoint = record["Name"], record["Mountpoint"]

    def files(self) -> list[str]:
        """What is in it, as paths relative to its top: ["when", "logs/a.log"]."""
        out = []
        for d, _dirs, names in os.walk(self.mountpoint):
            out += [os.path.relpath(os.path.join(d, n), self.mountpoint) for n in names]
        return sorted(out)

    def users(self) -> list[str]:
        return volumes.users(self._inst, self.name)

    def __repr__(self) -> str:
        from ..catalog import text

        return f"Volume({self.name!r}, files={len(self.files())}, {text('shown', 'used-by', names=', '.join(self.users()) or '-')})"

    def _repr_html_(self) -> str:
        from ..catalog import text

        files = self.files()
        listed = "".join(f"<li><code>{html.escape(f)}</code></li>" for f in files[:20])
        more = f"<li>... {html.escape(text('shown', 'more', n=len(files) - 20))}</li>" if len(files) > 20 else ""
        said = text("shown", "volume", name=self.name, kind=text("shown", "anonymous" if self.record.get("Anonymous") else "named"),
                    path=self.mountpoint, users=", ".join(self.users()) or text("shown", "no-container"))
        return f"<b>{html.escape(said)}</b><ul>{listed}{more}</ul>"


def create(name: str | None = None, labels: dict | None = None) -> Volume:
    """A named volume (`docker volume create`); the one of that name if it exists already."""
    inst = instance()
    return Volume(volumes.create(inst, name, labels), inst)


def inspect(name: str) -> Volume:
    inst = instance()
    return Volume(volumes.get(inst, name), inst)


def ls() -> list[Volume]:
    inst = instance()
    return [Volume(r, inst) for r in volumes.ls(inst)]


def rm(name: str) -> None:
    """Remove it and its files; refused while a container (even a stopped one) has it."""
    volumes.remove(instance(), name)


def cmd_create(args) -> int:
    print(create(args.name).name)
    return 0


def cmd_ls(args) -> int:
    vols = volumes.ls(instance())
    if args.quiet:
        print("\n".join(v["Name"] for v in vols))
        return 0
    print(f"{'DRIVER':<8}VOLUME NAME")
    for v in vols:
        print(volumes.summary(v))
    return 0


def cmd_inspect(args) -> int:
    print(json.dumps([{k: v for k, v in inspect(n).record.items() if k != "Anonymous"} for n in args.names], indent=2))
    return 0


def cmd_rm(args) -> int:
    import sys

    from ..errors import LabkitError

    status = 0
    for name in args.names:
        try:
            rm(name)
            print(name)
        except LabkitError as e:
            print(f"labkit: {e.message}" + (f"\n{e.hint_line()}" if e.hint else ""), file=sys.stderr)
            status = 1
    return status
