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

    def expect(self, text: bytes, timeout=20.0, start: int = 0) -> int:
        """Read (never blocking past `timeout`) until `text` shows at or after `start`; where it ends."""
        end = time.monotonic() + timeout
        while text not in self.out[start:]:
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
        return self.out.index(text, start) + len(text)

    def until_shown(self, keys: bytes, shown: bytes, then: bytes, tries: int = 25) -> None:
        """Type `keys` until the program shows `shown` followed by `then` (its prompt): for a change that
        travels apart from the keys (a window's new size), retyped while the old one still shows."""
        for _ in range(tries):
            at = len(self.out)
            self.type(keys)
            self.expect(then, start=self.expect(b"\n", start=at))  # the answer to these keys, and the prompt after
            if shown + then in self.out[at:]:
                return
            time.sleep(0.2)
        raise AssertionError(f"{shown!r} never shown: {self.out[-500:]!r}")

    def interrupt_until_shown(self, keys: bytes, shown: bytes, then: bytes, tries: int = 5) -> None:
        """Ctrl-C, then `keys`, until the shell shows `shown` and its prompt: a Ctrl-C that arrives while
        the shell is still starting the command (not yet the terminal's foreground) leaves it running."""
        for _ in range(tries):
            at = len(self.out)
            time.sleep(0.3)
            self.type(b"\x03")  # the container's terminal makes it SIGINT for the command; the shell stays
            self.type(keys)
            try:
                self.expect(shown + then, timeout=4, start=at)
                return
            except AssertionError:
                continue
        raise AssertionError(f"Ctrl-C never ended the command: {self.out[-500:]!r}")

    def type(self, keys: bytes) -> None:
        # A client that stopped reading its terminal would block this write forever: fail instead.
        if not select.select([], [self.fd], [], 20)[1]:
            raise AssertionError(f"the program stopped reading its terminal: {self.out[-500:]!r}")
        os.write(self.fd, keys)

    def exit_code(self, timeout=20.0) -> int:
        """The program's exit code, reading what it shows meanwhile; never blocks in a read (a program
        that goes on running would hold a blocking read forever): after `timeout`, it is killed and the
        failure shows the terminal's last lines."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        self.kill()
        raise AssertionError(f"it did not exit in {timeout:g} s; the terminal showed {self.out[-500:]!r}")

    def kill(self) -> None:
        """End the program (ours, by its PID) and close its terminal."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


PROMPT = b"/ # "


def shell_session(argv, end=b"exit 5\r", sized_at_start=True):
    """A shell typed into; `end` ends it: "exit 5" (its code is 5), or Ctrl-D at the prompt (EOF: 0).

    Nothing is typed ahead of the shell: each step waits for the shell's own output, computed so that
    the terminal's echo of the typed line cannot match it (`echo after-$((6*7+1))` prints after-43;
    its echo shows the $((...))), and then for the prompt. A Ctrl-D typed while a command still runs
    reaches a terminal in cooked mode, which makes it an end-of-file for a reader that never comes:
    the shell's line editor then reads a NUL and the shell never ends (issue 22: bash and busybox sh
    do the same on a host terminal, with no container at all).

    sized_at_start: the client sends its window's size with the request that makes the terminal (labkit;
    docker from API 1.42, ConsoleSize), so the first command sees it; older CLIs resize after the start,
    and the first command may still see 24 x 80, with dockerd too."""
    t = Typist(argv)
    try:
        t.expect(PROMPT)
        t.type(b"echo $((6*7)); stty size; tty; ls /dev/pts | grep -c .\r")
        # The output is a terminal's (\r\n), its size this window's, and the terminal the container's own:
        # made in its /dev/pts (a host's /dev/pts/N would make `tty` say "not a tty"), where the host's are not.
        at = t.expect(b"42\r\n") - 4
        t.expect(b"42\r\n30 100\r\n/dev/pts/" if sized_at_start else b"\r\n/dev/pts/", start=at)
        t.expect(b"\r\n2\r\n" + PROMPT)  # ptmx and our one terminal
        t.size(40, 120)
        t.until_shown(b"stty size\r", b"40 120\r\n", PROMPT)  # the new size travels as its own request
        t.type(b"sleep 60\r")
        t.interrupt_until_shown(b"echo after-$((6*7+1))\r", b"after-43\r\n", PROMPT)
        t.type(end)
        return t.exit_code()
    finally:
        t.kill()


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
    assert shell_session([DOCKER, "-H", host, "run", "-it", "--rm", "busybox", "sh"], end=b"\x04",
                         sized_at_start=_sends_console_size(DOCKER)) == 0  # Ctrl-D
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
    assert shell_session(argv + ["-it", c.name, "sh"], sized_at_start=client == "labkit" or _sends_console_size(DOCKER)) == 5
    p = subprocess.run(argv + ["-i", c.name, "wc", "-c"], input=b"x" * 300000, capture_output=True, timeout=60)
    assert (p.returncode, p.stdout.strip()) == (0, b"300000"), p.stderr
    with open(os.devnull, "rb") as f:
        p = subprocess.run(argv + ["-i", c.name, "cat"], stdin=f, capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"")
    assert c.status == "running"  # the exec's end is not the container's


def _sends_console_size(docker: str) -> bool:
    """A docker CLI of API 1.42 or later sends the window's size in the create (ConsoleSize)."""
    api = subprocess.run([docker, "version", "--format", "{{.Client.APIVersion}}"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    try:
        return tuple(map(int, api.split("."))) >= (1, 42)
    except ValueError:
        return False


def _typing_clients(inst) -> list[tuple[str, list[str], bool]]:
    """`labkit run -it`, and `docker run -it` with the CLI on PATH and with Debian's (the venv's) when
    they differ: each sends its own requests (28.x also sends kill?signal=WINCH, 20.10 does not)."""
    from labkit.runtime.client import labkitd

    clients = [("labkit", LABKIT + ["run", "-it", "--rm", "busybox", "sh"], True)]
    labkitd.call("ping", inst=inst)
    host = f"unix://{inst.run / 'docker.sock'}"
    debian = os.path.join(os.path.dirname(sys.executable), "docker")
    for docker in dict.fromkeys([DOCKER, debian]):
        if os.access(docker, os.X_OK):
            version = subprocess.run([docker, "--version"], capture_output=True, text=True, timeout=30).stdout.split(",")[0]
            clients.append((version or docker, [docker, "-H", host, "run", "-it", "--rm", "busybox", "sh"],
                            _sends_console_size(docker)))
    return clients


@pytest.mark.slow
@pytest.mark.limit(300)
def test_typed_sessions_always_end_with_the_shells_code_under_load(busybox, inst):
    """The whole typed session (keys, a resize, Ctrl-C, then `exit 5` or Ctrl-D at the prompt) 60 times,
    six at once, with every CPU busy, through each client: every one ends, with the shell's code."""
    from concurrent.futures import ThreadPoolExecutor

    clients = _typing_clients(inst)
    jobs = [(clients[i % len(clients)], (b"exit 5\r", 5) if i % 2 else (b"\x04", 0)) for i in range(60)]
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]

    def one(job):
        (name, argv, sized), (end, code) = job
        try:
            got = shell_session(argv, end=end, sized_at_start=sized)
        except AssertionError as e:
            return f"{name} {end!r}: {e}"
        return None if got == code else f"{name} {end!r}: exit code {got}, not {code}"

    try:
        with ThreadPoolExecutor(6) as pool:
            failures = [f for f in pool.map(one, jobs) if f]
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        for c in lk.ps(all=True):  # a session that failed was killed at its client: its container goes here
            c.remove(force=True)
    assert not failures, f"{len(failures)} of {len(jobs)} sessions failed:\n" + "\n".join(failures[:5])
    assert lk.ps(all=True) == []
