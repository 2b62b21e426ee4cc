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
