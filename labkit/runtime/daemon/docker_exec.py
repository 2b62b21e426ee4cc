"""The Docker Engine API's exec: an instance is made, started on its own (upgraded) connection,
then inspected for its exit code, as `docker exec web ps` and docker-py's exec_run() do:

    POST /containers/{id}/exec {"Cmd": ["ps"], "AttachStdout": true, ...}   -> 201 {"Id": "<exec id>"}
    POST /exec/{exec id}/start {"Detach": false}                            -> 101, the output framed
    GET  /exec/{exec id}/json                                                -> {"ExitCode": 0, ...}
"""

from __future__ import annotations

import os

from ... import errors


class DockerExec:
    def _api_exec_create(self, conn, req, ident) -> None:
        import uuid

        cid, rec = self._record(ident)
        body = req.json() or {}
        if body.get("Tty") or body.get("AttachStdin"):
            raise errors.InvalidArgument("labkit's Docker API has no TTY or stdin for exec yet (-t, -i)",
                                         hint="run it without -it: its output still comes back.")
        cmd = body.get("Cmd")
        if not cmd or not isinstance(cmd, list):
            raise errors.InvalidArgument("exec needs a command (Cmd, a list)")
        eid = uuid.uuid4().hex + uuid.uuid4().hex
        self.docker_execs[eid] = {"cid": cid, "cmd": cmd, "env": body.get("Env"), "workdir": body.get("WorkingDir") or None,
                                  "user": body.get("User") or None, "running": False, "exit_code": None, "pid": 0}
        while len(self.docker_execs) > 256:  # kept for inspection a while, as dockerd keeps them
            self.docker_execs.pop(next(iter(self.docker_execs)))
        conn.respond(201, {"Id": eid})

    def _api_exec_start(self, conn, req, ident) -> None:
        """The command's output goes to two pipes of labkitd's (no descriptor of the client's can
        cross HTTP), sent on framed as it comes, as attach frames a container's."""
        ex = self.docker_execs.get(ident)
        if ex is None:
            raise errors.NotFound(f"No such exec instance: {ident}")
        (out_r, out_w), (err_r, err_w) = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        conn.upgrade()
        stream = ExecStream(conn, out_r, err_r)
        self.attached.add(stream)  # watched every pass: it stops reading while its client is slow

        def reply(r: dict) -> None:
            if r.get("error"):
                e = r["error"] if isinstance(r["error"], dict) else {"message": str(r["error"])}
                ex["exit_code"] = 127 if "CommandNotFound" in (e.get("types") or [e.get("type")]) else 126  # docker's
                conn.send_frame(2, (e.get("message", "") + "\n").encode())
            elif "pid" in r:
                ex.update(running=True, pid=r["pid"])
                return
            else:
                ex.update(running=False, exit_code=r.get("exit_code"))
            stream.finish()  # what the pipes hold now, then the end

        ends = [out_w, err_w]  # op_exec closes them (and empties the list) once it forked
        try:
            self.op_exec(_Relay(reply), {"id": ex["cid"], "args": ex["cmd"], "env": ex["env"], "workdir": ex["workdir"],
                                         "user": ex["user"]}, ends)
        except BaseException:
            for fd in ends:
                os.close(fd)
            stream.close()
            self.attached.discard(stream)
            raise

    def _api_exec_inspect(self, conn, req, ident) -> None:
        ex = self.docker_execs.get(ident)
        if ex is None:
            raise errors.NotFound(f"No such exec instance: {ident}")
        conn.respond(200, {"ID": ident, "ContainerID": ex["cid"], "Running": ex["running"], "ExitCode": ex["exit_code"],
                           "Pid": ex["pid"], "ProcessConfig": {"entrypoint": ex["cmd"][0], "arguments": ex["cmd"][1:],
                                                               "tty": False}, "OpenStdout": True, "OpenStderr": True})



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

    def __init__(self, conn, out_r: int, err_r: int):
        self.conn, self.fds = conn, {out_r: 1, err_r: 2}
        for fd in self.fds:
            os.set_blocking(fd, False)
        self.done = False

    def loop_wants(self) -> dict | None:
        """What to watch now; None once it is over."""
        import selectors

        from .connection import MAX_PENDING

        if self.done:
            return None
        if self.conn.closed:
            self.close()
            return None
        if self.conn.pending() > MAX_PENDING:
            return {}  # nothing now; asked again next pass (it is in labkitd's `attached`)
        return {fd: (self, lambda ev, fd=fd: self.readable(fd), selectors.EVENT_READ) for fd in self.fds}

    def readable(self, fd: int, limit: int = 1 << 16) -> bool:
        try:
            data = os.read(fd, limit)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if data:
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
