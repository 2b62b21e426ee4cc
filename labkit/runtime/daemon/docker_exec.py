"""The Docker Engine API's exec: an instance is made, started on its own (upgraded) connection,
then inspected for its exit code, as `docker exec web ps` and docker-py's exec_run() do:

    POST /containers/{id}/exec {"Cmd": ["ps"], "AttachStdout": true, ...}   -> 201 {"Id": "<exec id>"}
    POST /exec/{exec id}/start {"Detach": false}                            -> 101, the output framed
    GET  /exec/{exec id}/json                                                -> {"ExitCode": 0, ...}
"""

from __future__ import annotations

import os
import selectors
import socket

from ... import errors
from ..container.console import receive_master, resize
from ...exit_codes import NOT_EXECUTABLE, NOT_FOUND
from ..options import check_console_size
from .connection import MAX_PENDING
from .loop import read_ready
from .stdin import Stdin


class DockerExec:
    def __init__(self, api):
        self.api = api
        self.instances: dict[str, dict] = {}  # exec instances by ID, kept a while for inspection

    def create(self, conn, req, ident) -> None:
        import uuid

        cid, rec = self.api.record(ident)
        body = req.json() or {}
        cmd = body.get("Cmd")
        if not cmd or not isinstance(cmd, list):
            raise errors.InvalidArgument("error.runtime.exec-needs-command-cmd")
        eid = uuid.uuid4().hex + uuid.uuid4().hex
        self.instances[eid] = {"cid": cid, "cmd": cmd, "env": body.get("Env"), "workdir": body.get("WorkingDir") or None,
                                  "user": body.get("User") or None, "running": False, "exit_code": None, "pid": 0,
                                  "tty": bool(body.get("Tty")), "stdin": bool(body.get("AttachStdin")), "master": None,
                                  # API 1.42 on: the window's [rows, columns], the terminal's size from its start
                                  "console_size": check_console_size(body.get("ConsoleSize")) if body.get("Tty") else None}
        while len(self.instances) > 256:  # kept for inspection a while, as dockerd keeps them
            self.instances.pop(next(iter(self.instances)))
        conn.respond(201, {"Id": eid})

    def start(self, conn, req, ident) -> None:
        """The command's output goes to two pipes of labkitd's (no descriptor of the client's can
        cross HTTP), sent on framed as it comes, as attach frames a container's."""
        ex = self.instances.get(ident)
        if ex is None:
            raise errors.NotFound("error.runtime.no-such-exec-instance", ident=ident)
        conn.upgrade()
        stream, ends = self._stdio(conn, ex)
        self.api.loop.poll(stream)  # asked every pass: it stops reading while its client is slow

        def started(pid: int) -> None:
            ex.update(running=True, pid=pid)
            if stream.console is not None:
                self._terminal(stream, ex, conn)

        def exited(code: int) -> None:
            ex.update(running=False, exit_code=code, master=None)
            stream.finish()  # what the pipes hold now, then the end

        def failed(e: BaseException) -> None:
            code = getattr(e, "exit_code", None)
            ex.update(exit_code=code if code in (NOT_FOUND, NOT_EXECUTABLE) else NOT_EXECUTABLE, master=None)
            conn.send_frame(2, (getattr(e, "message", str(e)) + "\n").encode())
            stream.finish()

        try:  # the service closes `ends` whatever happens
            self.api.svc.exec(ex["cid"], {"args": ex["cmd"], "env": ex["env"], "workdir": ex["workdir"], "user": ex["user"],
                                          "tty": ex["tty"], "stdin": ex["stdin"], "console_size": ex.get("console_size")},
                              ends, started, exited, failed)
        except BaseException:
            ex["master"] = None
            stream.close()
            raise

    def _stdio(self, conn, ex: dict):
        """The exec's descriptors: (the ExecStream that reads its output, the ends the service hands the exec).
        -t: a console socket (the process makes its terminal inside and sends the master back, read
        raw and written with the client's keys: _exec_terminal); -i: a pipe for stdin too; else two
        pipes (stdout, stderr)."""
        if ex["tty"]:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stream, ends = ExecStream(self.api.loop, conn, {}, raw=True), [theirs.detach()]
            stream.console = ours
            conn.keep_input = ex["stdin"]  # what the client types before the terminal is here waits
            return stream, ends
        (out_r, out_w), (err_r, err_w) = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        stream, ends = ExecStream(self.api.loop, conn, {out_r: 1, err_r: 2}), [out_w, err_w]
        if ex["stdin"]:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            stream.stdin, ends = Stdin(in_w, tty=False), [in_r] + ends
        if stream.stdin is not None:
            stream.stdin.on_change = lambda: self.api.loop.touch(conn)
            conn.keep_input = True
            stream.stdin.attach(conn)
        return stream, ends

    def _terminal(self, stream, ex: dict, conn) -> None:
        """-t: the running exec sent its terminal's master: read it, write the client's keys to it."""
        try:
            master = receive_master(stream.console)
        except OSError:
            stream.finish()
            return
        finally:
            stream.console.close()
            stream.console = None
        stream.fds[master] = 1
        ex["master"] = master
        if ex["stdin"]:
            stream.stdin = Stdin(os.dup(master), tty=True)
            stream.stdin.on_change = lambda: self.api.loop.touch(conn)
            stream.stdin.attach(conn)

    def resize(self, conn, req, ident) -> None:
        ex = self.instances.get(ident)
        if ex is None:
            raise errors.NotFound("error.runtime.no-such-exec-instance", ident=ident)
        if ex.get("master") is None:
            raise errors.Conflict("error.runtime.exec-has-no-terminal")
        try:
            resize(ex["master"], int(req.query.get("h", "")), int(req.query.get("w", "")))
        except ValueError:
            raise errors.InvalidArgument("error.runtime.resize-needs-h-w") from None
        conn.respond(200, b"", content_type="text/plain")

    def inspect(self, conn, req, ident) -> None:
        ex = self.instances.get(ident)
        if ex is None:
            raise errors.NotFound("error.runtime.no-such-exec-instance", ident=ident)
        conn.respond(200, {"ID": ident, "ContainerID": ex["cid"], "Running": ex["running"], "ExitCode": ex["exit_code"],
                           "Pid": ex["pid"], "ProcessConfig": {"entrypoint": ex["cmd"][0], "arguments": ex["cmd"][1:],
                                                               "tty": ex["tty"]}, "OpenStdin": ex["stdin"],
                           "OpenStdout": True, "OpenStderr": True})



class ExecStream:
    """An exec's stdout and stderr pipes, read as the loop says they are readable and sent on to
    the client framed; not read while more than MAX_PENDING bytes wait for the client (the
    command waits then, not labkitd's memory). finish() at the exit: what is left, then the end."""

    def __init__(self, loop, conn, fds: dict[int, int], raw: bool = False):
        self.loop, self.conn, self.fds, self.raw = loop, conn, dict(fds), raw  # fds: {read end: 1 or 2}; raw: a terminal's
        for fd in self.fds:
            os.set_blocking(fd, False)
        self.done = False
        self.stdin = None  # -i: where the client's input goes (stdin.py)
        self.console = None  # -t: the socket its terminal's master comes over (container/console.py)

    def loop_wants(self) -> dict | None:
        """What to watch now; None once it is over."""
        if self.done:
            return None
        if self.conn.closed:
            self.close()
            return None
        want = {}
        if self.stdin is not None and self.stdin.wants_write():  # input the process has not taken yet
            want[self.stdin.fd] = (self, lambda ev: self.stdin.flush(), selectors.EVENT_WRITE)
        if self.conn.pending() > MAX_PENDING:
            return want  # no reading now; asked again next pass (the loop polls it)
        want.update({fd: (self, lambda ev, fd=fd: self.readable(fd), selectors.EVENT_READ) for fd in self.fds})
        return want

    def readable(self, fd: int) -> bool:
        if fd not in self.fds:  # closed by finish() earlier in the same pass of the loop: not ours now
            return False
        data = read_ready(fd)
        if data is None:
            return False
        if data:
            if self.raw:
                self.conn.send_raw(data)
            else:
                self.conn.send_frame(self.fds[fd], data)
            return True
        os.close(fd)
        del self.fds[fd]
        return False

    def finish(self) -> None:
        for fd in list(self.fds):
            for _ in range(256):  # what the pipe holds now (64 KiB a pipe by default): no waiting for more
                if not self.readable(fd) or fd not in self.fds:
                    break
        self.close()
        self.conn.send_last_frame({})

    def close(self) -> None:
        self.loop.forget(self)  # out of the selector before its descriptors close (loop.py)
        for fd in self.fds:
            os.close(fd)
        self.fds, self.done = {}, True
        if self.stdin is not None:
            self.stdin.close()
        if self.console is not None:
            self.console.close()
            self.console = None
