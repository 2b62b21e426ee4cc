"""The default image: an OCI image layout with content-addressed blobs, built offline, reproducibly."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from labkit.images import default
from labkit.images.reference import familiar, normalize
from labkit.images.store import CorruptStore, ImageStore



def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_layout_is_oci_and_every_blob_is_named_by_its_sha256(busybox, inst):
    images = inst.images
    assert json.loads((images / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    for blob in (images / "blobs" / "sha256").iterdir():
        assert _sha(blob.read_bytes()) == "sha256:" + blob.name
    index = json.loads((images / "index.json").read_text())
    names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert "docker.io/library/busybox:latest" in names


def test_manifest_config_and_layer_chain_verifies(busybox, inst):
    store = ImageStore(inst)
    blob = lambda d: (inst.images / "blobs" / "sha256" / d.split(":")[1]).read_bytes()  # noqa: E731
    manifest = json.loads(blob(busybox.digest))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config_bytes = blob(manifest["config"]["digest"])
    assert manifest["config"]["size"] == len(config_bytes)
    config = json.loads(config_bytes)
    assert busybox.id == _sha(config_bytes)
    (layer,) = manifest["layers"]
    gz = blob(layer["digest"])
    assert layer["size"] == len(gz) and layer["mediaType"].endswith("tar+gzip")
    assert config["rootfs"]["diff_ids"] == [_sha(gzip.decompress(gz))]  # diff_id: sha256 of the uncompressed tar
    assert store.get("busybox") == busybox


def test_build_is_reproducible(busybox, inst):
    again = default.build(ImageStore(inst))
    assert (again.digest, again.id) == (busybox.digest, busybox.id)


def test_layer_is_a_busybox_root_filesystem(busybox, inst):
    store = ImageStore(inst)
    gz = store.read_blob(busybox.layers[0][0])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(gz))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/sh"].issym()
    assert members["tmp"].mode == 0o1777 and members["root"].mode == 0o700
    assert all(m.uid == 0 and m.mtime == 0 for m in members.values())
    (root,) = store.unpack(busybox)
    assert (root / "bin" / "sh").resolve().name == "busybox"
    assert oct((root / "tmp").stat().st_mode & 0o7777) == oct(0o1777)


def test_without_busybox_the_image_comes_from_host_programs(inst, monkeypatch, tmp_path):
    monkeypatch.setattr(default, "find_busybox", lambda: None)
    plan = default.plan_rootfs()
    assert "bin/sh" in plan.files and "host programs" in plan.source
    assert any("libc" in p for p in plan.files), "a dynamically linked sh needs its libraries"


def test_corrupt_index_is_reported_with_a_hint(tmp_path):
    from labkit.paths import instance

    inst = instance(tmp_path)
    inst.images.mkdir(parents=True)
    (inst.images / "index.json").write_text("{not json")
    with pytest.raises(CorruptStore) as e:
        ImageStore(inst).get("busybox")
    assert "labkit reset" in e.value.hint


@pytest.mark.parametrize("short,full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("alice/tools", "docker.io/alice/tools:latest"),
    ("localhost:5000/busybox", "localhost:5000/busybox:latest"),
    ("registry.example.org/team/app:v2", "registry.example.org/team/app:v2"),
])
def test_names_normalize_as_docker_does(short, full):
    assert normalize(short) == full
    assert normalize(familiar(full)) == full


@pytest.mark.parametrize("bad", ["", "BusyBox", "busy box", "a//b", "x:"])
def test_bad_names_are_refused(bad):
    from labkit.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        normalize(bad)


@pytest.mark.parametrize("wrong", [
    {"config": {"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 3}},   # a config never stored
    {"layers": [12345]},                                                         # a layer that is no descriptor
])
def test_an_image_made_wrong_by_hand_costs_no_other_image(busybox, inst, wrong):
    """Notebook 06 has learners write a manifest by hand. One made wrong is that image's problem:
    `labkit images` lists it as <broken>, running it says to rmi it, gc goes on and keeps the rest,
    and reset takes its name only (it used to wipe every image)."""
    import subprocess
    import sys

    import labkit as lk
    from labkit.host.reset import reset

    store = ImageStore(inst)
    good = store.get("busybox")
    manifest = {**json.loads(store.read_blob(good.digest)), **wrong}
    store.tag("localhost/made-wrong:1", *store.put_blob(json.dumps(manifest).encode()))
    listed = subprocess.run([sys.executable, "-m", "labkit", "images"], capture_output=True, text=True)
    assert listed.returncode == 0 and "<broken>" in listed.stdout and "busybox" in listed.stdout, listed
    with pytest.raises(CorruptStore) as e:
        lk.run("localhost/made-wrong:1", "true", rm=True)
    assert "rmi localhost/made-wrong:1" in e.value.hint
    store.gc()
    assert store.get("busybox") == good and all(store.blob_path(d).exists() for d, _ in good.layers)
    reset(inst=inst)
    assert store.names() == ["docker.io/library/busybox:latest"]
    assert lk.run("busybox", "true", rm=True, stream=False).exit_code == 0
