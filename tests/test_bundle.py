"""labkit runs an OCI bundle made by `runc spec`, honouring its config.json."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import labkit as lk
from labkit.images.store import ImageStore
from labkit.kernel.capabilities import mask



@pytest.fixture
def runc_bundle(busybox, inst, tmp_path):
    if not shutil.which("runc"):
        pytest.fail("runc is not installed: `./lab test` installs it (apt-get install runc)")
    (layer,) = ImageStore(inst).unpack(busybox)
    b = tmp_path / "bundle"
    b.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(b)], check=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["root"]["path"] = str(layer)  # the busybox layer, read-only as runc spec asks (root.readonly: true)
    cfg["process"]["args"] = ["sh", "-c", "echo hello from a runc spec bundle; hostname; id -u; ulimit -n; "
                              "touch /x 2>&1; grep CapBnd /proc/self/status; ls /sys/fs/cgroup | head -1"]
    (b / "config.json").write_text(json.dumps(cfg))
    return b, cfg


@pytest.mark.v2
def test_a_runc_spec_bundle_runs_with_its_own_settings(runc_bundle):
    b, cfg = runc_bundle
    r = lk.run_bundle(b, stream=False)
    lines = r.stdout.splitlines()
    assert r.exit_code == 0, r.stderr
    assert lines[0] == "hello from a runc spec bundle"
    assert lines[1] == cfg["hostname"] == "runc"
    assert lines[2] == "0"
    assert lines[3] == str(cfg["process"]["rlimits"][0]["soft"])  # RLIMIT_NOFILE from config.json
    assert "Read-only file system" in lines[4]  # root.readonly
    assert int(lines[5].split()[1], 16) == mask(cfg["process"]["capabilities"]["bounding"])  # runc spec's 3 caps


@pytest.mark.v2
def test_a_bundle_is_never_changed_and_gets_a_labkit_cgroup(runc_bundle):
    b, _ = runc_bundle
    before = (b / "config.json").read_bytes()
    r = lk.run_bundle(b, stream=False)
    assert (b / "config.json").read_bytes() == before
    assert r.exit_code == 0


def test_bad_bundles_are_refused(tmp_path):
    with pytest.raises(lk.InvalidArgument):
        lk.run_bundle(tmp_path)  # no config.json
    (tmp_path / "config.json").write_text(json.dumps({"root": {"path": "missing"}, "process": {"args": ["true"]}}))
    with pytest.raises(lk.InvalidArgument):
        lk.run_bundle(tmp_path)
