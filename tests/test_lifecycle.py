"""A container's whole life through labkitd, on the real kernel: every verb, the notebook kernel and
the supervisor dying under a running container, OOM, stop's SIGTERM-then-SIGKILL, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

import labkit as lk
from conftest import PYTHON
from labkit.runtime import state
from labkit.runtime.client import labkitd as client


LOOP = ["sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"]


def _until(check, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout  # the v2 VM runs under software emulation: be patient
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _log_has(c, text):
    return text in c.logs()


@pytest.mark.v2
def test_create_start_stop_remove_and_the_states_between(box):
    c = lk.create("busybox", LOOP, name="life")
    box.append(c)
    assert c.status == "created" and c.pid == 0
    assert lk.container("life") == c and lk.container(c.id[:10]) == c
    assert c not in lk.ps() and c in lk.ps(all=True)
    c.start()
    assert c.status == "running" and c.pid > 0
    assert os.readlink(f"/proc/{c.pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    _until(lambda: _log_has(c, "ready"), what="the container's first line")
    assert c in lk.ps()
    assert c.stop(timeout=30) == 7  # its trap ran: SIGTERM came first
    rec = c.attrs
    assert rec["status"] == "exited" and rec["exit_code"] == 7 and rec["oom_killed"] is False
    assert rec["finished_at"] >= rec["started_at"] > 0
    assert "got TERM" in c.logs()
    c.start()  # a stopped container starts again, in its same writable layer
    assert c.status == "running"
    c.remove(force=True)
    assert not state.bundle_dir(c.inst, c.id).exists()
    with pytest.raises(lk.NotFound):
        lk.container("life")


@pytest.mark.v2
def test_stop_kills_with_sigkill_when_sigterm_is_ignored(box):
    c = lk.run("busybox", ["sh", "-c", "trap '' TERM; echo ready; sleep 600"], detach=True)
    box.append(c)
    _until(lambda: _log_has(c, "ready"), what="the container to start")
    t0 = time.monotonic()
    assert c.stop(timeout=1) == 137  # 128 + SIGKILL
    assert time.monotonic() - t0 >= 1.0  # it waited for the timeout before SIGKILL (a bound, not a speed check)


def test_kill_sends_the_signal_asked_for(box):
    c = lk.run("busybox", ["sh", "-c", "trap 'echo got HUP; exit 3' HUP; echo ready; while :; do sleep 0.05; done"],
               detach=True)
    box.append(c)
    _until(lambda: _log_has(c, "ready"), what="the container to start")
    c.kill("HUP")
    assert c.wait(timeout=60) == 3 and "got HUP" in c.logs()
    d = lk.run("busybox", "sleep 600", detach=True)
    box.append(d)
    d.kill()
    assert d.wait(timeout=60) == 137


@pytest.mark.v2
def test_pause_freezes_every_process_and_unpause_thaws_them(box):
    c = lk.run("busybox", ["sh", "-c", "while :; do echo x >> /tmp/n; usleep 10000; done"], detach=True)
    box.append(c)
    c.pause()
    assert c.status == "paused"
    with pytest.raises(lk.Conflict):  # exec needs a running container: refused while paused
        c.exec("true")
    state_of = lambda pid: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]  # noqa: E731
    pids = [row[0] for row in c.top()]
    assert pids and all(state_of(p) in ("D", "S", "T") for p in pids)
    with pytest.raises(lk.Conflict):
        c.pause()
    c.unpause()
    assert c.status == "running"
    lines = c.exec("wc -l /tmp/n").stdout.split()[0]
    _until(lambda: c.exec("wc -l /tmp/n").stdout.split()[0] != lines, what="the loop to run again")


@pytest.mark.v2
def test_exec_runs_a_second_process_inside_with_the_containers_view(box):
    c = lk.run("busybox", "sleep 600", detach=True, hostname="inside", env={"GREETING": "hi"})
    box.append(c)
    r = c.exec(["sh", "-c", "hostname; echo $GREETING; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo oops >&2; exit 5"])
    assert r.exit_code == 5
    assert r.stdout.split("\n")[:3] == ["inside", "hi", "sleep 600 "]
    assert r.stderr == "oops\n"
    # The same namespaces and cgroup as PID 1, and the same reduced capabilities.
    ns = c.exec("readlink /proc/self/ns/mnt /proc/self/ns/net /proc/1/ns/mnt /proc/1/ns/net").stdout.split()
    assert ns[:2] == ns[2:]
    caps = c.exec("grep CapBnd /proc/self/status").stdout.split()[1]
    assert caps == "00000000a80425fb"
    assert c.exec("id -u", user="65534").stdout.strip() == "65534"
    assert c.exec("pwd", workdir="/tmp").stdout.strip() == "/tmp"
    with pytest.raises(lk.CommandNotFound):
        c.exec("no-such-program")
    assert c.exec("cat /nope").exit_code == 1


def test_logs_keep_stdout_and_stderr_apart_with_timestamps(box):
    c = lk.run("busybox", ["sh", "-c", "echo out1; echo err1 >&2; echo out2; printf tail"], detach=True)
    box.append(c)
    assert c.wait(timeout=60) == 0
    assert c.logs(stderr=False) == "out1\nout2\ntail"
    assert c.logs(stdout=False) == "err1\n"
    entries = c.log_entries()
    assert {e["stream"] for e in entries} == {"stdout", "stderr"}
    for e in entries:  # RFC 3339 with microseconds, UTC, as docker's json-file driver writes
        assert time.strptime(e["time"][:19], "%Y-%m-%dT%H:%M:%S") and e["time"].endswith("Z")
    stamped = c.logs(timestamps=True).splitlines()
    assert stamped[0].split(" ", 1)[1] == "out1"


@pytest.mark.v2
def test_oom_kill_is_recorded(box):
    c = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=64M count=1", memory="32M", detach=True)
    box.append(c)
    assert c.wait(timeout=60) == 137
    assert c.attrs["oom_killed"] is True
    assert "OOM" in repr(c)


def test_restart_runs_the_command_again(box):
    c = lk.run("busybox", ["sh", "-c", "echo run; sleep 600"], detach=True)
    box.append(c)
    _until(lambda: _log_has(c, "run"), what="the first run")
    first = c.pid
    c.restart(timeout=0)
    assert c.status == "running" and c.pid != first
    _until(lambda: c.logs().count("run") == 2, what="the second run")
    assert c.attrs["restart_count"] == 1


@pytest.mark.v2
def test_top_inspect_and_stats_show_whats_inside(box):
    c = lk.run("busybox", ["sh", "-c", "sleep 600 & sleep 600 & wait"], detach=True, memory="64M", pids_limit=10, name="peek")
    box.append(c)
    _until(lambda: len(c.top()) == 3, what="three processes")
    inside = sorted(row[1] for row in c.top())
    assert inside[0] == 1
    info = c.inspect()
    assert info["config"]["process"]["args"] == ["sh", "-c", "sleep 600 & sleep 600 & wait"]
    assert info["config"]["linux"]["resources"]["memory"]["limit"] == 64 << 20
    assert info["record"]["name"] == "peek"
    s = c.stats()
    assert s.pids_current == 3 and s.memory_limit == 64 << 20 and s.memory_current > 0
    assert "peek" in repr(c) and "Up" in c._repr_html_()
    assert "peek" in repr(lk.ps()) and "<table>" in lk.ps()._repr_html_()


def test_invalid_state_changes_and_bad_references_are_refused_with_a_hint(box):
    c = lk.run("busybox", "true", detach=True, name="done")
    box.append(c)
    c.wait(timeout=60)
    for call in (lambda: c.stop(), lambda: c.kill(), lambda: c.pause(), lambda: c.unpause(), lambda: c.exec("true")):
        with pytest.raises(lk.Conflict) as e:
            call()
        assert e.value.hint
    with pytest.raises(lk.Conflict) as e:
        lk.create("busybox", "true", name="done")
    assert "already used" in str(e.value)
    with pytest.raises(lk.InvalidArgument):
        lk.create("busybox", "true", name="no spaces please")
    with pytest.raises(lk.NotFound):
        lk.container("no-such-container")
    with pytest.raises(lk.ImageNotFound):
        lk.create("no-such-image", "true")
    running = lk.run("busybox", "sleep 600", detach=True)
    box.append(running)
    with pytest.raises(lk.Conflict) as e:
        running.remove()
    assert "rm -f" in e.value.hint
    with pytest.raises(lk.Conflict):
        running.start()
    with pytest.raises(lk.InvalidArgument):
        running.kill("NOSUCHSIGNAL")


def test_rm_on_exit_removes_the_container(box):
    c = lk.run("busybox", "true", detach=True, rm=True)
    _until(lambda: not state.bundle_dir(c.inst, c.id).exists(), what="the container to be removed")
    with pytest.raises(lk.NotFound):
        c.attrs


@pytest.mark.v2
def test_a_container_outlives_the_process_that_started_it(box, inst):
    # The notebook-kernel-restart case: a separate Python process starts a container and is killed.
    code = textwrap.dedent("""
        import os, signal, labkit as lk
        c = lk.run("busybox", ["sh", "-c", "echo up; sleep 1; exit 4"], detach=True, name="orphan")
        print(c.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    p = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == -9, p.stderr
    c = lk.container(p.stdout.strip())
    box.append(c)
    assert c.name == "orphan"
    assert c.wait(timeout=60) == 4
    assert c.attrs["status"] == "exited" and c.logs() == "up\n"


@pytest.mark.v2
def test_killing_labkitd_loses_no_container_and_no_record(box, inst):
    c = lk.run("busybox", ["sh", "-c", "echo before; sleep 2; echo after; exit 9"], detach=True, name="survivor")
    box.append(c)
    d = lk.run("busybox", "sleep 600", detach=True)
    box.append(d)
    old = int((inst.run / "labkitd.pid").read_text())
    assert Path(f"/proc/{old}/comm").read_text().strip() == "labkitd"
    os.kill(old, signal.SIGKILL)
    # The containers run on without it; their PID 1s are now the keeper's children.
    keeper = int((inst.run / "labkit-keeper.pid").read_text())
    _until(lambda: _ppid(d.attrs["pid"]) == keeper, what="the keeper to adopt the container")
    # The keeper started a new labkitd, which finds both, and reports the exit the keeper recorded.
    assert c.wait(timeout=60) == 9
    assert int((inst.run / "labkitd.pid").read_text()) != old
    assert c.logs() == "before\nafter\n"  # what it printed while no labkitd read was kept in its FIFO
    assert d.status == "running"
    assert d.exec("echo still here").stdout == "still here\n"
    d.stop(timeout=0)
    assert d.attrs["exit_code"] == 137


def _ppid(pid: int) -> int:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    return int(data[data.rindex(b")") + 2 :].split()[1])


@pytest.mark.v2
def test_a_container_killed_from_outside_is_recorded(box):
    c = lk.run("busybox", "sleep 600", detach=True)
    box.append(c)
    os.kill(c.pid, signal.SIGKILL)  # not through labkit: as the kernel's OOM killer or an admin would
    assert c.wait(timeout=60) == 137
    assert c.status == "exited"


def test_ps_in_a_shell_sees_the_containers_a_notebook_started(box):
    c = lk.run("busybox", "sleep 600", detach=True, name="seen")
    box.append(c)
    out = subprocess.run([PYTHON, "-m", "labkit", "ps"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "seen" in out.stdout and c.id[:12] in out.stdout
    assert "Up" in out.stdout


def test_the_cli_verbs_in_docker_shape(box):
    def lab(*args, check=True):
        r = subprocess.run([PYTHON, "-m", "labkit", *args], capture_output=True, text=True, timeout=120)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    cid = lab("run", "-d", "--name", "cli", "-m", "64M", "--pids-limit", "20", "busybox",
              "sh", "-c", "trap 'exit 0' TERM; echo hello; echo warn >&2; while :; do sleep 0.05; done").stdout.strip()
    box.append(lk.container(cid))
    assert len(cid) == 64
    _until(lambda: "hello" in lab("logs", "cli").stdout, what="the first line")
    logs = lab("logs", "-t", "cli")
    assert logs.stdout.split(" ", 1)[1] == "hello\n" and logs.stderr.split(" ", 1)[1] == "warn\n"
    assert lab("ps", "-q").stdout.split() == [cid[:12]]
    assert "sleep" in lab("top", "cli").stdout
    assert lab("exec", "cli", "hostname").stdout.strip() == cid[:12]
    assert lab("exec", "cli", "sh", "-c", "exit 3", check=False).returncode == 3
    assert lab("exec", "cli", "no-such-program", check=False).returncode == 127
    assert "64MiB" in lab("stats", "--no-stream", "cli").stdout
    assert lab("pause", "cli").stdout.strip() == "cli"
    assert "(Paused)" in lab("ps").stdout
    lab("unpause", "cli")
    rm = lab("rm", "cli", check=False)
    assert rm.returncode == 1 and "hint:" in rm.stderr
    assert lab("stop", "-t", "5", "cli").stdout.strip() == "cli"
    assert "Exited (0)" in lab("ps", "-a").stdout
    assert lab("wait", "cli").stdout.strip() == "0"
    assert lab("stop", "cli", check=False).returncode == 1
    info = json.loads(lab("inspect", "cli").stdout)  # docker's shape, labkit's own under "Labkit"
    assert info[0]["State"]["ExitCode"] == 0 and info[0]["State"]["Status"] == "exited" and info[0]["Name"] == "/cli"
    assert info[0]["HostConfig"]["PidsLimit"] == 20 == info[0]["Labkit"]["Spec"]["linux"]["resources"]["pids"]["limit"]
    assert info[0]["Labkit"]["Record"]["exit_code"] == 0
    lab("start", "cli")
    lab("restart", "-t", "1", "cli")
    lab("kill", "-s", "KILL", "cli")
    assert lab("wait", "cli").stdout.strip() == "137"
    assert lab("rm", "cli").stdout.strip() == "cli"
    assert lab("inspect", "cli", check=False).returncode == 1
    follow = subprocess.run([PYTHON, "-m", "labkit", "run", "--rm", "busybox", "sh", "-c", "exit 0"], timeout=60)
    assert follow.returncode == 0
    created = lab("create", "--name", "later", "busybox", "echo", "made").stdout.strip()
    box.append(lk.container(created))
    lab("start", "later")
    assert lab("wait", "later").stdout.strip() == "0"
    assert lab("logs", "-f", "later").stdout == "made\n"


def test_a_bad_request_to_labkitd_is_a_typed_error_not_a_dead_server(busybox):
    with pytest.raises(lk.InvalidArgument):
        client.call("no-such-op")
    assert client.call("ping")["pid"] > 0


def test_wait_with_a_timeout_is_a_typed_error_and_the_container_goes_on(box):
    c = lk.run("busybox", "sleep 600", detach=True)
    box.append(c)
    with pytest.raises(lk.TimedOut, match="did not exit within 0.2 s") as e:
        c.wait(timeout=0.2)
    assert isinstance(e.value, TimeoutError) and e.value.hint
    assert c.status == "running"


def test_tidy_removes_one_notebooks_leftovers_and_nothing_of_anothers(box, tmp_path):
    """lk.tidy("nb66") at a notebook's top: its containers, cgroups and scratch folders in /tmp from
    a run stopped half-way; another notebook's, and a folder with a mount in it, stay."""
    import tempfile

    mine = lk.run("busybox", "sleep 300", detach=True, name="nb66-left")
    box.append(mine)
    theirs = lk.run("busybox", "sleep 300", detach=True, name="nb67-theirs")
    box.append(theirs)
    g = lk.cgroup("nb66-demo", pids_limit=5)
    tmp = Path(tempfile.gettempdir())
    ctx, other, mounted = (Path(tempfile.mkdtemp(prefix=p, dir=tmp)) for p in ("labkit-nb66-", "labkit-nb67-", "labkit-nb66-"))
    (ctx / "Dockerfile").write_text("FROM busybox\n")
    subprocess.run(["mount", "-t", "tmpfs", "labkit-tidy-test", str(mounted)], check=True, timeout=30)
    (mounted / "kept").write_text("what the mount holds\n")
    try:
        done = lk.tidy("nb66")
        assert f"container {mine.name}" in done and "cgroup nb66-demo" in done and f"folder {ctx}" in done, done
        assert not ctx.exists() and other.exists() and (mounted / "kept").exists()
        assert [c.name for c in lk.ps()] == ["nb67-theirs"] and not g.group.exists()
        assert repr(lk.tidy("nb66")) == "nothing left from an earlier run"
    finally:
        subprocess.run(["umount", str(mounted)], timeout=30)
        for d in (ctx, other, mounted):
            if d.exists():
                d.rmdir() if not any(d.iterdir()) else None


def test_logs_come_from_labkitd_tail_timestamps_and_follow_to_the_exit(box, tmp_path):
    """`labkit logs` and c.logs() ask labkitd (the code that answers `docker logs`): -n keeps the last
    lines, stdout and stderr go to their own descriptors, -t puts each line's time first, and -f ends
    when the container exits, not before, with everything it printed, also into a file."""
    c = lk.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done; "
                                       "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo last"], detach=True)
    box.append(c)
    _until(lambda: "err3" in c.logs(), what="the first lines")
    # (the two streams are two FIFOs: their lines interleave in the log as labkitd read them)
    assert c.logs(stderr=False, tail=2) == "out2\nout3\n" and c.logs(stdout=False) == "err1\nerr2\nerr3\n"
    assert len(c.logs(tail=4).splitlines()) == 4 and c.logs(tail=0) == ""
    stamped = c.logs(timestamps=True, stdout=False, tail=1)
    assert stamped.endswith("Z err3\n") and stamped[:4].isdigit(), stamped
    every = subprocess.run([PYTHON, "-m", "labkit", "logs", "-n", "all", c.name], capture_output=True, text=True, timeout=60)
    assert (every.returncode, every.stdout, every.stderr) == (0, "out1\nout2\nout3\n", "err1\nerr2\nerr3\n")
    last = subprocess.run([PYTHON, "-m", "labkit", "logs", "-n", "1", c.name], capture_output=True, text=True, timeout=60)
    assert last.returncode == 0 and len((last.stdout + last.stderr).splitlines()) == 1
    bad = subprocess.run([PYTHON, "-m", "labkit", "logs", "-n", "x", c.name], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 125 and "not a number of lines" in bad.stderr
    with open(tmp_path / "out", "wb") as out:
        follow = subprocess.Popen([PYTHON, "-m", "labkit", "logs", "-f", c.name], stdout=out, stderr=subprocess.DEVNULL)
        try:
            _until(lambda: (tmp_path / "out").read_bytes() == b"out1\nout2\nout3\n", what="the log so far")
            time.sleep(0.3)
            assert follow.poll() is None  # following: it waits for more
            c.exec(["touch", "/tmp/go"])
            assert follow.wait(timeout=60) == 0
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
    assert (tmp_path / "out").read_bytes() == b"out1\nout2\nout3\nlast\n"
    assert c.wait() == 0


def test_run_rm_leaves_no_folder_and_a_new_labkitd_deletes_what_an_old_one_left(inst):
    """--rm: the container leaves ps and its name at once, and its folder (writable layer, log) right
    after the answer; one whose deletion a killed labkitd never did is deleted by the next labkitd."""
    r = lk.run("busybox", ["sh", "-c", "echo x > /big; echo done"], rm=True, name="brief", stream=False)
    assert r.exit_code == 0 and r.stdout == "done\n"
    assert "brief" not in [c.name for c in lk.ps(all=True)]
    with pytest.raises(lk.NotFound):
        lk.container(r.id)
    _until(lambda: not [e for e in os.listdir(inst.containers) if r.id in e], what="its folder to go")
    left = inst.containers / (".gone-" + "0" * 64)
    (left / "upper").mkdir(parents=True)
    (left / "upper" / "big").write_bytes(b"x" * 4096)
    old = int((inst.run / "labkitd.pid").read_text())
    os.kill(old, signal.SIGKILL)
    _until(lambda: (inst.run / "labkitd.pid").exists() and int((inst.run / "labkitd.pid").read_text()) != old,
           what="a new labkitd")
    lk.ps()
    _until(lambda: not left.exists(), what="the new labkitd to delete the old folder")


def _zygotes(labkitd: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "labkit-zygote" and _ppid(int(entry)) == labkitd:
                    out.append(int(entry))
            except (OSError, ValueError):
                pass
    return out


def test_pid1_is_forked_by_a_zygote_that_holds_nothing_and_is_still_labkitds_child(box, inst):
    """The zygote (daemon/zygote.py) forks each PID 1 with CLONE_PARENT: labkitd is its parent and
    reaps it; the zygote holds none of labkitd's descriptors (four per running container); killed, it
    is not missed (labkitd forks itself); and it dies with labkitd, whose successor makes its own."""
    running = [lk.run("busybox", "sleep 600", detach=True) for _ in range(3)]
    box.extend(running)
    sup = int((inst.run / "labkitd.pid").read_text())
    (zygote,) = _zygotes(sup)
    assert all(_ppid(c.attrs["pid"]) == sup for c in running)
    assert len(os.listdir(f"/proc/{zygote}/fd")) <= 4, os.listdir(f"/proc/{zygote}/fd")  # 0, 1, 2 and its socket
    assert len(os.listdir(f"/proc/{sup}/fd")) > 12  # labkitd's: what the zygote was spared
    assert lk.run("busybox", "true", rm=True).exit_code == 0
    os.kill(zygote, signal.SIGKILL)
    _until(lambda: not Path(f"/proc/{zygote}").exists() or Path(f"/proc/{zygote}/stat").read_text().split(")")[1].split()[0] == "Z",
           what="the zygote to die")
    after = lk.run("busybox", "sleep 600", detach=True)
    box.append(after)
    assert _ppid(after.attrs["pid"]) == sup and after.exec("echo up").stdout == "up\n"
    os.kill(sup, signal.SIGKILL)
    _until(lambda: int((inst.run / "labkitd.pid").read_text()) != sup, what="a new labkitd")
    new = int((inst.run / "labkitd.pid").read_text())
    _until(lambda: len(_zygotes(new)) == 1, what="the new labkitd's zygote")
    assert lk.run("busybox", "true", rm=True).exit_code == 0
    assert running[0].status == "running"


def test_a_stopped_zygote_fails_one_start_in_seconds_and_never_stalls_labkitd(box, inst):
    """SIGSTOP on the zygote (an admin, a debugger): labkitd waits ANSWER_TIMEOUT for it, no longer;
    that start fails with TimedOut and leaves nothing; the zygote is killed; labkitd serves on and
    forks the next containers itself."""
    from labkit.runtime.daemon import zygote as zy

    sup = int((inst.run / "labkitd.pid").read_text())
    lk.ps()
    (z,) = _zygotes(sup)
    before = set(os.listdir(inst.containers)) if inst.containers.exists() else set()
    os.kill(z, signal.SIGSTOP)
    try:
        t = time.monotonic()
        with pytest.raises(lk.TimedOut):
            lk.run("busybox", "true", rm=True)
        assert time.monotonic() - t < zy.ANSWER_TIMEOUT + 30
    finally:
        try:
            os.kill(z, signal.SIGCONT)
        except ProcessLookupError:
            pass
    _until(lambda: not _zygotes(sup), what="the stuck zygote to be gone")
    assert set(os.listdir(inst.containers)) == before  # the failed run left nothing
    c = lk.run("busybox", "sleep 600", detach=True)
    box.append(c)
    assert _ppid(c.attrs["pid"]) == sup and lk.run("busybox", "echo on", rm=True).stdout == "on\n"
