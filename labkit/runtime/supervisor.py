"""labkitd: the supervisor, one per lab on a host, as dockerd is docker's server side.

    client (notebook, CLI, script) --JSON lines on a Unix socket--> labkitd --fork--> PID 1 of a container
                                    /run/labkit/labkitd.sock          (one process, one thread)
    labkit-keeper (keeper.py): labkitd's parent; restarts it; reaps the containers it left behind

Why a server, and why this shape (issue 4):
  - Containers are the host's, not a notebook's: every container's PID 1 is labkitd's child, in
    labkit's own cgroups, so a notebook kernel that restarts or dies takes no container with it,
    and `labkit ps` in a shell sees what a notebook started. The seed's client/server architecture.
  - Speed: a Jupyter kernel has threads, so it may not fork and keep running Python; it would have
    to exec a fresh interpreter per container (~40 ms). labkitd is single-threaded and warm: it
    forks PID 1 directly (unshare(CLONE_NEWPID) for the one fork, then back), and keeps resolved
    images in memory.
  - Cost: nothing of ours per container but a few file descriptors and a dict. No shim process
    per container (docker's containerd-shim, podman's conmon): labkitd pumps every container's output
    from one event loop. bench/many_containers.py measures it.
  - Nothing is lost when labkitd dies: records are files (state.py); output waits in named FIFOs
    that the next labkitd reopens (logs.py); the containers it leaves are reparented to the keeper
    (a subreaper), which records their exit codes and starts a new labkitd at once. If the keeper
    dies instead, labkitd takes its place (keeper.py).
  - No client can stall it (issue 10): every socket is non-blocking (connection.py); a start or an
    exec is waited for in the loop, not in a call (_watch_start); a slow reader holds back only its
    own container's output.

The protocol, one request per connection: the client sends one JSON line (with file descriptors
attached, SCM_RIGHTS, for exec: the pipes the process inside writes to), and reads JSON lines back:

    -> {"op": "run", "options": {...}, "attach": true}
    <- {"id": "3f9a...", "name": "brave_curie", "pid": 4242, "trace": [...]}    when it started
    <- frames: stdout, stderr, then the last reply {"exit_code": 0, ...}        (connection.py)
    <- {"error": {"type": "Conflict", "message": "...", "hint": "..."}}          on failure

Operations: ping create start run run_bundle attach exec wait stop kill pause unpause rm restart update
ps inspect top stats shutdown. `logs` needs no server: the client reads log.json.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import json
import os
import selectors
import signal
import socket
import time
import traceback
from pathlib import Path

from .. import cgroups
from ..cgroups.resources import Resources
from ..errors import Conflict, ContainerError, InvalidArgument, LabkitError
from ..images.store import ImageStore
from ..kernel import syscalls as sc
from ..paths import Instance
from ..security import devices as device_rules
from . import exec_shim, init, state
from .connection import Connection
from .logs import LOG_NAME, Pump, fifo_paths, limits as log_limits, make_fifos, replay
from .create import Options, create, lookup_user
from .options import check_path, check_resources, env_list, parse_timeout, parse_user, split_command

START_TIMEOUT = 60.0  # seconds a container may take from fork to exec before it is given up
CONTAINER_NOFILE: tuple[int, int] | None = None  # RLIMIT_NOFILE for containers (labkitd raises its own)


class Live:
    """A running container this labkitd watches: PID 1, its output, and for an adopted one
    (started by an earlier labkitd, now the keeper's child) a pidfd that says when it exits."""

    def __init__(self, cid: str, pid: int, pump: Pump, pidfd: int | None = None):
        self.cid, self.pid, self.pump, self.pidfd = cid, pid, pump, pidfd


class Starting:
    """A process labkitd forked (a container's PID 1, an exec) whose command is not exec'd yet."""

    def __init__(self, pid: int, fd: int):
        self.pid, self.fd = pid, fd
        self.chunks: list[bytes] = []
        self.status: int | None = None  # its wait status, if it exited before the pipe's end was handled
        self.finished = False
        self.done = None


class Supervisor:
    def __init__(self, inst: Instance, listener: socket.socket, keeper_pid: int | None = None):
        self.inst = inst
        # The keeper's pidfd turns readable if it dies: serve() then returns with orphaned set, and
        # keeper.py makes this process the keeper (nothing would restart labkitd otherwise).
        self.orphaned = False
        self.keeper_fd = None
        if keeper_pid:
            try:
                self.keeper_fd = os.pidfd_open(keeper_pid)
            except ProcessLookupError:
                self.orphaned = True
        self.store = ImageStore(inst)
        self.images: dict = {}
        self.sel = selectors.DefaultSelector()
        self.listener = listener
        self.live: dict[str, Live] = {}
        self.by_pid: dict[int, str] = {}  # PID 1 (our child) -> container id
        self.waiters: dict[str, list] = {}  # cid -> callbacks run with the record when it exits
        self.execs: dict[int, socket.socket] = {}  # exec shim PID -> the client waiting for its exit code
        self.timers: list[tuple[float, object]] = []  # (monotonic deadline, callback)
        self.watched: dict[int, tuple] = {}  # fd -> (owner, callback, events) registered in `sel`
        self.fixed: dict[int, tuple] = {}  # the listener and the signal wakeup pipe
        self.conns: dict[int, Connection] = {}  # fd -> a client's connection
        self.recent: dict[str, dict] = {}  # cid -> the exit reply of a container that exited lately
        self.starting: dict[int, Starting] = {}  # PID -> a process forked, its command not exec'd yet
        self.starting_ids: set[str] = set()  # containers whose start is under way
        self.running = True
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    # -- the loop --------------------------------------------------------------------------------
    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        self.listener.setblocking(False)
        self.wake = (wake_r, wake_w)
        self.fixed = {self.listener.fileno(): (self, lambda ev: self._accept(), selectors.EVENT_READ),
                      wake_r: (self, lambda ev: (os.read(wake_r, 4096), self._reap()), selectors.EVENT_READ)}
        if self.keeper_fd is not None:
            self.fixed[self.keeper_fd] = (self, lambda ev: self._keeper_gone(), selectors.EVENT_READ)
        self._reap()
        while self.running and not self.orphaned:
            self._update_watch()
            now = time.monotonic()
            # At most a minute of sleep: a timer far away (stop -t 3000000) never overflows select's timeout.
            timeout = min(60.0, max(0.0, min(t for t, _ in self.timers) - now)) if self.timers else 60.0
            for key, events in self.sel.select(timeout):
                owner, callback, _ = key.data
                if self.watched.get(key.fd, (None,))[0] is not owner:
                    continue  # closed by an earlier event of this same batch
                try:
                    callback(events)
                except Exception:  # noqa: BLE001 - one bad event must not take down every container's server
                    traceback.print_exc()
            now = time.monotonic()
            due = [cb for t, cb in self.timers if t <= now]
            self.timers = [(t, cb) for t, cb in self.timers if t > now]
            for cb in due:
                try:
                    cb()
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
            self._expire_requests(now)

    def _keeper_gone(self) -> None:
        self.orphaned = True

    def release(self) -> None:
        """Let go of every client, pump and descriptor of the loop (keeper.py, before this process
        becomes the keeper): clients see their stream end and attach again to the next labkitd."""
        for conn in list(self.conns.values()):
            conn.close()
        for lv in list(self.live.values()):
            lv.pump.close()
            if lv.pidfd is not None:
                _close(lv.pidfd)
        for conn in self.execs.values():
            conn.close()
        for st in self.starting.values():
            _close(st.fd)  # its start is cut off: the next labkitd's recover() finishes it
        self.live, self.conns, self.execs, self.waiters, self.timers = {}, {}, {}, {}, []
        self.starting, self.starting_ids = {}, set()
        self.sel.close()
        signal.set_wakeup_fd(-1)
        for fd in (*getattr(self, "wake", ()), self.keeper_fd):
            if fd is not None:
                _close(fd)

    def _update_watch(self) -> None:
        """(Re)register every fd for what it waits for now: the listener; each client for its
        request, its hang-up, and room for what waits to be sent; each container's FIFOs unless
        its attached client has too much output waiting. Example entry: fd 7 -> (Pump, callback, EVENT_READ)."""
        want: dict[int, tuple] = dict(self.fixed)
        for lv in self.live.values():
            if lv.pidfd is not None:  # an adopted container: its pidfd is readable once it exited
                want[lv.pidfd] = (lv, lambda ev, lv=lv: self._await_record(lv), selectors.EVENT_READ)
            for fd in lv.pump.want_read():
                want[fd] = (lv.pump, lambda ev, fd=fd, p=lv.pump: p.readable(fd), selectors.EVENT_READ)
        for st in self.starting.values():  # processes between fork and exec: their report pipes
            want[st.fd] = (st, lambda ev, st=st: self._start_readable(st), selectors.EVENT_READ)
        for conn in list(self.conns.values()):
            if conn.closed:
                del self.conns[conn.fd]
                continue
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.wants_write() else 0)
            want[conn.fd] = (conn, lambda ev, c=conn: self._conn_event(c, ev), events)
        for fd, old in self.watched.items():
            new = want.get(fd)
            if new is None or new[0] is not old[0]:
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass
        for fd, data in want.items():
            old = self.watched.get(fd)
            try:
                if old is None or old[0] is not data[0]:
                    self.sel.register(fd, data[2], data)
                elif old[2] != data[2]:
                    self.sel.modify(fd, data[2], data)
            except (KeyError, ValueError, OSError):
                traceback.print_exc()
                want.pop(fd)
        self.watched = want

    def _expire_requests(self, now: float) -> None:
        """A client that has not sent its whole request line in REQUEST_TIMEOUT is dropped."""
        for conn in list(self.conns.values()):
            if conn.request is None and not conn.closed and now > conn.deadline:
                conn.send(error_reply(InvalidArgument("no complete request line in time")), last=True)

    def later(self, seconds: float, callback) -> None:
        self.timers.append((time.monotonic() + seconds, callback))

    def recover(self) -> None:
        """After a restart: adopt the containers still running, remove exited ones marked rm."""
        for cid in state.all_ids(self.inst):
            rec = state.read(self.inst, cid)
            if not rec:
                continue
            if rec["status"] == "running":
                self._adopt(rec)
            elif rec["status"] == "exited" and rec.get("auto_remove"):
                self._remove(cid, rec)
            elif rec["status"] == "created":
                self._start_cut_off(rec)

    def _start_cut_off(self, rec: dict) -> None:
        """A container whose start an earlier labkitd did not finish (killed between `run`'s create
        and the exec, or between the fork and the record): its cgroup, and any process already in it,
        go; a --rm one is removed, as its run would have removed it; another stays "created"."""
        group = cgroups.group(rec["cgroup"])
        if not (rec.get("starting") or group.exists()):
            return  # an ordinary created container
        try:
            if group.exists():
                group.remove()  # kills what is inside first
        except (LabkitError, OSError):
            traceback.print_exc()
        if rec.get("auto_remove"):
            self._remove(rec["id"], rec)
        else:
            rec.pop("starting", None)
            state.write(self.inst, rec)

    def _adopt(self, rec: dict) -> None:
        cid = rec["id"]
        try:
            limits = log_limits(self._config(rec))
        except (OSError, ValueError):
            limits = ()
        pump = Pump(state.bundle_dir(self.inst, cid), *limits)
        try:
            if state.process_start(rec["pid"]) != rec.get("pid_start"):
                raise ProcessLookupError(rec["pid"])
            pidfd = os.pidfd_open(rec["pid"])
        except OSError:
            pidfd = None
        lv = self.live[cid] = Live(cid, rec["pid"], pump, pidfd)
        if pidfd is None:  # gone already: the keeper is recording (or has recorded) its exit
            self._await_record(lv)
        # else the loop watches the pidfd (_update_watch): readable when the process has exited

    # -- connections ------------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(64):  # what has queued up, without letting a flood of connections starve the rest
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EMFILE and friends: the client is refused, the loop goes on
                traceback.print_exc()
                return
            conn = Connection(sock)
            self.conns[conn.fd] = conn

    def _conn_event(self, conn: Connection, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            conn.writable()
        if conn.closed or not events & selectors.EVENT_READ:
            return
        if conn.request is not None:
            conn.readable_after_request()
            return
        try:
            if not conn.read_request():
                return
        except EOFError:
            conn.close()
            return
        except ValueError as e:
            conn.send(error_reply(InvalidArgument(f"labkitd could not read the request: {e}",
                                                  hint="send one JSON object on one line.")), last=True)
            return
        self._dispatch(conn)

    def _dispatch(self, conn: Connection) -> None:
        req, fds = conn.request, conn.fds
        conn.fds = []
        try:
            op = getattr(self, "op_" + str(req.get("op")), None)
            if op is None:
                raise InvalidArgument(f"labkitd has no operation {req.get('op')!r}")
            reply = op(conn, req, fds)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the client as a typed error
            for fd in fds:
                _close(fd)
            conn.send(error_reply(e), last=True)
            return
        if reply is not None:
            conn.send(reply, last=True)

    @staticmethod
    def _finish(conn: Connection, reply: dict | None) -> None:
        """The last reply of a deferred request (or none: just close)."""
        if reply is None:
            conn.close()
        else:
            conn.send(reply, last=True)

    # -- exits ---------------------------------------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            st = self.starting.get(pid)
            if st is not None:  # exited before its report pipe's end was handled: _started sees it
                st.status = status
                continue
            conn = self.execs.pop(pid, None)
            if conn is not None:
                self._finish(conn, {"exit_code": _code(status)})
            cid = self.by_pid.pop(pid, None)
            if cid is not None:
                self._exited(cid, _code(status))

    def _exited(self, cid: str, code: int) -> None:
        """PID 1 of our own container exited: the kernel has killed the rest of its PID namespace."""
        lv = self.live.pop(cid)
        lv.pump.drain()
        self._drop_pump(lv)
        rec = state.read(self.inst, cid)
        if rec is None:
            return
        group = cgroups.group(rec["cgroup"])
        oom = False
        try:
            oom = bool(group.oom_kills())
        except (LabkitError, OSError):
            pass
        rec.update(status="exited", exit_code=code, oom_killed=oom, finished_at=time.time(), pid=0)
        state.write(self.inst, rec)
        self._after_exit(cid, rec)  # the waiting clients get the exit first: the group goes next, in this same step
        try:
            if group.exists():
                group.remove()
        except LabkitError:
            traceback.print_exc()  # reset finds a group left over

    def _await_record(self, lv: Live, tries: int = 0) -> None:
        """An adopted container exited: the keeper (its parent now) reaps it and writes the exit.
        Wait for that record a little; after ~5 s, record it as lost."""
        if lv.pidfd is not None:
            os.close(lv.pidfd)
            lv.pidfd = None
        rec = state.read(self.inst, lv.cid)
        if rec is not None and rec["status"] == "running" and tries < 250:
            self.later(0.02, lambda: self._await_record(lv, tries + 1))
            return
        self.live.pop(lv.cid, None)
        lv.pump.drain()
        self._drop_pump(lv)
        if rec is None:
            return
        if rec["status"] == "running":
            record_lost(rec, None)
            state.write(self.inst, rec)
        self._after_exit(lv.cid, rec)

    def _drop_pump(self, lv: Live) -> None:
        for fd in list(lv.pump.fds):
            if fd in self.watched:
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass
                del self.watched[fd]
        lv.pump.close()

    def _after_exit(self, cid: str, rec: dict) -> None:
        # Kept a while for a client that attaches again after labkitd's stream broke (--rm removes the record).
        self.recent[cid] = exit_reply(rec)
        while len(self.recent) > 256:
            self.recent.pop(next(iter(self.recent)))
        if rec.get("auto_remove"):
            self._remove(cid, rec)
        for callback in self.waiters.pop(cid, []):
            callback(rec)

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

    def op_ping(self, conn, req, fds) -> dict:
        return {"pid": os.getpid(), "containers": len(self.live)}

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
            return self._start(conn, rec, cfg, req, fds, marks, on_fail=lambda: self._remove(rec["id"], rec))
        except BaseException:
            self._remove(rec["id"], rec)
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

    def _start(self, conn, rec: dict, cfg: dict, req: dict, fds: list[int], marks: list, on_fail=None):
        """Fork PID 1; the client is answered once its command was exec'd (or a step failed: then
        on_fail() runs too). With attach, the connection then carries the output and the exit code."""
        cid = rec["id"]
        if cid in self.starting_ids:
            raise Conflict(f"container {rec['name']} is starting already", hint="wait for it: `labkit wait` or `labkit ps`.")
        bundle = state.bundle_dir(self.inst, cid)
        group = cgroups.group(rec["cgroup"])
        try:
            group.create()
            res = Resources.from_oci(cfg.get("linux", {}).get("resources"))
            group.apply(dataclasses.replace(res, devices=device_rules.for_config(cfg)))
            marks.append((f"create the cgroup ({len(group.dirs)} dirs) and write its limits", time.monotonic()))
            make_fifos(bundle)
            pump = Pump(bundle, *log_limits(cfg))  # the read ends first: the container's opens then never wait
            rep_r, rep_w = os.pipe()
            try:
                pid = self._fork_pid1(cfg, str(rec.get("bundle") or bundle), bundle, group, rep_w)
            except BaseException:
                pump.close()
                _close(rep_r)
                raise
            finally:
                os.close(rep_w)
        except BaseException:
            if group.exists():
                group.remove()
            raise
        finally:
            for fd in fds:
                _close(fd)
        self.starting_ids.add(cid)
        self._watch_start(pid, rep_r, lambda reports, st: self._started(conn, rec, cfg, req, marks, group, pump,
                                                                        reports, st, on_fail))
        return None  # the reply goes when PID 1 has exec'd its command (_started), from the loop

    def _started(self, conn, rec: dict, cfg: dict, req: dict, marks: list, group, pump: Pump, reports: list[dict],
                 st: "Starting", on_fail) -> None:
        """PID 1 exec'd its command, or reported the step that failed: record it and answer the client."""
        cid = rec["id"]
        self.starting_ids.discard(cid)
        failure = next((r for r in reports if r.get("error")), None)
        if failure:
            pump.close()
            try:
                if group.exists():
                    group.remove()
                if on_fail:
                    on_fail()
            finally:
                conn.send(error_reply(failure_error(failure)), last=True)
            return
        marks.extend((r["trace"], r["t"]) for r in reports if "trace" in r)
        marks.append(("exec the command", time.monotonic()))
        pid = st.pid
        rec.update(status="running", pid=pid, pid_start=state.process_start(pid) if st.status is None else 0,
                   started_at=time.time(), exit_code=None, oom_killed=False, finished_at=0.0)
        rec.pop("starting", None)
        state.write(self.inst, rec)
        self.live[cid] = Live(cid, pid, pump)
        self.by_pid[pid] = cid
        reply = {"id": cid, "name": rec["name"], "pid": pid, "args": rec["args"],
                 "trace": marks if cfg.get("annotations", {}).get("org.labkit.trace") == "1" else []}
        if not req.get("attach"):
            conn.send(reply, last=True)
        else:
            reply["config"] = cfg
            conn.send(reply)
            pump.attach_to(conn)  # output from here on goes to the client too, framed (connection.py)
            self.waiters.setdefault(cid, []).append(lambda r: conn.send_last_frame(exit_reply(r)))
        if st.status is not None:  # it exited before its report pipe's end was seen here
            self.by_pid.pop(pid, None)
            self._exited(cid, _code(st.status))

    def _watch_start(self, pid: int, fd: int, done) -> "Starting":
        """Read a just-forked process's reports (init.py's JSON lines) from the loop until the pipe
        closes (its command was exec'd, or it failed), then call done(reports, starting). Nothing
        waits meanwhile: a container whose set-up hangs (a mount of the bundle's that never
        answers) delays no other client. After START_TIMEOUT it is killed and reported as failed."""
        st = Starting(pid, fd)
        st.done = done
        self.starting[pid] = st
        self.later(START_TIMEOUT, lambda: self._start_timeout(st))
        return st

    def _start_readable(self, st: "Starting") -> None:
        try:
            data = os.read(st.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            st.chunks.append(data)
        else:
            self._start_finished(st)

    def _start_timeout(self, st: "Starting") -> None:
        if st.finished:
            return
        try:
            os.kill(st.pid, signal.SIGKILL)  # our child, not reaped yet (its status waits in st): the PID is its
        except ProcessLookupError:
            pass
        st.chunks.append(b'{"error": true, "step": "start", "errno": 0, "message": "timed out"}\n')
        self._start_finished(st)

    def _start_finished(self, st: "Starting") -> None:
        if st.finished:
            return
        st.finished = True
        self.starting.pop(st.pid, None)
        _close(st.fd)
        st.done(_parse_reports(b"".join(st.chunks)), st)

    def _fork_pid1(self, cfg: dict, bundle: str, fifo_dir: Path, group, report_fd: int) -> int:
        """Fork the container's PID 1 as our own child: unshare(CLONE_NEWPID) makes our *next* child
        PID 1 of a new PID namespace; setns back to our own right after, so later forks are plain."""
        new_pidns = bool(init.unshare_flags(cfg) & sc.CLONE_NEWPID)
        if new_pidns:
            sc.unshare(sc.CLONE_NEWPID)
        try:
            pid = os.fork()
        except OSError:
            pid = -1
            raise
        finally:
            if pid == 0:  # the child: PID 1 now; never back into labkitd's code
                try:
                    pid1(cfg, bundle, fifo_dir, group, report_fd)
                finally:
                    os._exit(125)
            if new_pidns:
                sc.setns(self.own_pidns, sc.CLONE_NEWPID)
        return pid

    def op_attach(self, conn, req, fds):
        """Follow a container's output from where a client's stream broke (run.py's _reattach):
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
                self._remove(cid, r)
                self._finish(conn, {"id": cid, "removed": True})

            self.waiters.setdefault(cid, []).append(then_remove)
            self._signal(cid, signal.SIGKILL)
            return None
        self._remove(cid, rec)
        return {"id": cid, "removed": True}

    def op_update(self, conn, req, fds) -> dict:
        """Change a container's limits, running or not (`docker update`): the cgroup's files now,
        config.json for its next start. req["resources"]: Resources fields, e.g. {"memory": 33554432}."""
        cid, rec = self._get(req)
        changes = req.get("resources")
        if not changes:
            raise InvalidArgument("nothing to update: no limit given",
                                  hint="give memory, cpus or pids_limit, e.g. c.update(memory=\"32M\").")
        changes = check_resources(changes)  # the same rules as run's, whoever the client is
        cfg = self._config(rec)
        new = dataclasses.replace(Resources.from_oci(cfg.get("linux", {}).get("resources")), **changes)
        written = []
        if rec["status"] in ("running", "paused"):
            try:
                written = [str(w) for w in cgroups.group(rec["cgroup"]).apply(Resources(**changes))]
            except LabkitError as e:
                if getattr(e, "errno", None) in (errno.EBUSY, errno.EINVAL):
                    raise InvalidArgument(f"the kernel refused the new limit for {rec['name']}: {e.message}",
                                          hint="a memory limit below what the container uses now cannot be set on "
                                               "cgroup v1: give a larger one (`labkit stats` shows its usage).") from None
                raise
        if not rec.get("bundle"):  # a bundle run from elsewhere (run_bundle) is never changed
            cfg.setdefault("linux", {})["resources"] = new.to_oci()
            (state.bundle_dir(self.inst, cid) / "config.json").write_text(json.dumps(cfg, indent=1))
        return {"id": cid, "resources": new.to_oci(), "written": written}

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
            cfg = self._config(rec)
        except (OSError, ValueError):
            cfg = {}
        return {"record": rec, "config": cfg, "bundle": str(bundle), "log": str(bundle / LOG_NAME)}

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
        cfg = self._config(rec)
        req = dict(req, args=split_command(req.get("args")), env=env_list(req.get("env")), keyring=keyring_name(cid))
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
                exec_shim.main(rec["pid"], cfg, [str(d) for d in group.dirs], req, rep_w, tuple(fds[:2]))
            os.close(rep_w)
        finally:
            for fd in fds:
                _close(fd)
        self._watch_start(pid, rep_r, lambda reports, st: self._exec_started(conn, cid, reports, st))
        return None

    def _exec_started(self, conn, cid: str, reports: list[dict], st: Starting) -> None:
        """The exec'd command runs (or a step failed): tell the client; its exit code follows."""
        failure = next((r for r in reports if r.get("error")), None)
        if failure:
            conn.send(error_reply(failure_error(failure)), last=True)
            return
        conn.send({"id": cid, "pid": st.pid})
        if st.status is not None:  # done already
            conn.send({"exit_code": _code(st.status)}, last=True)
        else:
            self.execs[st.pid] = conn


# -- helpers shared with the client -------------------------------------------------------------------
def with_status(inst: Instance, rec: dict, live: dict | None = None) -> dict:
    """The record with its status as true now: "paused" comes from the freezer; a "running" record
    whose PID 1 is gone (and not yet recorded) shows as "dead"."""
    rec = dict(rec)
    if rec["status"] == "running":
        if (live is None or rec["id"] not in live) and state.process_start(rec.get("pid") or 0) != rec.get("pid_start"):
            rec["status"] = "dead"
        else:
            try:
                if cgroups.group(rec["cgroup"]).frozen():
                    rec["status"] = "paused"
            except LabkitError:
                pass
    return rec


def record_lost(rec: dict, status: int | None) -> None:
    """Fill in the exit of a container whose end nobody saw (its exit status, if known), and
    remove what it left in the kernel."""
    oom = False
    try:
        group = cgroups.group(rec["cgroup"])
        oom = bool(group.oom_kills()) if group.exists() else False
        group.remove()
    except LabkitError:
        pass
    rec.update(status="exited", exit_code=_code(status) if status is not None else 255, oom_killed=oom, pid=0,
               finished_at=time.time())
    if status is None:
        rec["error"] = "its exit was not seen: labkitd and its keeper were both gone"


def pid1(cfg: dict, bundle: str, fifo_dir: Path, group, report_fd: int) -> None:
    """In the forked child, before init.child(): leave labkitd's world behind. Its signal handlers
    and wakeup fd, its sockets and every other container's fds are not the container's."""
    gc.disable()  # a collection here would walk, and so copy, every page shared with labkitd
    signal.set_wakeup_fd(-1)
    if CONTAINER_NOFILE:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, CONTAINER_NOFILE)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    # Read-write: the container is then a reader of its own FIFOs too, so a write never gets
    # SIGPIPE while no labkitd reads (logs.py).
    out, err = (os.open(p, os.O_RDWR) for p in fifo_paths(fifo_dir))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    keep = {0, 1, 2, report_fd}
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in keep:
            _close(int(name))
    init.child(cfg, bundle, report_fd, [str(d) for d in group.dirs], keyring=keyring_name(fifo_dir.name))


def keyring_name(cid: str) -> str:
    """The session keyring of a container (and of its execs): "labkit.3f9a0c1b2d4e", in /proc/keys."""
    return f"labkit.{cid[:12]}"


def exit_reply(rec: dict) -> dict:
    reply = {"id": rec["id"], "exit_code": rec.get("exit_code"), "oom_killed": rec.get("oom_killed", False),
             "finished_at": rec.get("finished_at"), "t": time.monotonic()}
    if rec.get("error"):  # e.g. its exit was not seen: labkitd and its keeper were both gone
        reply["error"] = rec["error"]
    return reply


def error_reply(e: BaseException) -> dict:
    if isinstance(e, LabkitError):
        return {"error": {"type": type(e).__name__, "message": e.message, "hint": e.hint, "exit_code": e.exit_code}}
    if isinstance(e, OSError):
        from ..errors import translate_oserror

        traceback.print_exc()  # unexpected here: the log shows where
        return error_reply(translate_oserror(e, "serve the request"))
    traceback.print_exc()
    return {"error": {"type": "LabkitError", "message": f"labkitd failed: {type(e).__name__}: {e}",
                      "hint": "its log is labkitd.log in the lab's run folder; `labkit reset` starts afresh."}}


def failure_error(info: dict) -> LabkitError:
    """A container's (or an exec's) report of a failed step as the error a learner should see."""
    from ..errors import CommandNotExecutable, CommandNotFound, translate_oserror

    step, errno_, msg, args = info.get("step"), info.get("errno"), info.get("message"), info.get("args", ["?"])
    if step == "compile the seccomp profile":
        return InvalidArgument(f"config.json's linux.seccomp cannot be used: {msg}",
                               hint="labkit's filter takes SCMP_ACT_ALLOW/ERRNO/KILL/LOG and EQ, NE, MASKED_EQ tests.")
    if str(step).startswith("create working directory") and errno_ in (errno.ENOTDIR, errno.EEXIST):
        where = str(step)[len("create working directory "):]
        return ContainerError(f"the working directory {where} is not a directory in the container ({msg})",
                              hint="give a directory with -w / workdir=, e.g. /tmp; a missing one is created.")
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
    st = state.proc_stat(pid)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    if st is None:
        return None
    name, rest = st
    uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "?")
    nspid = next((line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")), "?")
    return {"pid": pid, "ppid": int(rest[1]), "uid": int(uid), "state": rest[0].decode(), "pid_in_container": int(nspid),
            "command": cmd or name}


def _code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _parse_reports(data: bytes) -> list[dict]:
    """A starting process's JSON lines (init.py); a line that is not JSON is a failure report."""
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"error": True, "step": "start", "errno": 0, "message": line.decode(errors="replace")[:200]})
    return out
