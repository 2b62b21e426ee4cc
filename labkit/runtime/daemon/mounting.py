"""At create: a container's -v/--mount/--tmpfs mounts (mount_specs.py) become config.json entries
and the Mounts that `docker inspect` shows.

    {"type": "volume", "source": "cache", "target": "/var/cache", "readonly": False}
      -> config.json  {"destination": "/var/cache", "type": "bind", "source": "/var/lib/labkit/volumes/cache/_data",
                       "options": ["rbind", "nosuid", "nodev"]}
      -> record       {"Type": "volume", "Name": "cache", "Source": ".../_data", "Destination": "/var/cache",
                       "Driver": "local", "Mode": "", "RW": true, "Propagation": ""}

The targets go into annotation org.labkit.volumes, so that container/rootfs.py mounts them the careful way
(never through a symlink of the image's). A target the image has made a symlink is refused here,
before anything is made, by looking at the image's layers; container/rootfs.py refuses it again in the
merged tree (a layer's whiteout could hide what this sees).
"""

from __future__ import annotations

import json
import os

from ...errors import InvalidArgument, LabkitError
from ...filesystems import volumes
from ...paths import Instance

ANNOTATION = "org.labkit.volumes"


def prepare(inst: Instance, mounts: list[dict], lowerdirs: list[str], config: dict) -> tuple[list[dict], list[str]]:
    """Adds the mounts to config (in place); returns (the record's Mounts, the anonymous volumes made)."""
    shown, made, targets = [], [], []
    for m in mounts:
        check_no_symlink(lowerdirs, m["target"])
    try:
        for m in mounts:
            flags = ["nosuid", "nodev"] + (["ro"] if m["readonly"] else [])
            if m["type"] == "tmpfs":
                data = [f"mode={m['mode']:o}"] + ([f"size={m['size']}"] if m["size"] else [])
                entry = {"destination": m["target"], "type": "tmpfs", "source": "tmpfs", "options": flags + data}
                shown.append({"Type": "tmpfs", "Source": "", "Destination": m["target"], "Mode": "",
                              "RW": not m["readonly"], "Propagation": ""})
            else:
                if m["type"] == "volume":
                    vol = volumes.create(inst, m["source"] or None)
                    if vol["Anonymous"] and not m["source"]:
                        made.append(vol["Name"])
                    source = vol["Mountpoint"]
                    shown.append({"Type": "volume", "Name": vol["Name"], "Source": source, "Destination": m["target"],
                                  "Driver": "local", "Mode": "", "RW": not m["readonly"], "Propagation": ""})
                else:
                    source = os.path.realpath(m["source"])  # the host's own symlinks are the host's business
                    shown.append({"Type": "bind", "Source": source, "Destination": m["target"], "Mode": "",
                                  "RW": not m["readonly"], "Propagation": "rprivate"})
                entry = {"destination": m["target"], "type": "bind", "source": source, "options": ["rbind"] + flags}
            config["mounts"].append(entry)
            targets.append(m["target"])
    except BaseException:
        release(inst, made)
        raise
    if targets:
        config["annotations"][ANNOTATION] = json.dumps(targets)
    return shown, made


def check_no_symlink(lowerdirs: list[str], target: str) -> None:
    """Refuse a target that the image made a symlink: -v /x:/escape/pwn where the image has
    /escape -> /etc (or -> ../../..). Mounted through, it would land somewhere other than where
    the learner looks; labkit mounts only on real directories."""
    path = ""
    for part in target.strip("/").split("/"):
        path += "/" + part
        for layer in reversed(lowerdirs):  # the top layer's entry is the one the container sees
            full = layer + path
            if os.path.lexists(full):
                if os.path.islink(full):
                    raise InvalidArgument("error.runtime.mount-target-symlink-image", target=target, path=path, readlink=os.readlink(full))
                break


def release(inst: Instance, anonymous: list[str]) -> None:
    """Remove a container's anonymous volumes (-v /data): at --rm, `rm -v`, or a create that failed."""
    for name in anonymous:
        try:
            volumes.remove(inst, name)
        except LabkitError:  # in use by another container (docker run --volumes-from), or gone already
            pass
