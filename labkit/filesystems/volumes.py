"""Named volumes: directories that outlive the containers that use them, kept under the data root.

    /var/lib/labkit/volumes/cache/_data          what a container sees at its target (-v cache:/var/cache)
    /var/lib/labkit/volumes/cache/volume.json    {"Name": "cache", "Driver": "local", "Mountpoint": ".../_data",
                                                  "CreatedAt": "2026-12-05T22:30:00Z", "Labels": {}, "Scope": "local",
                                                  "Options": {}, "Anonymous": false}

Docker keeps /var/lib/docker/volumes/<name>/_data the same way, and `docker volume inspect` prints
the same record. A volume is made on first use (-v cache:/c), or by `labkit volume create`. An
anonymous one (-v /data) gets a 64-hex name and goes with its container when that is removed with
--rm or `rm -v`, as docker's. `labkit reset` keeps volumes (they are the learner's data) unless
given --volumes. Unlike docker, a new volume starts empty: the image's files at the target are not
copied into it. Every change holds volumes/.lock, so a removal never races a create.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time

from ..errors import Conflict, InvalidArgument, NotFound
from ..paths import Instance, dir_lock
from .mount_specs import VOLUME_NAME_RE


class VolumeNotFound(NotFound):
    pass


def root(inst: Instance):
    return inst.root / "volumes"


def _locked(inst: Instance):
    return dir_lock(root(inst))


def _check_name(name) -> str:
    if not isinstance(name, str) or not VOLUME_NAME_RE.match(name):
        raise InvalidArgument("error.filesystems.volume-name-valid-2", name=name)
    return name


def create(inst: Instance, name: str | None = None, labels: dict | None = None, anonymous: bool = False) -> dict:
    """Make a volume, or return the one of that name (as `docker volume create` does)."""
    if name is None:
        name, anonymous = os.urandom(32).hex(), True
    _check_name(name)
    labels = labels or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidArgument("error.filesystems.labels-are-text-text", labels=labels)
    with _locked(inst) as d:
        try:
            return get(inst, name)
        except VolumeNotFound:
            pass
        (d / name / "_data").mkdir(parents=True, exist_ok=True)
        record = {"Name": name, "Driver": "local", "Mountpoint": str(d / name / "_data"),
                  "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "Labels": labels,
                  "Scope": "local", "Options": {}, "Anonymous": anonymous}
        tmp = d / name / "volume.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, d / name / "volume.json")
        return record


def get(inst: Instance, name: str) -> dict:
    _check_name(name)
    try:
        return json.loads((root(inst) / name / "volume.json").read_text())
    except (OSError, ValueError):
        raise VolumeNotFound("error.filesystems.no-such-volume", name=name) from None


def ls(inst: Instance) -> list[dict]:
    try:
        names = sorted(n for n in os.listdir(root(inst)) if not n.startswith("."))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        with contextlib.suppress(NotFound, InvalidArgument):
            out.append(get(inst, n))
    return out


def users(inst: Instance, name: str) -> list[str]:
    """Names of the containers (running or not) that mount volume `name`."""
    from ..runtime import state

    found = []
    for cid in state.all_ids(inst):
        rec = state.read(inst, cid) or {}
        if any(m.get("Type") == "volume" and m.get("Name") == name for m in rec.get("mounts", ())):
            found.append(rec.get("name") or cid[:12])
    return found


def remove(inst: Instance, name: str) -> None:
    """Remove a volume and its files; refused while any container, even a stopped one, has it."""
    with _locked(inst) as d:
        get(inst, name)
        using = users(inst, name)
        if using:
            raise Conflict("error.filesystems.volume-use-container-s", name=name, join=', '.join(using), join2=' '.join(using))
        tmp = d / f".removing-{name}"
        os.rename(d / name, tmp)  # gone at once for everyone; the files go after
        shutil.rmtree(tmp, ignore_errors=True)


def summary(rec: dict) -> str:
    return f"{rec['Driver']:<8}{rec['Name']}"
