"""The Docker Engine API, a second protocol on labkitd's loop, over the same container operations.

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

from ... import cgroups, errors
from ...api import filters, shapes
from ...api.http import HttpConnection
from .. import state
from ..logs import log_frames
from ..options import parse_timeout
from .create import create
from .docker_exec import DockerExec
from .docker_images import DockerImages
from .docker_resources import DockerResources
from .docker_stats import DockerStats
from .docker_tcp import DockerTcp
from .wire import exit_reply

SOCKET = "docker.sock"
REQUEST_LOG = "docker-api.log"  # one line per request answered (api/http.py); lk.api.requests() reads it
#: labkit's error classes -> HTTP status, as dockerd answers them
STATUS = (("NotFound", 404), ("ContainerNotFound", 404), ("ImageNotFound", 404), ("Conflict", 409),
          ("InvalidArgument", 400), ("NotPermitted", 403), ("Offline", 403), ("Unauthorized", 401))


def status_of(e: BaseException) -> int:
    names = [c.__name__ for c in type(e).__mro__]
    for name, status in STATUS:
        if name in names:
            return status
    return 500


class DockerApi(DockerImages, DockerExec, DockerResources, DockerStats, DockerTcp):
    """labkitd's HTTP side: listen, route, answer (Supervisor mixes it in); images, exec, and volumes
    and networks are in docker_images.py, docker_exec.py and docker_resources.py."""

    def docker_listen(self) -> socket.socket | None:
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
            return None
        finally:
            os.umask(old)
        sock.listen(128)
        sock.setblocking(False)
        HttpConnection.request_log = str(self.inst.run / REQUEST_LOG)
        return sock

    def _http_conn(self, sock) -> HttpConnection:
        conn = HttpConnection(sock)
        conn.serve = self._docker_dispatch
        return conn

    # -- dispatch ---------------------------------------------------------------------------------------
    ROUTES = (
        ("GET", "/_ping", "ping"), ("HEAD", "/_ping", "ping"), ("GET", "/version", "version"), ("GET", "/info", "info"),
        ("GET", "/containers/json", "list"), ("POST", "/containers/create", "create"), ("GET", "/images/json", "images"),
        ("POST", "/images/create", "pull"),
        ("GET", "/containers/*/json", "inspect"), ("POST", "/containers/*/start", "start"),
        ("POST", "/containers/*/wait", "wait"), ("POST", "/containers/*/attach", "attach"),
        ("POST", "/containers/*/stop", "stop"), ("POST", "/containers/*/kill", "kill"),
        ("DELETE", "/containers/*", "remove"), ("GET", "/containers/*/logs", "logs"),
        ("POST", "/containers/*/exec", "exec_create"), ("POST", "/exec/*/start", "exec_start"),
        ("GET", "/exec/*/json", "exec_inspect"), ("POST", "/exec/*/resize", "exec_resize"),
        ("POST", "/containers/*/pause", "pause"), ("POST", "/containers/*/unpause", "unpause"),
        ("POST", "/containers/*/restart", "restart"), ("POST", "/containers/*/resize", "resize"), ("GET", "/containers/*/top", "top"),
        ("GET", "/networks", "networks"), ("POST", "/networks/create", "network_create"),
        ("GET", "/networks/*", "network_inspect"), ("DELETE", "/networks/*", "network_remove"),
        ("POST", "/networks/*/connect", "network_connect"), ("POST", "/networks/*/disconnect", "network_disconnect"),
        ("GET", "/containers/*/stats", "stats"), ("GET", "/volumes", "volumes"), ("POST", "/volumes/create", "volume_create"),
        ("GET", "/volumes/*", "volume_inspect"), ("DELETE", "/volumes/*", "volume_remove"),
    )

    def _docker_dispatch(self, conn: HttpConnection) -> None:
        req = conn.request
        if req.path.startswith("/images/") and req.path.endswith("/json") and req.path != "/images/json" and req.method == "GET":
            # an image's name has slashes of its own: /images/localhost:5000/team/app:1/json
            return self._guarded(conn, self._api_image_inspect, req, req.path[len("/images/"):-len("/json")])
        if req.path.startswith("/images/") and req.path.endswith("/tag") and req.method == "POST":
            return self._guarded(conn, self._api_image_tag, req, req.path[len("/images/"):-len("/tag")])
        if req.path.startswith("/images/") and req.path.endswith("/push") and req.method == "POST":
            return self._guarded(conn, self._api_push, req, req.path[len("/images/"):-len("/push")])
        if req.path.startswith("/images/") and req.method == "DELETE":
            return self._guarded(conn, self._api_image_remove, req, req.path[len("/images/"):])
        parts = [p for p in req.path.split("/") if p]
        for method, pattern, name in self.ROUTES:
            pat = [p for p in pattern.split("/") if p]
            if method == req.method and len(pat) == len(parts) and all(a in ("*", b) for a, b in zip(pat, parts)):
                ident = next((b for a, b in zip(pat, parts) if a == "*"), None)
                return self._guarded(conn, getattr(self, "_api_" + name), req, ident)
        conn.error(404, f"page not found: labkit's Docker API has no {req.method} {req.path}")

    @staticmethod
    def _guarded(conn, handler, req, ident) -> None:
        try:
            handler(conn, req, ident)
        except Exception as e:  # noqa: BLE001 - every failure answers in Docker's shape
            if not isinstance(e, errors.LabkitError):
                traceback.print_exc()
            conn.error(status_of(e), e.message if isinstance(e, errors.LabkitError) else f"{type(e).__name__}: {e}")

    def _record(self, ident: str) -> tuple[str, dict]:
        try:
            return self._get({"id": ident})
        except errors.NotFound:
            raise errors.ContainerNotFound(f"No such container: {ident}") from None

    # -- the endpoints -----------------------------------------------------------------------------------
    def _api_ping(self, conn, req, ident) -> None:
        conn.respond(200, b"OK", content_type="text/plain; charset=utf-8")

    def _api_version(self, conn, req, ident) -> None:
        conn.respond(200, shapes.version())

    def _api_info(self, conn, req, ident) -> None:
        recs = state.read_all(self.inst, self.record_cache)
        running = sum(r["status"] == "running" for r in recs)
        v = shapes.version()
        conn.respond(200, {"ID": self.inst.tag, "Containers": len(recs), "ContainersRunning": running,
                           "ContainersPaused": sum(r["status"] == "paused" for r in recs),
                           "ContainersStopped": len(recs) - running, "Images": len(self.store.names()),
                           "Driver": "overlay2", "Name": socket.gethostname(), "ServerVersion": v["Version"],
                           "OperatingSystem": "labkit", "OSType": "linux", "Architecture": v["Arch"],
                           "KernelVersion": v["KernelVersion"], "NCPU": os.cpu_count(),
                           "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                           "DockerRootDir": str(self.inst.root), "CgroupVersion": str(cgroups.layout().version),
                           "Warnings": []})

    def _api_list(self, conn, req, ident) -> None:
        """`docker ps [-a] [--filter ...]`: filters id (a prefix), name (a regular expression), status,
        exited (a code), ancestor (an image's name) and label, as dockerd reads them (a name with and
        without its "/", so name=^web$ finds web); a status filter
        lists stopped ones without -a, as dockerd does."""
        from .queries import with_status

        want = filters.parse(req.query.get("filters"), ("id", "name", "status", "exited", "ancestor", "label"))
        filters.check_choice(want, "status", filters.STATUSES)
        filters.check_int(want, "exited")
        names = [filters.pattern(v) for v in want.get("name", ())]
        out = []
        for rec in state.read_all(self.inst, self.record_cache):
            rec = with_status(self.inst, rec, self.live)
            if not (req.flag("all") or "status" in want or "exited" in want or rec["status"] in ("running", "paused")):
                continue
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

    def _api_create(self, conn, req, ident) -> None:
        try:
            body = req.json()
        except ValueError as e:
            raise errors.InvalidArgument(f"the create body is not JSON: {e}") from None
        opts = shapes.options_from_create(body, req.query.get("name"))
        try:
            rec, _cfg = create(self.inst, self.store, opts, self.images)
        except errors.ImageNotFound:
            raise errors.ImageNotFound(f"No such image: {opts.image}") from None
        conn.respond(201, {"Id": rec["id"], "Warnings": []})

    def _api_inspect(self, conn, req, ident) -> None:
        cid, rec = self._record(ident)
        try:
            cfg = self._config(rec)
        except (OSError, ValueError):
            cfg = {}
        conn.respond(200, shapes.inspect(rec, cfg))

    def _api_start(self, conn, req, ident) -> None:
        cid, rec = self._record(ident)
        if rec["status"] in ("running", "paused"):
            conn.respond(304)
            return
        answer = _Answer(conn, lambda reply: conn.respond(204))
        self._start(answer, rec, self._config(rec), {}, [], [], on_fail=lambda: self._attach_failed(cid))

    def _api_wait(self, conn, req, ident) -> None:
        """condition=not-running (the default, `docker wait`): at once if it is not running, else at
        its exit; next-exit (`docker run`): at its next exit, even if it has exited before; removed
        (`docker run --rm`): at its exit, after AutoRemove. Anything else is a 400, as dockerd's."""
        condition = req.query.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise errors.InvalidArgument(f"invalid condition: {condition!r}",
                                         hint="condition is not-running, next-exit or removed.")
        cid, rec = self._record(ident)
        conn.open_stream(200)  # the CLI sends wait before start and blocks until these headers arrive

        def done(r):
            code = r.get("exit_code")
            body = {"StatusCode": 0 if code is None else code, "Error": {"Message": r["error"]} if r.get("error") else None}
            conn.send_raw((json.dumps(body) + "\n").encode(), last=True)

        if condition != "next-exit" and rec["status"] == "exited":  # removed: it will not be removed unless asked
            done(exit_reply(rec))
        elif condition == "not-running" and rec["status"] == "created" and not rec.get("starting") and cid not in self.starting_ids:
            done(exit_reply(rec))  # dockerd: a container made and never started is not running
        else:
            self.waiters.setdefault(cid, []).append(done)

    def _api_attach(self, conn, req, ident) -> None:
        """Before start (docker run) the stream waits for it; a running container's output follows."""
        cid, rec = self._record(ident)
        conn.upgrade()
        conn.keep_input = req.flag("stdin") and bool(rec.get("interactive"))  # sent before the start: kept
        if not (req.flag("stream") or req.flag("logs")):
            conn.send_last_frame({})
            return
        if cid in self.live:
            self._attach_live(conn, cid)
        elif rec["status"] == "exited":
            conn.send_last_frame({})
        else:
            self.pending_attach.setdefault(cid, []).append(conn)

    def _attach_live(self, conn, cid: str) -> None:
        lv = self.live[cid]
        lv.pump.attach_to(conn)
        if lv.stdin is not None and conn.request.flag("stdin"):  # -i: what the client sends is the input
            lv.stdin.attach(conn)
        self.dirty.add(lv)
        self.waiters.setdefault(cid, []).append(lambda r: conn.send_last_frame({}))

    def _attach_started(self, cid: str) -> None:
        """starts.py, once a container's command runs: the attach requests that waited for it."""
        for conn in self.pending_attach.pop(cid, []):
            if not conn.closed:
                self._attach_live(conn, cid)

    def _attach_failed(self, cid: str) -> None:
        for conn in self.pending_attach.pop(cid, []):
            conn.send_last_frame({})

    def _api_stop(self, conn, req, ident) -> None:
        cid, rec = self._record(ident)
        if rec["status"] not in ("running", "paused"):
            conn.respond(304)
            return
        timeout = req.query.get("t", req.query.get("timeout", 10))
        parse_timeout(timeout)  # a bad one is a 400 before a waiter that would answer again at the exit
        self.waiters.setdefault(cid, []).append(lambda r: conn.respond(204))
        self._stop(cid, rec, timeout)

    def _api_kill(self, conn, req, ident) -> None:
        cid, rec = self._record(ident)
        self.op_kill(None, {"id": cid, "signal": req.query.get("signal", "KILL")}, [])
        conn.respond(204)

    def _api_remove(self, conn, req, ident) -> None:
        cid, rec = self._record(ident)
        reply = self.op_rm(_Answer(conn, lambda r: conn.respond(204)),
                           {"id": cid, "force": req.flag("force"), "volumes": req.flag("v")}, [])
        if reply is not None:
            conn.respond(204)

    def _api_logs(self, conn, req, ident) -> None:
        """`docker logs [-f] [-t] [--tail N]`: the log, framed as attach's stream; with follow, then
        each line as it is logged, until the container exits (or the client goes)."""
        cid, rec = self._record(ident)
        tail = req.query.get("tail", "all")
        if tail != "all" and not tail.isdigit():
            raise errors.InvalidArgument(f"tail {tail!r} is not a number of lines or \"all\"")
        stamps = req.flag("timestamps")
        conn.open_stream(200, "application/vnd.docker.multiplexed-stream")
        frames = log_frames(state.bundle_dir(self.inst, cid), req.flag("stdout"), req.flag("stderr"),
                            None if tail == "all" else int(tail), stamps)

        def then():
            lv = self.live.get(cid)
            if not req.flag("follow") or lv is None:
                conn.send_last_frame({})  # the end of the stream
                return
            lv.pump.follow(conn, stamps)  # what is logged from here on (a partial line, once it is whole)
            self.waiters.setdefault(cid, []).append(lambda r: (lv.pump.unfollow(conn), conn.send_last_frame({})))

        conn.send_feed(frames, then)

    def _api_resize(self, conn, req, ident) -> None:
        cid, _ = self._record(ident)
        try:
            rows, cols = int(req.query.get("h", "")), int(req.query.get("w", ""))
        except ValueError:
            raise errors.InvalidArgument("resize needs h and w, whole numbers") from None
        self.op_resize(None, {"id": cid, "rows": rows, "cols": cols}, [])
        conn.respond(200, b"", content_type="text/plain")

    def _api_pause(self, conn, req, ident) -> None:
        cid, _ = self._record(ident)
        self.op_pause(None, {"id": cid}, [])
        conn.respond(204)

    def _api_unpause(self, conn, req, ident) -> None:
        cid, _ = self._record(ident)
        self.op_unpause(None, {"id": cid}, [])
        conn.respond(204)

    def _api_restart(self, conn, req, ident) -> None:
        cid, _ = self._record(ident)
        reply = self.op_restart(_Answer(conn, lambda r: conn.respond(204)),
                                {"id": cid, "timeout": req.query.get("t", req.query.get("timeout", 10))}, [])
        if reply is not None:
            conn.respond(204)

    def _api_top(self, conn, req, ident) -> None:
        """`docker top`: ps -ef's columns, read from /proc as `labkit top` does."""
        cid, rec = self._record(ident)
        if rec["status"] not in ("running", "paused"):
            raise errors.Conflict(f"container {rec['name']} is not running")
        rows = self.op_top(None, {"id": cid}, [])["processes"]
        conn.respond(200, {"Titles": ["UID", "PID", "PPID", "STAT", "CMD"],
                           "Processes": [[str(p["uid"]), str(p["pid"]), str(p["ppid"]), p["state"], p["command"]]
                                         for p in rows]})


class _Answer:
    """Stands in for a client connection where an operation answers later (start, rm -f): its JSON
    reply becomes the HTTP answer; an error reply, Docker's error shape with the matching status."""

    def __init__(self, conn: HttpConnection, ok):
        self.conn, self.ok = conn, ok
        self.closed = False
        self.on_hangup: list = []

    def send(self, reply: dict, last: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        err = reply.get("error") if isinstance(reply, dict) else None
        if err:
            status = next((s for n, s in STATUS if n in (err.get("types") or [err.get("type")])), 500)
            self.conn.error(status, err.get("message", "labkitd failed"))
        else:
            self.ok(reply)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.respond(204)

