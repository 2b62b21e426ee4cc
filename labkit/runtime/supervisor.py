"""labkitd: the supervisor, one per lab on a host, as dockerd is docker's server side.

    client (notebook, CLI, script) --JSON lines on a Unix socket--> labkitd --fork--> shim --> PID 1
                                    /run/labkit/labkitd.sock          (one process, one thread)

Why a server, and why this shape (issue 4):
  - Containers are the host's, not a notebook's: the shims are labkitd's children, in labkit's own
    cgroup, so a notebook kernel that restarts or dies takes no container with it, and `labkit ps`
    in a shell sees what a notebook started. The seed's client/server architecture, for real.
  - Speed: a Jupyter kernel has threads, so it may not fork and keep running Python; it would have
    to exec a fresh interpreter per container (~40 ms). labkitd is single-threaded and warm: it forks
    the shim (~1 ms), and keeps resolved images in memory.
  - Cost: no interpreter per container. A shim is a fork of labkitd that never execs: ~1 MiB of
    its own per container (bench/many_containers.py measures it).
  - Nothing is lost when labkitd dies: the records are files (state.py), the shims write the exit
    codes, and the next labkitd (started on demand by the next client) finds the shims still
    running and watches them again through pidfds.
  - It is a subreaper (PR_SET_CHILD_SUBREAPER), so a process orphaned below it is reaped here,
    not by the host's init.

The protocol, one request per connection: the client sends one JSON line, with file descriptors
attached (SCM_RIGHTS) when the container's output goes straight to the client's pipes or terminal:

    -> {"op": "run", "options": {...}, "attach": true}     + fds [stdout, stderr]
    <- {"id": "3f9a...", "name": "brave_curie", "pid": 4242, "trace": [...]}    when it started
    <- {"exit_code": 0, "oom_killed": false, ...}                               when it exited
    <- {"error": {"type": "Conflict", "message": "...", "hint": "..."}}          on failure

Operations: ping create start run run_bundle exec wait stop kill pause unpause rm restart ps inspect
top stats shutdown. `logs` needs no server: the client reads log.json.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from .. import cgroups
from ..cgroups.resources import Resources
from ..errors import Conflict, ContainerError, InvalidArgument, LabkitError
from ..images.store import ImageStore
from ..kernel import syscalls as sc
from ..paths import Instance, instance as get_instance
from . import client, exec_shim, shim, state
from .create import Options, create

NAME = "labkitd"  # its /proc/PID/comm
SOCKET = client.SOCKET
LOCK, LOG, PIDFILE = "labkitd.lock", "labkitd.log", "labkitd.pid"
START_TIMEOUT = 60.0  # seconds a container may take from fork to exec before it is given up


def socket_path(inst: Instance) -> Path:
    return inst.run / SOCKET


def group_name(inst: Instance) -> str:
    """labkitd's own cgroup, beside the containers': labkit.3f9c0a1b/labkitd."""
    return f"{inst.tag}/{NAME}"


class Live:
    """A running container this supervisor watches: its shim's pidfd and who waits for its exit."""

    def __init__(self, cid: str, shim_pid: int, pidfd: int):
        self.cid, self.shim_pid, self.pidfd = cid, shim_pid, pidfd
        self.stop_deadline: float | None = None


class Supervisor:
    def __init__(self, inst: Instance, listener: socket.socket):
        self.inst = inst
        self.store = ImageStore(inst)
        self.images: dict = {}
        self.sel = selectors.DefaultSelector()
        self.listener = listener
        self.live: dict[str, Live] = {}
        self.waiters: dict[str, list] = {}  # cid -> callbacks run with the record when it exits
        self.execs: dict[int, socket.socket] = {}  # exec shim PID -> the client waiting for its exit code
        self.reaped: dict[int, int] = {}  # child PID -> exit status, until someone asks
        self.running = True

    # -- the loop --------------------------------------------------------------------------------
    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self.sel.register(wake_r, selectors.EVENT_READ, lambda fd: (os.read(fd, 4096), self._reap()))
        self._reap()
        while self.running:
            deadlines = [lv.stop_deadline for lv in self.live.values() if lv.stop_deadline]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in self.sel.select(timeout):
                try:
                    key.data(key.fileobj)
                except Exception:  # noqa: BLE001 - one bad event must not take down every container's server
                    traceback.print_exc()
            now = time.monotonic()
            for lv in list(self.live.values()):
                if lv.stop_deadline and now >= lv.stop_deadline:
                    lv.stop_deadline = None
                    self._signal(lv.cid, signal.SIGKILL)  # stop's second step: it did not exit on SIGTERM

    def recover(self) -> None:
        """After a restart: watch the shims still running, record the ones that died meanwhile."""
        for cid in state.all_ids(self.inst):
            rec = state.read(self.inst, cid)
            if not rec:
                continue
            if rec["status"] == "running":
                if state.shim_alive(rec):
                    try:
                        self._watch(cid, rec["shim_pid"])
                        continue
                    except OSError:
                        pass
                self._record_lost(rec, None)
            if rec["status"] == "exited" and rec.get("auto_remove"):
                self._remove(cid, rec)

    # -- connections ------------------------------------------------------------------------------
    def _accept(self, listener) -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        fds: list[int] = []
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk, got, _flags, _addr = socket.recv_fds(conn, 1 << 20, 4)
                fds.extend(got)
                if not chunk:
                    break
                data += chunk
            req = json.loads(data)
            op = getattr(self, "op_" + str(req.get("op")), None)
            if op is None:
                raise InvalidArgument(f"labkitd has no operation {req.get('op')!r}")
            reply = op(conn, req, fds)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the client as a typed error
            for fd in fds:
                _close(fd)
            self._send(conn, error_reply(e))
            conn.close()
            return
        if reply is not None:
            self._send(conn, reply)
            conn.close()

    def _defer(self, conn: socket.socket) -> None:
        """Keep `conn` open for a later reply; if the client hangs up first, forget it."""
        conn.setblocking(False)
        self.sel.register(conn, selectors.EVENT_READ, self._hangup)

    def _hangup(self, conn) -> None:
        try:
            if conn.recv(1, socket.MSG_PEEK):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._finish(conn, None)

    def _finish(self, conn: socket.socket, reply: dict | None) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        if reply is not None and conn.fileno() >= 0:
            conn.setblocking(True)
            self._send(conn, reply)
        conn.close()

    @staticmethod
    def _send(conn: socket.socket, reply: dict) -> None:
        try:
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass  # the client went away; the record on disk still tells

    # -- children and shims -----------------------------------------------------------------------
    def _watch(self, cid: str, shim_pid: int) -> None:
        pidfd = os.pidfd_open(shim_pid)
        self.live[cid] = Live(cid, shim_pid, pidfd)
        self.sel.register(pidfd, selectors.EVENT_READ, lambda _fd, cid=cid: self._shim_exited(cid))

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.execs.pop(pid, None)
            if conn is not None:
                self._finish(conn, {"exit_code": _code(status)})
            else:
                self.reaped[pid] = status

    def _shim_exited(self, cid: str) -> None:
        lv = self.live.pop(cid)
        self.sel.unregister(lv.pidfd)
        os.close(lv.pidfd)
        self._reap()
        status = self.reaped.pop(lv.shim_pid, None)
        rec = state.read(self.inst, cid)
        if rec is None:
            return
        if rec["status"] == "running":
            self._record_lost(rec, status)
        if rec.get("auto_remove"):
            self._remove(cid, rec)
        for callback in self.waiters.pop(cid, []):
            callback(rec)

    def _record_lost(self, rec: dict, status: int | None) -> None:
        """The shim died without writing the exit (it was killed): the container died with it
        (PID 1 has PR_SET_PDEATHSIG). Record that, and clear what it left."""
        try:
            cgroups.group(rec["cgroup"]).remove()
        except LabkitError:
            pass
        rec.update(status="exited", exit_code=_code(status) if status is not None else 137, pid=0,
                   finished_at=time.time(), error="the container's shim was killed")
        state.write(self.inst, rec)

    def _remove(self, cid: str, rec: dict) -> None:
        import shutil

        try:
            group = cgroups.group(rec["cgroup"])
            if group.exists():
                group.remove()
        except LabkitError:
            pass
        state.release_name(self.inst, rec.get("name", ""), cid)
        shutil.rmtree(state.bundle_dir(self.inst, cid), ignore_errors=True)

    def _signal(self, cid: str, sig: int) -> None:
        rec = state.read(self.inst, cid)
        lv = self.live.get(cid)
        if not rec or not lv or not rec.get("pid"):
            return
        # PID 1 of a PID namespace gets only the signals it has a handler for, from outside as from
        # inside, except SIGKILL (and SIGSTOP): so `stop` on a plain `sleep` waits for the timeout.
        # The PID is safe to use while the shim lives: PID 1 is its child, so until the shim reaps it,
        # no other process can get that PID.
        try:
            os.kill(rec["pid"], sig)
        except ProcessLookupError:
            return
        group = cgroups.group(rec["cgroup"])
        if sig == signal.SIGKILL and group.frozen():
            group.freeze(False)  # a frozen task cannot act on SIGKILL (v1) until thawed

    # -- the operations ---------------------------------------------------------------------------
    def _get(self, req: dict) -> tuple[str, dict]:
        cid = state.resolve(self.inst, req.get("id", ""))
        rec = state.read(self.inst, cid)
        if rec is None:
            raise ContainerError(f"container {cid[:12]} has no readable record", hint="`labkit rm -f` it.")
        return cid, with_status(self.inst, rec, self.live)

    def op_ping(self, conn, req, fds) -> dict:
        return {"pid": os.getpid(), "containers": len(self.live)}

    def op_shutdown(self, conn, req, fds) -> dict:
        self.running = False  # the containers keep running; the next client starts a new labkitd
        return {"pid": os.getpid()}

    def op_create(self, conn, req, fds) -> dict:
        rec, _cfg = create(self.inst, self.store, Options.from_json(req["options"]), self.images)
        return {"id": rec["id"], "name": rec["name"]}

    def op_run(self, conn, req, fds):
        marks = [("check the input (client)", req.get("t0", time.monotonic()))]
        rec, cfg = create(self.inst, self.store, Options.from_json(req["options"]), self.images)
        marks.append((f"find the image, create the writable layer and config.json ({rec['name']})", time.monotonic()))
        try:
            return self._start(conn, rec, cfg, req, fds, marks)
        except BaseException:
            self._remove(rec["id"], rec)  # `run` that fails to start leaves nothing behind
            raise

    def op_start(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] in ("running", "paused"):
            raise Conflict(f"container {rec['name']} is already running")
        cfg = json.loads((Path(rec.get("bundle") or state.bundle_dir(self.inst, cid)) / "config.json").read_text())
        return self._start(conn, rec, cfg, req, fds, [])

    def op_run_bundle(self, conn, req, fds):
        bundle = req["bundle"]
        cfg = json.loads((Path(bundle) / "config.json").read_text())
        cid = state.new_id()
        state.bundle_dir(self.inst, cid).mkdir(parents=True)
        name = state.claim_name(self.inst, None, cid)
        rec = {"id": cid, "name": name, "image": bundle, "args": cfg["process"]["args"], "status": "created",
               "created": time.time(), "started_at": 0.0, "finished_at": 0.0, "exit_code": None, "oom_killed": False,
               "pid": 0, "shim_pid": 0, "shim_start": 0, "auto_remove": bool(req.get("rm")),
               "cgroup": f"{self.inst.tag}/{cid}", "restart_count": 0, "bundle": bundle}
        state.write(self.inst, rec)
        try:
            return self._start(conn, rec, cfg, req, fds, [])
        except BaseException:
            self._remove(cid, rec)
            raise

    def _start(self, conn, rec: dict, cfg: dict, req: dict, fds: list[int], marks: list):
        """Fork the shim and wait until the command was exec'd (or failed). With attach, the client's
        pipes are the container's output and the connection stays open for the exit code."""
        attach = tuple(fds[:2]) if req.get("attach") and len(fds) >= 2 else None
        group = cgroups.group(rec["cgroup"])
        try:
            group.create()
            group.apply(Resources.from_oci(cfg.get("linux", {}).get("resources")))
            marks.append((f"create the cgroup ({len(group.dirs)} dirs) and write its limits", time.monotonic()))
            rep_r, rep_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                shim.main(self.inst, rec, cfg, group, rep_w, attach)
            os.close(rep_w)
        finally:
            for fd in fds:
                _close(fd)
        reports = _read_reports(rep_r, START_TIMEOUT)
        failure = next((r for r in reports if r.get("error")), None)
        started = next((r for r in reports if "started" in r), None)
        if failure or not started:
            _wait_child(pid, self.reaped)
            if group.exists():
                group.remove()
            raise failure_error(failure or {"step": "start", "message": "the shim ended before the command started"})
        marks.extend((r["trace"], r["t"]) for r in reports if "trace" in r)
        marks.append(("exec the command", started["t"]))
        self._watch(rec["id"], pid)
        reply = {"id": rec["id"], "name": rec["name"], "pid": started["started"], "args": rec["args"],
                 "trace": marks if cfg.get("annotations", {}).get("org.labkit.trace") == "1" else []}
        if req.get("attach"):
            reply["config"] = cfg
        if not req.get("attach"):
            return reply
        self._send(conn, reply)
        self._defer(conn)
        self.waiters.setdefault(rec["id"], []).append(lambda r: self._finish(conn, exit_reply(r)))
        return None

    def op_wait(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] == "exited":
            return exit_reply(rec)
        self._defer(conn)
        self.waiters.setdefault(cid, []).append(lambda r: self._finish(conn, exit_reply(r)))
        return None

    def op_stop(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] not in ("running", "paused"):
            raise Conflict(f"container {rec['name']} is not running (it is {rec['status']})",
                           hint=f"`labkit start {rec['name']}` starts it; `labkit ps -a` shows every container's state.")
        timeout = float(req.get("timeout", 10))
        self._defer(conn)
        self.waiters.setdefault(cid, []).append(lambda r: self._finish(conn, exit_reply(r)))
        self._signal(cid, signal.SIGTERM)
        group = cgroups.group(rec["cgroup"])
        if group.frozen():
            group.freeze(False)  # a paused container must run to act on SIGTERM, as docker does
        self.live[cid].stop_deadline = time.monotonic() + timeout
        return None

    def op_restart(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] not in ("running", "paused"):
            return self.op_start(conn, req, fds)

        def then_start(r):
            try:
                r["restart_count"] = r.get("restart_count", 0) + 1
                state.write(self.inst, r)
                self._finish(conn, self.op_start(conn, dict(req, attach=False), []))
            except Exception as e:  # noqa: BLE001
                self._finish(conn, error_reply(e))

        self._defer(conn)
        self.waiters.setdefault(cid, []).append(then_start)
        self._signal(cid, signal.SIGTERM)
        self.live[cid].stop_deadline = time.monotonic() + float(req.get("timeout", 10))
        return None

    def op_kill(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        if rec["status"] not in ("running", "paused"):
            raise Conflict(f"container {rec['name']} is not running (it is {rec['status']})")
        sig = parse_signal(req.get("signal", "KILL"))
        self._signal(cid, sig)
        return {"id": cid, "signal": sig}

    def op_pause(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        if rec["status"] != "running":
            raise Conflict(f"container {rec['name']} is {rec['status']}, not running: only a running container can be paused")
        cgroups.group(rec["cgroup"]).freeze(True)
        return {"id": cid, "status": "paused"}

    def op_unpause(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        if rec["status"] != "paused":
            raise Conflict(f"container {rec['name']} is {rec['status']}, not paused")
        cgroups.group(rec["cgroup"]).freeze(False)
        return {"id": cid, "status": "running"}

    def op_rm(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] in ("running", "paused"):
            if not req.get("force"):
                raise Conflict(f"container {rec['name']} is running: stop it first or force the removal",
                               hint=f"`labkit stop {rec['name']}` then `labkit rm {rec['name']}`, or `labkit rm -f {rec['name']}`.")

            def then_remove(r):
                self._remove(cid, r)
                self._finish(conn, {"id": cid, "removed": True})

            self._defer(conn)
            self.waiters.setdefault(cid, []).append(then_remove)
            self._signal(cid, signal.SIGKILL)
            return None
        self._remove(cid, rec)
        return {"id": cid, "removed": True}

    def op_ps(self, conn, req, fds) -> dict:
        out = []
        for cid in state.all_ids(self.inst):
            rec = state.read(self.inst, cid)
            if rec:
                rec = with_status(self.inst, rec, self.live)
                if req.get("all") or rec["status"] in ("running", "paused"):
                    out.append(rec)
        out.sort(key=lambda r: r.get("created", 0), reverse=True)
        return {"containers": out}

    def op_inspect(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        bundle = state.bundle_dir(self.inst, cid)
        try:
            cfg = json.loads((Path(rec.get("bundle") or bundle) / "config.json").read_text())
        except (OSError, ValueError):
            cfg = {}
        return {"record": rec, "config": cfg, "bundle": str(bundle), "log": str(bundle / shim.LOG_NAME)}

    def op_top(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        procs = []
        if rec["status"] in ("running", "paused"):
            for pid in cgroups.group(rec["cgroup"]).pids():
                procs.append(process_row(pid))
        return {"id": cid, "processes": [p for p in procs if p]}

    def op_stats(self, conn, req, fds) -> dict:
        cid, rec = self._get(req)
        group = cgroups.group(rec["cgroup"])
        return {"id": cid, "name": rec["name"], "stats": group.stats().to_dict() if group.exists() else None}

    def op_exec(self, conn, req, fds):
        cid, rec = self._get(req)
        if rec["status"] != "running":
            for fd in fds:
                _close(fd)
            raise Conflict(f"container {rec['name']} is {rec['status']}: exec needs a running container")
        cfg = json.loads((Path(rec.get("bundle") or state.bundle_dir(self.inst, cid)) / "config.json").read_text())
        group = cgroups.group(rec["cgroup"])
        rep_r, rep_w = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:
                exec_shim.main(rec["pid"], cfg, [str(d) for d in group.dirs], req, rep_w, tuple(fds[:2]))
            os.close(rep_w)
        finally:
            for fd in fds:
                _close(fd)
        reports = _read_reports(rep_r, START_TIMEOUT)
        failure = next((r for r in reports if r.get("error")), None)
        if failure:
            _wait_child(pid, self.reaped)
            raise failure_error(failure)
        self.execs[pid] = conn
        self._send(conn, {"id": cid, "pid": pid})
        self._defer(conn)
        self._reap()  # it may have exited already
        return None


# -- helpers shared with the client -------------------------------------------------------------------
def with_status(inst: Instance, rec: dict, live: dict | None = None) -> dict:
    """The record with its status as true now: "paused" comes from the freezer; a "running" record
    whose shim is gone (and not yet recorded by labkitd) shows as "dead"."""
    rec = dict(rec)
    if rec["status"] == "running":
        if live is not None and rec["id"] not in live and not state.shim_alive(rec):
            rec["status"] = "dead"
        else:
            try:
                if cgroups.group(rec["cgroup"]).frozen():
                    rec["status"] = "paused"
            except LabkitError:
                pass
    return rec


def exit_reply(rec: dict) -> dict:
    return {"id": rec["id"], "exit_code": rec.get("exit_code"), "oom_killed": rec.get("oom_killed", False),
            "finished_at": rec.get("finished_at"), "t": time.monotonic()}


def error_reply(e: BaseException) -> dict:
    if isinstance(e, LabkitError):
        return {"error": {"type": type(e).__name__, "message": e.message, "hint": e.hint, "exit_code": e.exit_code}}
    if isinstance(e, OSError):
        from ..errors import translate_oserror

        return error_reply(translate_oserror(e, "serve the request"))
    traceback.print_exc()
    return {"error": {"type": "LabkitError", "message": f"labkitd failed: {type(e).__name__}: {e}",
                      "hint": "its log is labkitd.log in the lab's run folder; `labkit reset` starts afresh."}}


def failure_error(info: dict) -> LabkitError:
    """A shim's report of a failed step as the error a learner should see."""
    from ..errors import CommandNotExecutable, CommandNotFound, translate_oserror

    step, errno_, msg, args = info.get("step"), info.get("errno"), info.get("message"), info.get("args", ["?"])
    if step == "exec":
        if errno_ == errno.ENOENT:
            return CommandNotFound(f"{args[0]!r}: executable file not found in the container's $PATH")
        return CommandNotExecutable(f"{args[0]!r} cannot be executed: {msg}")
    return translate_oserror(OSError(errno_ or 0, msg), step) if errno_ else ContainerError(f"{step}: {msg}")


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


def process_row(pid: int) -> dict | None:
    """One line of `top`: PID, parent, user, state, command, read from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2 :].split()
    uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "?")
    nspid = next((line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")), "?")
    return {"pid": pid, "ppid": int(rest[1]), "uid": int(uid), "state": rest[0].decode(), "pid_in_container": int(nspid),
            "command": cmd or data[data.index(b"(") + 1 : data.rindex(b")")].decode(errors="replace")}


def _code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _wait_child(pid: int, reaped: dict) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        reaped.pop(pid, None)


def _read_reports(fd: int, timeout: float) -> list[dict]:
    """JSON lines from a shim until it closes the pipe (the command was exec'd, or a step failed)."""
    import select

    chunks, deadline = [], time.monotonic() + timeout
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                chunks.append(b'{"error": true, "step": "start", "errno": 0, "message": "timed out"}\n')
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    out = []
    for line in b"".join(chunks).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"error": True, "step": "start", "errno": 0, "message": line.decode(errors="replace")[:200]})
    return out


# -- start-up ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """python -I -S -c "...; main()" ROOT: start labkitd for the lab at ROOT, in the background.

    The process the client started forks the daemon and exits once the daemon listens (or found
    another labkitd holding the lock): the client waits for that exit, and labkitd is never the
    client's child. Exit status 0: a labkitd is ready; anything else: see labkitd.log."""
    argv = sys.argv[1:] if argv is None else argv
    inst = get_instance(argv[0]) if argv else get_instance()
    inst.run.mkdir(parents=True, exist_ok=True)
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        ok = os.read(ready_r, 1)
        os._exit(0 if ok == b"1" else 1)
    os.close(ready_r)
    os.setsid()
    lock = os.open(inst.run / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another labkitd runs (two clients started one at once): it is the one
        os.write(ready_w, b"1")
        os._exit(0)
    log = os.open(inst.run / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(NAME)
        os.chdir("/")
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        # Out of the caller's cgroup (a Jupyter server's systemd unit, say): when that is stopped,
        # the whole group is killed, and the containers' shims with it.
        own = cgroups.group(group_name(inst))
        own.create()
        own.add(os.getpid())
        path = socket_path(inst)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # root only: whoever can talk to labkitd is root in effect
        try:
            listener.bind(str(path))
        finally:
            os.umask(old)
        listener.listen(256)
        (inst.run / PIDFILE).write_text(f"{os.getpid()}\n")
        sup = Supervisor(inst, listener)
        sup.recover()
        gc.collect()
        gc.freeze()  # what is loaded now stays shared with every shim: the collector never walks it
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} labkitd {os.getpid()} serving {path}", flush=True)
        os.write(ready_w, b"1")
        os.close(ready_w)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    try:
        sup.serve()
    finally:
        try:
            if socket_path(inst).exists():
                socket_path(inst).unlink()
        except OSError:
            pass
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} labkitd {os.getpid()} stopped", flush=True)
    os._exit(0)
