"""The zygote: a small fork of labkitd, made before it serves anyone, that forks each container's PID 1.

    labkitd --socketpair--> labkit-zygote --clone3(CLONE_PARENT | CLONE_NEWPID | CLONE_INTO_CGROUP)--> PID 1
       ^                                                                                            |
       +---------------------------- its parent: SIGCHLD and its exit status come to labkitd -------+

Why: a fork copies the forking process's descriptor table, and PID 1 must then close every
descriptor that is not its own. labkitd holds four per running container (two FIFOs, the log, a
pidfd or a socket): with 1,000 running, a fork from labkitd copied ~4,000 and PID 1 closed them
all, and the start took ~2.5 ms more than with 10 running. The zygote holds its socket and nothing
else, however many containers run, and its memory is labkitd's as it was at start (shared, copy on
write). CLONE_PARENT makes PID 1 labkitd's child all the same: labkitd reaps it, as before.

One request, one answer, on a SOCK_SEQPACKET pair (a message is a message):

    -> {"config": {...config.json...}, "bundle": "/var/lib/labkit/containers/3f9a...", "cgroup": "labkit/3f9a...",
        "netns": true, "stdio": false}          + descriptors: the report pipe, then the netns, then stdio
    <- {"pid": 4242}   or   {"errno": 11}

The zygote dies with labkitd (PR_SET_PDEATHSIG); if it is gone, labkitd forks PID 1 itself. One
that does not answer in ANSWER_TIMEOUT (stopped, stuck) is killed: labkitd never waits on it longer.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import traceback
from pathlib import Path

from ... import cgroups
from ...errors import TimedOut
from ...kernel import syscalls as sc
from ..container import init

NAME = "labkit-zygote"
MAX_MESSAGE = 1 << 20
ANSWER_TIMEOUT = 5.0  # seconds labkitd waits for a PID before it gives the zygote up


class Zygote:
    """labkitd's end: start() once, then fork_pid1() for each start."""

    def __init__(self):
        self.sock: socket.socket | None = None
        self.pid = 0

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ours.close()
                _serve(theirs, parent)
                code = 0
            except BaseException:  # noqa: BLE001 - its log is labkitd's
                traceback.print_exc()
            finally:
                os._exit(code)
        theirs.close()
        ours.settimeout(ANSWER_TIMEOUT)
        self.sock, self.pid = ours, pid

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def fork_pid1(self, cfg: dict, bundle: str, fifo_dir: Path, cgroup: str, report_fd: int,
                  netns: int | None, stdio: int | None) -> int:
        """PID 1's PID (labkitd's child); OSError if the zygote could not fork it, or is gone (then
        alive is False, and the caller forks itself)."""
        msg = json.dumps({"config": cfg, "bundle": bundle, "fifo_dir": str(fifo_dir), "cgroup": cgroup,
                          "netns": netns is not None, "stdio": stdio is not None}).encode()
        fds = [report_fd] + [fd for fd in (netns, stdio) if fd is not None]
        try:
            socket.send_fds(self.sock, [msg], fds)
            answer = self.sock.recv(256)  # ~1 ms: the zygote answers once clone3 returned
        except socket.timeout:
            # Stopped or stuck: labkitd must not wait on it. It goes (we started it: its PID is ours to
            # end); this start fails, and its cgroup's removal takes any PID 1 it made meanwhile.
            self.close()
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise TimedOut("error.runtime.zygote-did-answer-s", answer_timeout=ANSWER_TIMEOUT) from None
        except OSError:
            answer = b""
        if not answer:
            self.close()
            raise OSError(errno.EPIPE, "the zygote is gone")
        reply = json.loads(answer)
        if "errno" in reply:
            raise OSError(reply["errno"], os.strerror(reply["errno"]))
        return reply["pid"]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()  # the zygote reads EOF and exits
            self.sock = None


def _serve(sock: socket.socket, parent: int) -> None:
    """The zygote's life: fork PID 1 for each request until labkitd closes its end (or dies)."""
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # labkitd died before the line above: nothing to serve
        return
    with open("/proc/self/comm", "w") as f:
        f.write(NAME)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    (fd,) = init.keep_only_fds(sock.fileno())  # labkitd's sockets, FIFOs and logs are not the zygote's
    sock = socket.socket(fileno=fd)
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 3)
        if not msg:
            return
        try:
            pid = _fork(json.loads(msg), fds)
            reply = {"pid": pid}
        except OSError as e:
            reply = {"errno": e.errno or 5}
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(json.dumps(reply).encode())


def _fork(req: dict, fds: list[int]) -> int:
    cfg = req["config"]
    group = cgroups.group(req["cgroup"])
    report_fd, rest = fds[0], fds[1:]
    netns = rest.pop(0) if req["netns"] else None
    stdio = rest.pop(0) if req["stdio"] else None
    flags = sc.CLONE_PARENT | (sc.CLONE_NEWPID if init.unshare_flags(cfg) & sc.CLONE_NEWPID else 0)
    birth = group.birth_dir
    cgroup_fd = os.open(birth, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if birth is not None else None
    try:
        pid = sc.clone3(flags, cgroup_fd)
    finally:
        if cgroup_fd is not None:
            os.close(cgroup_fd)
    if pid == 0:  # PID 1 now, labkitd's child; never back into the zygote's loop
        try:
            init.pid1(cfg, req["bundle"], Path(req["fifo_dir"]), group, report_fd, born_in=birth, netns_fd=netns,
                      stdio=stdio)
        finally:
            os._exit(125)
    return pid
