"""Each namespace kind isolates what it should, on the real kernel; the caller never moves."""

from __future__ import annotations

import os
import subprocess

import pytest

import labkit as lk
from labkit.namespaces.child import KINDS, ns_inodes



@pytest.fixture(autouse=True)
def caller_never_moves():
    before = ns_inodes()
    yield
    assert ns_inodes() == before, "a namespace call moved the test process itself"


def test_uts_gives_its_own_hostname():
    r = lk.unshare(["uts"], "hostname", hostname="inside-uts")
    assert r.stdout.strip() == "inside-uts" and os.uname().nodename != "inside-uts"
    assert r.view.isolated() == ["uts"]
    assert any(s.startswith("unshare(CLONE_NEWUTS)") for s in r.steps)


def test_pid_makes_the_first_process_pid_1_and_proc_shows_only_it():
    r = lk.unshare(["pid", "mnt"], "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, count = r.stdout.split()
    assert pid == "1" and int(count) <= 3  # sh, and the ls/grep it runs
    assert r.inside["pid"] == 1 and r.outside["pid"] > 1  # the host sees an ordinary PID
    assert set(r.view.isolated()) == {"pid", "mnt"}


def test_net_has_only_lo():
    r = lk.unshare(["net"], "tail -n +3 /proc/net/dev | cut -d: -f1")
    assert r.stdout.split() == ["lo"]


def test_ipc_hides_the_hosts_message_queues():
    made = subprocess.run(["ipcmk", "-Q"], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("ipcmk not available")
    qid = made.stdout.split()[-1]
    try:
        shared = lk.unshare(["uts"], "cat /proc/sysvipc/msg")
        isolated = lk.unshare(["ipc"], "cat /proc/sysvipc/msg")
        assert qid in shared.stdout.split()
        assert qid not in isolated.stdout.split() and len(isolated.stdout.splitlines()) == 1  # only the header
    finally:
        subprocess.run(["ipcrm", "-q", qid])


def test_mnt_keeps_a_mount_from_the_host(inst):
    target = inst.root / "ns-mnt-test"
    target.mkdir(parents=True, exist_ok=True)
    r = lk.unshare(["mnt"], f"mount -t tmpfs labkit-ns-test {target} && grep -c ns-mnt-test /proc/self/mountinfo")
    assert r.stdout.strip() == "1"
    assert "ns-mnt-test" not in open("/proc/self/mountinfo").read()


def test_user_maps_uid_0_inside_to_an_ordinary_uid_outside(inst):
    # uid 0 inside is uid 100000 outside, so it may write only where uid 100000 may: a sticky, world-writable dir.
    shared = inst.root / "userns-shared"
    shared.mkdir(parents=True, exist_ok=True)
    shared.chmod(0o1777)
    os.chmod(inst.root, 0o755)
    f = shared / "owned"
    r = lk.unshare(["user"], f"id -u; touch {f}", uid_map="0 100000 65536", gid_map="0 100000 65536")
    try:
        assert r.stdout.split()[0] == "0" and r.inside["uid"] == 0
        assert r.outside["uid"] == "100000"
        assert os.stat(f).st_uid == 100000  # the host's own answer: the file belongs to uid 100000
        assert any("uid_map" in s and "0 100000 65536" in s for s in r.steps)
    finally:
        f.unlink(missing_ok=True)


@pytest.mark.v2
def test_cgroup_namespace_makes_the_own_cgroup_look_like_the_root():
    import sys

    code = "import labkit as lk; print(lk.unshare(['cgroup'], 'cat /proc/self/cgroup').stdout, end='')"
    with lk.cgroup("ns-cg") as g:
        before = g.run("cat /proc/self/cgroup").stdout  # from inside the group, without a cgroup namespace
        after = g.run([sys.executable, "-c", code]).stdout  # the same group, seen from a new cgroup namespace
    assert "/ns-cg" in before
    assert "ns-cg" not in after
    assert after and all(line.rsplit(":", 1)[1] == "/" for line in after.splitlines()), after


def test_time_namespace_shifts_the_boot_clock():
    host_uptime = float(open("/proc/uptime").read().split()[0])
    r = lk.unshare(["time"], "cat /proc/uptime", time_offset=10 * 86400)
    assert float(r.stdout.split()[0]) - host_uptime > 9 * 86400


def test_nsenter_joins_a_running_processs_namespaces():
    p = subprocess.Popen(["unshare", "--uts", "--net", "sh", "-c", "hostname target-ns; sleep 30"])
    try:
        for _ in range(200):
            if os.readlink(f"/proc/{p.pid}/ns/uts") != ns_inodes()["uts"]:
                break
            __import__("time").sleep(0.01)
        __import__("time").sleep(0.05)
        r = lk.nsenter(p.pid, ["uts", "net"], "hostname; tail -n +3 /proc/net/dev | cut -d: -f1")
        assert r.stdout.split() == ["target-ns", "lo"]
        target = lk.namespaces_of(p.pid)
        assert r.view.process["uts"] == target.process["uts"] != target.host["uts"]
        assert set(target.isolated()) == {"uts", "net"}
        assert any(s.startswith(f"setns(open(/proc/{p.pid}/ns/uts") for s in r.steps)
    finally:
        p.kill()
        p.wait()


@pytest.mark.v2
def test_all_kinds_at_once_and_the_view_renders():
    r = lk.unshare(list(KINDS), "echo ok", hostname="all")
    assert r.stdout.strip() == "ok" and set(r.view.isolated()) == set(KINDS)
    assert "new: " in r._repr_html_() and "kind" in repr(r.view)


def test_bad_input_is_refused():
    with pytest.raises(lk.InvalidArgument):
        lk.unshare(["uts", "nosuch"], "true")
    with pytest.raises(lk.InvalidArgument):
        lk.unshare([], "true")
    with pytest.raises(lk.InvalidArgument):
        lk.unshare(["user"], "true", uid_map="zero")
    with pytest.raises(lk.NotFound):
        lk.nsenter(999999999, ["uts"], "true")
