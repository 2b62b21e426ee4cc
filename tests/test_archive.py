"""save and load: labkit's archive read by skopeo and by labkit; umoci's layout and a docker save
tarball read by labkit; a damaged archive refused with nothing loaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile

import pytest

import labkit as lk
from labkit.images.archive import load, save
from labkit.images.store import CorruptStore, ImageStore
from labkit.paths import instance

# Host only: files and tars, nothing that differs with the cgroup version.


@pytest.fixture
def fresh(tmp_path):
    return ImageStore(instance(str(tmp_path / "root")))


def test_save_then_load_gives_the_same_image(busybox, fresh, tmp_path):
    archive = tmp_path / "bb.tar"
    size = lk.save("busybox", archive)
    assert size == archive.stat().st_size > 0
    names = tarfile.open(archive).getnames()
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert load(archive, fresh) == ["docker.io/library/busybox:latest"]
    img = fresh.get("busybox")
    assert img.id == busybox.id and img.digest == busybox.digest
    (root,) = fresh.unpack(img)
    assert (root / "bin" / "busybox").exists()


@pytest.mark.skipif(not shutil.which("skopeo"), reason="apt-get install skopeo")
def test_skopeo_reads_the_saved_archive(busybox, tmp_path):
    archive = tmp_path / "bb.tar"
    save(["busybox"], archive, ImageStore(instance()))
    r = subprocess.run(["skopeo", "inspect", f"oci-archive:{archive}:docker.io/library/busybox:latest"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Layers"] == [d for d, _ in busybox.layers]


def test_a_docker_save_tarball_loads(busybox, fresh, tmp_path):
    """docker's own format only (manifest.json, no index.json): the path `docker save` before 25 took."""
    archive = tmp_path / "bb.tar"
    save(["busybox"], archive, ImageStore(instance()))
    docker_only = tmp_path / "docker.tar"
    with tarfile.open(archive) as src, tarfile.open(docker_only, "w") as dst:
        for m in src:
            if m.name not in ("index.json", "oci-layout"):
                dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    assert load(docker_only, fresh) == ["docker.io/library/busybox:latest"]
    assert fresh.get("busybox").id == busybox.id


@pytest.mark.skipif(not shutil.which("umoci"), reason="apt-get install umoci")
def test_an_image_umoci_made_loads_and_has_its_file(fresh, tmp_path):
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    for cmd in (["umoci", "init", "--layout", str(layout)], ["umoci", "new", "--image", f"{layout}:v1"],
                ["umoci", "unpack", "--image", f"{layout}:v1", str(bundle)]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    (bundle / "rootfs" / "hello").write_text("made by umoci\n")
    r = subprocess.run(["umoci", "repack", "--image", f"{layout}:v1", str(bundle)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert load(layout, fresh) == ["localhost/loaded:v1"]  # umoci's ref.name is only the tag
    (root,) = fresh.unpack(fresh.get("localhost/loaded:v1"))
    assert (root / "hello").read_text() == "made by umoci\n"


def test_a_damaged_archive_is_refused_and_nothing_is_named(busybox, fresh, tmp_path):
    archive = tmp_path / "bb.tar"
    save(["busybox"], archive, ImageStore(instance()))
    layer = f"blobs/sha256/{busybox.layers[0][0][7:]}"
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for m in src:
            data = src.extractfile(m).read() if m.isreg() else None
            if m.name == layer:
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, __import__("io").BytesIO(data) if data is not None else None)
    with pytest.raises(CorruptStore) as e:
        load(damaged, fresh)
    assert "damaged" in str(e.value) and e.value.hint
    assert fresh.names() == []
    assert not fresh.blob_path(busybox.layers[0][0]).exists()


def test_the_cli_saves_and_loads(busybox, tmp_path):
    from test_faults import LABKIT

    archive = tmp_path / "cli.tar"
    r = subprocess.run([*LABKIT, "save", "-o", str(archive), "busybox"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and archive.exists(), r.stderr
    r = subprocess.run([*LABKIT, "load", "-i", str(archive)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Loaded image: busybox:latest" in r.stdout, r.stderr
    r = subprocess.run([*LABKIT, "load", "-i", str(tmp_path / "nothing.tar")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "hint:" in r.stderr


# -- hostile archives (issue 21): every name an archive gives is resolved inside it, or refused whole ----
def _docker_save(busybox, tmp_path, edit, extra=()) -> "Path":
    """A docker-save tarball of busybox (manifest.json and the blobs it names) with its manifest
    entry changed by edit(entry) and extra members added (TarInfo, bytes or None)."""
    import io

    src = tmp_path / "src.tar"
    save(["busybox"], src, ImageStore(instance()))
    out = tmp_path / "hostile.tar"
    with tarfile.open(src) as s, tarfile.open(out, "w") as d:
        manifest = json.loads(s.extractfile("manifest.json").read())
        edit(manifest[0])
        for m in s:
            if m.name in ("index.json", "oci-layout", "manifest.json"):
                continue
            d.addfile(m, s.extractfile(m) if m.isreg() else None)
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        d.addfile(info, io.BytesIO(data))
        for info, data in extra:
            d.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def _link(name, target, hard=False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def _blobs(store) -> set:
    return set(p.name for p in store.blobs.glob("*")) if store.blobs.exists() else set()


def _refused(archive, store, before=frozenset()):
    from labkit.images.archive import UnsafeArchive

    with pytest.raises(UnsafeArchive) as e:
        load(archive, store)
    assert e.value.hint and "refused whole" in e.value.hint
    assert store.names() == [] and _blobs(store) == set(before), "a refused archive left something in the store"
    return str(e.value)


@pytest.mark.parametrize("field,name", [("Layers", "/etc/shadow"), ("Layers", "../../../../../../etc/shadow"),
                                        ("Config", "/etc/hostname"), ("Config", "../../../../etc/hostname"),
                                        ("Layers", "blobs/../../../../../../etc/shadow")])
def test_a_manifest_naming_a_host_file_is_refused(busybox, fresh, tmp_path, field, name):
    def edit(entry):
        if field == "Layers":
            entry["Layers"] = entry["Layers"] + [name]  # the real layer first: its blob is put, then taken out
        else:
            entry["Config"] = name
    message = _refused(_docker_save(busybox, tmp_path, edit), fresh)
    assert name in message


@pytest.mark.parametrize("target", ["/etc/shadow", "../../../../../../etc/shadow", "../../../../../../etc"])
def test_a_link_in_the_archive_leading_out_is_refused(busybox, fresh, tmp_path, target):
    archive = _docker_save(busybox, tmp_path, lambda e: e["Layers"].append("evil/layer.tar"),
                           [_link("evil/layer.tar", target)])
    assert "evil/layer.tar" in _refused(archive, fresh)


@pytest.mark.parametrize("target", ["/etc/shadow", "../../etc/shadow"])
def test_a_hard_link_to_outside_is_refused(busybox, fresh, tmp_path, target):
    archive = _docker_save(busybox, tmp_path, lambda e: e["Layers"].append("evil/layer.tar"),
                           [_link("evil/layer.tar", target, hard=True)])
    _refused(archive, fresh)


@pytest.mark.parametrize("hard", [False, True])
def test_links_inside_the_archive_are_followed_as_docker_save_writes_them(busybox, fresh, tmp_path, hard):
    """docker save writes a layer once and links the other places it appears; both kinds load."""
    real = f"blobs/sha256/{busybox.layers[0][0][7:]}"
    archive = _docker_save(busybox, tmp_path, lambda e: e.update(Layers=["again/layer.tar"]),
                           [_link("again/layer.tar", real if hard else f"../{real}", hard=hard)])
    assert load(archive, fresh) == ["docker.io/library/busybox:latest"]
    assert fresh.get("busybox").id == busybox.id


def test_layers_that_disagree_with_the_config_are_refused(busybox, fresh, tmp_path):
    _refused(_docker_save(busybox, tmp_path, lambda e: e.update(Layers=e["Layers"] * 2)), fresh)


def test_a_member_named_outside_refuses_the_archive(busybox, fresh, tmp_path):
    import io

    archive = _docker_save(busybox, tmp_path, lambda e: None)
    with tarfile.open(archive, "a") as t:
        info = tarfile.TarInfo("../../escaped")
        info.size = 2
        t.addfile(info, io.BytesIO(b"x\n"))
    _refused(archive, fresh)
    assert not (tmp_path.parent / "escaped").exists()


def test_an_oci_digest_that_climbs_out_is_refused(busybox, fresh, tmp_path):
    import io

    archive = tmp_path / "bb.tar"
    save(["busybox"], archive, ImageStore(instance()))
    evil = "sha256:" + ("../" * 21 + "x")  # 64 characters: the length of a real hex digest
    out = tmp_path / "oci.tar"
    with tarfile.open(archive) as s, tarfile.open(out, "w") as d:
        for m in s:
            data = s.extractfile(m).read() if m.isreg() else None
            if m.name == "index.json":
                index = json.loads(data)
                index["manifests"][0]["digest"] = evil
                data = json.dumps(index).encode()
                m.size = len(data)
            d.addfile(m, io.BytesIO(data) if data is not None else None)
    assert "sha256 digest" in _refused(out, fresh)


def test_a_layout_directory_whose_blob_links_out_is_refused(busybox, fresh, tmp_path):
    layout = tmp_path / "layout"
    layout.mkdir()
    save(["busybox"], tmp_path / "bb.tar", ImageStore(instance()))
    with tarfile.open(tmp_path / "bb.tar") as t:
        t.extractall(layout)  # our own archive, just written
    blob = layout / "blobs" / "sha256" / busybox.layers[0][0][7:]
    blob.unlink()
    blob.symlink_to("/etc/shadow")
    before = _blobs(fresh)
    assert "outside the archive" in _refused(layout, fresh, before)


def test_a_bad_name_or_json_is_a_typed_refusal_not_a_traceback(busybox, fresh, tmp_path):
    def bad_tag(entry):
        entry["RepoTags"] = ["Not A Name!"]
    _refused(_docker_save(busybox, tmp_path, bad_tag), fresh)

    def not_a_list(entry):
        entry["Layers"] = "blobs"
    _refused(_docker_save(busybox, tmp_path, not_a_list), fresh)

    def config_not_json(entry):
        entry["Config"] = entry["Layers"][0]  # a gzip'd tar, not JSON
    _refused(_docker_save(busybox, tmp_path, config_not_json), fresh)


def test_the_cli_refuses_a_hostile_archive_with_a_hint(busybox, tmp_path):
    from test_faults import LABKIT

    archive = _docker_save(busybox, tmp_path, lambda e: e["Layers"].append("/etc/shadow"))
    r = subprocess.run([*LABKIT, "load", "-i", str(archive)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 125 and "/etc/shadow" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr
