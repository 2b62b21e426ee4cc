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
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from ..errors import InvalidArgument, LabkitError, NotFound
from .reference import familiar, normalize
from .store import MT_CONFIG, MT_MANIFEST, REF_NAME, CorruptStore, ImageStore, canonical_json

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def save(names: list[str], path: str | os.PathLike, store: ImageStore) -> int:
    """Write the images `names` to the tar file `path`; returns its size in bytes."""
    images = [store.get(n) for n in names]
    if not images:
        raise InvalidArgument("error.images.name-least-one-image")
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


class UnsafeArchive(InvalidArgument):
    """An archive that names something outside itself (an absolute path, `..`, a link that leaves
    it), or whose index is not what the format says. Refused whole: nothing of it is kept."""



def load(path: str | os.PathLike, store: ImageStore) -> list[str]:
    """Load the images in `path` (OCI layout directory or tar, or a docker save tarball); returns
    their full names. All or nothing: an archive refused part-way leaves no blob and no name behind."""
    path = Path(path)
    with store.writing(), tempfile.TemporaryDirectory(dir=store.dir.parent if store.dir.parent.exists() else None,
                                                      prefix=".load-") as tmp:
        root = path
        if path.is_file():
            root = Path(tmp)
            _safe_extract(path, root)
        elif not path.is_dir():
            raise NotFound("error.images.no-such-file-directory", path=path)
        inside = _Inside(root)
        loading = _Loading(store)
        try:
            if inside.has("index.json") and inside.has("oci-layout"):
                tags = _load_oci(inside, loading)
            elif inside.has("manifest.json"):
                tags = _load_docker(inside, loading)
            else:
                raise InvalidArgument("error.images.holds-no-index-json", path=path)
        except BaseException:
            loading.undo()
            raise
        # Names last, once every blob is in: a name never points at an image only half loaded.
        for name, digest, size, platform in tags:
            store.tag(name, digest, size, platform)
        return [t[0] for t in tags]


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack the archive into dest: directories, regular files, and links whose target stays inside
    (docker save links a layer it saved once already: "<id2>/layer.tar" -> "../<id1>/layer.tar").
    A member named outside dest (absolute, or `..` past the top) or a link leading out of it refuses
    the whole archive. Devices and FIFOs are skipped: no image format has a use for them."""
    try:
        tar = tarfile.open(archive)
    except (tarfile.TarError, OSError) as e:
        raise InvalidArgument("error.images.tar-archive", archive=archive, e=e) from None
    with tar:
        try:
            for member in tar:
                name = _archive_name(member.name, f"the member {member.name!r}")
                if name == ".":
                    continue
                target = dest / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not (member.isreg() or member.issym() or member.islnk()):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if os.path.lexists(target):  # a later member of the same name replaces the earlier, as tar does
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    else:
                        target.unlink()
                if member.isreg():
                    with tar.extractfile(member) as src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                elif member.issym():
                    if member.linkname.startswith("/"):
                        raise UnsafeArchive("error.images.link-points-outside-archive", name=member.name, linkname=member.linkname)
                    _archive_name(posixpath.join(posixpath.dirname(name), member.linkname),
                                  f"the link {member.name!r} (to {member.linkname!r})")
                    os.symlink(member.linkname, target)
                else:  # a hard link names an earlier member of the archive
                    source = dest / _archive_name(member.linkname, f"the hard link {member.name!r}")
                    if not source.is_file() or source.is_symlink():
                        raise UnsafeArchive("error.images.hard-link-names-which", name=member.name, linkname=member.linkname)
                    os.link(source, target)
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise InvalidArgument("error.images.damaged", archive=archive, e=e) from None


def _archive_name(name, what: str) -> str:
    """`name` as a path inside the archive, e.g. "blobs/sha256/3f9a..." or "abc/layer.tar"; refuses
    absolute names, `..` past the top, empty names and NUL bytes."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise UnsafeArchive("error.images.file-name", what=what, name=name)
    if name.startswith("/"):
        raise UnsafeArchive("error.images.names-absolute-path-outside", what=what, name=name)
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        raise UnsafeArchive("error.images.names-outside-archive", what=what, name=name)
    return norm


class _Inside:
    """Files of an unpacked archive or a layout directory, found only inside it: each name is
    checked (_archive_name), then resolved with its links followed, and must land on a regular file
    under the root: "../../etc/shadow", "/etc/shadow" and a link to either are refused."""

    def __init__(self, root: Path):
        self.root = Path(os.path.realpath(root))

    def has(self, name: str) -> bool:
        return os.path.isfile(self.root / name)

    def file(self, name, what: str) -> Path:
        real = Path(os.path.realpath(self.root / _archive_name(name, what)))
        if real != self.root and self.root not in real.parents:
            raise UnsafeArchive("error.images.names-which-leads-outside", what=what, name=name, real=real)
        if not real.is_file():
            raise UnsafeArchive("error.images.names-which-no-file", what=what, name=name)
        return real

    def json(self, name, what: str):
        try:
            return json.loads(self.file(name, what).read_bytes())
        except ValueError:
            raise UnsafeArchive("error.images.json", what=what, name=name) from None


class _Loading:
    """The blobs one load adds, so that a refused load takes them out again (those already in the
    store before it stay: another image uses them)."""

    def __init__(self, store: ImageStore):
        self.store, self.added = store, []

    def put_file(self, src: Path, digest: str | None = None) -> str:
        return self.store.put_file(src, digest, added=self.added)

    def put_blob(self, data: bytes) -> tuple[str, int]:
        return self.store.put_blob(data, added=self.added)

    def read_json(self, digest: str, what: str) -> dict:
        try:
            doc = self.store.read_json_blob(digest)
        except CorruptStore:
            raise UnsafeArchive("error.images.json-2", what=what, digest=digest) from None
        if not isinstance(doc, dict):
            raise UnsafeArchive("error.images.json-object", what=what, digest=digest)
        return doc

    def undo(self) -> None:
        for digest in self.added:
            self.store.blob_path(digest).unlink(missing_ok=True)


def _field(doc, key: str, kind: type, what: str):
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise UnsafeArchive("error.images.missing", what=what, v_key=key, name=kind.__name__)
    return value


def _digest(desc, what: str) -> str:
    d = _field(desc, "digest", str, what)
    algo, _, hexpart = d.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise UnsafeArchive("error.images.sha256-digest", what=what, d=d)
    return d


def _name(tag, what: str) -> str:
    try:
        return normalize(tag)
    except LabkitError as e:
        raise UnsafeArchive("error.images.image-name", what=what, tag=tag, v_message=e.message) from None


def _load_oci(inside: _Inside, loading: _Loading) -> list[tuple]:
    def blob(desc, what: str) -> str:
        d = _digest(desc, what)
        return loading.put_file(inside.file(f"blobs/sha256/{d[7:]}", what), d)

    tags = []
    index = inside.json("index.json", "index.json")
    descs = list(_field(index, "manifests", list, "index.json"))
    while descs:
        desc = descs.pop(0)
        if not isinstance(desc, dict):
            raise UnsafeArchive("error.images.index-json-manifest-descriptor")
        digest = blob(desc, "a manifest")
        doc = loading.read_json(digest, "the manifest")
        annotations = desc.get("annotations") if isinstance(desc.get("annotations"), dict) else {}
        if "manifests" in doc:  # a nested index (a multi-platform image): its manifests, same name
            name = annotations.get(REF_NAME)
            nested = _field(doc, "manifests", list, f"the index {digest}")
            descs.extend({**d, "annotations": {REF_NAME: name}} if name and isinstance(d, dict) else d for d in nested)
            continue
        for d in [_field(doc, "config", dict, f"the manifest {digest}"), *_field(doc, "layers", list, f"the manifest {digest}")]:
            blob(d, f"a blob of the manifest {digest}")
        name = annotations.get("io.containerd.image.name") or annotations.get(REF_NAME)
        if not name:
            continue  # an untagged manifest: its blobs are in, nothing names it
        if isinstance(name, str) and "/" not in name and ":" not in name:  # an OCI ref.name is often only a tag ("latest", umoci's "v1")
            name = f"localhost/loaded:{name}"
        size = desc.get("size") if isinstance(desc.get("size"), int) else loading.store.blob_path(digest).stat().st_size
        tags.append((_name(name, "index.json"), digest, size,
                     desc.get("platform") if isinstance(desc.get("platform"), dict) else None))
    return tags


def _load_docker(inside: _Inside, loading: _Loading) -> list[tuple]:
    tags = []
    entries = inside.json("manifest.json", "manifest.json")
    if not isinstance(entries, list):
        raise UnsafeArchive("error.images.manifest-json-list-images")
    for entry in entries:
        config_bytes = inside.file(_field(entry, "Config", str, "manifest.json"), "manifest.json's Config").read_bytes()
        try:
            config = json.loads(config_bytes)
        except ValueError:
            raise UnsafeArchive("error.images.manifest-json-s-config-2", entry_config=entry['Config']) from None
        if not isinstance(config, dict):
            raise UnsafeArchive("error.images.manifest-json-s-config", entry_config=entry['Config'])
        names = [_name(t, "manifest.json's RepoTags") for t in (entry.get("RepoTags") or [])]
        config_digest, config_size = loading.put_blob(config_bytes)
        layers = []
        for layer_path in _field(entry, "Layers", list, "manifest.json"):
            data_path = inside.file(layer_path, "manifest.json's Layers")
            digest = loading.put_file(data_path)  # docker save names layers by path: the hash is taken here
            with open(data_path, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            layers.append({"mediaType": MT_LAYER_GZIP if gz else MT_LAYER_TAR, "digest": digest,
                           "size": data_path.stat().st_size})
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                    "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": config_size}, "layers": layers}
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config.get("rootfs"), dict) else None
        if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
            raise UnsafeArchive("error.images.manifest-json-names-layer", n_layers=len(layers), len_diff_ids_if_isin=len(diff_ids) if isinstance(diff_ids, list) else 'none')
        mdigest, msize = loading.put_blob(canonical_json(manifest))
        platform = {"os": str(config.get("os", "linux")), "architecture": str(config.get("architecture", "amd64"))}
        tags += [(full, mdigest, msize, platform) for full in names]
    return tags
