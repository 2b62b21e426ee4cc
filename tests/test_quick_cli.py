"""The `labkit` launcher's quick path (runtime/client/quick.py, host/launcher.py): `labkit run` as
users type it, with the output redirected, piped into head, interrupted, broken by labkitd's death;
and what it hands to the full CLI (a terminal, stdin, --trace, no labkitd yet)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

import labkit as lk
from conftest import PYTHON, REPO
from labkit.host import launcher

QUICK = REPO / "labkit/runtime/client/quick.py"
# Only the quick path, in a bare interpreter: main() returns the exit code, or None for the full CLI;
# and exit 99 if it imported anything of labkit's (the quick path must not).
PROBE = f"""
import sys
space = {{"__name__": "labkit_quick"}}
exec(compile(open({str(QUICK)!r}, "rb").read(), "quick.py", "exec"), space)
code = space["main"](sys.argv[1:], [])
sys.stdout.flush()
if any(m == "labkit" or m.startswith("labkit.") for m in sys.modules):
    sys.exit(99)
sys.exit(100 if code is None else code)
"""


@pytest.fixture(scope="module")
def labkit_cmd(tmp_path_factory):
    path = tmp_path_factory.mktemp("bin") / "labkit"
    launcher.write(path, PYTHON, REPO)
    return [str(path)]


@pytest.fixture(autouse=True)
def serving(busybox):
    """labkitd running: with none, the quick path hands over to the full CLI, which starts one."""
    lk.ps()


def quick(*argv, **kw):
    return subprocess.run([PYTHON, "-SI", "-c", PROBE, *argv], timeout=120, **kw)


def test_run_takes_the_quick_path_and_gives_docker_s_codes_and_streams(busybox, tmp_path):
    with open(tmp_path / "out", "wb") as out:
        p = quick("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", stdout=out, stderr=subprocess.PIPE)
    assert (p.returncode, (tmp_path / "out").read_bytes(), p.stderr) == (3, b"out\n", b"err\n")
    p = quick("run", "-d", "--name", "quickd", "busybox", "sleep", "600", capture_output=True, text=True)
    assert p.returncode == 0 and len(p.stdout.strip()) == 64
    c = lk.container("quickd")
    try:
        assert c.status == "running" and c.id == p.stdout.strip()
    finally:
        c.remove(force=True)
    os.environ["LK_QUICK_GREETING"] = "from the client"  # -e NAME: the caller's value, not labkitd's
    try:
        p = quick("run", "--rm", "-e", "LK_QUICK_GREETING", "busybox", "sh", "-c", "echo $LK_QUICK_GREETING",
                  capture_output=True, text=True)
    finally:
        del os.environ["LK_QUICK_GREETING"]
    assert (p.returncode, p.stdout) == (0, "from the client\n")
    assert quick("run", "--rm", "busybox", "no-such-program", capture_output=True).returncode == 127


def test_usage_help_and_bad_values_are_said_as_the_full_cli_says_them(busybox, labkit_cmd):
    for argv in (["run", "--memory"], ["run", "--help"], ["run", "-m", "lots", "busybox", "true"],
                 ["run", "--pids-limit", "0", "busybox", "true"]):
        q = quick(*argv, capture_output=True, text=True)
        full = subprocess.run([PYTHON, "-m", "labkit", *argv], capture_output=True, text=True, timeout=120)
        assert (q.returncode, q.stdout, q.stderr) == (full.returncode, full.stdout, full.stderr), argv
        assert q.returncode in (0, 125) and "Traceback" not in q.stderr
    assert "usage: labkit run" in quick("run", "--help", capture_output=True, text=True).stdout


def test_a_closed_stdout_and_ctrl_c_end_the_run_and_kill_the_container(busybox, labkit_cmd):
    p = subprocess.run(f"{labkit_cmd[0]} run --rm busybox yes | head -2; echo rc=${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert p.stdout == "y\ny\nrc=141\n" and "Traceback" not in p.stderr
    proc = subprocess.Popen([*labkit_cmd, "run", "--name", "quickint", "busybox", "sh", "-c", "echo up; sleep 600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"up\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        c = lk.container("quickint")
        deadline = time.monotonic() + 60
        while c.status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.status == "exited" and c.attrs["exit_code"] == 137
        c.remove(force=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"Traceback" not in proc.stderr.read()


def test_what_the_quick_path_hands_to_the_full_cli(busybox, labkit_cmd, tmp_path):
    """A terminal, stdin, --trace, another verb, an image to pull, no labkitd: None from the quick
    path; and the launcher's full CLI does each of them."""
    for argv in (["run", "-i", "busybox", "cat"], ["run", "-t", "busybox", "true"], ["run", "--trace", "busybox", "true"],
                 ["ps"], ["run", "localhost:1/nothing-here", "true"]):
        assert quick(*argv, capture_output=True).returncode == 100, argv
    env = dict(os.environ, LABKIT_ROOT=str(tmp_path / "no-lab-here"))
    assert subprocess.run([PYTHON, "-SI", "-c", PROBE, "run", "--rm", "busybox", "true"], env=env, capture_output=True,
                          timeout=60).returncode == 100
    p = subprocess.run([*labkit_cmd, "run", "-i", "--rm", "busybox", "cat"], input=b"typed\n", capture_output=True, timeout=120)
    assert (p.returncode, p.stdout) == (0, b"typed\n")
    p = subprocess.run([*labkit_cmd, "run", "--rm", "--trace", "busybox", "true"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "exec the command" in p.stderr
    assert "CONTAINER ID" in subprocess.run([*labkit_cmd, "ps"], capture_output=True, text=True, timeout=60).stdout


def test_a_broken_stream_goes_on_from_the_log_when_labkitd_is_killed(busybox, labkit_cmd, inst):
    proc = subprocess.Popen([*labkit_cmd, "run", "--rm", "busybox", "sh", "-c", "echo before; sleep 2; echo after; exit 4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"before\n"
        os.kill(int((inst.run / "labkitd.pid").read_text()), signal.SIGKILL)
        assert proc.wait(timeout=60) == 4
        assert proc.stdout.read() == b"after\n"
        assert b"attaching again" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_quick_path_finds_labkitd_where_paths_py_puts_it(tmp_path, monkeypatch):
    """Its own few lines for $LABKIT_ROOT (it cannot import paths.py) against paths.instance()."""
    from labkit.paths import instance

    space = {"__name__": "labkit_quick"}
    exec(compile(QUICK.read_bytes(), str(QUICK), "exec"), space)
    monkeypatch.chdir(tmp_path)
    for root in ("lab", "./lab/", "a//b/./c", "a/../b", "/var/lib/labkit", "/var/lib/labkit/", "/srv/x/", ""):
        want = str(instance(root or None).run / "labkitd.sock") if root else "/run/labkit/labkitd.sock"
        assert space["socket_path"]({"LABKIT_ROOT": root} if root else {}) == want, root


def test_an_op_labkitd_does_not_have_is_named_so_a_newer_client_can_tell(inst):
    """A quick client newer than the labkitd still running asks for cli_run; the old one answers
    UnknownOperation (an InvalidArgument), which the quick path takes as "use the full CLI"."""
    import json
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(inst.run / "labkitd.sock"))
        s.sendall(b'{"op": "no_such_op"}\n')
        reply = json.loads(s.makefile("rb").readline())
    assert reply["error"]["types"][:2] == ["UnknownOperation", "InvalidArgument"], reply


@pytest.mark.parametrize("types, code, said", [
    (["UnknownOperation", "InvalidArgument", "LabkitError"], 100, b""),  # an older labkitd: the full CLI
    (["ImageNotFound", "NotFound", "LabkitError"], 100, b""),  # the full CLI pulls it first
    (["InvalidArgument", "LabkitError"], 125, b"labkit: bad value\nhint: do this\n"),
])
def test_the_quick_path_reads_labkitd_s_errors_by_their_kind(tmp_path, types, code, said):
    """Against a stand-in labkitd that answers one error: what the quick path does with each kind."""
    import json
    import socket
    import threading

    (tmp_path / "run").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "run" / "labkitd.sock"))
    server.listen(1)
    error = {"type": types[0], "types": types, "message": "bad value", "hint": "do this", "exit_code": 125}

    def answer():
        conn, _ = server.accept()
        with conn:
            conn.makefile("rb").readline()
            conn.sendall(json.dumps({"error": error}).encode() + b"\n")

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        p = quick("run", "busybox", "true", env=dict(os.environ, LABKIT_ROOT=str(tmp_path)), capture_output=True)
    finally:
        t.join(timeout=30)
        server.close()
    assert (p.returncode, p.stderr) == (code, said)


def test_twenty_quick_runs_at_once_each_get_their_own_output_and_code(busybox, labkit_cmd, tmp_path, inst):
    """A room's worth at once through the launcher: labkitd parses twenty command lines and the
    zygote forks twenty PID 1s while the others' output flows; each run's file holds its own line."""
    sup = int((inst.run / "labkitd.pid").read_text())
    procs = []
    for i in range(20):
        out = open(tmp_path / f"out{i}", "wb")
        procs.append((i, out, subprocess.Popen([*labkit_cmd, "run", "--rm", "busybox", "sh", "-c", f"echo run{i}; exit {i % 7}"],
                                               stdout=out, stderr=subprocess.PIPE)))
    try:
        for i, out, p in procs:
            assert p.wait(timeout=120) == i % 7, (i, p.stderr.read())
            out.close()
            assert (tmp_path / f"out{i}").read_bytes() == f"run{i}\n".encode()
    finally:
        for _, out, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            out.close()
            p.stderr.close()
    assert int((inst.run / "labkitd.pid").read_text()) == sup  # the same labkitd served them all
