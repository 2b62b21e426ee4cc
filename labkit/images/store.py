"""The image store: an OCI image layout on disk, plus each layer unpacked once.

The layout (OCI image-spec, image-layout.md), under the data root:

    images/oci-layout                {"imageLayoutVersion": "1.0.0"}
    images/index.json                one manifest descriptor per image name, named by the
                                     annotation org.opencontainers.image.ref.name,
                                     e.g. "docker.io/library/busybox:latest"
    images/blobs/sha256/<hex>        every manifest, config and layer, named by the sha256 of its bytes

A manifest names a config and a list of layers (gzip'd tars); the config lists each
layer's diff_id, the sha256 of the *uncompressed* tar. Layers are unpacked to
layers/<diff_id hex>/ and shared by every image and container that uses them: the
"shared layers stored once" of the seed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageNotFound, LabkitError
from ..paths import Instance
from .reference import familiar, normalize
from .unpack import unpack_layer

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
#: build.py's cached steps, as localhost/labkit-build-cache:<key>: kept, and not listed by `labkit images`
CACHE = "localhost/labkit-build-cache"


class CorruptStore(LabkitError):
    """The image store holds something labkit did not write."""


@dataclass(frozen=True)
class Image:
    name: str  # full name, "docker.io/library/busybox:latest"
    digest: str  # the manifest's, "sha256:..."
    id: str  # the config blob's digest: the image ID docker shows
    config: dict
    layers: tuple[tuple[str, str], ...]  # (blob digest, diff_id) for each layer, bottom first

    def __repr__(self) -> str:
        return f"<Image {familiar(self.name)} {self.digest[7:19]} {len(self.layers)} layer(s)>"


def canonical_json(obj) -> bytes:
    """The bytes labkit writes for a JSON blob: sorted keys, no spaces, so the same content has one digest."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class ImageStore:
    def __init__(self, inst: Instance):
        self.inst = inst
        self.dir = inst.images
        self.blobs = self.dir / "blobs" / "sha256"

    # -- blobs -------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
            raise CorruptStore("error.images.bad-digest", digest=digest)
        return self.blobs / hexpart

    def put_blob(self, data: bytes, added: list | None = None) -> tuple[str, int]:
        """Store `data`; returns its (digest, size). Writing the same bytes twice stores them once.
        `added`, if given, gets the digest appended when the blob is new (a load that may be undone)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            if added is not None:
                added.append(digest)
            self.blobs.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a blob
        return digest, len(data)

    def put_file(self, src, digest: str | None = None, added: list | None = None) -> str:
        """Copy the file `src` in as a blob, hashing it as it is copied; returns its digest. Given
        `digest` (what a manifest says it is), bytes that hash otherwise are refused and not kept.
        `added`, if given, gets the digest appended when the blob is new."""
        if digest is not None and self.blob_path(digest).exists():
            return digest
        self.blobs.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.blobs, prefix=".tmp-")
        try:
            with open(src, "rb") as f, os.fdopen(fd, "wb") as out:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
            got = "sha256:" + h.hexdigest()
            if digest is not None and got != digest:
                raise CorruptStore("error.images.does-match-digest-bytes", src=src, digest=digest, got=got)
            if added is not None and not self.blob_path(got).exists():
                added.append(got)
            os.replace(tmp, self.blob_path(got))
            return got
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise CorruptStore("error.images.blob-missing-from", digest=digest, blobs=self.blobs) from None

    def read_json_blob(self, digest: str) -> dict:
        data = self.read_blob(digest)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise CorruptStore("error.images.blob-does-match-digest", digest=digest)
        try:
            return json.loads(data)
        except ValueError:
            raise CorruptStore("error.images.blob-json", digest=digest) from None

    # -- the index -------------------------------------------------------------------------
    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @contextmanager
    def writing(self):
        """Held (shared) while blobs are being added that no tag names yet (a pull, a load): gc()
        waits for every such writer, so it never removes a blob a moment before its tag."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".gc-lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            yield

    def _read_index(self) -> dict:
        try:
            index = json.loads((self.dir / "index.json").read_text())
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except ValueError:
            raise CorruptStore("error.images.valid-json", self_dir_index_json=self.dir / 'index.json') from None
        if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
            raise CorruptStore("error.images.oci-image-index", self_dir_index_json=self.dir / 'index.json')
        return index

    def tag(self, name: str, manifest_digest: str, size: int, platform: dict | None = None) -> None:
        """Point `name` at a manifest in index.json (replacing what it pointed at)."""
        full = normalize(name)
        with self._locked():
            (self.dir / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
            index = self._read_index()
            index["manifests"] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != full]
            desc = {"mediaType": MT_MANIFEST, "digest": manifest_digest, "size": size, "annotations": {REF_NAME: full}}
            if platform:
                desc["platform"] = platform
            index["manifests"].append(desc)
            self._write_index(index)

    def _write_index(self, index: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".index-")
        with os.fdopen(fd, "w") as f:
            json.dump(index, f, indent=2)
        os.replace(tmp, self.dir / "index.json")

    def alias(self, source: str, target: str) -> Image:
        """`docker tag`: `target` names the same manifest as `source` (both stay)."""
        img = self.get(source)
        desc = next(m for m in self._read_index()["manifests"]
                    if m.get("annotations", {}).get(REF_NAME) == img.name)
        self.tag(target, img.digest, self.blob_path(img.digest).stat().st_size, desc.get("platform"))
        return self.get(target)

    def untag(self, name: str) -> str:
        """`docker rmi` of one name: it no longer names its manifest (the blobs stay until gc())."""
        full = normalize(name)
        with self._locked():
            index = self._read_index()
            kept = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != full]
            if len(kept) == len(index["manifests"]):
                raise ImageNotFound("error.images.no-image-2", familiar=familiar(full), dir=self.dir)
            digest = next(m["digest"] for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == full)
            index["manifests"] = kept
            self._write_index(index)
        return digest

    def gc(self, in_use: set[str] = frozenset()) -> tuple[int, int]:
        """Remove the blobs no tagged manifest needs, and unpacked layers that no image has and no
        container (its layer directory in `in_use`) stands on. Returns (files removed, bytes freed)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".gc-lock", "w") as gc_lock, self._locked():
            fcntl.flock(gc_lock, fcntl.LOCK_EX)  # no pull or load is half done (writing())
            keep, diff_ids = set(), set()
            for m in self._read_index()["manifests"]:
                keep.add(m["digest"])
                named, ids = self._needs(m["digest"])
                keep |= named
                diff_ids |= ids
            count = freed = 0
            for path in self.blobs.iterdir() if self.blobs.is_dir() else ():
                if not path.name.startswith(".") and "sha256:" + path.name not in keep:  # .partial-: a resumable pull
                    freed += path.stat().st_size
                    path.unlink()
                    count += 1
            for path in self.inst.layers.iterdir() if self.inst.layers.is_dir() else ():
                if path.name.startswith(".") or "sha256:" + path.name in diff_ids or str(path) in in_use:
                    continue
                shutil.rmtree(path)
                count += 1
        return count, freed

    def _needs(self, manifest_digest: str) -> tuple[set[str], set[str]]:
        """The blob digests and diff_ids a tagged manifest names, as far as it can be read. A manifest
        made wrong by hand ({"layers": [12345]}, a config never stored) keeps what it does name; the gc
        of every other image goes on."""
        blobs: set[str] = set()
        try:
            manifest = self.read_json_blob(manifest_digest)
            descriptors = [manifest.get("config")] + list(manifest.get("layers") or [])
        except (CorruptStore, AttributeError, TypeError):
            return blobs, set()
        blobs.update(d["digest"] for d in descriptors if isinstance(d, dict) and isinstance(d.get("digest"), str))
        try:
            config = self.read_json_blob(manifest["config"]["digest"])
            return blobs, {d for d in config["rootfs"]["diff_ids"] if isinstance(d, str)}
        except (CorruptStore, KeyError, TypeError, AttributeError):
            return blobs, set()

    def history(self, name: str) -> list[dict]:
        """The image's history, newest first as `docker history` shows it: created, created_by, empty_layer."""
        return list(reversed(self.get(name).config.get("history", [])))

    def names(self) -> list[str]:
        return sorted(m.get("annotations", {}).get(REF_NAME, "") for m in self._read_index()["manifests"])

    def get(self, name: str) -> Image:
        """The image called `name` ("busybox", "busybox:latest", "docker.io/library/busybox:latest")."""
        full = normalize(name)
        for m in self._read_index()["manifests"]:
            if m.get("annotations", {}).get(REF_NAME) == full:
                try:
                    manifest = self.read_json_blob(m["digest"])
                    config = self.read_json_blob(manifest["config"]["digest"])
                    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
                    layers = [l["digest"] for l in manifest.get("layers", [])]
                    if not all(isinstance(d, str) for d in layers + diff_ids):
                        raise TypeError("a digest that is not text")
                except (CorruptStore, KeyError, TypeError, AttributeError) as e:
                    # one image made wrong (by hand, in notebook 06: a descriptor without its digest, a
                    # config not stored) is that image's problem: removing it mends the store
                    raise CorruptStore("error.images.image-manifest-config-cannot", familiar=familiar(full), e=e) from None
                if len(diff_ids) != len(layers):
                    raise CorruptStore("error.images.image-layers-but-diff", familiar=familiar(full), n_layers=len(layers), n_diff_ids=len(diff_ids))
                return Image(full, m["digest"], manifest["config"]["digest"], config, tuple(zip(layers, diff_ids)))
        raise ImageNotFound("error.images.no-image", familiar=familiar(full), dir=self.dir)

    # -- layers on disk ----------------------------------------------------------------------
    def layer_dir(self, diff_id: str) -> Path:
        return self.inst.layers / diff_id.partition(":")[2]

    def unpack(self, image: Image, workers: int = 4, done=None) -> list[Path]:
        """Unpack each layer not yet unpacked; returns the layer directories, bottom first.

        Layers go into directories of their own (overlayfs stacks them), so they are unpacked side
        by side, `workers` at a time: what one waits on (the disk, inflating) the other uses.
        done(1) is called as each layer is in place (a progress bar's update)."""
        dirs = [self.layer_dir(diff_id) for _, diff_id in image.layers]
        todo = [(digest, diff_id, d) for (digest, diff_id), d in zip(image.layers, dirs) if not d.is_dir()]
        if len(todo) == 1 or workers <= 1:
            for job in todo:
                self._unpack_layer(*job)
                if done:
                    done(1)
        elif todo:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(workers, len(todo)), thread_name_prefix="labkit-unpack") as pool:
                for fut in [pool.submit(self._unpack_layer, *job) for job in todo]:
                    fut.result()  # the first failure is raised; the pool waits for the rest
                    if done:
                        done(1)
        return dirs

    def _unpack_layer(self, digest: str, diff_id: str, target: Path) -> None:
        """Unpack one layer (images/unpack.py) into a fresh directory, renamed into place only when
        all of it is there and its diff_id matches: never half a layer in layers/."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
        try:
            with open(self.blob_path(digest), "rb") as blob:
                got = unpack_layer(blob, tmp)
            if got != diff_id:
                raise CorruptStore("error.images.layer-does-unpack-diff", digest=digest, diff_id=diff_id, got=got)
            if os.stat(tmp).st_mode & 0o7777 == 0o700:
                os.chmod(tmp, 0o755)  # mkdtemp's mode, and the layer named none for its root: "/" is 0755
            try:
                os.rename(tmp, target)  # atomic; if another process won the race, keep theirs
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
