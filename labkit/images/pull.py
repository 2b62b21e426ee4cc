"""`pull`: an image from a registry into the local store, step 1 of the `docker run` flow.

    lk.pull("localhost:5000/team/app:v1")      # -> <Image localhost:5000/team/app:v1 ...>

1. the manifest for the tag (or digest); if it is an index (one manifest per platform), the one for
   this machine: linux/amd64 here, linux/arm64 on an ARM laptop's VM
2. the config (the image ID is its digest) and every layer the store lacks, four at a time; each
   blob's sha256 is checked as it streams in, and a blob that does not match is not kept
3. the manifest, stored as OCI (a Docker manifest's media types are renamed; the blobs are the
   same bytes, so the image ID and the layers' digests do not change), and the name tagged

A layer already in the store (another image's base) is not fetched again. A download cut off
leaves `blobs/sha256/.partial-<digest>`; the next pull asks for the rest (an HTTP Range request)
and checks the whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from ..errors import InvalidArgument, LabkitError
from .reference import parse
from .registry import DOCKER_HUB, INDEXES, MT_DOCKER_MANIFEST, MT_OCI_MANIFEST, Registry, RegistryError
from .store import MT_CONFIG, Image, ImageStore, canonical_json

CONCURRENT_LAYERS = 4

#: The OCI name of each Docker media type (a manifest stored here is OCI, whatever it came as).
OCI_NAME = {
    MT_DOCKER_MANIFEST: MT_OCI_MANIFEST,
    "application/vnd.docker.container.image.v1+json": MT_CONFIG,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
}


class DigestMismatch(RegistryError):
    """A blob's bytes do not hash to the digest its descriptor names."""


def host_platform() -> dict:
    """This machine as an image index names platforms: {"os": "linux", "architecture": "amd64"}."""
    machine = os.uname().machine
    arch, variant = {"x86_64": ("amd64", None), "aarch64": ("arm64", "v8"), "armv7l": ("arm", "v7"),
                     "i686": ("386", None), "ppc64le": ("ppc64le", None), "s390x": ("s390x", None),
                     "riscv64": ("riscv64", None)}.get(machine, (machine, None))
    return {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}


def choose(index: dict, platform: dict) -> dict:
    """The descriptor of `platform`'s manifest in an index; a missing variant matches any."""
    candidates = []
    for desc in index.get("manifests", []):
        p = desc.get("platform") or {}
        if p.get("os") == platform["os"] and p.get("architecture") == platform["architecture"]:
            if p.get("variant") in (None, platform.get("variant")) or not platform.get("variant"):
                candidates.append(desc)
    if not candidates:
        offered = ", ".join(f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
                            for d in index.get("manifests", []))
        raise InvalidArgument("error.images.no-image-index-has", platform_os=platform['os'], platform_architectu=platform['architecture'], offered_or_none=offered or 'none')
    return candidates[0]


def parse_platform(spec: str | dict | None) -> dict:
    """"linux/arm64/v8" -> {"os": "linux", "architecture": "arm64", "variant": "v8"}; None: this machine."""
    if spec is None:
        return host_platform()
    if isinstance(spec, dict):
        return spec
    parts = spec.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument("error.images.platform-os-architecture-variant", spec=spec)
    return {"os": parts[0], "architecture": parts[1], **({"variant": parts[2]} if len(parts) == 3 else {})}


def _check_digest(data: bytes, digest: str, what: str) -> None:
    if digest and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise DigestMismatch("error.images.does-match-digest", what=what, digest=digest)


def pull(reference: str, store: ImageStore, platform=None, auth=None, progress: bool | None = None,
         registry: Registry | None = None) -> Image:
    ref = parse(reference)
    want = parse_platform(platform)
    tried: list[str] = []
    if registry is None and ref.registry == DOCKER_HUB:  # settings.json's registry-mirrors first (mirrors.py)
        from .mirrors import pull_through

        with store.writing():
            img, tried = pull_through(ref, store, want, progress, store.inst, _pull)
        if img is not None:
            return img
    reg = None
    try:
        reg = registry or Registry(ref.registry, auth=auth)
        with store.writing():
            return _pull(ref, store, want, reg, progress)
    except LabkitError as e:
        if tried:  # say what the mirrors answered too: "not found" there is a different story
            e.args = (f"{e.message} (the mirrors, asked first: {'; '.join(tried)})",)
        raise
    finally:
        if registry is None and reg is not None:
            reg.close()


def _pull(ref, store: ImageStore, want: dict, reg: Registry, progress) -> Image:
    data, media_type, digest = reg.manifest(ref.repository, ref.ref)
    if ref.digest:
        _check_digest(data, ref.digest, f"the manifest of {ref}")
    manifest = json.loads(data)
    if media_type in INDEXES or "manifests" in manifest:
        desc = choose(manifest, want)
        data, media_type, _ = reg.manifest(ref.repository, desc["digest"])
        _check_digest(data, desc["digest"], f"the {want['architecture']} manifest of {ref}")
        manifest = json.loads(data)
    config_desc = manifest["config"]
    blobs = [config_desc] + list(manifest.get("layers", []))
    missing = [d for d in blobs if not store.blob_path(d["digest"]).exists()]
    bars = _Progress(ref.familiar(), missing, progress)
    with ThreadPoolExecutor(CONCURRENT_LAYERS) as pool:
        for fut in [pool.submit(fetch_blob, reg, ref.repository, d, store, bars) for d in missing]:
            fut.result()
    bars.close()
    oci = {**manifest, "mediaType": MT_OCI_MANIFEST,
           "config": {**config_desc, "mediaType": OCI_NAME.get(config_desc.get("mediaType"), MT_CONFIG)},
           "layers": [{**d, "mediaType": OCI_NAME.get(d.get("mediaType"), d.get("mediaType"))}
                      for d in manifest.get("layers", [])]}
    config = json.loads(store.read_blob(config_desc["digest"]))
    mdigest, msize = store.put_blob(canonical_json(oci) if media_type != MT_OCI_MANIFEST else data)
    plat = {"os": config.get("os", want["os"]), "architecture": config.get("architecture", want["architecture"])}
    store.tag(str(ref), mdigest, msize, platform=plat)
    return store.get(str(ref))


def fetch_blob(reg: Registry, repository: str, desc: dict, store: ImageStore, bars=None) -> None:
    """Stream one blob into the store, checking its sha256 as it comes; resume a partial download."""
    digest = desc["digest"]
    final = store.blob_path(digest)
    store.blobs.mkdir(parents=True, exist_ok=True)
    partial = store.blobs / f".partial-{digest.partition(':')[2]}"
    h = hashlib.sha256()
    have = 0
    if partial.exists():  # an earlier pull was cut off: hash what it got, ask for the rest
        with open(partial, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                have += len(chunk)
    resp = reg.blob_stream(repository, digest, start=have)
    try:
        if have and resp.status_code != 206:  # the registry sent it all again: start over
            h, have = hashlib.sha256(), 0
        if bars:
            bars.update(digest, have)
        with open(partial, "ab" if have else "wb") as f:
            for chunk in resp.iter_bytes(1 << 20):
                f.write(chunk)
                h.update(chunk)
                if bars:
                    bars.update(digest, len(chunk))
    finally:
        resp.close()
    if "sha256:" + h.hexdigest() != digest:
        partial.unlink(missing_ok=True)
        raise DigestMismatch("error.images.blob-bytes-received-hash", digest=digest, repository=repository, hexdigest=h.hexdigest())
    os.replace(partial, final)


class _Progress:
    """One bar per blob (tqdm.auto: a widget in JupyterLab, text in a terminal), or none."""

    def __init__(self, title: str, descs: list[dict], show: bool | None):
        if show is None:
            show = sys.stderr.isatty() or "ipykernel" in sys.modules
        self.bars = {}
        if show and descs:
            from tqdm.auto import tqdm

            for i, d in enumerate(descs):
                self.bars[d["digest"]] = tqdm(total=d.get("size") or None, unit="B", unit_scale=True, position=i,
                                              desc=f"{title} {d['digest'][7:19]}", leave=True)

    def update(self, digest: str, n: int) -> None:
        bar = self.bars.get(digest)
        if bar is not None:
            bar.update(n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
