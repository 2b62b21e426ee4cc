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
        """The command runs with its output going to two files of labkitd's (no descriptor of the
        client's can cross HTTP); at its exit they are sent framed, as attach frames them."""
        import tempfile

        ex = self.docker_execs.get(ident)
        if ex is None:
            raise errors.NotFound(f"No such exec instance: {ident}")
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        conn.upgrade()

        def reply(r: dict) -> None:
            if r.get("error"):
                e = r["error"] if isinstance(r["error"], dict) else {"message": str(r["error"])}
                ex["exit_code"] = 127 if "CommandNotFound" in (e.get("types") or [e.get("type")]) else 126  # docker's
                msg = e.get("message", "") + "\n"
                conn.send_frame(2, msg.encode())
            elif "pid" in r:
                ex.update(running=True, pid=r["pid"])
                return
            else:
                ex.update(running=False, exit_code=r.get("exit_code"))
                for n, f in ((1, out), (2, err)):
                    f.seek(0)
                    while chunk := f.read(1 << 16):
                        conn.send_frame(n, chunk)
            out.close()
            err.close()
            conn.send_last_frame({})

        fds = [os.dup(out.fileno()), os.dup(err.fileno())]
        self.op_exec(_Relay(reply), {"id": ex["cid"], "args": ex["cmd"], "env": ex["env"], "workdir": ex["workdir"],
                                     "user": ex["user"]}, fds)

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
