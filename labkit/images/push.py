"""`push`: an image from the local store to a registry.

    lk.push("localhost:5000/team/app:v1")       # the name says where it goes
    lk.tag("busybox", "localhost:5000/busybox"); lk.push("localhost:5000/busybox")

Each blob (the config, then each layer) is uploaded only if the registry lacks it (HEAD first), in
one PUT each; the manifest goes last, under the tag, and only then does the tag exist there. The
blobs are the store's own bytes: the registry computes the same digests, and the image ID stays.
"""

from __future__ import annotations

import json

from .reference import parse
from .registry import MT_OCI_MANIFEST, Registry
from .store import ImageStore


def push(name: str, store: ImageStore, auth=None, registry: Registry | None = None) -> str:
    """Push the local image `name` to the registry its name gives; returns the manifest's digest."""
    ref = parse(name)
    img = store.get(name)
    manifest_bytes = store.read_blob(img.digest)
    manifest = json.loads(manifest_bytes)
    reg = registry or Registry(ref.registry, auth=auth)
    try:
        for desc in [manifest["config"], *manifest.get("layers", [])]:
            path = store.blob_path(desc["digest"])
            with open(path, "rb") as f:
                reg.push_blob(ref.repository, desc["digest"], f, path.stat().st_size)
        return reg.put_manifest(ref.repository, ref.ref, manifest_bytes, manifest.get("mediaType", MT_OCI_MANIFEST))
    finally:
        if registry is None:
            reg.close()
