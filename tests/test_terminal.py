"""-i and -t for real: a container's stdin from a pipe, a file or /dev/null, and a shell on a
pseudo-terminal typed into as a learner would (keys, Ctrl-C, a window resized, exit)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

import labkit as lk

LABKIT = [sys.executable, "-m", "labkit.cli"]
DOCKER = shutil.which("docker") or os.path.join(os.path.dirname(sys.executable), "docker")  # as test_docker_api's


class Typist:
    """A program on a pseudo-terminal of our own, as in a learner's terminal window."""

    def __init__(self, argv, rows=30, cols=100):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp(argv[0], argv)
        self.size(rows, cols, signal_it=False)
        self.out = b""

    def size(self, rows, cols, signal_it=True):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if signal_it:
            os.kill(self.pid, signal.SIGWINCH)

    def expect(self, text: bytes, timeout=20.0) -> bytes:
        end = time.monotonic() + timeout
        while text not in self.out:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not seen in {self.out[-500:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"{text!r} not seen before the end: {self.out[-500:]!r}")
                self.out += data
        return self.out

    def type(self, keys: bytes) -> None:
        # A client that stopped reading its terminal would block this write forever: fail instead.
        if not select.select([], [self.fd], [], 20)[1]:
            raise AssertionError(f"the program stopped reading its terminal: {self.out[-500:]!r}")
        os.write(self.fd, keys)

    def exit_code(self, timeout=20.0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.out += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("it did not exit")


def shell_session(argv, end=b"exit 5\r"):
    """A shell typed into; `end` ends it: "exit 5" (its code is 5), or Ctrl-D at the prompt (EOF: 0)."""
    t = Typist(argv)
    t.expect(b"/ # ")
    t.type(b"echo $((6*7)); stty size; tty; ls /dev/pts | grep -c .\r")
    # The output is a terminal's (\r\n), its size this window's, and the terminal the container's own:
    # made in its /dev/pts (a host's /dev/pts/N would make `tty` say "not a tty"), where the host's are not.
    t.expect(b"42\r\n30 100\r\n/dev/pts/")
    t.expect(b"\r\n2\r\n")  # ptmx and our one terminal
    t.size(40, 120)
    time.sleep(0.3)  # the new size travels as its own request
    t.type(b"stty size\r")
    t.expect(b"40 120\r\n")
    t.type(b"sleep 60\r")
    time.sleep(0.5)
    t.type(b"\x03")  # Ctrl-C: the container's terminal makes it SIGINT for sleep, the shell stays
    t.type(b"echo after-ctrl-c\r")
    t.expect(b"after-ctrl-c\r\n")
    t.type(end)
    return t.exit_code()


@pytest.mark.v2
def test_labkit_run_it_is_a_shell_on_a_terminal(busybox):
    assert shell_session(LABKIT + ["run", "-it", "--rm", "busybox", "sh"]) == 5
    assert lk.ps(all=True) == []


def test_labkit_run_i_takes_stdin_from_a_pipe_a_file_and_dev_null(busybox, tmp_path):
    p = subprocess.run(LABKIT + ["run", "-i", "--rm", "busybox", "cat"], input=b"hello\n", capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"hello\n"), p.stderr
    big = tmp_path / "big"
    big.write_bytes(os.urandom(3 << 20))  # more than any buffer on the way: labkitd must not hold it all
    with open(big, "rb") as f:
        p = subprocess.run(LABKIT + ["run", "-i", "--rm", "busybox", "sh", "-c", "wc -c; cat /etc/hostname >/dev/null"],
                           stdin=f, capture_output=True, timeout=60)
    assert p.stdout.split() == [str(3 << 20).encode()], p.stderr
    with open(os.devnull, "rb") as f:
        p = subprocess.run(LABKIT + ["run", "-i", "--rm", "busybox", "cat"], stdin=f, capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"")
    # Without -i the container's stdin is /dev/null, whatever the caller's is.
    p = subprocess.run(LABKIT + ["run", "--rm", "busybox", "cat"], input=b"not for it\n", capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"")


def test_input_and_a_terminal_from_the_api(busybox):
    r = lk.run("busybox", "wc -c", input="hello", rm=True, stream=False)
    assert (r.exit_code, r.stdout.strip()) == (0, "5")
    r = lk.run("busybox", "sh -c 'stty size; tty; echo out; echo err >&2'", tty=True, rm=True, stream=False)
    assert r.stdout == "24 80\r\n/dev/pts/0\r\nout\r\nerr\r\n"  # one terminal, its own: both streams, \r\n


def test_a_terminal_can_only_be_resized_while_it_runs(busybox, box):
    from labkit.runtime.client import labkitd

    c = lk.run("busybox", "sleep 60", detach=True)
    box.append(c)
    with pytest.raises(lk.Conflict):
        labkitd.call("resize", id=c.id, rows=24, cols=80)  # no terminal
    t = lk.run("busybox", "sleep 60", detach=True, tty=True)
    box.append(t)
    labkitd.call("resize", id=t.id, rows=50, cols=132)
    with pytest.raises(lk.InvalidArgument):
        labkitd.call("resize", id=t.id, rows=0, cols=10**6)


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason="the docker CLI (client only) is not installed")
def test_docker_run_it_and_i(busybox, inst):
    from labkit.runtime.client import labkitd

    labkitd.call("ping", inst=inst)
    host = f"unix://{inst.run / 'docker.sock'}"
    assert shell_session([DOCKER, "-H", host, "run", "-it", "--rm", "busybox", "sh"], end=b"\x04") == 0  # Ctrl-D
    p = subprocess.run([DOCKER, "-H", host, "run", "-i", "--rm", "busybox", "cat"], input=b"hi\n", capture_output=True,
                       timeout=60)
    assert (p.returncode, p.stdout) == (0, b"hi\n"), p.stderr
    assert lk.ps(all=True) == []


@pytest.mark.parametrize("client", ["labkit", "docker"])
def test_exec_it_and_i_into_a_running_container(busybox, box, inst, client):
    from labkit.runtime.client import labkitd

    c = lk.run("busybox", "sleep 600", detach=True, name=f"ex-{client}")
    box.append(c)
    if client == "docker":
        if not os.access(DOCKER, os.X_OK):
            pytest.skip("the docker CLI (client only) is not installed")
        labkitd.call("ping", inst=inst)
        argv = [DOCKER, "-H", f"unix://{inst.run / 'docker.sock'}", "exec"]
    else:
        argv = LABKIT + ["exec"]
    assert shell_session(argv + ["-it", c.name, "sh"]) == 5
    p = subprocess.run(argv + ["-i", c.name, "wc", "-c"], input=b"x" * 300000, capture_output=True, timeout=60)
    assert (p.returncode, p.stdout.strip()) == (0, b"300000"), p.stderr
    with open(os.devnull, "rb") as f:
        p = subprocess.run(argv + ["-i", c.name, "cat"], stdin=f, capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"")
    assert c.status == "running"  # the exec's end is not the container's
