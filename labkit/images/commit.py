"""`diff` and `commit`: what a container changed, and that change saved as a new image layer.

A container writes only to its overlay's upper directory (containers/<id>/upper/); the image's
layers stay as they are (copy-on-write). So the upper directory *is* the change:

    upper/etc/passwd                 a regular file: added, or changed if a lower layer has it (A / C)
    upper/bin/vi  (char 0/0)         overlayfs's whiteout: deleted                             (D)
    upper/var/cache (trusted.overlay.opaque=y)  the directory replaced: lower contents hidden

`commit` turns that into an OCI layer (tar) with OCI's whiteouts, the other way round from the
unpacker (unpack.py): a 0/0 device becomes an empty `.wh.vi`, an opaque directory gets a
`.wh..wh..opq` entry. The new image is the old one plus this layer, with a history entry saying so,
as `docker commit` makes it. The container is paused while its upper directory is read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import time
from pathlib import Path

from ..filesystems.overlay import OVERLAY_XATTRS, is_opaque
from .store import MT_LAYER_GZIP, ImageStore, canonical_json
from .unpack import OPAQUE, WHITEOUT


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)



def changes(upper: Path, lowers: list[str]) -> list[tuple[str, str]]:
    """[("A"|"C"|"D", "/path"), ...] sorted by path, as `docker diff` lists them."""
    out = []
    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = os.path.relpath(dirpath, upper)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(full)
            if _is_whiteout(st):
                out.append(("D", rel))
            else:
                below = any(os.path.lexists(os.path.join(low, rel.lstrip("/"))) for low in lowers)
                out.append(("C" if below else "A", rel))
    return sorted(out, key=lambda c: c[1])


def layer_tar(upper: Path) -> bytes:
    """The upper directory as an OCI layer tar (uncompressed), whiteouts in OCI's form."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(upper):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, upper)
            if rel_dir != "." and is_opaque(dirpath):
                tar.addfile(_empty(os.path.join(rel_dir, OPAQUE)))
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name))
                st = os.lstat(full)
                if _is_whiteout(st):
                    tar.addfile(_empty(os.path.join(os.path.dirname(rel), WHITEOUT + name)))
                    continue
                info = tar.gettarinfo(full, arcname=rel)
                for attr in _xattrs(full):
                    info.pax_headers[f"SCHILY.xattr.{attr[0]}"] = attr[1].decode("utf-8", "surrogateescape")
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def _empty(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = 0o644, int(time.time())
    return info


def _xattrs(path: str) -> list[tuple[str, bytes]]:
    """The extended attributes a layer keeps (file capabilities and the like), not overlayfs's own."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    out = []
    for n in names:
        if n.startswith(OVERLAY_XATTRS):
            continue
        try:
            out.append((n, os.getxattr(path, n, follow_symlinks=False)))
        except OSError:
            pass
    return out


def commit_upper(store: ImageStore, base_name: str, upper: Path, target: str, comment: str = "",
                 changes_config: dict | None = None, author: str = "", created_by: str = "labkit commit") -> str:
    """A new image `target`: the image `base_name` plus the layer made of `upper`. Returns its name."""
    return derive(store, base_name, target, created_by, layer=layer_tar(upper), comment=comment,
                  config_changes=changes_config, author=author)


def derive(store: ImageStore, base_name: str, target: str, created_by: str, layer: bytes | None = None,
           comment: str = "", config_changes: dict | None = None, author: str = "") -> str:
    """A new image `target` from `base_name`: one more layer (an uncompressed tar) and/or changes to
    its config ({"Cmd": [...]}), and a history entry saying what made it (empty_layer when no layer):
    what commit, and every step of build.py, make. Returns the full name."""
    base = store.get(base_name)
    manifest = json.loads(store.read_blob(base.digest))
    config = json.loads(json.dumps(base.config))  # a copy
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    layers = list(manifest["layers"])
    if layer is not None:
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(
            "sha256:" + hashlib.sha256(layer).hexdigest())
        ldigest, lsize = store.put_blob(gzip.compress(layer, compresslevel=6, mtime=0))
        layers.append({"mediaType": MT_LAYER_GZIP, "digest": ldigest, "size": lsize})
    config["created"] = now
    if author:
        config["author"] = author
    config.setdefault("config", {}).update(config_changes or {})
    config.setdefault("history", []).append({"created": now, "created_by": created_by,
                                             **({"comment": comment} if comment else {}),
                                             **({"author": author} if author else {}),
                                             **({"empty_layer": True} if layer is None else {})})
    cdigest, csize = store.put_blob(canonical_json(config))
    new = {**manifest, "config": {**manifest["config"], "digest": cdigest, "size": csize}, "layers": layers}
    mdigest, msize = store.put_blob(canonical_json(new))
    store.tag(target, mdigest, msize, {"os": config.get("os", "linux"), "architecture": config.get("architecture", "amd64")})
    return store.get(target).name
