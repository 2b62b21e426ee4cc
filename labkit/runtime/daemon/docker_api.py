"""The Docker Engine API, an adapter over the container service (service.py), as labkit_protocol.py is:
each route reads its request, calls the service, and answers in Docker's shape.

    docker -H unix:///run/labkit/docker.sock run --rm busybox echo hi

asks, in this order (what docker CLI 20.10 and 28.2 send, read off run/docker-api.log):

    HEAD /_ping                                   -> 200, Api-Version: 1.47
    POST /v1.47/containers/create                 -> 201 {"Id": ...}       (404 "No such image": the CLI pulls)
    POST /v1.47/containers/{id}/attach?stream=1&stdout=1&stderr=1   -> 101, then the output, framed
    POST /v1.47/containers/{id}/wait?condition=removed              -> 200 headers now, {"StatusCode": 0} at exit
    POST /v1.47/containers/{id}/start             -> 204

and the frames on the attach connection are the same as labkit's own protocol's (connection.py):
the pump that feeds `labkit run` feeds `docker run`. With AutoRemove, labkitd removes the container
itself at exit, before the wait's answer (the CLI sends no DELETE). Any /v1.xx/ prefix is taken.
"""

from __future__ import annotations

import json
import os
import socket
import traceback

from operator import attrgetter

from ... import cgroups, errors
from ...api import filters, shapes
from ...api.http import HttpConnection, status_of
from . import docker_tcp
from .docker_exec import DockerExec
from .docker_images import DockerImages
from .docker_resources import DockerResources
from .docker_stats import DockerStats

SOCKET = "docker.sock"
REQUEST_LOG = "docker-api.log"  # one line per request answered (api/http.py); lk.api.requests() reads it


class DockerApi:
    """labkitd's HTTP side: its socket, its routes, its answers. Images, exec, volumes and networks,
    and stats are its parts (docker_images.py, docker_exec.py, docker_resources.py, docker_stats.py)."""

    ROUTES = (
        ("GET", "/_ping", "ping"), ("HEAD", "/_ping", "ping"), ("GET", "/version", "version"), ("GET", "/info", "info"),
        ("GET", "/containers/json", "list"), ("POST", "/containers/create", "create"),
        ("GET", "/images/json", "images.list"), ("POST", "/images/create", "images.pull"),
        ("GET", "/containers/*/json", "inspect"), ("POST", "/containers/*/start", "start"),
        ("POST", "/containers/*/wait", "wait"), ("POST", "/containers/*/attach", "attach"),
        ("POST", "/containers/*/stop", "stop"), ("POST", "/containers/*/kill", "kill"),
        ("DELETE", "/containers/*", "remove"), ("GET", "/containers/*/logs", "logs"),
        ("POST", "/containers/*/exec", "execs.create"), ("POST", "/exec/*/start", "execs.start"),
        ("GET", "/exec/*/json", "execs.inspect"), ("POST", "/exec/*/resize", "execs.resize"),
        ("POST", "/containers/*/pause", "pause"), ("POST", "/containers/*/unpause", "unpause"),
        ("POST", "/containers/*/restart", "restart"), ("POST", "/containers/*/resize", "resize"), ("GET", "/containers/*/top", "top"),
        ("GET", "/networks", "resources.networks"), ("POST", "/networks/create", "resources.network_create"),
        ("GET", "/networks/*", "resources.network_inspect"), ("DELETE", "/networks/*", "resources.network_remove"),
        ("POST", "/networks/*/connect", "resources.network_connect"),
        ("POST", "/networks/*/disconnect", "resources.network_disconnect"),
        ("GET", "/containers/*/stats", "stats.stats"), ("GET", "/volumes", "resources.volumes"),
        ("POST", "/volumes/create", "resources.volume_create"),
        ("GET", "/volumes/*", "resources.volume_inspect"), ("DELETE", "/volumes/*", "resources.volume_remove"),
    )
    #: an image's name has slashes of its own (/images/localhost:5000/team/app:1/json): matched by its ends
    IMAGE_ROUTES = (("GET", "/json", "images.inspect"), ("POST", "/tag", "images.tag"), ("POST", "/push", "images.push"),
                    ("DELETE", "", "images.remove"))

    def __init__(self, svc, loop):
        self.svc, self.loop = svc, loop
        self.inst, self.store = svc.inst, svc.store
        self.images = DockerImages(self)
        self.execs = DockerExec(self)
        self.resources = DockerResources(self)
        self.stats = DockerStats(self)
        self.transfers: set = set()  # pulls and pushes under way, each in a helper process (docker_images.py)
        self.listener = None  # the Unix socket's Listener in the loop
        self.tcp_listener = None  # ... and the TCP one on 127.0.0.1, only while asked for (docker_tcp.py)

    def listen(self) -> None:
        """The API's socket: root only (0660, group root), as dockerd's /var/run/docker.sock."""
        path = self.inst.run / SOCKET
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o117)
        try:
            sock.bind(str(path))
        except OSError:
            traceback.print_exc()
            sock.close()
            return
        finally:
            os.umask(old)
        sock.listen(128)
        HttpConnection.request_log = str(self.inst.run / REQUEST_LOG)
        self.listener = self.loop.listen(sock, self.connection)

    def tcp(self, port, host: str = "127.0.0.1") -> dict:
        """`labkit api tcp 2375` opens the API on 127.0.0.1:2375 (a port already open moves); port None closes it."""
        sock = docker_tcp.open_socket(port, host)
        if self.tcp_listener is not None:
            self.tcp_listener.close()
            self.tcp_listener = None
        if sock is None:
            return {"tcp": None}
        self.tcp_listener = self.loop.listen(sock, self.connection)
        return {"tcp": f"tcp://127.0.0.1:{port}", "warning": docker_tcp.WARNING.format(port=port)}

    def connection(self, sock) -> HttpConnection:
        conn = HttpConnection(sock)
        conn.serve = self.serve
        return conn

    def close(self) -> None:
        for listener in (self.listener, self.tcp_listener):
            if listener is not None:
                listener.close()
        self.listener = self.tcp_listener = None
        for t in self.transfers:
            t.proc.stdout.close()  # the helper finishes on its own; its client's stream ends with this labkitd
        self.transfers = set()

    # -- dispatch ---------------------------------------------------------------------------------------
    def serve(self, conn: HttpConnection) -> None:
        req = conn.request
        if req.path.startswith("/images/") and req.path != "/images/json":
            for method, end, name in self.IMAGE_ROUTES:
                if req.method == method and req.path.endswith(end):
                    return self._guarded(conn, attrgetter(name)(self), req, req.path[len("/images/"):len(req.path) - len(end)])
        parts = [p for p in req.path.split("/") if p]
        for method, pattern, name in self.ROUTES:
            pat = [p for p in pattern.split("/") if p]
            if method == req.method and len(pat) == len(parts) and all(a in ("*", b) for a, b in zip(pat, parts)):
                ident = next((b for a, b in zip(pat, parts) if a == "*"), None)
                return self._guarded(conn, attrgetter(name)(self), req, ident)
        conn.error(404, f"page not found: labkit's Docker API has no {req.method} {req.path}")

    def _guarded(self, conn, handler, req, ident) -> None:
        try:
            handler(conn, req, ident)
        except Exception as e:  # noqa: BLE001 - every failure answers in Docker's shape
            self.fail(conn, e)

    @staticmethod
    def fail(conn, e: BaseException) -> None:
        """An error in Docker's shape: {"message": ...}, with the status its class has (api/http.py)."""
        if not isinstance(e, errors.LabkitError):
            traceback.print_exc()
        conn.error(status_of(e), e.message if isinstance(e, errors.LabkitError) else f"{type(e).__name__}: {e}")

    def record(self, ident: str) -> tuple[str, dict]:
        try:
            return self.svc.get(ident)
        except errors.NotFound:
            raise errors.ContainerNotFound("error.runtime.no-such-container", ident=ident) from None

    # -- the endpoints -----------------------------------------------------------------------------------
    def ping(self, conn, req, ident) -> None:
        conn.respond(200, b"OK", content_type="text/plain; charset=utf-8")

    def version(self, conn, req, ident) -> None:
        conn.respond(200, shapes.version())

    def info(self, conn, req, ident) -> None:
        recs = self.svc.list(all=True)
        running = sum(r["status"] == "running" for r in recs)
        paused = sum(r["status"] == "paused" for r in recs)
        v = shapes.version()
        conn.respond(200, {"ID": self.inst.tag, "Containers": len(recs), "ContainersRunning": running,
                           "ContainersPaused": paused, "ContainersStopped": len(recs) - running - paused,
                           "Images": len(self.store.names()),
                           "Driver": "overlay2", "Name": socket.gethostname(), "ServerVersion": v["Version"],
                           "OperatingSystem": "labkit", "OSType": "linux", "Architecture": v["Arch"],
                           "KernelVersion": v["KernelVersion"], "NCPU": os.cpu_count(),
                           "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                           "DockerRootDir": str(self.inst.root), "CgroupVersion": str(cgroups.layout().version),
                           "Warnings": []})

    def list(self, conn, req, ident) -> None:
        """`docker ps [-a] [--filter ...]`: filters id (a prefix), name (a regular expression), status,
        exited (a code), ancestor (an image's name) and label, as dockerd reads them (a name with and
        without its "/", so name=^web$ finds web); a status filter
        lists stopped ones without -a, as dockerd does."""
        want = filters.parse(req.query.get("filters"), ("id", "name", "status", "exited", "ancestor", "label"))
        filters.check_choice(want, "status", filters.STATUSES)
        filters.check_int(want, "exited")
        names = [filters.pattern(v) for v in want.get("name", ())]
        out = []
        for rec in self.svc.list(all=req.flag("all") or "status" in want or "exited" in want):
            row = shapes.container_summary(rec)
            if (("id" not in want or any(rec["id"].startswith(v) for v in want["id"]))
                    and (not names or any(p.search(row["Names"][0]) or p.search(rec["name"]) for p in names))
                    and ("status" not in want or rec["status"] in want["status"])
                    and ("exited" not in want or (rec["status"] == "exited" and str(rec.get("exit_code") or 0) in want["exited"]))
                    and ("ancestor" not in want or filters.reference_match(want["ancestor"], [row["Image"], rec["image"]]))
                    and filters.labels_match(want.get("label", []), row["Labels"])):
                out.append(row)
        out.sort(key=lambda c: c["Created"], reverse=True)
        conn.respond(200, out)

    def create(self, conn, req, ident) -> None:
        try:
            body = req.json()
        except ValueError as e:
            raise errors.InvalidArgument("error.runtime.create-body-json", e=e) from None
        opts = shapes.options_from_create(body, req.query.get("name"))
        try:
            rec = self.svc.create(opts)
        except errors.ImageNotFound:
            raise errors.ImageNotFound("error.runtime.no-such-image", image=opts.image) from None
        conn.respond(201, {"Id": rec["id"], "Warnings": []})

    def inspect(self, conn, req, ident) -> None:
        cid, _ = self.record(ident)
        found = self.svc.inspect(cid)
        conn.respond(200, shapes.inspect(found["record"], found["config"]))

    def start(self, conn, req, ident) -> None:
        cid, rec = self.record(ident)
        if self.svc.is_running(rec):
            conn.respond(304)
            return
        self.svc.start(cid, lambda reply: conn.respond(204), lambda e: self.fail(conn, e))

    def wait(self, conn, req, ident) -> None:
        """condition=not-running (the default, `docker wait`): at once if it is not running, else at
        its exit; next-exit (`docker run`): at its next exit, even if it has exited before; removed
        (`docker run --rm`): at its exit, after AutoRemove. Anything else is a 400, as dockerd's."""
        cid, rec = self.record(ident)
        opened = []

        def done(r):
            if not opened:
                opened.append(conn.open_stream(200))
            code = r.get("exit_code")
            body = {"StatusCode": 0 if code is None else code, "Error": {"Message": r["error"]} if r.get("error") else None}
            conn.send_raw((json.dumps(body) + "\n").encode(), last=True)

        self.svc.wait(cid, done, req.query.get("condition") or "not-running")
        if not opened:
            opened.append(conn.open_stream(200))  # the CLI sends wait before start and blocks until these headers arrive

    def attach(self, conn, req, ident) -> None:
        """Before start (docker run) the stream waits for it; a running container's output follows."""
        cid, rec = self.record(ident)
        conn.upgrade()
        conn.keep_input = req.flag("stdin") and bool(rec.get("interactive"))  # sent before the start: kept

        def follow():
            if not conn.closed:
                self.svc.follow(cid, conn, lambda r: conn.send_last_frame({}), stdin=req.flag("stdin"))

        if not (req.flag("stream") or req.flag("logs")):
            conn.send_last_frame({})
        elif cid in self.svc.live:
            follow()
        elif rec["status"] == "exited":
            conn.send_last_frame({})
        else:
            self.svc.when_started(cid, follow, lambda: conn.send_last_frame({}))

    def stop(self, conn, req, ident) -> None:
        cid, rec = self.record(ident)
        if not self.svc.is_running(rec):
            conn.respond(304)
            return
        self.svc.stop(cid, req.query.get("t", req.query.get("timeout", 10)), lambda r: conn.respond(204))

    def kill(self, conn, req, ident) -> None:
        cid, _ = self.record(ident)
        self.svc.kill(cid, req.query.get("signal", "KILL"))
        conn.respond(204)

    def remove(self, conn, req, ident) -> None:
        cid, _ = self.record(ident)
        self.svc.remove(cid, lambda cid: conn.respond(204), force=req.flag("force"), volumes=req.flag("v"))

    def logs(self, conn, req, ident) -> None:
        """`docker logs [-f] [-t] [--tail N]`: the log, framed as attach's stream; with follow, then
        each line as it is logged, until the container exits (or the client goes)."""
        cid, _ = self.record(ident)
        tail = req.query.get("tail", "all")
        if tail != "all" and not tail.isdigit():
            raise errors.InvalidArgument("error.runtime.tail-number-lines-all", tail=tail)
        conn.open_stream(200, "application/vnd.docker.multiplexed-stream")
        self.svc.logs(cid, conn, req.flag("stdout"), req.flag("stderr"), None if tail == "all" else int(tail),
                      req.flag("timestamps"), req.flag("follow"), at_end=lambda: conn.send_last_frame({}))

    def resize(self, conn, req, ident) -> None:
        cid, _ = self.record(ident)
        try:
            rows, cols = int(req.query.get("h", "")), int(req.query.get("w", ""))
        except ValueError:
            raise errors.InvalidArgument("error.runtime.resize-needs-h-w") from None
        self.svc.resize(cid, rows, cols)
        conn.respond(200, b"", content_type="text/plain")

    def pause(self, conn, req, ident) -> None:
        self.svc.pause(self.record(ident)[0])
        conn.respond(204)

    def unpause(self, conn, req, ident) -> None:
        self.svc.unpause(self.record(ident)[0])
        conn.respond(204)

    def restart(self, conn, req, ident) -> None:
        cid, _ = self.record(ident)
        self.svc.restart(cid, req.query.get("t", req.query.get("timeout", 10)), lambda reply: conn.respond(204),
                         lambda e: self.fail(conn, e))

    def top(self, conn, req, ident) -> None:
        """`docker top`: ps -ef's columns, read from /proc as `labkit top` does."""
        cid, rec = self.record(ident)
        if not self.svc.is_running(rec):
            raise errors.Conflict("error.runtime.container-running", rec_name=rec['name'])
        _, rows = self.svc.top(cid)
        conn.respond(200, {"Titles": ["UID", "PID", "PPID", "STAT", "CMD"],
                           "Processes": [[str(p["uid"]), str(p["pid"]), str(p["ppid"]), p["state"], p["command"]]
                                         for p in rows]})
