"""`save` and `load`: images to and from one file, for a USB stick in a room without the internet.

What `save` writes is both formats at once, as Docker 25 does:

    oci-layout                      {"imageLayoutVersion": "1.0.0"}  \\
    index.json                      one descriptor per name            } an OCI image layout (skopeo, umoci)
    blobs/sha256/<hex>              manifests, configs, layers        /
    manifest.json                   [{"Config": "blobs/sha256/<config>", "RepoTags": ["busybox:latest"],
                                      "Layers": ["blobs/sha256/<layer>", ...]}]   (`docker load`)

`load` takes an OCI layout (a directory, or a tar of one: `skopeo copy ... oci-archive:`, `umoci`)
or a `docker save` tarball (manifest.json, each layer a tar, gzip'd or not). A layout's name that is
only a tag (umoci's "v1") is loaded as localhost/loaded:v1. Every blob's digest is
checked as it is copied in: a file that does not match is refused and nothing of it is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..errors import InvalidArgument, NotFound
from .reference import familiar, normalize
from .store import MT_CONFIG, MT_MANIFEST, REF_NAME, CorruptStore, ImageStore, canonical_json

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def save(names: list[str], path: str | os.PathLike, store: ImageStore) -> int:
    """Write the images `names` to the tar file `path`; returns its size in bytes."""
    images = [store.get(n) for n in names]
    if not images:
        raise InvalidArgument("name at least one image to save", hint="e.g. `labkit save -o busybox.tar busybox`")
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}
    docker_manifest, blobs = [], {}
    for img in images:
        manifest = json.loads(store.read_blob(img.digest))
        index["manifests"].append({"mediaType": MT_MANIFEST, "digest": img.digest,
                                   "size": store.blob_path(img.digest).stat().st_size,
                                   "annotations": {REF_NAME: img.name, "io.containerd.image.name": img.name}})
        for d in [img.digest, manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]:
            blobs[d] = store.blob_path(d)
        docker_manifest.append({"Config": f"blobs/sha256/{img.id[7:]}", "RepoTags": [familiar(img.name)],
                                "Layers": [f"blobs/sha256/{d[7:]}" for d, _ in img.layers]})
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(tar, "index.json", canonical_json(index))
        _add_bytes(tar, "manifest.json", canonical_json(docker_manifest))
        for digest, blob in sorted(blobs.items()):
            tar.add(blob, arcname=f"blobs/sha256/{digest[7:]}", recursive=False)
    os.replace(tmp, path)
    return os.stat(path).st_size


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def load(path: str | os.PathLike, store: ImageStore) -> list[str]:
    """Load the images in `path` (OCI layout directory or tar, or a docker save tarball); returns
    their full names."""
    path = Path(path)
    with store.writing(), tempfile.TemporaryDirectory(dir=store.dir.parent if store.dir.parent.exists() else None,
                                                      prefix=".load-") as tmp:
        root = path
        if path.is_file():
            root = Path(tmp)
            _safe_extract(path, root)
        elif not path.is_dir():
            raise NotFound(f"{path}: no such file or directory",
                           hint="give a tar that `labkit save` or `docker save` wrote, or an OCI layout directory.")
        if (root / "index.json").exists() and (root / "oci-layout").exists():
            return _load_oci(root, store)
        if (root / "manifest.json").exists():
            return _load_docker(root, store)
        raise InvalidArgument(f"{path} holds no index.json (OCI) and no manifest.json (docker save)",
                              hint="make one with `labkit save`, `docker save` or `skopeo copy ... oci-archive:FILE`.")


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack the archive's regular files and directories only, none outside dest."""
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if not parts or ".." in parts:
                continue
            target = dest.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isreg():
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)


def _load_oci(root: Path, store: ImageStore) -> list[str]:
    def blob(d: str) -> Path:
        if not d.startswith("sha256:") or len(d) != 71:
            raise CorruptStore(f"unsupported digest {d!r} in the layout")
        return root / "blobs" / "sha256" / d[7:]

    loaded = []
    descs = json.loads((root / "index.json").read_text()).get("manifests", [])
    while descs:
        desc = descs.pop(0)
        store.put_file(blob(desc["digest"]), desc["digest"])
        doc = json.loads(store.read_blob(desc["digest"]))
        if "manifests" in doc:  # a nested index (a multi-platform image): its manifests, same name
            name = (desc.get("annotations") or {}).get(REF_NAME)
            descs.extend({**d, "annotations": {REF_NAME: name}} if name else d for d in doc["manifests"])
            continue
        for d in [doc["config"], *doc.get("layers", [])]:
            store.put_file(blob(d["digest"]), d["digest"])
        annotations = desc.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or annotations.get(REF_NAME)
        if not name:
            continue  # an untagged manifest: its blobs are in, nothing names it
        if "/" not in name and ":" not in name:  # an OCI ref.name is often only a tag ("latest", umoci's "v1")
            name = f"localhost/loaded:{name}"
        full = normalize(name)
        store.tag(full, desc["digest"], desc.get("size") or store.blob_path(desc["digest"]).stat().st_size,
                  desc.get("platform"))
        loaded.append(full)
    return loaded


def _load_docker(root: Path, store: ImageStore) -> list[str]:
    loaded = []
    for entry in json.loads((root / "manifest.json").read_text()):
        config_bytes = (root / entry["Config"]).read_bytes()
        config_digest, config_size = store.put_blob(config_bytes)
        layers = []
        for layer_path in entry["Layers"]:
            data_path = root / layer_path
            digest = store.put_file(data_path)  # docker save names layers by path: the hash is taken as it is copied
            with open(data_path, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            layers.append({"mediaType": MT_LAYER_GZIP if gz else MT_LAYER_TAR, "digest": digest,
                           "size": data_path.stat().st_size})
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                    "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": config_size}, "layers": layers}
        mdigest, msize = store.put_blob(canonical_json(manifest))
        config = json.loads(config_bytes)
        for tag in entry.get("RepoTags") or []:
            full = normalize(tag)
            store.tag(full, mdigest, msize, {"os": config.get("os", "linux"),
                                             "architecture": config.get("architecture", "amd64")})
            loaded.append(full)
    return loaded
