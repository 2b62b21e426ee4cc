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


def test_a_bundle_sets_the_lab_up_with_no_network_and_a_container_runs(tmp_path):
    bundle, venv, root = tmp_path / "workshop.tar", tmp_path / "venv", tmp_path / "root"
    made = subprocess.run([LAB, "bundle", str(bundle), "--no-debs"], env=_env(), capture_output=True, text=True,
                          timeout=900)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    with tarfile.open(bundle) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["python"] == "%d.%d" % sys.version_info[:2] and manifest["files"]["lock.txt"]["sha256"]
    assert sum(name.startswith("wheels/") for name in manifest["files"]) >= 100 and "images.tar" in manifest["files"]
    try:
        # unshare -n: a network namespace of its own, with only a loopback that is down: no index, no mirror
        up = subprocess.run(["unshare", "-n", LAB, "setup", "--from", str(bundle)],
                            env=_env(LABKIT_VENV=venv, LABKIT_ROOT=root), capture_output=True, text=True, timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "without the network" in up.stdout and "Loaded image: busybox" in up.stdout
        run = subprocess.run([str(venv / "bin" / "labkit"), "run", "--rm", "busybox", "echo", "from the bundle"],
                             env=_env(LABKIT_ROOT=root), capture_output=True, text=True, timeout=120)
        assert run.stdout == "from the bundle\n", run.stderr
        doctor = subprocess.run([str(venv / "bin" / "labkit"), "doctor"], env=_env(LABKIT_ROOT=root),
                                capture_output=True, text=True, timeout=120).stdout
        assert "as locked in requirements/lock-py" in doctor
    finally:
        if (venv / "bin" / "labkit").exists():
            subprocess.run([str(venv / "bin" / "labkit"), "reset", "--yes"], env=_env(LABKIT_ROOT=root),
                           capture_output=True, timeout=120)


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
