"""A workshop without network: `./lab bundle` writes one tar, `./lab setup --from` sets the lab up from it
inside a network namespace with no interface at all (nothing can reach an index), into a fresh venv and
data root, and a container runs from the new environment. Bundles that do not fit are refused before
anything is installed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
LAB = str(REPO / "lab")


def _env(**extra) -> dict:
    return dict(os.environ, LABKIT_LINK="off", **{k: str(v) for k, v in extra.items()})


@pytest.mark.limit(300)
def test_a_full_bundle_sets_the_lab_up_on_a_bare_debian_with_no_network(tmp_path):
    """The path a room takes: the bundle with its Debian packages, made on this machine (which has
    the lab installed, so apt's cache holds many of them: issue 22's bundle lacked exactly those),
    set up in a bare Debian root (minbase and python3) with no network at all; then the doctor, and
    a container. Made with LABKIT_OFFLINE=1 (conftest sets it): every .deb must come from apt's cache,
    which ./lab test filled at set-up."""
    import bareroot

    bundle = tmp_path / "workshop.tar"
    made = subprocess.run([LAB, "bundle", str(bundle)], env=_env(), capture_output=True, text=True, timeout=250)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    assert " 0 downloaded" in made.stdout, made.stdout[-1000:]
    with tarfile.open(bundle) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["python"] == "%d.%d" % sys.version_info[:2] and manifest["files"]["lock.txt"]["sha256"]
    assert sum(name.startswith("wheels/") for name in manifest["files"]) >= 100 and "images.tar" in manifest["files"]
    debs = {name.split("/")[1].split("_")[0] for name in manifest["files"] if name.startswith("debs/") and name.endswith(".deb")}
    lab_packages = ["python3", "python3-venv", "busybox-static", "iproute2", "iptables", "util-linux", "docker-registry",
                    "apache2-utils", "qemu-system-x86", "lxc", "fonts-wqy-microhei"]
    assert set(lab_packages) <= debs, sorted(set(lab_packages) - debs)  # whatever this machine's apt cache held
    room = bareroot.set_up(bundle, tmp_path / "vm", timeout=280)
    out = room.stdout
    assert room.returncode == 0, out[-3000:] + room.stderr[-3000:]
    assert "without the network" in out and "Loaded image: busybox" in out, out[-3000:]
    assert "installing" in out and "from the bundle's" in out  # apt installed the lab's packages from the bundle
    report = json.loads(bareroot.section(out, "doctor"))
    failed = {c["name"]: c["value"] for c in report["checks"] if c["status"] == "fail"}
    assert report["ok"] and not failed, failed
    assert bareroot.section(out, "run") == "from the bare root\n", out[-2000:]


def _fake_bundle(path, contents: dict[str, bytes], **manifest_changes) -> None:
    here = json.loads(subprocess.run([sys.executable, "-c", "import json, sys; sys.path.insert(0, 'labkit/host'); "
                                      "import bundle; print(json.dumps(bundle.this_machine()))"],
                                     cwd=REPO, capture_output=True, text=True, check=True).stdout)
    manifest = {"format": 1, **here, "lab": "test", "made": "now",
                "files": {n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in contents.items()}}
    manifest.update(manifest_changes)
    with tarfile.open(path, "w") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *contents.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("case, said", [
    ("another arch", "made for"),
    ("changed file", "sha256 differs"),
    ("path outside", "outside its folder"),
    ("extra file", "not its manifest"),
])
def test_a_bundle_that_does_not_fit_is_refused_before_anything_is_installed(tmp_path, case, said):
    bad, venv = tmp_path / "bad.tar", tmp_path / "venv"
    files = {"lock.txt": b"six==1.16.0 --hash=sha256:" + b"0" * 64 + b"\n"}
    if case == "another arch":
        _fake_bundle(bad, files, arch="arm64")
    elif case == "changed file":
        _fake_bundle(bad, files, files={"lock.txt": {"sha256": "0" * 64, "size": len(files["lock.txt"])}})
    elif case == "path outside":
        _fake_bundle(bad, {**files, "../escape.txt": b"x"})
    else:
        _fake_bundle(bad, files, files={})
    r = subprocess.run([LAB, "setup", "--from", str(bad)], env=_env(LABKIT_VENV=venv), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and said in r.stderr, r.stdout + r.stderr
    assert not venv.exists() and not (tmp_path.parent / "escape.txt").exists()
    assert not [p for p in os.listdir("/var/tmp") if p.startswith("labkit-bundle.")]  # its unpacking is gone too
