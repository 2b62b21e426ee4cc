"""Faults, as users make them: output to files and /dev/null, slow and half-open clients, bad values to
every verb, labkitd and its keeper killed under load, reset, `| head`. labkitd must keep serving everyone."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import labkit as lk
from conftest import PYTHON
from labkit.runtime import state
from labkit.runtime.client import labkitd as client

LABKIT = [PYTHON, "-m", "labkit"]


def _labkitd_pid(inst) -> int:
    client.call("ping", inst=inst)
    return int((inst.run / "labkitd.pid").read_text())


def _cli(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*LABKIT, *args], capture_output=True, text=True, timeout=timeout, **kw)


def _until(check, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- output to anything (also in the cgroup v2 VM) ---------------------------------------------------------
@pytest.mark.parametrize("where", ["file", "devnull", "stderr-file", "pipe", "socket", "terminal"])
def test_run_output_reaches_any_kind_of_descriptor(busybox, inst, tmp_path, where):
    pid = _labkitd_pid(inst)
    cmd = [*LABKIT, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    if where == "terminal":
        import pty

        master, slave = pty.openpty()
        try:
            p = subprocess.run(cmd, stdout=slave, stderr=subprocess.PIPE, timeout=120)
            os.close(slave)
            got = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side is closed and everything is read
                    break
                if not chunk:
                    break
                got += chunk
        finally:
            os.close(master)
        assert p.returncode == 3 and got == b"out\r\n" and p.stderr == b"err\n"  # the terminal adds its \r
    elif where == "socket":
        a, b = socket.socketpair()
        with a, b:
            p = subprocess.run(cmd, stdout=a, stderr=subprocess.PIPE, timeout=120)
            a.close()
            got = b.recv(1 << 16)
        assert p.returncode == 3 and got == b"out\n" and p.stderr == b"err\n"
    else:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            targets = {"file": (out, subprocess.PIPE), "devnull": (subprocess.DEVNULL, subprocess.DEVNULL),
                       "stderr-file": (subprocess.PIPE, err), "pipe": (subprocess.PIPE, subprocess.PIPE)}[where]
            p = subprocess.run(cmd, stdout=targets[0], stderr=targets[1], timeout=120)
        assert p.returncode == 3, p
        if where == "file":
            assert out_path.read_bytes() == b"out\n" and p.stderr == b"err\n"
        if where == "stderr-file":
            assert err_path.read_bytes() == b"err\n" and p.stdout == b"out\n"
        if where == "pipe":
            assert (p.stdout, p.stderr) == (b"out\n", b"err\n")
    assert _labkitd_pid(inst) == pid  # the same labkitd: it never crashed


def test_output_appended_to_a_file_goes_after_what_is_there(busybox, tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(b"before\n")
    with open(path, "ab") as f:
        p = subprocess.run([*LABKIT, "run", "--rm", "busybox", "echo", "after"], stdout=f, timeout=120)
    assert p.returncode == 0 and path.read_bytes() == b"before\nafter\n"


def test_a_closed_stdout_ends_the_run_quietly(busybox):
    p = subprocess.run(f"{' '.join(LABKIT)} run --rm busybox yes | head -2; echo rc=${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert p.stdout == "y\ny\nrc=141\n"  # as `yes | head -2` itself: the writer ends with SIGPIPE's status
    assert "Traceback" not in p.stderr


# -- no client stalls another -----------------------------------------------------------------------------
def test_a_slow_reader_does_not_stall_other_clients(busybox, tmp_path):
    go = tmp_path / "go"
    # The reader waits for `go`: 2 MB of output fills every buffer on the way, and labkitd has to hold back.
    slow = subprocess.Popen(f"{' '.join(LABKIT)} run --rm busybox sh -c 'seq 1 300000' | "
                            f"(while [ ! -e {go} ]; do sleep 0.05; done; wc -c)",
                            shell=True, stdout=subprocess.PIPE, text=True)
    try:
        _until(lambda: any(r["args"] == ["sh", "-c", "seq 1 300000"] for r in client.call("ps")["containers"]),
               what="the container to start")
        for _ in range(5):  # labkitd answers while the slow reader still reads nothing
            assert _cli("ps", "-q", timeout=60).returncode == 0
        assert slow.poll() is None  # (the reader was still waiting all along)
    finally:
        go.touch()
    out, _ = slow.communicate(timeout=120)
    assert int(out) == len("".join(f"{i}\n" for i in range(1, 300001)))  # nothing lost


def test_a_client_that_sends_half_a_request_stalls_nobody(busybox, inst):
    client.call("ping", inst=inst)  # labkitd runs
    half = socket.socket(socket.AF_UNIX)
    silent = socket.socket(socket.AF_UNIX)
    with half, silent:
        half.connect(str(inst.run / client.SOCKET))
        silent.connect(str(inst.run / client.SOCKET))
        half.sendall(b'{"op": "ps", "all"')  # no end of line, and then nothing
        assert _cli("ps", timeout=60).returncode == 0  # served while both hang on
        r = lk.run("busybox", "echo hi", rm=True, stream=False)
        assert r.stdout == "hi\n"
        # Served first: labkitd has not given up on the half request yet (it was not waiting on it).
        for s in (half, silent):
            with pytest.raises(BlockingIOError):
                s.recv(1, socket.MSG_DONTWAIT)


@pytest.mark.parametrize("request_line", [
    b"not json\n", b"[1, 2]\n", b'{"op": 12}\n', b'{"op": "nosuch"}\n', b'{"op": "rm", "id": 5}\n',
    b'{"op": "run", "options": {"image": "busybox", "command": 7}}\n', b'{"op": "run", "options": "x"}\n',
    b'{"op": "stop", "id": "x", "timeout": NaN}\n', b'{"op": "run_bundle", "bundle": ["/"]}\n',
    b'{"op": "attach", "id": "nosuch", "seen": "x"}\n', b'{"op": "exec", "id": "nosuch", "args": {}}\n',
    b"\xff\xfe\n", b"x" * (2 << 20),
])
def test_a_bad_request_gets_an_error_and_labkitd_goes_on(inst, request_line):
    pid = _labkitd_pid(inst)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(inst.run / client.SOCKET))
        s.settimeout(60)
        try:
            s.sendall(request_line)
        except BrokenPipeError:
            pass  # it read enough to refuse, and closed
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert b'"error"' in reply, reply
    assert _labkitd_pid(inst) == pid


# -- values checked where they enter ------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["inf", "nan", "3000000", "-5", "abc"])
def test_stop_refuses_a_timeout_that_is_not_one(busybox, inst, box, value):
    c = lk.run("busybox", "sleep 600", detach=True)
    box.append(c)
    pid = _labkitd_pid(inst)
    p = _cli("stop", "-t", value, c.id)
    assert p.returncode == 125 and "timeout" in p.stderr and "hint:" in p.stderr
    with pytest.raises(lk.InvalidArgument):
        client.call("stop", id=c.id, timeout=float(value) if value not in ("abc",) else value)
    assert c.status == "running" and _labkitd_pid(inst) == pid


def test_stop_minus_one_waits_forever(busybox, box):
    c = lk.run("busybox", ["sh", "-c", "trap '' TERM; echo ready; sleep 600"], detach=True)
    box.append(c)
    _until(lambda: "ready" in c.logs(), what="the container to start")
    stopper = subprocess.Popen([*LABKIT, "stop", "-t", "-1", c.id], stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)  # SIGTERM is ignored; a SIGKILL would have ended it by now with any timeout below this
    assert stopper.poll() is None and c.status == "running"
    c.kill()
    assert stopper.wait(timeout=60) == 0


@pytest.mark.parametrize("flags", [["--pids-limit", "99999999999999999999"], ["-m", "1"], ["--cpus", "nan"],
                                   ["--cpus", "0.001"]])
def test_update_refuses_bad_limits_and_the_container_still_starts(busybox, box, flags):
    c = lk.create("busybox", "true")
    box.append(c)
    p = _cli("update", *flags, c.id)
    assert p.returncode != 0 and "hint:" in p.stderr, p
    with pytest.raises(lk.InvalidArgument):
        client.call("update", id=c.id, resources={"pids": 10**20} if "--pids-limit" in flags else {"memory": 1})
    c.start()
    assert c.wait(timeout=60) == 0


@pytest.mark.parametrize("kwargs", [
    {"cpus": float("nan")}, {"cpus": "inf"}, {"command": 123}, {"name": 123}, {"env": object()}, {"hostname": object()},
    {"hostname": "-bad"}, {"env": ["=x"]}, {"user": "4294967296"}, {"user": 1.5}, {"workdir": "relative"},
    {"memory": "1"}, {"pids_limit": 2**30}, {"command": ["echo", None]},
])
def test_bad_api_values_are_typed_errors_and_nothing_is_made(busybox, inst, kwargs):
    before = set(state.all_ids(inst))
    command = kwargs.pop("command", "true")
    with pytest.raises(lk.LabkitError) as e:
        lk.run("busybox", command, rm=True, **kwargs)
    assert e.value.hint or type(e.value).hint, e.value
    assert set(state.all_ids(inst)) == before


@pytest.mark.parametrize("args, code, text", [
    (["run", "--rm", "--cpus", "nan", "busybox", "true"], 125, "cpus"),
    (["run", "--rm", "-e", "=x", "busybox", "true"], 125, "no name"),
    (["run", "--rm", "-u", "4294967296", "busybox", "true"], 125, "IDs go up to"),
    (["run", "--rm", "busybox", ""], 127, "not a command"),
    (["run", "--rm", "-w", "/etc/passwd", "busybox", "true"], 125, "not a directory"),
    (["run", "--rm", "-u", "ghost", "busybox", "true"], 125, "unable to find user ghost"),
    (["run", "--bogus", "busybox"], 125, "unrecognized arguments"),
    (["stop", "nosuch"], 1, "no such container"),
    (["logs", "nosuch"], 1, "no such container"),
    (["inspect", "nosuch"], 1, "no such container"),
])
def test_cli_errors_have_dockers_exit_codes_and_a_hint(busybox, args, code, text):
    p = _cli(*args)
    assert p.returncode == code, p
    assert text in p.stderr and "hint:" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert "doctor" not in p.stderr and "reset" not in p.stderr  # none of these is the host's fault


def test_user_names_and_caller_environment_as_docker(busybox, monkeypatch):
    monkeypatch.setenv("LABKIT_TEST_VALUE", "from-the-caller")
    p = _cli("run", "--rm", "-u", "nobody", "-e", "LABKIT_TEST_VALUE", "-e", "LABKIT_NOT_SET", "busybox",
             "sh", "-c", "id -u; id -g; echo $LABKIT_TEST_VALUE; env | grep -c LABKIT_NOT_SET")
    assert p.stdout.split() == ["65534", "65534", "from-the-caller", "0"], p


# -- the lab's own cgroups -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [".", "./.", "..", "a/../b", "a//b", "", "labkitd", "labkitd/x", "0" * 64, 123, None])
def test_cgroup_refuses_reserved_names_and_path_tricks(name):
    with pytest.raises(lk.InvalidArgument):
        lk.cgroup(name)


def test_a_nested_cgroup_is_removed_with_the_levels_it_made(inst):
    from labkit import cgroups

    g = lk.cgroup("lkx/y/z")
    assert all(d.is_dir() for d in g.paths)
    g.remove()
    for level in ("lkx/y/z", "lkx/y", "lkx"):
        assert not cgroups.group(f"{inst.tag}/{level}").exists(), level


# -- labkitd and its keeper killed under load ------------------------------------------------------------------
def _clients(n: int, tmp_path: Path, lines: int = 8, pause: float = 0.25) -> list[tuple[subprocess.Popen, Path]]:
    out = []
    for i in range(n):
        path = tmp_path / f"out{i}.txt"
        f = open(path, "wb")
        p = subprocess.Popen([*LABKIT, "run", "--rm", "busybox", "sh", "-c",
                              f"for i in $(seq 1 {lines}); do echo line $i; sleep {pause}; done; exit 3"],
                             stdout=f, stderr=subprocess.PIPE)
        f.close()
        out.append((p, path))
    return out


def _all_started(inst, n: int) -> bool:
    return sum(1 for r in client.call("ps", inst=inst)["containers"] if r["args"][-1].endswith("exit 3")) >= n


@pytest.mark.slow
def test_killing_labkitd_under_twenty_clients_loses_no_line_and_no_exit_code(busybox, inst, tmp_path):
    runs = _clients(20, tmp_path)
    _until(lambda: _all_started(inst, 20), timeout=120, what="20 containers")
    os.kill(_labkitd_pid(inst), signal.SIGKILL)
    for p, path in runs:
        p.wait(timeout=180)
        err = p.stderr.read().decode()
        assert p.returncode == 3, (p.returncode, err)  # each finished, with its container's own exit code
        assert path.read_bytes() == b"".join(b"line %d\n" % i for i in range(1, 9)), err
    assert _cli("ps", "-aq").stdout.strip() == ""  # --rm: each removed


@pytest.mark.slow
def test_killing_the_keeper_then_labkitd_still_loses_nothing(busybox, inst, tmp_path):
    runs = _clients(5, tmp_path)
    _until(lambda: _all_started(inst, 5), timeout=120, what="5 containers")
    keeper = int((inst.run / "labkit-keeper.pid").read_text())
    os.kill(keeper, signal.SIGKILL)
    _until(lambda: int((inst.run / "labkit-keeper.pid").read_text()) != keeper, what="labkitd to take the keeper's place")
    os.kill(_labkitd_pid(inst), signal.SIGKILL)  # and now the new keeper restarts it
    for p, path in runs:
        p.wait(timeout=180)
        assert p.returncode == 3, p.stderr.read()
        assert path.read_bytes().count(b"\n") == 8
    # The lab is whole again: a keeper, a labkitd, and a run works.
    assert lk.run("busybox", "echo ok", rm=True, stream=False).stdout == "ok\n"


def test_a_run_whose_start_was_cut_off_is_finished_by_the_next_labkitd(busybox, inst):
    from labkit import cgroups

    c = lk.create("busybox", "sleep 600", rm=True)
    rec = state.read(inst, c.id)
    rec["starting"] = True  # as labkitd leaves it when killed between `run`'s create and its exec
    state.write(inst, rec)
    group = cgroups.group(rec["cgroup"])
    group.create()
    os.kill(_labkitd_pid(inst), signal.SIGKILL)
    client.call("ping")  # the keeper's new labkitd has recovered by the time it answers
    assert not state.bundle_dir(inst, c.id).exists()  # --rm: removed, as its run would have
    assert not group.exists()


def test_reset_frees_container_names(busybox):
    c = lk.run("busybox", "sleep 600", detach=True, name="lk-reset-name")
    assert c.status == "running"
    lk.reset()
    d = lk.run("busybox", "sleep 600", detach=True, name="lk-reset-name")
    try:
        assert d.name == "lk-reset-name"
    finally:
        d.remove(force=True)


def test_a_stale_name_whose_container_is_gone_is_taken_again(busybox, inst):
    (state.names_dir(inst)).mkdir(parents=True, exist_ok=True)
    os.symlink("f" * 64, state.names_dir(inst) / "lk-stale")
    r = lk.run("busybox", "true", name="lk-stale", rm=True, stream=False)
    assert r.name == "lk-stale"


# -- logs -------------------------------------------------------------------------------------------------------
def test_logs_are_streamed_and_end_quietly_on_a_closed_pipe(busybox, box):
    c = lk.run("busybox", ["sh", "-c", "yes 0123456789abcdef0123456789abcdef0123456789 | head -c 20000000"], detach=True)
    box.append(c)
    assert c.wait(timeout=180) == 0
    p = subprocess.run(f"{' '.join(LABKIT)} logs {c.id} | head -1; echo rc=${{PIPESTATUS[0]}}", shell=True,
                       executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert p.stdout.splitlines()[-1] == "rc=141" and "Traceback" not in p.stderr, p.stderr
    # The peak memory of `labkit logs` itself: VmHWM of its own address space, read as it ends (rusage
    # would count the pages of this large test process, which the fork copied before the exec).
    code = ("import sys; from labkit.cli import main; rc = main(['logs', sys.argv[1]]); "
            "sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))); sys.exit(rc)")
    p = subprocess.run([PYTHON, "-c", code, c.id], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    peak_kib = int(p.stderr.split()[-2])
    assert peak_kib < 40000, p.stderr  # ~20 MB of log read by a process that never held it all


def test_a_chatty_container_log_is_capped_and_rotated(busybox, box, inst):
    from labkit.runtime import logs

    line = "0123456789abcdef0123456789abcdef0123456789\n"
    c = lk.run("busybox", ["sh", "-c", f"yes {line.strip()} | head -n 900000; echo last"], detach=True)
    box.append(c)
    assert c.wait(timeout=300) == 0
    files = logs.log_files(state.bundle_dir(inst, c.id))
    assert len(files) == logs.MAX_FILE
    assert sum(f.stat().st_size for f in files) <= logs.MAX_FILE * logs.MAX_SIZE + 65536
    assert c.logs(tail=1) == "last\n"
    dropped = logs.read_dropped(state.bundle_dir(inst, c.id))
    kept = sum(len(e["log"].encode()) for e in logs.entries(state.bundle_dir(inst, c.id)) if e["stream"] == "stdout")
    assert dropped["stdout"] + kept == 900000 * len(line) + len("last\n")  # every byte is counted, kept or dropped


def test_update_below_what_a_running_container_uses_says_why(busybox, box):
    from labkit import cgroups

    if cgroups.layout().version != 1:
        pytest.skip("cgroup v2 reclaims or OOM-kills below memory.max instead of refusing the write")
    c = lk.run("busybox", ["sh", "-c", "head -c 30000000 /dev/zero > /dev/shm/x; echo filled; sleep 600"],
               detach=True, memory="64M")
    box.append(c)
    _until(lambda: "filled" in c.logs(), what="the container to use 30 MB")
    p = _cli("update", "-m", "8M", c.id)
    assert p.returncode == 1 and "uses now" in p.stderr, p.stderr
    assert "reset" not in p.stderr and "doctor" not in p.stderr  # not the host's fault
    assert c.status == "running"


def test_log_opt_sets_the_cap_as_dockers_json_file_driver(busybox, inst):
    from labkit.runtime import logs

    p = _cli("run", "--rm", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "-d", "busybox", "sh", "-c",
             "yes 0123456789abcdef0123456789abcdef0123456789 | head -n 100000; sleep 600")
    cid = p.stdout.strip()
    try:
        _until(lambda: len(logs.log_files(state.bundle_dir(inst, cid))) == 2
               and logs.read_dropped(state.bundle_dir(inst, cid))["stdout"] > 0, what="the log to rotate")
        assert all(f.stat().st_size <= 1 << 20 for f in logs.log_files(state.bundle_dir(inst, cid)))
    finally:
        _cli("rm", "-f", cid)
    bad = _cli("run", "--rm", "--log-opt", "max-files=2", "busybox", "true")
    assert bad.returncode == 125 and "max-size and max-file" in bad.stderr


def test_many_clients_at_once_are_all_served(busybox, inst):
    """300 connections open at the same time (more than a usual 1024-descriptor process could juggle
    with its containers): each gets its answer, and the containers keep the usual descriptor limit."""
    client.call("ping", inst=inst)
    socks = []
    try:
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(inst.run / client.SOCKET))
            s.sendall(b'{"op": "ping"}\n')
            socks.append(s)
        for s in socks:
            s.settimeout(60)
            assert b'"pid"' in s.recv(65536)
    finally:
        for s in socks:
            s.close()
    r = lk.run("busybox", ["sh", "-c", "ulimit -n"], rm=True, stream=False)
    assert r.stdout.strip() == str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def test_a_start_that_hangs_delays_no_other_client(busybox, box):
    """PID 1 joins a frozen cgroup just before its exec, and stays there: its start hangs. labkitd
    waits for it in its loop, not in a call, so every other client is served meanwhile."""
    from labkit import cgroups

    c = lk.create("busybox", "echo started")
    box.append(c)
    group = cgroups.group(c.attrs["cgroup"])
    group.create()
    group.freeze(True)
    starter = subprocess.Popen([*LABKIT, "start", c.id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: bool(group.pids()), what="PID 1 to join its frozen group")
        assert _cli("ps", "-a").returncode == 0  # answered while the start hangs
        assert lk.run("busybox", "echo other", rm=True, stream=False).stdout == "other\n"
        assert starter.poll() is None and c.status == "created"
        rm = _cli("rm", "-f", c.id)
        assert rm.returncode == 1 and "starting" in rm.stderr  # its start is under way: not torn down under it
    finally:
        group.freeze(False)
    assert starter.wait(timeout=60) == 0, starter.stderr.read()
    assert c.wait(timeout=60) == 0 and c.logs() == "started\n"


# -- a full disk (issue 21): no exit is lost, no record is half-written ------------------------------------
def test_a_full_disk_loses_no_exit_and_leaves_no_half_written_record(tmp_path):
    """The data root on a 24 MiB tmpfs; a container fills it through a bind mount, then exits 3. The
    attached run returns 3 at once, `wait` says 3, the kept record reaches the disk once space is
    freed, and labkitd's log says what it could not write."""
    from labkit.images import default
    from labkit.images.store import ImageStore
    from labkit.kernel import syscalls as sc
    from labkit.paths import instance

    disk = tmp_path / "small"
    disk.mkdir()
    sc.mount("labkit-fulldisk-test", str(disk), "tmpfs", 0, "size=24m")
    root = disk / "root"
    env = {**os.environ, "LABKIT_ROOT": str(root)}
    try:
        small = instance(str(root))
        default.build(ImageStore(small))
        (root / "fill").mkdir()
        run = subprocess.run([*LABKIT, "run", "--name", "filler", "-v", f"{root / 'fill'}:/fill", "busybox", "sh", "-c",
                              "dd if=/dev/zero of=/fill/big bs=64k 2>/dev/null; echo full; exit 3"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 3, run.stdout + run.stderr
        assert run.stdout == "full\n"  # the attached client gets the output the log could not take
        wait = subprocess.run([*LABKIT, "wait", "filler"], env=env, capture_output=True, text=True, timeout=30)
        assert wait.stdout.strip() == "3", wait.stdout + wait.stderr
        log = (small.run / "labkitd.log").read_text()
        assert "could not write the record of container filler" in log and "exit code 3" in log
        cid = state.resolve(small, "filler")
        bundle = state.bundle_dir(small, cid)
        assert not list(bundle.glob(".state.*")), "a half-written record was left"
        for line in (bundle / "log.json").read_text().splitlines():
            json.loads(line)  # whole JSON lines or none: never half of one
        on_disk = json_of(bundle / "state.json")
        assert on_disk["status"] == "running"  # the disk could not take the exit yet ...
        (root / "fill" / "big").unlink()       # ... until space is freed: labkitd writes it on its own
        _until(lambda: json_of(bundle / "state.json")["status"] == "exited", timeout=30, what="the kept exit on disk")
        rec = json_of(bundle / "state.json")
        assert rec["exit_code"] == 3
        inspect = subprocess.run([*LABKIT, "inspect", "filler"], env=env, capture_output=True, text=True, timeout=30)
        assert '"ExitCode": 3' in inspect.stdout
        assert "the kept records are written" in (small.run / "labkitd.log").read_text()
    finally:
        subprocess.run([*LABKIT, "reset", "--yes"], env=env, capture_output=True, timeout=120)
        sc.umount2(str(disk), 2)  # MNT_DETACH


def json_of(path):
    return json.loads(Path(path).read_text())


def test_a_record_write_the_disk_refuses_leaves_the_old_record_whole(inst, tmp_path, monkeypatch):
    """state.write on ENOSPC or EIO, or a short write: state.json stays the old one, no temporary file."""
    import errno

    cid = "f" * 64
    bundle = state.bundle_dir(inst, cid)
    bundle.mkdir(parents=True)
    try:
        state.write(inst, {"id": cid, "status": "running"})
        real_write = os.write
        for failure in (OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EIO, "I/O error"), "short"):
            def broken(fd, data, failure=failure):
                if isinstance(failure, OSError):
                    raise failure
                return real_write(fd, bytes(data)[: len(data) // 2]) if len(data) > 1 else 0
            monkeypatch.setattr(os, "write", broken)
            with pytest.raises(OSError):
                state.write(inst, {"id": cid, "status": "exited", "exit_code": 3})
            monkeypatch.setattr(os, "write", real_write)
            assert json_of(bundle / "state.json") == {"id": cid, "status": "running"}
            assert not list(bundle.glob(".state.*"))
    finally:
        import shutil

        shutil.rmtree(bundle)
