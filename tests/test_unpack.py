"""The layer unpacker on the real filesystem: what it keeps, and every hostile layer it refuses with
nothing written outside the layer's directory."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import uuid

import pytest

from labkit.images.unpack import UnsafeLayer, unpack_layer
from labkit.paths import instance



@pytest.fixture
def tmp_path():
    """Under the lab's data root, where layers live (in the v2 VM a tmpfs: its /tmp is an overlay,
    which takes no trusted.overlay.* xattrs of its own)."""
    import shutil

    d = instance().root / f"unpack-test-{uuid.uuid4().hex[:8]}"
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def layer(*entries, compress=None) -> io.BytesIO:
    """A layer tar from (TarInfo fields..., data) dicts: {"name": "a", "type": tarfile.SYMTYPE, ...}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            e = dict(e)
            data = e.pop("data", b"")
            ti = tarfile.TarInfo(e.pop("name"))
            pax = e.pop("pax", None)
            for k, v in e.items():
                setattr(ti, k, v)
            if pax:
                ti.pax_headers = pax
            if ti.isreg():
                ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    raw = buf.getvalue()
    if compress == "gzip":
        raw = gzip.compress(raw)
    elif compress == "zstd":
        import zstandard

        raw = zstandard.ZstdCompressor().compress(raw)
    return io.BytesIO(raw)


def test_modes_owners_links_devices_xattrs_and_whiteouts_are_kept(tmp_path):
    dest = tmp_path / "l"
    dest.mkdir()
    diff_id = unpack_layer(layer(
        {"name": "bin", "type": tarfile.DIRTYPE, "mode": 0o755},
        {"name": "bin/ping", "data": b"\x7fELF", "mode": 0o4755, "uid": 0, "gid": 0, "mtime": 1_000_000_000,
         "pax": {"SCHILY.xattr.trusted.labkit": "yes"}},
        {"name": "bin/ping6", "type": tarfile.LNKTYPE, "linkname": "bin/ping"},
        {"name": "bin/sh", "type": tarfile.SYMTYPE, "linkname": "/bin/busybox", "uid": 7},
        {"name": "tmp", "type": tarfile.DIRTYPE, "mode": 0o1777},
        {"name": "home/alice/notes", "data": b"hi", "uid": 1234, "gid": 4321, "mode": 0o640},
        {"name": "dev/null", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3, "mode": 0o666},
        {"name": "etc/.wh.shadow"},
        {"name": "var/cache/.wh..wh..opq"},
        {"name": "ro", "type": tarfile.DIRTYPE, "mode": 0o555},
        {"name": "ro/file", "data": b"x", "mode": 0o444},
    ), dest)
    assert diff_id.startswith("sha256:") and len(diff_id) == 71
    ping = os.stat(dest / "bin/ping")
    assert stat.S_IMODE(ping.st_mode) == 0o4755 and ping.st_mtime == 1_000_000_000
    assert os.getxattr(dest / "bin/ping", "trusted.labkit") == b"yes"
    assert os.stat(dest / "bin/ping6").st_ino == ping.st_ino  # a hard link, not a copy
    assert os.readlink(dest / "bin/sh") == "/bin/busybox" and os.lstat(dest / "bin/sh").st_uid == 7
    assert stat.S_IMODE(os.stat(dest / "tmp").st_mode) == 0o1777
    notes = os.stat(dest / "home/alice/notes")
    assert (notes.st_uid, notes.st_gid, stat.S_IMODE(notes.st_mode)) == (1234, 4321, 0o640)
    null = os.stat(dest / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    wh = os.lstat(dest / "etc/shadow")  # OCI's .wh.shadow became overlayfs's whiteout
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert not (dest / "etc/.wh.shadow").exists()
    assert os.getxattr(dest / "var/cache", "trusted.overlay.opaque") == b"y"
    assert stat.S_IMODE(os.stat(dest / "ro").st_mode) == 0o555 and (dest / "ro/file").read_bytes() == b"x"


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_the_diff_id_is_the_sha256_of_the_uncompressed_tar_however_compressed(tmp_path, compress):
    plain = layer({"name": "a", "data": b"same"}).getvalue()
    dest = tmp_path / "l"
    dest.mkdir()
    assert unpack_layer(layer({"name": "a", "data": b"same"}, compress=compress), dest) == \
        "sha256:" + hashlib.sha256(plain).hexdigest()
    assert (dest / "a").read_bytes() == b"same"


def _outside(tmp_path):
    victim = tmp_path / "outside"
    victim.mkdir()
    (victim / "victim").write_text("keep me")
    return victim


HOSTILE = {
    "a name that climbs out": lambda o: [{"name": "../outside/new", "data": b"x"}],
    "climbing out in the middle": lambda o: [{"name": "a/../../outside/new", "data": b"x"}],
    "an absolute symlink, written through": lambda o: [
        {"name": "up", "type": tarfile.SYMTYPE, "linkname": str(o)}, {"name": "up/new", "data": b"x"}],
    "a relative symlink, written through": lambda o: [
        {"name": "up", "type": tarfile.SYMTYPE, "linkname": "../outside"}, {"name": "up/new", "data": b"x"}],
    "a symlink to /, then a file under it": lambda o: [
        {"name": "root", "type": tarfile.SYMTYPE, "linkname": "/"},
        {"name": f"root/{str(o).lstrip('/')}/new", "data": b"x"}],
    "a hard link to a file outside": lambda o: [
        {"name": "evil", "type": tarfile.LNKTYPE, "linkname": "../outside/victim"}],
    "a hard link through a symlink": lambda o: [
        {"name": "d", "type": tarfile.SYMTYPE, "linkname": str(o)},
        {"name": "evil", "type": tarfile.LNKTYPE, "linkname": "d/victim"}],
    "a whiteout through a symlink": lambda o: [
        {"name": "d", "type": tarfile.SYMTYPE, "linkname": str(o)}, {"name": "d/.wh.victim"}],
    "an opaque marker through a symlink": lambda o: [
        {"name": "d", "type": tarfile.SYMTYPE, "linkname": str(o)}, {"name": "d/.wh..wh..opq"}],
    "a directory entry through a symlink": lambda o: [
        {"name": "d", "type": tarfile.SYMTYPE, "linkname": str(o)},
        {"name": "d/newdir", "type": tarfile.DIRTYPE, "mode": 0o777}],
    "overlay metadata in an xattr": lambda o: [
        {"name": "f", "data": b"x", "pax": {"SCHILY.xattr.trusted.overlay.redirect": "/etc"}}],
    "overlay metadata as a nested lab's (user.overlay.*)": lambda o: [
        {"name": "f", "data": b"x", "pax": {"SCHILY.xattr.user.overlay.redirect": "/etc"}}],
}


@pytest.mark.parametrize("walk", ["openat2", "component by component"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_layer_is_refused_and_writes_nothing_outside(tmp_path, case, walk, monkeypatch):
    """Both ways of reaching a parent: the kernel's openat2 (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS),
    and the O_NOFOLLOW walk used before Linux 5.6."""
    from labkit.images import unpack

    monkeypatch.setattr(unpack, "_OPENAT2", [walk == "openat2"])
    outside = _outside(tmp_path)
    before = sorted(os.listdir(outside))
    dest = tmp_path / "l"
    dest.mkdir()
    with pytest.raises(UnsafeLayer) as e:
        unpack_layer(layer(*HOSTILE[case](outside)), dest)
    assert e.value.hint
    assert sorted(os.listdir(outside)) == before and (outside / "victim").read_text() == "keep me"
    assert os.stat(outside / "victim").st_nlink == 1  # no hard link was made to it


def test_a_decompression_bomb_stops_at_the_limit(tmp_path):
    bomb = io.BytesIO(gzip.compress(layer({"name": "zeros", "data": bytes(64 << 20)}).getvalue()))
    assert len(bomb.getvalue()) < 200_000  # 64 MiB of zeros in a small blob
    dest = tmp_path / "l"
    dest.mkdir()
    with pytest.raises(UnsafeLayer, match="decompression bomb"):
        unpack_layer(bomb, dest, max_bytes=8 << 20)
    assert not _inflating_threads()  # the thread that inflated it stopped with the refusal


def _inflating_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith(("labkit-unpack", "labkit-unpack-inflate"))]


def test_a_refusal_midway_stops_the_inflating_thread_and_the_diff_id_is_whole(tmp_path):
    """Inflating runs a little ahead in a thread: a refusal early in a large layer must stop it (not
    leave it blocked on its queue), and a layer read to the end must hash every byte, padding too."""
    big = os.urandom(24 << 20)  # more than the thread's queue holds
    raw = layer({"name": "..", "type": tarfile.DIRTYPE}, {"name": "big", "data": big}).getvalue()
    dest = tmp_path / "l"
    dest.mkdir()
    with pytest.raises(UnsafeLayer):
        unpack_layer(io.BytesIO(gzip.compress(raw, compresslevel=1)), dest)
    assert not _inflating_threads()
    ok = layer({"name": "big", "data": big}).getvalue()
    dest2 = tmp_path / "l2"
    dest2.mkdir()
    assert unpack_layer(io.BytesIO(ok), dest2) == "sha256:" + hashlib.sha256(ok).hexdigest()
    assert (dest2 / "big").read_bytes() == big and not _inflating_threads()


def test_a_hostile_layer_leaves_nothing_in_the_store(inst, tmp_path):
    """Through the store: the layer is refused, and neither it nor its half-unpacked directory stays."""
    from labkit.images.store import ImageStore, MT_CONFIG, MT_LAYER_GZIP, MT_MANIFEST, canonical_json

    store = ImageStore(inst)
    marker = f"/tmp/labkit-escape-{uuid.uuid4().hex}"
    # three layers, unpacked side by side: two good ones around the hostile one
    raws = [layer({"name": "a", "data": b"below"}).getvalue(),
            layer({"name": "up", "type": tarfile.SYMTYPE, "linkname": "/"},
                  {"name": f"up{marker}", "data": b"escaped"}).getvalue(),
            layer({"name": "b", "data": b"above"}).getvalue()]
    layers = []
    for raw in raws:
        ldigest, lsize = store.put_blob(gzip.compress(raw))
        layers.append({"mediaType": MT_LAYER_GZIP, "digest": ldigest, "size": lsize})
    diff_ids = ["sha256:" + hashlib.sha256(raw).hexdigest() for raw in raws]
    cfg = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "config": {"Cmd": ["true"]}}
    cdigest, csize = store.put_blob(canonical_json(cfg))
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": {"mediaType": MT_CONFIG, "digest": cdigest,
                "size": csize}, "layers": layers}
    mdigest, msize = store.put_blob(canonical_json(manifest))
    store.tag("localhost/hostile:1", mdigest, msize)
    try:
        with pytest.raises(UnsafeLayer):
            store.unpack(store.get("localhost/hostile:1"))
    finally:
        store.untag("localhost/hostile:1")  # the lab's store is the suite's: the next test lists its images
    assert not os.path.exists(marker)
    assert not (inst.layers / diff_ids[1][7:]).exists()  # not kept
    assert not [p for p in os.listdir(inst.layers) if p.startswith(".unpack-")]  # nor half of it
    assert not _inflating_threads()
    for good in (0, 2):  # a good layer is whole or absent, never partial
        d = inst.layers / diff_ids[good][7:]
        assert not d.exists() or (d / "ab"[good // 2]).read_bytes() == [b"below", b"above"][good // 2]


def test_an_entry_that_replaces_the_directory_being_filled_is_seen(tmp_path):
    """The unpacker keeps the last parent directory open; an entry that replaces it (a whiteout of
    it, a symlink in its place) must be seen by the entries after it."""
    outside = _outside(tmp_path)
    dest = tmp_path / "l"
    dest.mkdir()
    with pytest.raises(UnsafeLayer):  # the whiteout replaced a/ with a 0/0 device: a/y cannot go through it
        unpack_layer(layer({"name": "a/x", "data": b"1"}, {"name": ".wh.a"}, {"name": "a/y", "data": b"2"}), dest)
    assert stat.S_ISCHR(os.lstat(dest / "a").st_mode)  # (kept open, the old a/ would have taken a/y silently)
    dest2 = tmp_path / "l2"
    dest2.mkdir()
    with pytest.raises(UnsafeLayer):
        unpack_layer(layer({"name": "a/x", "data": b"1"}, {"name": "a", "type": tarfile.SYMTYPE, "linkname": str(outside)},
                           {"name": "a/y", "data": b"2"}), dest2)
    assert sorted(os.listdir(outside)) == ["victim"]
