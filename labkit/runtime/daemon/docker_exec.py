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
    def _api_exec_create(self, conn, req, ident) -> None:
        import uuid

        cid, rec = self._record(ident)
        body = req.json() or {}
        cmd = body.get("Cmd")
        if not cmd or not isinstance(cmd, list):
            raise errors.InvalidArgument("exec needs a command (Cmd, a list)")
        eid = uuid.uuid4().hex + uuid.uuid4().hex
        self.docker_execs[eid] = {"cid": cid, "cmd": cmd, "env": body.get("Env"), "workdir": body.get("WorkingDir") or None,
                                  "user": body.get("User") or None, "running": False, "exit_code": None, "pid": 0,
                                  "tty": bool(body.get("Tty")), "stdin": bool(body.get("AttachStdin")), "master": None,
                                  # API 1.42 on: the window's [rows, columns], the terminal's size from its start
                                  "console_size": check_console_size(body.get("ConsoleSize")) if body.get("Tty") else None}
        while len(self.docker_execs) > 256:  # kept for inspection a while, as dockerd keeps them
            self.docker_execs.pop(next(iter(self.docker_execs)))
        conn.respond(201, {"Id": eid})

    def _api_exec_start(self, conn, req, ident) -> None:
        """The command's output goes to two pipes of labkitd's (no descriptor of the client's can
        cross HTTP), sent on framed as it comes, as attach frames a container's."""
        ex = self.docker_execs.get(ident)
        if ex is None:
            raise errors.NotFound(f"No such exec instance: {ident}")
        conn.upgrade()
        stream, ends = self._exec_stdio(conn, ex)
        self.attached.add(stream)  # watched every pass: it stops reading while its client is slow

        def reply(r: dict) -> None:
            if r.get("error"):
                e = r["error"] if isinstance(r["error"], dict) else {"message": str(r["error"])}
                ex["exit_code"] = e.get("exit_code") if e.get("exit_code") in (NOT_FOUND, NOT_EXECUTABLE) else NOT_EXECUTABLE
                conn.send_frame(2, (e.get("message", "") + "\n").encode())
            elif "pid" in r:
                ex.update(running=True, pid=r["pid"])
                if stream.console is not None:
                    self._exec_terminal(stream, ex, conn)
                return
            else:
                ex.update(running=False, exit_code=r.get("exit_code"))
            ex["master"] = None
            stream.finish()  # what the pipes hold now, then the end

        try:  # op_exec closes `ends` (and empties the list) once it forked
            self.op_exec(_Relay(reply), {"id": ex["cid"], "args": ex["cmd"], "env": ex["env"], "workdir": ex["workdir"],
                                         "user": ex["user"], "tty": ex["tty"], "stdin": ex["stdin"],
                                         "console_size": ex.get("console_size")}, ends)
        except BaseException:
            for fd in ends:
                os.close(fd)
            ex["master"] = None
            stream.close()
            self.attached.discard(stream)
            raise

    def _exec_stdio(self, conn, ex: dict):
        """The exec's descriptors: (the ExecStream that reads its output, the ends op_exec passes in).
        -t: a console socket (the process makes its terminal inside and sends the master back, read
        raw and written with the client's keys: _exec_terminal); -i: a pipe for stdin too; else two
        pipes (stdout, stderr)."""
        if ex["tty"]:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stream, ends = ExecStream(conn, {}, raw=True), [theirs.detach()]
            stream.console = ours
            conn.keep_input = ex["stdin"]  # what the client types before the terminal is here waits
            return stream, ends
        (out_r, out_w), (err_r, err_w) = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        stream, ends = ExecStream(conn, {out_r: 1, err_r: 2}), [out_w, err_w]
        if ex["stdin"]:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            stream.stdin, ends = Stdin(in_w, tty=False), [in_r] + ends
        if stream.stdin is not None:
            stream.stdin.on_change = lambda: self.dirty.add(conn)
            conn.keep_input = True
            stream.stdin.attach(conn)
        return stream, ends

    def _exec_terminal(self, stream, ex: dict, conn) -> None:
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
            stream.stdin.on_change = lambda: self.dirty.add(conn)
            stream.stdin.attach(conn)

    def _api_exec_resize(self, conn, req, ident) -> None:
        ex = self.docker_execs.get(ident)
        if ex is None:
            raise errors.NotFound(f"No such exec instance: {ident}")
        if ex.get("master") is None:
            raise errors.Conflict("the exec has no terminal to resize (it runs without -t, or has ended)")
        try:
            resize(ex["master"], int(req.query.get("h", "")), int(req.query.get("w", "")))
        except ValueError:
            raise errors.InvalidArgument("resize needs h and w, whole numbers") from None
        conn.respond(200, b"", content_type="text/plain")

    def _api_exec_inspect(self, conn, req, ident) -> None:
        ex = self.docker_execs.get(ident)
        if ex is None:
            raise errors.NotFound(f"No such exec instance: {ident}")
        conn.respond(200, {"ID": ident, "ContainerID": ex["cid"], "Running": ex["running"], "ExitCode": ex["exit_code"],
                           "Pid": ex["pid"], "ProcessConfig": {"entrypoint": ex["cmd"][0], "arguments": ex["cmd"][1:],
                                                               "tty": ex["tty"]}, "OpenStdin": ex["stdin"],
                           "OpenStdout": True, "OpenStderr": True})



class _Relay:
    """A client stand-in that hands each reply an operation sends to a function."""

    def __init__(self, fn):
        self.fn, self.closed, self.on_hangup = fn, False, []

    def send(self, reply: dict, last: bool = False) -> None:
        if not self.closed:
            self.closed = last
            self.fn(reply.get("error") and {"error": reply["error"]} or reply)


class ExecStream:
    """An exec's stdout and stderr pipes, read as the loop says they are readable and sent on to
    the client framed; not read while more than MAX_PENDING bytes wait for the client (the
    command waits then, not labkitd's memory). finish() at the exit: what is left, then the end."""

    def __init__(self, conn, fds: dict[int, int], raw: bool = False):
        self.conn, self.fds, self.raw = conn, dict(fds), raw  # fds: {read end: 1 or 2}; raw: a terminal's, unframed
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
            return want  # no reading now; asked again next pass (it is in labkitd's `attached`)
        want.update({fd: (self, lambda ev, fd=fd: self.readable(fd), selectors.EVENT_READ) for fd in self.fds})
        return want

    def readable(self, fd: int) -> bool:
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
        for fd in self.fds:
            os.close(fd)
        self.fds, self.done = {}, True
        if self.stdin is not None:
            self.stdin.close()
        if self.console is not None:
            self.console.close()
            self.console = None
