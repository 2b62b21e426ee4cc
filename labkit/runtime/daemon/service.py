"""The container service: the one place that owns a lab's live containers, what waits on them, and
every operation on them. Both protocols are thin adapters over its methods (labkit_protocol.py,
docker_api.py): `labkit stop web` and `docker stop web` run the same stop().

    svc.create(opts)                          -> its record           (nothing runs yet)
    svc.start("web", done, failed)            done({"id", "name", "pid", ...}) once its command was exec'd
    svc.follow(cid, sink, at_exit)            its output from now on, framed to `sink`; at_exit(record)
    svc.stop("web", 10, done)                 SIGTERM, SIGKILL after 10 s; done(record) at its exit
    svc.remove("web", force=True, done=...)   done() once it is gone

An operation that answers at once returns its answer or raises a LabkitError; one that answers
later (a start, a stop, a wait) takes callbacks, called from the loop: done(result), failed(error).
A `sink` is a client's connection as the output pump writes to it: send_output(), send_frame(),
send_last_frame(), pending(), closed (connection.py).

Its parts, each a module: starts.py (fork to exec), exits.py (an exit, recovery after a restart),
execs.py (exec), network_ops.py (a container's networks), the Live record of each running container.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

from ... import cgroups
from ...catalog import Text
from ...cgroups.resources import Resources
from ...errors import Conflict, ContainerError, InvalidArgument
from .. import state
from ..container.console import resize
from ..logs import LOG_NAME
from .pump import log_frames, replay
from ..options import Options, parse_timeout, resources
from .create import create
from .execs import Execs
from .exits import Exits
from .live import Live, with_status
from .network_ops import NetworkService
from .processes import process_row
from .starts import Starts

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


class ContainerService:
    def __init__(self, inst, loop, store):
        self.inst, self.loop, self.store = inst, loop, store
        self.images: dict = {}  # image name -> (image, lower dirs), resolved once (create.py)
        self.record_cache: dict = {}  # cid -> (state.json's inode, mtime, size), record: state.read_all
        self.live: dict[str, Live] = {}  # cid -> a running container
        self.by_pid: dict[int, str] = {}  # PID 1 (our child) -> container id
        self.waiters: dict[str, list] = {}  # cid -> callbacks(record) at its exit
        self.start_waiters: dict[str, list] = {}  # cid -> (started(), cancelled()) for its next start
        self.recent: dict[str, dict] = {}  # cid -> the exit reply of a container that exited lately (wire.exit_reply)
        self.starts = Starts(self)
        self.exits = Exits(self)
        self.execs = Execs(self)
        self.networks = NetworkService(self)

    # -- finding ----------------------------------------------------------------------------------------
    def get(self, ident: str) -> tuple[str, dict]:
        """A container by ID, ID prefix or name -> (its ID, its record with its status as true now)."""
        cid = state.resolve(self.inst, ident if isinstance(ident, str) else "")  # or ContainerNotFound
        rec = state.read(self.inst, cid)
        if rec is None:
            raise ContainerError("error.runtime.container-has-no-readable", cid_12=cid[:12])
        return cid, with_status(self.inst, rec, self.live)

    def config(self, rec: dict) -> dict:
        """The container's config.json: in its bundle, or in the bundle it was run from (run_bundle)."""
        return json.loads((Path(rec.get("bundle") or state.bundle_dir(self.inst, rec["id"])) / "config.json").read_text())

    def is_running(self, rec: dict) -> bool:
        return rec["status"] in ("running", "paused")

    # -- looking ----------------------------------------------------------------------------------------
    def list(self, all: bool = False) -> list[dict]:
        """The records, newest first: the running and paused ones, or all."""
        out = []
        for rec in state.read_all(self.inst, self.record_cache):
            rec = with_status(self.inst, rec, self.live)
            if all or self.is_running(rec):
                out.append(rec)
        out.sort(key=lambda r: r.get("created", 0), reverse=True)
        return out

    def inspect(self, ident: str) -> dict:
        cid, rec = self.get(ident)
        bundle = state.bundle_dir(self.inst, cid)
        try:
            cfg = self.config(rec)
        except (OSError, ValueError):
            cfg = {}
        return {"record": rec, "config": cfg, "bundle": str(bundle), "log": str(bundle / LOG_NAME)}

    def top(self, ident: str) -> tuple[str, list[dict]]:
        """Its processes (none if it is not running), as process_row shows each."""
        cid, rec = self.get(ident)
        if not self.is_running(rec):
            return cid, []
        rows = [process_row(pid) for pid in cgroups.group(rec["cgroup"]).pids()]
        return cid, [p for p in rows if p]

    def stats(self, ident: str) -> dict:
        cid, rec = self.get(ident)
        group = cgroups.group(rec["cgroup"])
        return {"id": cid, "name": rec["name"], "stats": group.stats().to_dict() if group.exists() else None}

    # -- making and starting ----------------------------------------------------------------------------
    def create(self, opts: Options) -> dict:
        rec, _cfg = create(self.inst, self.store, opts, self.images)
        return rec

    def run(self, opts: Options, done, failed, t0: float | None = None) -> None:
        """create, then start; a run that fails to start leaves nothing behind."""
        marks = [(Text("trace", "check"), t0 or time.monotonic(), "check")]  # (what, when, flow.STEPS ID)
        rec, cfg = create(self.inst, self.store, opts, self.images, starting=True)
        marks.append((Text("trace", "create", name=rec["name"]), time.monotonic(), "create"))
        self.starts.start(rec, cfg, done, failed, marks, on_fail=lambda: self.exits.remove(rec["id"], rec, volumes=True))

    def start(self, ident: str, done, failed) -> None:
        cid, rec = self.get(ident)
        if self.is_running(rec):
            raise Conflict("error.runtime.container-already-running", rec_name=rec['name'])
        self.starts.start(rec, self.config(rec), done, failed, [])

    def run_bundle(self, bundle, rm: bool, done, failed) -> None:
        """Run an OCI bundle made elsewhere (`runc spec`'s), as runc run does; labkit's record of it
        points at the bundle, which is never changed."""
        if not isinstance(bundle, str) or not bundle.startswith("/"):
            raise InvalidArgument("error.runtime.bundle-absolute-path", bundle=bundle)
        try:
            cfg = json.loads((Path(bundle) / "config.json").read_text())
            if not isinstance(cfg, dict) or not isinstance(cfg.get("process", {}).get("args"), list):
                raise ValueError("no process.args")
        except (OSError, ValueError, AttributeError) as e:
            raise InvalidArgument("error.runtime.no-usable-config-json", bundle=bundle, e=e) from None
        cid = state.new_id()
        state.bundle_dir(self.inst, cid).mkdir(parents=True)
        name = state.claim_name(self.inst, None, cid)
        rec = {"id": cid, "name": name, "image": bundle, "args": cfg["process"]["args"], "status": "created",
               "created": time.time(), "started_at": 0.0, "finished_at": 0.0, "exit_code": None, "oom_killed": False,
               "pid": 0, "pid_start": 0, "auto_remove": bool(rm),
               "cgroup": f"{self.inst.tag}/{cid}", "restart_count": 0, "bundle": bundle}
        state.write(self.inst, rec)
        self.starts.start(rec, cfg, done, failed, [], on_fail=lambda: self.exits.remove(cid, rec))

    # -- following --------------------------------------------------------------------------------------
    def follow(self, cid: str, sink, at_exit, stdin: bool = False) -> None:
        """A running container's output from now on goes to `sink` too (and with stdin, what the
        client sends is its input); at_exit(record) when it exits."""
        lv = self.live[cid]
        lv.pump.attach_to(sink)
        if stdin and lv.stdin is not None:
            lv.stdin.attach(sink)
        self.loop.touch(lv)
        self.waiters.setdefault(cid, []).append(at_exit)

    def when_started(self, cid: str, started, cancelled) -> None:
        """started() once its next start has exec'd its command; cancelled() if it fails or is removed
        first (docker run attaches before it starts)."""
        self.start_waiters.setdefault(cid, []).append((started, cancelled))

    def attach(self, ident: str, sink, seen: dict, at_exit) -> dict:
        """Follow a container's output from where a client's stream broke (client/run.py's _reattach):
        what log.json holds past seen[stream] bytes, then live output, then at_exit(record) (the
        record of one that exited meanwhile). Returns its record now."""
        cid, rec = self.get(ident)
        skip = {s: v for s, v in (seen or {}).items() if s in ("stdout", "stderr") and type(v) is int and v >= 0}
        counted: dict[str, int] = {}

        def fed():  # the log is sent: from here on, what the container prints (and its exit)
            lv = self.live.get(cid)
            if lv is None:
                at_exit(self.recent.get(cid) or state.read(self.inst, cid))
                return
            for stream, n in (("stdout", 1), ("stderr", 2)):  # taken from the FIFO, not yet a whole line in the log
                part = lv.pump.partial[stream][max(0, skip.get(stream, 0) - counted.get(stream, 0)):]
                if part:
                    sink.send_frame(n, part)
            self.follow(cid, sink, at_exit)

        sink.send_feed(replay(state.bundle_dir(self.inst, cid), skip, counted), fed)
        return rec

    def logs(self, ident: str, sink, stdout: bool = True, stderr: bool = True, tail: int | None = None,
             timestamps: bool = False, follow: bool = False, at_end=None) -> None:
        """The log, framed to `sink` a piece at a time; with follow, then each line as it is logged,
        until the container exits: at_end() then."""
        cid, rec = self.get(ident)
        frames = log_frames(state.bundle_dir(self.inst, cid), stdout, stderr, tail, timestamps)

        def then():
            lv = self.live.get(cid)
            if not follow or lv is None:
                at_end()
                return
            lv.pump.follow(sink, timestamps)  # what is logged from here on (a partial line, once it is whole)
            self.waiters.setdefault(cid, []).append(lambda r: (lv.pump.unfollow(sink), at_end()))

        sink.send_feed(frames, then)

    def wait(self, ident: str, done, condition: str = "not-running") -> None:
        """done(record) when the container is not running: at once if it is not (not-running, the
        default), at its next exit (next-exit), or at its exit and after its removal (removed)."""
        if condition not in WAIT_CONDITIONS:
            raise InvalidArgument("error.runtime.invalid-condition", condition=condition)
        cid, rec = self.get(ident)
        if condition != "next-exit" and rec["status"] == "exited":
            done(rec)
        elif condition == "not-running" and rec["status"] == "created" and not rec.get("starting") \
                and cid not in self.starts.ids:
            done(rec)  # as dockerd: a container made and never started is not running
        else:
            self.waiters.setdefault(cid, []).append(done)

    # -- changing ---------------------------------------------------------------------------------------
    def _running(self, ident: str) -> tuple[str, dict]:
        cid, rec = self.get(ident)
        if not self.is_running(rec):
            raise Conflict("error.runtime.container-running-2", rec_name=rec['name'], rec_status=rec['status'])
        return cid, rec

    def stop(self, ident: str, timeout, done) -> None:
        """SIGTERM now; SIGKILL after `timeout` seconds (-1: never); done(record) at its exit."""
        cid, rec = self._running(ident)
        seconds = parse_timeout(timeout)  # a bad value is refused before anything waits
        self.waiters.setdefault(cid, []).append(done)
        lv = self.live.get(cid)
        self.signal(cid, signal.SIGTERM)
        group = cgroups.group(rec["cgroup"])
        if group.frozen():
            group.freeze(False)  # a paused container must run to act on SIGTERM, as docker does
        if seconds is not None:
            self.loop.later(seconds, lambda: self.signal(cid, signal.SIGKILL) if self.live.get(cid) is lv else None)

    def restart(self, ident: str, timeout, done, failed) -> None:
        cid, rec = self.get(ident)
        if not self.is_running(rec):
            return self.start(cid, done, failed)

        def start_again(_rec):
            def now():
                try:
                    r = state.read(self.inst, cid)
                    r["restart_count"] = r.get("restart_count", 0) + 1
                    state.write(self.inst, r)
                    self.start(cid, done, failed)
                except Exception as e:  # noqa: BLE001 - the client hears every failure
                    failed(e)
            self.loop.later(0, now)  # from the loop, not inside the exit step: that step removes the old cgroup last

        self.stop(cid, timeout, start_again)

    def kill(self, ident: str, sig="KILL") -> tuple[str, int]:
        cid, rec = self._running(ident)
        number = parse_signal(sig)
        self.signal(cid, number)
        return cid, number

    def pause(self, ident: str) -> str:
        return self._freeze(ident, True)

    def unpause(self, ident: str) -> str:
        return self._freeze(ident, False)

    def _freeze(self, ident: str, frozen: bool) -> str:
        """The cgroup freezer stops (or lets go) every process inside."""
        cid, rec = self.get(ident)
        want = "running" if frozen else "paused"
        if rec["status"] != want:
            raise Conflict("error.runtime.container-only-container-can", rec_name=rec['name'], rec_status=rec['status'], want=want, paused_if_frozen_els='paused' if frozen else 'unpaused')
        cgroups.group(rec["cgroup"]).freeze(frozen)
        return cid

    def remove(self, ident: str, done, force: bool = False, volumes: bool = False) -> None:
        """done(cid) once it is gone; a running one only with force (SIGKILL, then removed at its exit).
        volumes: its anonymous volumes go too; named ones always stay."""
        cid, rec = self.get(ident)
        if cid in self.starts.ids:
            raise Conflict("error.runtime.container-starting", rec_name=rec['name'])
        if self.is_running(rec):
            if not force:
                raise Conflict("error.runtime.container-running-stop-first", rec_name=rec['name'])

            def then_remove(r):
                self.exits.remove(cid, r, volumes=volumes)
                done(cid)

            self.waiters.setdefault(cid, []).append(then_remove)
            self.signal(cid, signal.SIGKILL)
            return
        self.exits.remove(cid, rec, volumes=volumes)
        done(cid)

    def resize(self, ident: str, rows, cols) -> str:
        """A terminal's new size (`labkit run -it` on SIGWINCH; docker's POST /containers/{id}/resize)."""
        cid, rec = self.get(ident)
        lv = self.live.get(cid)
        if lv is None or lv.pump.tty is None:
            raise Conflict("error.runtime.container-has-no-terminal", rec_name=rec['name'])
        resize(lv.pump.tty, rows, cols)
        return cid

    def update(self, ident: str, memory=None, cpus=None, pids_limit=None) -> dict:
        """Change a container's limits, running or not (`docker update`): the cgroup's files now,
        config.json for its next start. By lk.run's names, e.g. memory=33554432, cpus=0.5."""
        cid, rec = self.get(ident)
        given = {k: v for k, v in (("memory", memory), ("cpus", cpus), ("pids_limit", pids_limit)) if v is not None}
        if not given:
            raise InvalidArgument("error.runtime.nothing-update-no-limit")
        if any(isinstance(v, (str, bool)) for v in given.values()):
            raise InvalidArgument("error.runtime.limits-are-numbers", given=given)
        changes = resources(**given)  # the same rules as run's, whoever the client is
        cfg = self.config(rec)
        new = dataclasses.replace(Resources.from_oci(cfg.get("linux", {}).get("resources")), **changes)
        written = []
        if self.is_running(rec):
            written = [str(w) for w in cgroups.group(rec["cgroup"]).apply(Resources(**changes))]  # or LimitRefused
        if not rec.get("bundle"):  # a bundle run from elsewhere (run_bundle) is never changed
            cfg.setdefault("linux", {})["resources"] = new.to_oci()
            (state.bundle_dir(self.inst, cid) / "config.json").write_text(json.dumps(cfg))
        return {"id": cid, "resources": new.to_oci(), "written": written}

    def exec(self, ident: str, spec: dict, fds: list[int], started, exited, failed) -> str:
        """Run a command in a running container (execs.py); started(pid), then exited(code)."""
        return self.execs.start(ident, spec, fds, started, exited, failed)

    def signal(self, cid: str, sig: int) -> None:
        lv = self.live.get(cid)
        if lv is None:
            return
        # PID 1 of a PID namespace gets only the signals it has a handler for, from outside as from
        # inside, except SIGKILL (and SIGSTOP): so `stop` on a plain `sleep` waits for the timeout.
        # The PID is safe to use: PID 1 is our child (or the keeper's), and no other process can
        # take its PID before it is reaped.
        try:
            os.kill(lv.pid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGKILL:
            (lv.group or cgroups.group(state.read(self.inst, cid)["cgroup"])).thaw_for_kill()


def parse_signal(value) -> int:
    """9, "9", "KILL", "SIGKILL", "sigterm" -> the signal number."""
    text = str(value).strip().upper()
    if text.isdigit():
        n = int(text)
        if 0 < n < signal.NSIG:
            return n
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if hasattr(signal.Signals, name):
            return int(signal.Signals[name])
    raise InvalidArgument("error.runtime.signal", value=value)
