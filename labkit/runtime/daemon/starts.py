"""Starting a container: fork its PID 1 as labkitd's own child, and wait for its exec in the loop.

    start      cgroup, limits and device rules; FIFOs and the output pump; fork PID 1 (container/init.py)
    (loop)     PID 1's reports arrive on a pipe: its steps, for --trace, or the step that failed
    _started   the pipe closed: the command was exec'd (record it "running", call done) or a step
               failed (undo, call failed with the error)

An exec's process (execs.py) is watched from fork to exec the same way: watch().
"""

from __future__ import annotations

import dataclasses
import errno
import os
import selectors
import signal
import time
import traceback
from pathlib import Path

from ... import cgroups
from ...catalog import Text
from ...cgroups.resources import Resources
from ...errors import Conflict, TimedOut
from ...exit_codes import of_wait_status
from ...kernel import syscalls as sc
from ...security import devices as device_rules
from .. import state
from ..container import init, report
from ..container.console import receive_master
from ..container.init import pid1
from ..logs import limits as log_limits, make_fifos
from . import failures, networking
from .live import Live
from .loop import close_fd, read_ready
from .pump import Pump
from .stdin import Stdin

START_TIMEOUT = 60.0  # seconds a container may take from fork to exec before it is given up


class Starting:
    """A process labkitd forked (a container's PID 1, an exec) whose command is not exec'd yet."""

    def __init__(self, starts: "Starts", pid: int, fd: int, done, failed):
        self.starts, self.pid, self.fd = starts, pid, fd
        self.chunks: list[bytes] = []
        self.status: int | None = None  # its wait status, if it exited before the pipe's end was handled
        self.finished = False
        self.done = done  # called with (reports, self) once the pipe closes
        self.failed = failed  # called with an exception if that goes wrong

    def loop_wants(self) -> dict | None:
        return None if self.finished else {self.fd: (self, lambda ev: self.starts._readable(self), selectors.EVENT_READ)}


class Starts:
    """A container's start, and an exec's, from fork to exec."""

    def __init__(self, svc):
        self.svc = svc
        self.starting: dict[int, Starting] = {}  # PID -> a process forked, its command not exec'd yet
        self.ids: set[str] = set()  # containers whose start is under way
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.zygote = None  # zygote.py's, once labkitd serves: PID 1s are forked there

    def start(self, rec: dict, cfg: dict, done, failed, marks: list, on_fail=None) -> None:
        """Fork PID 1; done(reply) once its command was exec'd, or failed(error) if a step failed
        (on_fail() runs first). If this raises, on_fail() has run too."""
        try:
            self._start(rec, cfg, done, failed, marks, on_fail)
        except BaseException:
            if on_fail:
                on_fail()
            raise

    def _start(self, rec: dict, cfg: dict, done, failed, marks: list, on_fail) -> None:
        svc = self.svc
        cid = rec["id"]
        if cid in self.ids:
            raise Conflict("error.runtime.container-starting-already", rec_name=rec['name'])
        bundle = state.bundle_dir(svc.inst, cid)
        group = cgroups.group(rec["cgroup"])
        try:
            group.create()
            res = Resources.from_oci(cfg.get("linux", {}).get("resources"))
            # In an unprivileged container the outer container's device rules hold, and a nested group
            # may neither write nor widen them (host/where.py): labkit's are left to them there.
            nested = cfg.get("annotations", {}).get("org.labkit.nested") == "1"
            group.apply(dataclasses.replace(res, devices=() if nested else device_rules.for_config(cfg)))
            marks.append((Text("trace", "cgroup", n=len(group.dirs)), time.monotonic(), "cgroup"))
            networking.check_ports_free(svc.inst, rec.get("ports", []), svc.live, cid)
            netns = networking.netns_for_start(svc.inst, rec, svc.live)
            if netns is not None:
                marks.append((network_step(rec), time.monotonic(), "network"))
            try:
                make_fifos(bundle)
                console, stdin, child_end = self._stdio(cfg, rec)
                pump = Pump(bundle, *log_limits(cfg))  # the read ends first: the container's opens then never wait
                rep_r, rep_w = os.pipe()
                try:
                    pid = self._fork_pid1(cfg, str(rec.get("bundle") or bundle), bundle, group, rep_w, netns, child_end)
                except BaseException:
                    pump.close()
                    if stdin is not None:
                        stdin.close()
                    if console is not None:
                        console.close()
                    close_fd(rep_r)
                    raise
                finally:
                    os.close(rep_w)
                    if child_end is not None:
                        os.close(child_end)  # the container has its own now
            finally:
                if netns is not None:
                    os.close(netns)  # PID 1 has its own: the namespace lives while a process is in it
        except BaseException:
            if group.exists():
                group.remove()
            svc.exits.unpublish(cid, rec)  # its ports' DNAT rules, if they went in before the failure
            raise
        self.ids.add(cid)

        def finished(reports, st):
            self._started(rec, cfg, marks, group, pump, reports, st, done, failed, on_fail, stdin, console)

        self.watch(pid, rep_r, finished, failed)

    def _stdio(self, cfg: dict, rec: dict):
        """-t: a console socket, over which PID 1 sends its terminal's master (container/console.py);
        -i: a pipe for stdin (stdin.py). Returns (labkitd's end of the console socket or None, the
        Stdin labkitd writes to or None, the end the container gets or None)."""
        import socket

        if cfg.get("process", {}).get("terminal"):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            return ours, None, theirs.detach()
        if rec.get("interactive"):
            r, w = os.pipe2(os.O_CLOEXEC)
            return None, Stdin(w, tty=False), r
        return None, None, None

    def _started(self, rec: dict, cfg: dict, marks: list, group, pump: Pump, reports: list[dict], st: Starting,
                 done, failed, on_fail, stdin=None, console=None) -> None:
        """PID 1 exec'd its command, or reported the step that failed: record it and tell the caller."""
        svc = self.svc
        cid = rec["id"]
        self.ids.discard(cid)
        failure = failures.failed(reports)
        if not failure and console is not None:  # -t: PID 1 sent its terminal's master before its exec
            try:
                master = receive_master(console)
                pump.use_terminal(master)
                stdin = Stdin(os.dup(master), tty=True)
            except OSError as e:
                failure = report.failure("terminal-receive", e)
        if console is not None:
            console.close()
        if failure:
            pump.close()
            if stdin is not None:
                stdin.close()
            try:
                svc.exits.unpublish(cid, rec)
                if group.exists():
                    group.remove()
                if on_fail:
                    on_fail()
                for _started, cancelled in svc.start_waiters.pop(cid, []):
                    cancelled()
            finally:
                failed(failures.error_of(failure))
            return
        marks.extend((Text("trace", str(r.get("text") or r["step"]), **(r.get("values") or {})), r["t"], r["step"])
                     for r in reports if "step" in r and "t" in r and "failed" not in r)
        marks.append((Text("trace", "exec"), time.monotonic(), "exec"))
        pid = st.pid
        rec.update(status="running", pid=pid, pid_start=state.process_start(pid) if st.status is None else 0,
                   started_at=time.time(), exit_code=None, oom_killed=False, finished_at=0.0)
        rec.pop("starting", None)
        state.write(svc.inst, rec)
        svc.live[cid] = lv = Live(svc, cid, pid, pump, group=group, stdin=stdin)
        svc.loop.touch(lv)
        svc.by_pid[pid] = cid
        done({"id": cid, "name": rec["name"], "pid": pid, "args": rec["args"], "config": cfg,
              "trace": [(what.wire(), t, step) for what, t, step in marks]
              if cfg.get("annotations", {}).get("org.labkit.trace") == "1" else []})
        for started, _cancelled in svc.start_waiters.pop(cid, []):  # Docker API attach requests that came before the start
            started()
        if st.status is not None:  # it exited before its report pipe's end was seen here
            svc.by_pid.pop(pid, None)
            svc.exits.exited(cid, of_wait_status(st.status))

    def watch(self, pid: int, fd: int, done, failed) -> Starting:
        """Read a just-forked process's reports (container/init.py's JSON lines) from the loop until the pipe
        closes (its command was exec'd, or it failed), then call done(reports, starting). Nothing
        waits meanwhile: a container whose set-up hangs (a mount of the bundle's that never
        answers) delays no other client. After START_TIMEOUT it is killed and reported as failed."""
        st = Starting(self, pid, fd, done, failed)
        self.starting[pid] = st
        self.svc.loop.poll(st)
        self.svc.loop.later(START_TIMEOUT, lambda: self._timeout(st))
        return st

    def _readable(self, st: Starting) -> None:
        data = read_ready(st.fd)
        if data is None:
            return
        if data:
            st.chunks.append(data)
        else:
            self._finished(st)

    def _timeout(self, st: Starting) -> None:
        if st.finished:
            return
        try:
            os.kill(st.pid, signal.SIGKILL)  # our child, not reaped yet (its status waits in st): the PID is its
        except ProcessLookupError:
            pass
        st.chunks.append(failures.timed_out())
        self._finished(st)

    def _finished(self, st: Starting) -> None:
        if st.finished:
            return
        st.finished = True
        self.starting.pop(st.pid, None)
        self.svc.loop.forget(st)
        close_fd(st.fd)
        # Let go of what the start needed (its config, request, pump: ~20 KB): its START_TIMEOUT timer
        # keeps `st` for a minute more, and a thousand starts in that minute would keep them all.
        done, failed, chunks = st.done, st.failed, st.chunks
        st.done = st.failed = None
        st.chunks = []
        try:
            done(failures.parse(b"".join(chunks)), st)
        except Exception as e:  # noqa: BLE001 - a bug here must still answer the client, not leave it waiting
            traceback.print_exc()
            failed(e)

    def release(self) -> None:
        """labkitd lets go: each start is cut off here; the next labkitd's recover() finishes it."""
        for st in self.starting.values():
            close_fd(st.fd)
        self.starting, self.ids = {}, set()

    def _fork_pid1(self, cfg: dict, bundle: str, fifo_dir: Path, group, report_fd: int, netns: int | None = None,
                   stdio: int | None = None) -> int:
        """Fork the container's PID 1 as our own child, in a new PID namespace (and, given netns,
        into that network namespace): by the zygote (zygote.py), or here if it is gone."""
        zygote = self.zygote
        if zygote is not None and zygote.alive:
            try:
                return zygote.fork_pid1(cfg, bundle, fifo_dir, group.name, report_fd, netns, stdio)
            except TimedOut:
                raise  # the zygote was stuck, and is killed: this start fails (zygote.py), the next forks here
            except OSError:
                if zygote.alive:
                    raise  # the kernel refused the clone: that is the start's error
                # else the zygote is gone: fork here, as labkitd did before it had one
        new_pidns = sc.CLONE_NEWPID if init.unshare_flags(cfg) & sc.CLONE_NEWPID else 0
        pid, born_in = self._fork_into(group.birth_dir, new_pidns)
        if pid == 0:  # the child: PID 1 now; never back into labkitd's code
            try:
                pid1(cfg, bundle, fifo_dir, group, report_fd, born_in=born_in, netns_fd=netns, stdio=stdio)
            finally:
                os._exit(125)
        return pid

    def _fork_into(self, birth_dir: Path | None, new_pidns: int) -> tuple[int, Path | None]:
        """fork(); with birth_dir, the child is born in that v2 group (clone3), and the group it was
        born in is returned beside the PID. new_pidns=CLONE_NEWPID: the child is PID 1 of a new PID
        namespace; without clone3, unshare(CLONE_NEWPID) makes our *next* child that, and we setns
        back to our own right after, so later forks are plain."""
        if birth_dir is not None:
            fd = os.open(birth_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                return sc.fork_into_cgroup(fd, new_pidns), birth_dir
            except OSError as e:
                if e.errno not in (errno.ENOSYS, errno.E2BIG, errno.EINVAL):
                    raise  # else a kernel before 5.7: fork, and the child joins the group before exec
            finally:
                os.close(fd)
        if new_pidns:
            sc.unshare(new_pidns)
        try:
            pid = os.fork()
        except OSError:
            pid = -1
            raise
        finally:
            if pid != 0 and new_pidns:
                sc.setns(self.own_pidns, sc.CLONE_NEWPID)
        return pid, None



def network_step(rec: dict) -> Text:
    """The trace's line for step 3 of the seed's flow, e.g. "a veth on bridge labkit0 and address
    172.29.0.2 from the pool (network bridge)"."""
    mode = rec.get("network_mode", "none")
    if mode.startswith("container:"):
        return Text("trace", "network-container", id=mode.partition(":")[2][:12])
    parts = [Text("trace", "network", bridge=ep["bridge"], ip=ep["ip"], net=net) for net, ep in rec.get("networks", {}).items()]
    if rec.get("ports"):
        parts.append(Text("trace", "ports", n=len(rec["ports"])))
    return Text("trace", "parts", parts=parts)
