"""labkit's own protocol, one request per connection, as an adapter over the container service
(service.py): each op reads its request, calls the service, and writes the reply in this
protocol's shape. No op does more than that.

    -> {"op": "run", "options": {...}, "attach": true}
    <- {"id": "3f9a...", "name": "brave_curie", "pid": 4242, "trace": [...]}    when it started
    <- frames: stdout, stderr, then the last reply {"exit_code": 0, ...}        (connection.py)
    <- {"error": {"type": "Conflict", "message": "...", "hint": "..."}}          on failure

exec's request comes with descriptors (SCM_RIGHTS): the pipes or terminal the process inside
writes to; every other op's are closed.
"""

from __future__ import annotations

import os
import time

from ...errors import InvalidArgument
from ..options import Options
from .connection import Connection
from .loop import close_fd
from .wire import error_reply, exit_reply


class UnknownOperation(InvalidArgument):
    """A request for an op this labkitd does not have (a client newer than the labkitd still running)."""



class LabkitProtocol:
    def __init__(self, svc, daemon):
        self.svc = svc
        self.daemon = daemon  # labkitd itself (supervisor.py): shutdown, the Docker API's TCP port

    def connection(self, sock) -> Connection:
        conn = Connection(sock)
        conn.serve = self.serve
        return conn

    def serve(self, conn: Connection) -> None:
        req, fds = conn.request, conn.fds
        conn.fds = []
        op = OPS.get(str(req.get("op")))
        try:
            if op is None:
                raise UnknownOperation("error.runtime.labkitd-has-no-operation", get=req.get('op'))
            if op is not LabkitProtocol.exec:
                for fd in fds:
                    close_fd(fd)
                fds = []
            reply = op(self, conn, req, fds)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the client as a typed error
            for fd in fds:
                close_fd(fd)
            conn.send(error_reply(e), last=True)
            return
        if reply is not None:
            conn.send(reply, last=True)

    # -- the ops: each returns its reply, or None when it answers later ----------------------------------
    def ping(self, conn, req, fds) -> dict:
        return {"pid": os.getpid(), "containers": len(self.svc.live)}

    def shutdown(self, conn, req, fds) -> dict:
        self.daemon.shutdown()  # the containers keep running; the next client starts a new labkitd
        return {"pid": os.getpid()}

    def ps(self, conn, req, fds) -> dict:
        return {"containers": self.svc.list(all=bool(req.get("all")))}

    def inspect(self, conn, req, fds) -> dict:
        return self.svc.inspect(req.get("id"))

    def top(self, conn, req, fds) -> dict:
        cid, rows = self.svc.top(req.get("id"))
        return {"id": cid, "processes": rows}

    def stats(self, conn, req, fds) -> dict:
        return self.svc.stats(req.get("id"))

    def create(self, conn, req, fds) -> dict:
        rec = self.svc.create(Options.from_json(req.get("options")))
        return {"id": rec["id"], "name": rec["name"]}

    def run(self, conn, req, fds) -> None:
        done, failed = self._started(conn, req)
        self.svc.run(Options.from_json(req.get("options")), done, failed, t0=req.get("t0", time.monotonic()))

    def cli_run(self, conn, req, fds) -> dict | None:
        """`labkit run ...` from the quick client (runtime/client/quick.py): its argv parsed and checked
        here (cli_run.py), then as run. Answers what argparse printed, or {"fallback": true} for
        what the full CLI does itself (a terminal, stdin, --trace)."""
        from ...catalog import of_environment
        from . import cli_run

        env = req.get("env") if isinstance(req.get("env"), dict) else {}
        lang = of_environment({k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)})
        args, printed = cli_run.parse(req.get("argv"), lang)
        if printed is not None:
            return printed
        if cli_run.needs_full_client(args):
            return {"fallback": True}
        opts = Options.from_args(args, {k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)})
        if args.detach:
            self.svc.run(opts, lambda reply: conn.send({"id": reply["id"], "detached": True}, last=True),
                         lambda e: conn.send(error_reply(e, lang), last=True))
            return None
        def done(reply: dict) -> None:  # the quick client needs no config.json: the first line stays short
            conn.send({"id": reply["id"], "name": reply["name"]})
            self.svc.follow(reply["id"], conn, lambda r: conn.send_last_frame(exit_reply(r)))

        self.svc.run(opts, done, lambda e: conn.send(error_reply(e, lang), last=True), t0=time.monotonic())
        return None

    def start(self, conn, req, fds) -> None:
        self.svc.start(req.get("id"), *self._started(conn, req))

    def run_bundle(self, conn, req, fds) -> None:
        self.svc.run_bundle(req.get("bundle"), bool(req.get("rm")), *self._started(conn, req))

    def restart(self, conn, req, fds) -> None:
        self.svc.restart(req.get("id"), req.get("timeout", 10), *self._started(conn, dict(req, attach=False)))

    def _started(self, conn, req):
        """(done, failed) for a start: the reply once the command runs; attached, then the output
        and the exit as the last frame."""
        def done(reply: dict) -> None:
            if not req.get("attach"):
                reply.pop("config", None)
                conn.send(reply, last=True)
                return
            conn.send(reply)
            self.svc.follow(reply["id"], conn, lambda r: conn.send_last_frame(exit_reply(r)), stdin=bool(req.get("stdin")))

        return done, lambda e: conn.send(error_reply(e), last=True)

    def attach(self, conn, req, fds) -> None:
        """Follow a container's output from where a client's stream broke: {"id": ..., "seen": {"stdout": 1234}}."""
        def at_exit(r):
            conn.send_last_frame(exit_reply(r) if r else {"id": req.get("id"), "exit_code": None, "error": "its record is gone"})

        cid, rec = self.svc.get(req.get("id"))
        conn.send({"id": cid, "name": rec["name"], "status": rec["status"]})
        self.svc.attach(cid, conn, req.get("seen") if isinstance(req.get("seen"), dict) else {}, at_exit)

    def logs(self, conn, req, fds) -> None:
        """{"id": "web", "tail": 20, "timestamps": true, "follow": true}: {"id", "name"}, then the log as
        frames (the same service call as docker logs), then, with follow, each line as it comes, until
        it exits; the last frame {"id"}."""
        tail = req.get("tail")
        if tail is not None and (type(tail) is not int or tail < 0):
            raise InvalidArgument("error.runtime.tail-number-lines", tail=tail)
        cid, rec = self.svc.get(req.get("id"))
        conn.send({"id": cid, "name": rec["name"]})
        self.svc.logs(cid, conn, stdout=req.get("stdout", True) is not False, stderr=req.get("stderr", True) is not False,
                      tail=tail, timestamps=bool(req.get("timestamps")), follow=bool(req.get("follow")),
                      at_end=lambda: conn.send_last_frame({"id": cid}))

    def wait(self, conn, req, fds) -> None:
        self.svc.wait(req.get("id"), lambda r: conn.send(exit_reply(r), last=True))

    def stop(self, conn, req, fds) -> None:
        self.svc.stop(req.get("id"), req.get("timeout", 10), lambda r: conn.send(exit_reply(r), last=True))

    def kill(self, conn, req, fds) -> dict:
        cid, sig = self.svc.kill(req.get("id"), req.get("signal", "KILL"))
        return {"id": cid, "signal": sig}

    def pause(self, conn, req, fds) -> dict:
        return {"id": self.svc.pause(req.get("id")), "status": "paused"}

    def unpause(self, conn, req, fds) -> dict:
        return {"id": self.svc.unpause(req.get("id")), "status": "running"}

    def rm(self, conn, req, fds) -> None:
        self.svc.remove(req.get("id"), lambda cid: conn.send({"id": cid, "removed": True}, last=True),
                        force=bool(req.get("force")), volumes=bool(req.get("volumes")))

    def resize(self, conn, req, fds) -> dict:
        return {"id": self.svc.resize(req.get("id"), req.get("rows"), req.get("cols"))}

    def update(self, conn, req, fds) -> dict:
        return self.svc.update(req.get("id"), memory=req.get("memory"), cpus=req.get("cpus"), pids_limit=req.get("pids_limit"))

    def exec(self, conn, req, fds) -> None:
        """fds: the process's stdout and stderr (stdin first with "stdin"; one terminal socket with "tty")."""
        spec = {k: req.get(k) for k in ("args", "env", "workdir", "user", "tty", "stdin", "console_size")}
        box = {}
        box["id"] = self.svc.exec(req.get("id"), spec, fds,
                                  started=lambda pid: conn.send({"id": box.get("id"), "pid": pid}),
                                  exited=lambda code: conn.send({"exit_code": code}, last=True),
                                  failed=lambda e: conn.send(error_reply(e), last=True))

    def network_create(self, conn, req, fds) -> dict:
        return {"network": self.svc.networks.create(req.get("name"), subnet=req.get("subnet"), labels=req.get("labels"))}

    def network_rm(self, conn, req, fds) -> dict:
        return {"network": self.svc.networks.remove(req.get("name"))}

    def network_connect(self, conn, req, fds) -> dict:
        return self.svc.networks.connect(req.get("id"), req.get("network"))

    def network_disconnect(self, conn, req, fds) -> dict:
        return self.svc.networks.disconnect(req.get("id"), req.get("network"))

    def docker_tcp(self, conn, req, fds) -> dict:
        """{"port": 2375} opens the Docker API on 127.0.0.1:2375 (a port already open moves), {"port": null} closes it."""
        return self.daemon.docker.tcp(req.get("port"), req.get("host") or "127.0.0.1")


#: op name -> its method
OPS = {name: fn for name, fn in vars(LabkitProtocol).items()
       if callable(fn) and not name.startswith("_") and name not in ("connection", "serve")}
