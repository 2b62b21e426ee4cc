"""A first container, on the real kernel: namespaces, overlay, pivot_root, /proc, limits, clean-up."""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap

import pytest

import labkit as lk
from conftest import PYTHON, REPO



def test_run_prints_and_returns_the_containers_output(busybox, capsys):
    r = lk.run("busybox", "echo hello from a container", rm=True)
    assert r.exit_code == 0
    assert r.stdout == "hello from a container\n"
    assert capsys.readouterr().out == "hello from a container\n"
    assert "exit 0" in repr(r) and "exit 0" in r._repr_html_()


def test_exit_code_and_stderr_are_the_containers(busybox):
    r = lk.run("busybox", ["sh", "-c", "echo oops >&2; exit 7"], rm=True, stream=False)
    assert r.exit_code == 7
    assert r.stderr == "oops\n" and r.stdout == ""


def test_container_has_its_own_pid_uts_ipc_mnt_and_net_namespaces(busybox):
    kinds = ["pid", "uts", "ipc", "mnt", "net"]
    script = "; ".join(f"readlink /proc/self/ns/{k}" for k in kinds)
    r = lk.run("busybox", ["sh", "-c", script], rm=True, stream=False)
    inside = r.stdout.split()
    outside = [os.readlink(f"/proc/self/ns/{k}") for k in kinds]
    for k, i, o in zip(kinds, inside, outside):
        assert i != o, f"the container shares the host's {k} namespace"


def test_main_process_is_pid_1_with_its_own_hostname_and_only_lo(busybox):
    r = lk.run("busybox", ["sh", "-c", "echo $$; hostname; tail -n +3 /proc/net/dev | cut -d: -f1"],
               hostname="lab-box", rm=True, stream=False, network="none")
    pid, hostname, *links = r.stdout.split()
    assert pid == "1"
    assert hostname == "lab-box" and socket.gethostname() != "lab-box"
    assert links == ["lo"]


def test_hostname_defaults_to_the_short_container_id(busybox):
    r = lk.run("busybox", "hostname", rm=True, stream=False)
    assert r.stdout.strip() == r.id[:12]


def test_root_is_an_overlay_entered_with_pivot_root_not_chroot(busybox):
    # After chroot the host's mounts would still be listed in mountinfo; after pivot_root + detach, none are.
    r = lk.run("busybox", "cat /proc/self/mountinfo", rm=True, stream=False)
    rows = [line.split() for line in r.stdout.splitlines()]
    by_point = {row[4]: row[row.index("-") + 1] for row in rows}
    assert by_point["/"] == "overlay"
    assert by_point["/proc"] == "proc" and by_point["/sys"] == "sysfs" and by_point["/dev"] == "tmpfs"
    ours = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
    extra = [p for p in by_point if p not in ours and not p.startswith(("/proc/", "/sys/"))]
    assert not extra, f"host mounts visible in the container: {extra}"  # masks live under /proc and /sys only


def test_the_mount_namespace_root_is_the_image_seen_from_the_host(busybox, inst):
    """From inside, chroot and pivot_root look alike (the kernel hides mounts outside a process's root
    from its mountinfo). From the host they do not: joining the container's mount namespace lands at
    that namespace's root, which after pivot_root is the container's overlay, and after a chroot would
    still be the host's own root, with the host's mounts under it."""
    import subprocess

    c = lk.run("busybox", "sleep 600", detach=True)
    try:
        out = subprocess.run(["nsenter", "-t", str(c.pid), "-m", "-p", "cat", "/proc/self/mountinfo"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = [line.split() for line in out.stdout.splitlines()]
        root = next(row for row in rows if row[4] == "/")
        fstype, source = root[root.index("-") + 1], root[root.index("-") + 2]
        assert (fstype, source) == ("overlay", inst.tag), root  # the namespace's root is the image's overlay
        assert len(rows) < 30, rows  # and none of the host's mounts is left in it (the old root is detached)
    finally:
        c.remove(force=True)


def test_proc_shows_only_the_containers_processes(busybox):
    r = lk.run("busybox", "ps -o pid,comm", rm=True, stream=False)
    pids = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert pids == ["1"]


def test_writable_layer_is_fresh_for_each_container_and_kept_until_removed(busybox, inst):
    first = lk.run("busybox", "sh -c 'echo written > /tmp/note'", stream=False)
    upper = inst.containers / first.id / "upper"
    assert (upper / "tmp" / "note").read_text() == "written\n"  # copy-on-write: the change is in the upper dir
    assert (inst.containers / first.id / "state.json").exists()
    second = lk.run("busybox", "cat /tmp/note", rm=True, stream=False)
    assert second.exit_code == 1 and "No such file" in second.stderr
    assert not (inst.containers / second.id).exists()  # rm=True removes the bundle
    lk.reset()


@pytest.mark.v2
def test_memory_limit_gets_an_allocating_process_oom_killed(busybox):
    # dd allocates a 64 MiB buffer and fills it: over a 32 MiB limit the kernel's OOM killer ends it.
    r = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=64M count=1", memory="32M", rm=True, stream=False)
    assert r.exit_code == 137, (r.exit_code, r.stderr)  # 128 + SIGKILL
    ok = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=8M count=1", memory="32M", rm=True, stream=False)
    assert ok.exit_code == 0


@pytest.mark.v2
def test_pids_limit_makes_the_extra_fork_fail(busybox):
    # sh is 1 process; with a limit of 3 it can start 2 sleeps, and the 3rd fork fails with EAGAIN.
    r = lk.run("busybox", ["sh", "-c", "sleep 1 & sleep 1 & sleep 1 & wait"], pids_limit=3, rm=True, stream=False)
    assert "can't fork" in r.stderr or "Resource temporarily unavailable" in r.stderr, r.stderr


@pytest.mark.v2
def test_limits_are_written_to_the_containers_cgroup(busybox):
    # the host's view of PID 1's groups (inside, its cgroup namespace makes each one "/")
    c = lk.run("busybox", "sleep 30", memory="48M", pids_limit=9, detach=True)
    from labkit import cgroups

    try:
        tag = lk.paths.instance().tag
        lines = open(f"/proc/{c.pid}/cgroup").read().splitlines()
        if cgroups.layout().version == 2:
            assert f"0::/{tag}/{c.id}" in lines, lines
        else:
            assert any(l.endswith(f":memory:/{tag}/{c.id}") for l in lines), lines
            assert any(l.endswith(f":pids:/{tag}/{c.id}") for l in lines), lines
            # in every hierarchy of its group: on a hybrid host also the v2 one (PID 1 is born there, clone3)
            dirs = cgroups.group(f"{tag}/{c.id}").dirs
            assert sum(l.endswith(f":/{tag}/{c.id}") for l in lines) == len(dirs), lines
            if cgroups.layout().unified is not None:
                assert f"0::/{tag}/{c.id}" in lines, lines
        res = dict(c.config["linux"]["resources"])
    finally:
        c.remove(force=True)
    assert res.pop("devices")[0] == {"allow": False, "access": "rwm"}  # Docker's device rules: deny first
    assert res == {"memory": {"limit": 48 << 20}, "pids": {"limit": 9}}


@pytest.mark.v2
def test_unknown_command_is_command_not_found_and_leaves_nothing(busybox, inst):
    before = set(inst.containers.iterdir()) if inst.containers.exists() else set()
    with pytest.raises(lk.CommandNotFound) as e:
        lk.run("busybox", "no-such-program")
    assert "no-such-program" in str(e.value) and e.value.exit_code == 127
    with pytest.raises(lk.CommandNotExecutable):
        lk.run("busybox", "/etc/passwd")
    after = set(inst.containers.iterdir()) if inst.containers.exists() else set()
    assert after == before


def test_unknown_image_and_bad_limits_are_refused_before_anything_is_made(busybox, inst):
    before = set(inst.containers.iterdir()) if inst.containers.exists() else set()
    with pytest.raises(lk.ImageNotFound):
        lk.run("no-such-image", "true")
    for bad in ("0", "-5M", "12X", "lots"):
        with pytest.raises(lk.InvalidArgument):
            lk.run("busybox", "true", memory=bad)
    with pytest.raises(lk.InvalidArgument):
        lk.run("busybox", "true", memory="100T")  # more than the host has
    with pytest.raises(lk.InvalidArgument):
        lk.run("busybox", "true", pids_limit=0)
    after = set(inst.containers.iterdir()) if inst.containers.exists() else set()
    assert after == before


@pytest.mark.v2
def test_a_failure_half_way_through_start_leaves_nothing_behind(busybox, inst):
    # A working directory the kernel refuses to create (/proc/sys is read-only in a container) fails
    # inside the new namespaces, after the bundle, the name and the cgroup exist: all of it must go.
    before = set(inst.containers.iterdir()) if inst.containers.exists() else set()
    with pytest.raises(lk.LabkitError) as e:
        lk.run("busybox", "true", memory="32M", workdir="/proc/sys/labkit-nope", name="half-way")
    assert "working directory" in str(e.value)
    after = set(inst.containers.iterdir()) if inst.containers.exists() else set()
    assert after == before
    with pytest.raises(lk.NotFound):
        lk.container("half-way")


@pytest.mark.v2
def test_run_works_from_a_process_with_many_threads(busybox):
    # As in a Jupyter kernel: other threads hold locks while we start a container.
    code = textwrap.dedent("""
        import threading, time, labkit as lk
        stop = threading.Event(); lock = threading.Lock()
        def spin():
            while not stop.is_set():
                with lock: time.sleep(0.0005)
        ts = [threading.Thread(target=spin, daemon=True) for _ in range(8)]
        [t.start() for t in ts]
        try:
            codes = [lk.run("busybox", f"sh -c 'exit {i}'", rm=True, stream=False).exit_code for i in range(5)]
        finally:
            stop.set(); [t.join() for t in ts]
        print(codes)
    """)
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0, 1, 2, 3, 4]"


def test_env_workdir_and_user(busybox):
    r = lk.run("busybox", ["sh", "-c", "echo $GREETING; pwd; id -u; id -g"], env={"GREETING": "ni hao"},
               workdir="/tmp/work", user="65534:65534", rm=True, stream=False)
    assert r.stdout.split("\n")[:4] == ["ni hao", "/tmp/work", "65534", "65534"]


@pytest.mark.v2
def test_cli_run_prints_and_exits_with_the_containers_code(busybox):
    env = {**os.environ}
    hi = subprocess.run([PYTHON, "-m", "labkit", "run", "--rm", "busybox", "echo", "hi"], capture_output=True,
                        text=True, timeout=60, cwd=REPO, env=env)
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    seven = subprocess.run([PYTHON, "-m", "labkit", "run", "--rm", "busybox", "sh", "-c", "exit 7"], timeout=60, env=env)
    assert seven.returncode == 7
    missing = subprocess.run([PYTHON, "-m", "labkit", "run", "--rm", "busybox", "nope"], capture_output=True,
                             text=True, timeout=60, env=env)
    assert missing.returncode == 127 and "hint:" in missing.stderr
    bad = subprocess.run([PYTHON, "-m", "labkit", "run", "--rm", "-m", "lots", "busybox", "true"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert bad.returncode == 125 and "lots" in bad.stderr and "Traceback" not in bad.stderr


def test_a_script_gets_the_same_results_as_a_notebook(busybox):
    # A script (one thread) and this test process (pytest, more threads) both go through labkitd.
    code = textwrap.dedent("""
        import labkit as lk
        out = lk.run("busybox", ["sh", "-c", "echo $$; echo err >&2; exit 3"], rm=True, stream=False)
        oom = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=64M count=1", memory="32M", rm=True, stream=False)
        try:
            lk.run("busybox", "no-such-program", rm=True)
            missing = "ran"
        except lk.CommandNotFound:
            missing = "CommandNotFound"
        print(out.stdout.strip(), out.stderr.strip(), out.exit_code, oom.exit_code, oom.oom_killed, missing)
    """)
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "err", "3", "137", "True", "CommandNotFound"]


FLOW = ["check the input", "find the image, create the writable layer", "create the cgroup", "a veth on bridge",
        "fork: PID 1", "unshare",
        "mount the overlay", "pivot_root", "mask /proc", "set the hostname", "join the container's cgroups",
        "a cgroup namespace", "drop capabilities", "exec the command", "the command runs and exits", "labkitd removes the container"]


def test_trace_shows_the_docker_run_flow_in_order_with_durations(busybox):
    r = lk.run("busybox", "true", rm=True, stream=False, trace=True)
    steps = [s for s, _ in r.trace]
    assert [next(i for i, s in enumerate(steps) if s.startswith(f)) for f in FLOW] == list(range(len(FLOW))), steps
    assert all(ms >= 0 for _, ms in r.trace)
    assert abs(sum(ms for _, ms in r.trace) / 1000 - r.seconds) < 0.05 + r.seconds * 0.5
    assert "pivot_root" in r.trace_table() and "<table>" in r._repr_html_()
    assert lk.run("busybox", "true", rm=True, stream=False).trace == ()  # off unless asked
    # each step's ID beside it, for code (runtime/flow.py), in the same order as the sentences
    assert r.steps == ("check", "create", "cgroup", "network", "fork", "namespaces", "rootfs", "pivot-root", "mask",
                       "hostname", "cgroup-join", "cgroupns", "security", "exec", "run", "remove"), r.steps
    from labkit.runtime.flow import STEPS, seed_totals

    assert set(r.steps) <= set(STEPS) and len(r.steps) == len(r.trace)
    totals = seed_totals(r.steps, r.trace)
    assert list(totals) == ["0", "2", "3", "4"] and abs(sum(totals.values()) - sum(ms for _, ms in r.trace)) < 1e-6
    picture = lk.pictures.run_flow(r)
    assert picture._repr_svg_().startswith("<svg") and repr(picture).splitlines()[2].startswith("step 3")


def test_cli_trace_prints_the_flow_on_stderr(busybox):
    r = subprocess.run([PYTHON, "-m", "labkit", "run", "--rm", "--trace", "busybox", "echo", "hi"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "hi\n"
    assert "pivot_root" in r.stderr and "total" in r.stderr


@pytest.mark.v2
def test_pid_1s_parent_is_labkitd_not_the_caller(busybox, inst):
    # The container belongs to the lab's server: inside, PID 1's parent is outside its PID namespace
    # (PPid 0); outside, its parent is labkitd, whatever process asked for it.
    r = lk.run("busybox", ["sh", "-c", "grep PPid /proc/1/status"], rm=True, stream=False)
    assert r.stdout.split() == ["PPid:", "0"]
    c = lk.run("busybox", "sleep 600", detach=True)
    try:
        data = open(f"/proc/{c.pid}/stat", "rb").read()
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        assert open(f"/proc/{ppid}/comm").read().strip() == "labkitd"
        assert ppid == int((inst.run / "labkitd.pid").read_text())
    finally:
        c.remove(force=True)


def test_an_image_of_many_deep_layers_runs(busybox, inst, tmp_path):
    """More layers than one page of mount options can name by path: the root is mounted with the
    layers named by descriptor, as lk.overlay does (one mount routine for both)."""
    import json

    from labkit.runtime import state

    c = lk.create("busybox", ["sh", "-c", "cat /deep/layer-79"])
    try:
        cfg_path = state.bundle_dir(inst, c.id) / "config.json"
        cfg = json.loads(cfg_path.read_text())
        lower = cfg["annotations"]["org.labkit.rootfs.lower"].split(":")
        extra = []
        for i in range(80):  # 80 layers with long paths: ~12 KiB of lowerdir, three pages
            d = tmp_path / ("layer-with-a-long-name-" + "x" * 100 + f"-{i:02d}")
            (d / "deep").mkdir(parents=True)
            (d / "deep" / f"layer-{i}").write_text(f"from layer {i}\n")
            extra.append(str(d))
        cfg["annotations"]["org.labkit.rootfs.lower"] = ":".join(list(reversed(extra)) + lower)
        assert len(cfg["annotations"]["org.labkit.rootfs.lower"]) > 4096
        cfg_path.write_text(json.dumps(cfg))
        c.start()
        assert c.wait(timeout=60) == 0 and c.logs() == "from layer 79\n"
    finally:
        c.remove(force=True)
