"""The container operations, one method each: create, run, start, attach, wait, stop, restart, kill,
pause, unpause, rm, update, exec. Each takes the request and the client (a Connection, or anything
with its send/send_frame/send_last_frame/on_hangup: a second protocol can call them the same way)
and returns the reply, or None when the reply comes later from the loop.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

from ... import cgroups
from ...cgroups.resources import Resources
from ...errors import Conflict, ContainerError, InvalidArgument
from .. import state
from ..container import exec_shim
from ..container.init import keyring_name
from ..container.console import resize
from ..logs import replay
from ..options import check_console_size, check_path, resources, env_list, parse_timeout, parse_user, split_command
from ..options import Options
from .create import create, lookup_user
from ...exit_codes import of_wait_status
from .loop import close_fd
from .queries import with_status
from .starts import Starting
from . import failures
from .wire import error_reply, exit_reply


class Operations:
    """Changing containers."""

    # -- the operations ---------------------------------------------------------------------------
    def _get(self, req: dict) -> tuple[str, dict]:
        cid = state.resolve(self.inst, req.get("id", ""))
        rec = state.read(self.inst, cid)
        if rec is None:
            raise ContainerError(f"container {cid[:12]} has no readable record", hint="`labkit rm -f` it.")
        return cid, with_status(self.inst, rec, self.live)

    def _config(self, rec: dict) -> dict:
        """The container's config.json: in its bundle, or in the bundle it was run from (run_bundle)."""
        return json.loads((Path(rec.get("bundle") or state.bundle_dir(self.inst, rec["id"])) / "config.json").read_text())

    def op_shutdown(self, conn, req, fds) -> dict:
        self.running = False  # the containers keep running; the next client starts a new labkitd
        return {"pid": os.getpid()}

    def op_create(self, conn, req, fds) -> dict:
        rec, _cfg = create(self.inst, self.store, Options.from_json(req.get("options")), self.images)
        return {"id": rec["id"], "name": rec["name"]}

    def op_run(self, conn, req, fds):
        marks = [("check the input (client)", req.get("t0", time.monotonic()))]
        rec, cfg = create(self.inst, self.store, Options.from_json(req.get("options")), self.images, starting=True)
        marks.append((f"find the image, create the writable layer and config.json ({rec['name']})", time.monotonic()))
        # `run` that fails to start leaves nothing behind: now (before the fork) or when PID 1 reports it.
        try:
            return self._start(conn, rec, cfg, req, fds, marks, on_fail=lambda: self._remove(rec["id"], rec, volumes=True))
        except BaseException:
            self._remove(rec["id"], rec, volumes=True)
            raise

    def op_start(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] in ("running", "paused"):
            raise Conflict(f"container {rec['name']} is already running")
        return self._start(conn, rec, self._config(rec), req, fds, [])

    def op_run_bundle(self, conn, req, fds):
        bundle = req.get("bundle")
        if not isinstance(bundle, str) or not bundle.startswith("/"):
            raise InvalidArgument(f"bundle {bundle!r} is not an absolute path")
        try:
            cfg = json.loads((Path(bundle) / "config.json").read_text())
            if not isinstance(cfg, dict) or not isinstance(cfg.get("process", {}).get("args"), list):
                raise ValueError("no process.args")
        except (OSError, ValueError, AttributeError) as e:
            raise InvalidArgument(f"no usable config.json in {bundle}: {e}", hint="make one with `runc spec`.") from None
        cid = state.new_id()
        state.bundle_dir(self.inst, cid).mkdir(parents=True)
        name = state.claim_name(self.inst, None, cid)
        rec = {"id": cid, "name": name, "image": bundle, "args": cfg["process"]["args"], "status": "created",
               "created": time.time(), "started_at": 0.0, "finished_at": 0.0, "exit_code": None, "oom_killed": False,
               "pid": 0, "pid_start": 0, "auto_remove": bool(req.get("rm")),
               "cgroup": f"{self.inst.tag}/{cid}", "restart_count": 0, "bundle": bundle}
        state.write(self.inst, rec)
        try:
            return self._start(conn, rec, cfg, req, fds, [], on_fail=lambda: self._remove(cid, rec))
        except BaseException:
            self._remove(cid, rec)
            raise

    def op_attach(self, conn, req, fds):
        """Follow a container's output from where a client's stream broke (client/run.py's _reattach):
        what log.json holds past req["seen"] bytes of each stream, then live output, then the exit.
        Example request: {"op": "attach", "id": "3f9a...", "seen": {"stdout": 1234, "stderr": 0}}."""
        cid, rec = self._get(req)
        seen = req.get("seen") if isinstance(req.get("seen"), dict) else {}
        skip = {s: v for s, v in seen.items() if s in ("stdout", "stderr") and type(v) is int and v >= 0}
        counted: dict[str, int] = {}
        conn.send({"id": cid, "name": rec["name"], "status": rec["status"]})

        def fed():  # the log is sent: from here on, what the container prints (and its exit)
            lv = self.live.get(cid)
            if lv is None:
                r = state.read(self.inst, cid)
                conn.send_last_frame(self.recent.get(cid) or exit_reply(r) if r else
                                     {"id": cid, "exit_code": None, "error": "its record is gone"})
                return
            for stream, n in (("stdout", 1), ("stderr", 2)):  # taken from the FIFO, not yet a whole line in the log
                part = lv.pump.partial[stream][max(0, skip.get(stream, 0) - counted.get(stream, 0)):]
                if part:
                    conn.send_frame(n, part)
            lv.pump.attach_to(conn)
            self.dirty.add(lv)
            self.waiters.setdefault(cid, []).append(lambda r: conn.send_last_frame(exit_reply(r)))

        conn.send_feed(replay(state.bundle_dir(self.inst, cid), skip, counted), fed)
        return None

    def op_wait(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] == "exited":
            return exit_reply(rec)
        self.waiters.setdefault(cid, []).append(lambda r: self._finish(conn, exit_reply(r)))
        return None

    def op_stop(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] not in ("running", "paused"):
            raise Conflict(f"container {rec['name']} is not running (it is {rec['status']})",
                           hint=f"`labkit start {rec['name']}` starts it; `labkit ps -a` shows every container's state.")
        parse_timeout(req.get("timeout", 10))  # a bad value is refused before the waiter is set
        self.waiters.setdefault(cid, []).append(lambda r: self._finish(conn, exit_reply(r)))
        self._stop(cid, rec, req.get("timeout", 10))
        return None

    def _stop(self, cid: str, rec: dict, timeout) -> None:
        """SIGTERM now; SIGKILL after `timeout` seconds if PID 1 is still the same process
        (timeout -1: never). The timeout is checked before anything is sent."""
        seconds = parse_timeout(timeout)
        lv = self.live.get(cid)
        self._signal(cid, signal.SIGTERM)
        group = cgroups.group(rec["cgroup"])
        if group.frozen():
            group.freeze(False)  # a paused container must run to act on SIGTERM, as docker does
        if seconds is not None:
            self.later(seconds, lambda: self._signal(cid, signal.SIGKILL) if self.live.get(cid) is lv else None)

    def op_restart(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] not in ("running", "paused"):
            return self.op_start(conn, req, fds)

        def start_again():
            try:
                r = state.read(self.inst, cid)
                r["restart_count"] = r.get("restart_count", 0) + 1
                state.write(self.inst, r)
                reply = self.op_start(conn, dict(req, attach=False), [])  # answers when started
                if reply is not None:
                    self._finish(conn, reply)
            except Exception as e:  # noqa: BLE001
                self._finish(conn, error_reply(e))

        parse_timeout(req.get("timeout", 10))  # a bad value is refused before the waiter is set
        # Started from the loop, not from inside the exit step: that step removes the old cgroup last.
        self.waiters.setdefault(cid, []).append(lambda r: self.later(0, start_again))
        self._stop(cid, rec, req.get("timeout", 10))
        return None

    def op_kill(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        if rec["status"] not in ("running", "paused"):
            raise Conflict(f"container {rec['name']} is not running (it is {rec['status']})")
        sig = parse_signal(req.get("signal", "KILL"))
        self._signal(cid, sig)
        return {"id": cid, "signal": sig}

    def op_pause(self, conn, req, fds) -> dict:
        return self._freeze(req, True)

    def op_unpause(self, conn, req, fds) -> dict:
        return self._freeze(req, False)

    def _freeze(self, req: dict, frozen: bool) -> dict:
        """pause (the cgroup freezer stops every process inside) or unpause."""
        cid, rec = self._get(req)
        want, then = ("running", "paused") if frozen else ("paused", "running")
        if rec["status"] != want:
            raise Conflict(f"container {rec['name']} is {rec['status']}, not {want}: only a {want} container can be "
                           f"{'paused' if frozen else 'unpaused'}")
        cgroups.group(rec["cgroup"]).freeze(frozen)
        return {"id": cid, "status": then}

    def op_rm(self, conn, req, fds):
        cid, rec = self._get(req)
        if cid in self.starting_ids:
            raise Conflict(f"container {rec['name']} is starting", hint="try again in a moment, or `labkit rm -f` once it runs.")
        if rec["status"] in ("running", "paused"):
            if not req.get("force"):
                raise Conflict(f"container {rec['name']} is running: stop it first or force the removal",
                               hint=f"`labkit stop {rec['name']}` then `labkit rm {rec['name']}`, or `labkit rm -f {rec['name']}`.")

            def then_remove(r):
                self._remove(cid, r, volumes=bool(req.get("volumes")))
                self._finish(conn, {"id": cid, "removed": True})

            self.waiters.setdefault(cid, []).append(then_remove)
            self._signal(cid, signal.SIGKILL)
            return None
        self._remove(cid, rec, volumes=bool(req.get("volumes")))
        return {"id": cid, "removed": True}

    def op_resize(self, conn, req, fds) -> dict:
        """A terminal's new size (`labkit run -it` on SIGWINCH; docker's POST /containers/{id}/resize)."""
        cid, rec = self._get(req)
        lv = self.live.get(cid)
        if lv is None or lv.pump.tty is None:
            raise Conflict(f"container {rec['name']} has no terminal to resize",
                           hint="only a running container started with -t (tty=True) has one.")
        resize(lv.pump.tty, req.get("rows"), req.get("cols"))
        return {"id": cid}

    def op_update(self, conn, req, fds) -> dict:
        """Change a container's limits, running or not (`docker update`): the cgroup's files now,
        config.json for its next start. req: the limits by lk.run's names, e.g. {"memory": 33554432, "cpus": 0.5}."""
        cid, rec = self._get(req)
        given = {k: req[k] for k in ("memory", "cpus", "pids_limit") if req.get(k) is not None}
        if not given:
            raise InvalidArgument("nothing to update: no limit given",
                                  hint="give memory, cpus or pids_limit, e.g. c.update(memory=\"32M\").")
        if any(isinstance(v, (str, bool)) for v in given.values()):
            raise InvalidArgument(f"limits {given!r} are not numbers")
        changes = resources(**given)  # the same rules as run's, whoever the client is
        cfg = self._config(rec)
        new = dataclasses.replace(Resources.from_oci(cfg.get("linux", {}).get("resources")), **changes)
        written = []
        if rec["status"] in ("running", "paused"):
            written = [str(w) for w in cgroups.group(rec["cgroup"]).apply(Resources(**changes))]  # or LimitRefused
        if not rec.get("bundle"):  # a bundle run from elsewhere (run_bundle) is never changed
            cfg.setdefault("linux", {})["resources"] = new.to_oci()
            (state.bundle_dir(self.inst, cid) / "config.json").write_text(json.dumps(cfg))
        return {"id": cid, "resources": new.to_oci(), "written": written}

    def op_exec(self, conn, req, fds):
        """fds: the exec's stdout and stderr (the client's, or a Docker API exec's pipes). If this
        raises, they are the caller's to close (loop.py's _dispatch closes a client's): never twice."""
        cid, rec = self._get(req)
        if rec["status"] != "running":
            raise Conflict(f"container {rec['name']} is {rec['status']}: exec needs a running container")
        cfg = self._config(rec)
        req = dict(req, args=split_command(req.get("args")), env=env_list(req.get("env")), keyring=keyring_name(cid),
                   tty=bool(req.get("tty")) and len(fds) == 1, stdin=bool(req.get("stdin")) and len(fds) == 3,
                   console_size=check_console_size(req.get("console_size")))
        if not req["args"]:
            raise InvalidArgument("exec needs a command", hint="e.g. `labkit exec web ps`.")
        if req.get("workdir") is not None:
            check_path(req["workdir"], "working directory")
        if req.get("user") is not None:
            user = parse_user(req["user"] if isinstance(req["user"], str) else ":".join(map(str, req["user"])))
            if isinstance(user, str):  # a name: looked up in the container's image, as at create
                lower = cfg.get("annotations", {}).get("org.labkit.rootfs.lower", "")
                user = lookup_user(list(reversed(lower.split(":"))) if lower else [], user)
            req["user"] = list(user)
        group = cgroups.group(rec["cgroup"])
        rep_r, rep_w = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:
                exec_shim.main(rec["pid"], cfg, [str(d) for d in group.dirs], req, rep_w, tuple(fds[:3]))
            os.close(rep_w)
        finally:
            for fd in fds:
                close_fd(fd)
            fds.clear()  # closed: the caller, seeing an exception, must not close them again
        self._watch_start(pid, rep_r, conn, lambda reports, st: self._exec_started(conn, cid, reports, st))
        return None

    def _exec_started(self, conn, cid: str, reports: list[dict], st: Starting) -> None:
        """The exec'd command runs (or a step failed): tell the client; its exit code follows."""
        failure = failures.failed(reports)
        if failure:
            conn.send(error_reply(failures.error_of(failure)), last=True)
            return
        conn.send({"id": cid, "pid": st.pid})
        if st.status is not None:  # done already
            conn.send({"exit_code": of_wait_status(st.status)}, last=True)
        else:
            self.execs[st.pid] = conn

    def _signal(self, cid: str, sig: int) -> None:
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
            cgroups.group(state.read(self.inst, cid)["cgroup"]).thaw_for_kill()


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
    raise InvalidArgument(f"{value!r} is not a signal", hint='give a name or number: "TERM", "SIGHUP", 9.')
