"""Exits: a container's PID 1 ends (labkitd reaps it), or one left by an earlier labkitd does (the keeper
reaps it and writes its record; labkitd sees it through a pidfd); and recovery after a restart.
"""

from __future__ import annotations

import os
import time
import traceback

from ... import cgroups
from ...errors import LabkitError
from .. import state
from ...exit_codes import of_wait_status
from ..logs import Pump, limits as log_limits
from . import mounting, networking
from .journal import log as log_line
from .wire import exit_reply


class Live:
    """A running container this labkitd watches: PID 1, its output, and for an adopted one
    (started by an earlier labkitd, now the keeper's child) a pidfd that says when it exits."""

    def __init__(self, cid: str, pid: int, pump: Pump, pidfd: int | None = None, group=None, stdin=None):
        self.cid, self.pid, self.pump, self.pidfd, self.group = cid, pid, pump, pidfd, group
        self.stdin = stdin  # -i or -t: where the attached client's input goes (stdin.py)


class Exits:
    """What happens when a container exits, and recovery after a restart."""

    def recover(self) -> None:
        """After a restart: adopt the containers still running, remove exited ones marked rm."""
        for cid in state.all_ids(self.inst):
            rec = state.read(self.inst, cid)
            if not rec:
                continue
            if rec["status"] == "running":
                self._adopt(rec)
            elif rec["status"] == "exited" and rec.get("auto_remove"):
                self._remove(cid, rec, volumes=True)
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
            self._remove(rec["id"], rec, volumes=True)
        else:
            rec.pop("starting", None)
            self._write_record(rec)

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
        lv = self.live[cid] = Live(cid, rec["pid"], pump, pidfd, group=cgroups.group(rec["cgroup"]))
        self.dirty.add(lv)
        if pidfd is None:  # gone already: the keeper is recording (or has recorded) its exit
            self._await_record(lv)

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
                self._finish(conn, {"exit_code": of_wait_status(status)})
            cid = self.by_pid.pop(pid, None)
            if cid is not None:
                self._exited(cid, of_wait_status(status))

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
        self._write_record(rec)
        self._after_exit(cid, rec)  # the waiting clients get the exit first: the group goes next, in this same step
        self._drop_group(group)

    def _write_record(self, rec: dict) -> None:
        """Write a container's record; if the disk refuses it (full, EIO), keep it in labkitd, which
        answers from it (state.read) and tries the disk again every few seconds. An exit is never
        lost: its waiting clients hear it at once either way, and `labkit wait` never hangs on it."""
        try:
            state.write(self.inst, rec)
        except OSError as e:
            first = not state.kept(self.inst)
            state.keep(self.inst, rec)
            _log(f"could not write the record of container {rec.get('name', rec['id'][:12])} "
                 f"({rec.get('status')}, exit code {rec.get('exit_code')}): {e.strerror or e}; "
                 "kept in labkitd, written when the disk takes it")
            if first:
                self.later(1.0, lambda: self._write_kept(1.0))

    def _write_kept(self, delay: float) -> None:
        failed = state.write_kept(self.inst)
        if failed:
            self.later(min(delay * 2, 10.0), lambda: self._write_kept(min(delay * 2, 10.0)))
        else:
            _log("the kept records are written")

    def _await_record(self, lv: Live, tries: int = 0) -> None:
        """An adopted container exited: the keeper (its parent now) reaps it and writes the exit.
        Wait for that record a little; after ~5 s, record it as lost."""
        if lv.pidfd is not None:
            self._rewatch(lv, {})
            os.close(lv.pidfd)
            lv.pidfd = None
            self.dirty.add(lv)  # its FIFOs stay watched while the keeper writes the record
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
            self._write_record(rec)
        self._after_exit(lv.cid, rec)
        self._drop_group(lv.group or cgroups.group(rec["cgroup"]))

    @staticmethod
    def _drop_group(group) -> None:
        try:
            if group.exists():
                group.remove()
        except LabkitError:
            traceback.print_exc()  # reset finds a group left over

    def _drop_pump(self, lv: Live) -> None:
        self._rewatch(lv, {})  # out of the loop before its descriptors close (loop.py)
        self.attached.discard(lv)
        lv.pump.close()
        if lv.stdin is not None:
            lv.stdin.close()

    def _unpublish(self, cid: str, rec: dict) -> None:
        """Its published ports' DNAT rules go when it stops (they come back when it starts); its
        bridge ports' guards went with its veths, when its namespace died."""
        if rec.get("ports"):
            try:
                networking.apply_firewall(self.inst, self.live, without=cid)
            except Exception:  # noqa: BLE001 - reset removes rules left over
                traceback.print_exc()

    def _after_exit(self, cid: str, rec: dict) -> None:
        self._unpublish(cid, rec)
        # Kept a while for a client that attaches again after labkitd's stream broke (--rm removes the record).
        self.recent[cid] = exit_reply(rec)
        while len(self.recent) > 256:
            self.recent.pop(next(iter(self.recent)))
        if rec.get("auto_remove"):  # gone from disk before anyone hears of the exit (`run --rm` waits for that)
            self._remove(cid, rec, group=False, volumes=True)  # the group goes right after the answer (_exited)
        for callback in self.waiters.pop(cid, []):
            callback(rec)

    def _remove(self, cid: str, rec: dict, group: bool = True, volumes: bool = False) -> None:
        """volumes: its anonymous volumes go too (--rm, `rm -v`); named ones always stay."""
        import shutil

        try:
            g = cgroups.group(rec["cgroup"]) if group else None
            if g is not None and g.exists():
                g.remove()
        except LabkitError:
            pass
        state.release_name(self.inst, rec.get("name", ""), cid)
        for conn in self.pending_attach.pop(cid, []):  # Docker API attaches that waited for a start
            conn.send_last_frame({})
        try:
            networking.release(self.inst, cid)
        except Exception:  # noqa: BLE001 - its addresses stay taken until reset; the rest goes on
            traceback.print_exc()
        shutil.rmtree(state.bundle_dir(self.inst, cid), ignore_errors=True)
        if volumes and rec.get("anonymous_volumes"):
            mounting.release(self.inst, rec["anonymous_volumes"])


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
    rec.update(status="exited", exit_code=of_wait_status(status) if status is not None else 255, oom_killed=oom, pid=0,
               finished_at=time.time())
    if status is None:
        rec["error"] = "its exit was not seen: labkitd and its keeper were both gone"


def _log(msg: str) -> None:
    log_line(f"labkitd {os.getpid()} {msg}")
