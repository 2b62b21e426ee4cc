"""The doctor checks this host by trying each feature, and says what a failing row breaks."""

from __future__ import annotations

import json
import subprocess

import pytest

import labkit as lk
from conftest import PYTHON
from labkit.host.doctor import FAIL, OK


ROWS = ["where it runs", "root", "kernel", "cgroups", "overlayfs", "user namespaces", "network namespaces", "veth and bridge",
        "port guard (tc bpf)", "iptables (NAT, ports)", "seccomp", "device rules", "keyrings", "default image", "disk", "disk use", "pyroute2",
        "a VM beside a container", "python packages"]


@pytest.mark.v2
def test_doctor_has_every_row_and_this_lab_host_passes():
    report = lk.doctor()
    assert [c.name for c in report.checks] == ROWS
    for name in ("where it runs", "root", "cgroups", "overlayfs", "network namespaces", "veth and bridge", "port guard (tc bpf)", "seccomp",
                 "device rules", "keyrings", "pyroute2"):
        assert report[name].status == OK, report[name]
    assert report.ok


@pytest.mark.v2
def test_cgroup_row_names_the_layout_this_host_has():
    from labkit import cgroups

    assert cgroups.layout().kind in lk.doctor()["cgroups"].value


def test_a_failing_row_says_what_it_breaks_and_how_to_fix_it(monkeypatch):
    import collections
    import shutil

    from labkit.host import doctor as doc
    from labkit.paths import instance

    # A host with a nearly full disk, made so (a healthy host has no failing row to look at).
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100 << 30, 99 << 30, 1 << 20))
    failing = [doc.check_disk(instance()), doc.check_log_disk(instance())]
    assert [c.status for c in failing] == [FAIL, FAIL]
    for c in failing + [c for c in lk.doctor().checks if c.status != OK]:
        assert c.breaks and c.fix, c
    from labkit.host.doctor import check_root

    # An unprivileged view of the root row (what mybinder.org shows).
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", PYTHON, "-c",
                        "from labkit.host.doctor import check_root; c = check_root(); print(c.status, '|', c.fix)"],
                       capture_output=True, text=True, timeout=60, cwd="/")
    assert r.stdout.startswith(FAIL) and "sudo" in r.stdout, r.stderr
    assert check_root().status == OK


def test_doctor_renders_html_text_and_json():
    report = lk.doctor()
    html = report._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == len(ROWS) + 1
    assert "overlayfs" in str(report)
    data = json.loads(report.to_json())
    assert data["ok"] is True and len(data["checks"]) == len(ROWS)


def test_cli_doctor_json_and_exit_code():
    r = subprocess.run([PYTHON, "-m", "labkit", "doctor", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["ok"] is True


def test_overlay_probe_fails_clearly_on_a_data_root_that_cannot_hold_an_upper_dir(tmp_path):
    # overlayfs refuses an upper dir on another overlay (as in the v2 VM's /tmp): the row must say so.
    # The outer overlay is built on a tmpfs of the test's own, so this works wherever tmp_path is.
    from labkit.host.doctor import check_overlay
    from labkit.kernel import syscalls as sc
    from labkit.paths import instance

    base = tmp_path / "t"
    base.mkdir()
    sc.mount("labkit-doctor-test", str(base), "tmpfs", 0, "size=4m")
    try:
        for d in ("l", "u", "w", "m"):
            (base / d).mkdir()
        sc.mount("labkit-doctor-test", str(base / "m"), "overlay", 0,
                 f"lowerdir={base}/l,upperdir={base}/u,workdir={base}/w")
        try:
            row = check_overlay(instance(base / "m" / "lab"))
            assert row.status == FAIL and "LABKIT_ROOT" in row.fix, row
        finally:
            sc.umount2(str(base / "m"), sc.MNT_DETACH)
    finally:
        sc.umount2(str(base), sc.MNT_DETACH)


def test_the_doctor_speaks_chinese_when_asked_and_its_rows_keep_their_ids(monkeypatch):
    import labkit as lk

    english = lk.doctor()
    monkeypatch.setenv("LABKIT_LANG", "zh")
    chinese = lk.doctor()
    assert [c.id for c in chinese.checks] == [c.id for c in english.checks] and all(c.id for c in chinese.checks)
    assert chinese["cgroups"].name == "控制组（cgroups）" and chinese["内核"].id == "kernel"
    assert str(chinese).splitlines()[-1] == ("这台宿主机可以运行整个实验室" if chinese.ok else "这台宿主机不能运行实验室的全部内容：见标 ✘ 的行")
    assert "检查项" in chinese._repr_html_()


def test_the_cgroup_row_fails_where_a_v2_namespace_root_holds_processes(tmp_path):
    """A parsing unit on fake files (the real case, an LXD container's root on v2, runs in the v2 VM:
    test_lxd.py): a namespace's root (it has cgroup.type; the true root has none) with PID 1 in it
    and nothing handed down yet fails the row, with the hint's command; handed down, or empty, it passes."""
    from labkit.cgroups.hierarchies import Hierarchy, Layout
    from labkit.host.doctor import _v2_root_busy

    (tmp_path / "cgroup.type").write_text("domain\n")
    (tmp_path / "cgroup.procs").write_text("1\n")
    (tmp_path / "cgroup.subtree_control").write_text("\n")
    lay = Layout((Hierarchy(tmp_path, 2, ("cpu", "memory", "pids")),))
    assert _v2_root_busy(lay) == (tmp_path, "1")
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert _v2_root_busy(lay) is None
    (tmp_path / "cgroup.subtree_control").write_text("\n")
    (tmp_path / "cgroup.procs").write_text("")
    assert _v2_root_busy(lay) is None
    (tmp_path / "cgroup.procs").write_text("1\n")
    (tmp_path / "cgroup.type").unlink()  # the true root: the rule does not hold there
    assert _v2_root_busy(lay) is None
