"""Exits: a container's PID 1 ends (labkitd reaps it), or one left by an earlier labkitd does (the keeper
reaps it and writes its record; labkitd sees it through a pidfd); and recovery after a restart.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback

from ... import cgroups
from ...errors import LabkitError
from .. import state
from ...exit_codes import of_wait_status
from ..logs import limits as log_limits
from . import mounting, networking
from .journal import log as log_line
from .live import Live
from .pump import Pump
from .wire import exit_reply


GONE = ".gone-"  # containers/.gone-<id>: a removed container's folder, deleted after the answer
LINK_GRACE = 2.0  # seconds a dead container's veth is left to the kernel before labkitd deletes it


class Exits:
    """What happens when a container exits, and recovery after a restart."""

    def __init__(self, svc):
        self.svc = svc
        self.inst = svc.inst

    def recover(self) -> None:
        """After a restart: adopt the containers still running, remove exited ones marked rm (and
        the folders of removed ones an earlier labkitd had no time to delete)."""
        try:
            for entry in os.scandir(self.inst.containers):
                if entry.name.startswith(GONE):
                    shutil.rmtree(entry.path, ignore_errors=True)
        except FileNotFoundError:
            pass
        for cid in state.all_ids(self.inst):
            rec = state.read(self.inst, cid)
            if not rec:
                continue
            if rec["status"] == "running":
                self.adopt(rec)
            elif rec["status"] == "exited" and rec.get("auto_remove"):
                self.remove(cid, rec, volumes=True)
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
            self.remove(rec["id"], rec, volumes=True)
        else:
            rec.pop("starting", None)
            self.write_record(rec)

    def adopt(self, rec: dict) -> None:
        cid = rec["id"]
        try:
            limits = log_limits(self.svc.config(rec))
        except (OSError, ValueError):
            limits = ()
        pump = Pump(state.bundle_dir(self.inst, cid), *limits)
        try:
            if state.process_start(rec["pid"]) != rec.get("pid_start"):
                raise ProcessLookupError(rec["pid"])
            pidfd = os.pidfd_open(rec["pid"])
        except OSError:
            pidfd = None
        lv = self.svc.live[cid] = Live(self.svc, cid, rec["pid"], pump, pidfd, group=cgroups.group(rec["cgroup"]))
        self.svc.loop.touch(lv)
        if pidfd is None:  # gone already: the keeper is recording (or has recorded) its exit
            self.await_record(lv)

    # -- exits ---------------------------------------------------------------------------------------
    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            st = self.svc.starts.starting.get(pid)
            if st is not None:  # exited before its report pipe's end was handled: _started sees it
                st.status = status
                continue
            exited = self.svc.execs.running.pop(pid, None)
            if exited is not None:
                exited(of_wait_status(status))
            cid = self.svc.by_pid.pop(pid, None)
            if cid is not None:
                self.exited(cid, of_wait_status(status))

    def exited(self, cid: str, code: int) -> None:
        """PID 1 of our own container exited: the kernel has killed the rest of its PID namespace."""
        lv = self.svc.live.pop(cid)
        lv.pump.drain()
        lv.close()
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
        if not rec.get("auto_remove"):  # --rm: removed in the next step; a crash between is recover()'s
            self.write_record(rec)
        self._after_exit(cid, rec)  # the waiting clients get the exit first: the group goes next, in this same step
        self._drop_group(group)
        self._links_later(rec)

    def write_record(self, rec: dict) -> None:
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
                self.svc.loop.later(1.0, lambda: self._write_kept(1.0))

    def _write_kept(self, delay: float) -> None:
        failed = state.write_kept(self.inst)
        if failed:
            self.svc.loop.later(min(delay * 2, 10.0), lambda: self._write_kept(min(delay * 2, 10.0)))
        else:
            _log("the kept records are written")

    def await_record(self, lv: Live, tries: int = 0) -> None:
        """An adopted container exited: the keeper (its parent now) reaps it and writes the exit.
        Wait for that record a little; after ~5 s, record it as lost."""
        if lv.pidfd is not None:
            self.svc.loop.forget(lv)
            os.close(lv.pidfd)
            lv.pidfd = None
            self.svc.loop.touch(lv)  # its FIFOs stay watched while the keeper writes the record
        rec = state.read(self.inst, lv.cid)
        if rec is not None and rec["status"] == "running" and tries < 250:
            self.svc.loop.later(0.02, lambda: self.await_record(lv, tries + 1))
            return
        self.svc.live.pop(lv.cid, None)
        lv.pump.drain()
        lv.close()
        if rec is None:
            return
        if rec["status"] == "running":
            record_lost(rec, None)
            self.write_record(rec)
        self._after_exit(lv.cid, rec)
        self._drop_group(lv.group or cgroups.group(rec["cgroup"]))
        self._links_later(rec)

    def _links_later(self, rec: dict) -> None:
        """Its veths, if the kernel has not taken them in LINK_GRACE seconds (networking.links_left)."""
        left = networking.links_left(self.inst, rec)
        if left:
            self.svc.loop.later(LINK_GRACE, left.delete)

    @staticmethod
    def _drop_group(group) -> None:
        try:
            if group.exists():
                group.remove()
        except LabkitError:
            traceback.print_exc()  # reset finds a group left over

    def unpublish(self, cid: str, rec: dict) -> None:
        """Its published ports' DNAT rules go when it stops (they come back when it starts); its
        bridge ports' guards went with its veths, when its namespace died."""
        if rec.get("ports"):
            try:
                networking.apply_firewall(self.inst, self.svc.live, without=cid)
            except Exception:  # noqa: BLE001 - reset removes rules left over
                traceback.print_exc()

    def _after_exit(self, cid: str, rec: dict) -> None:
        self.unpublish(cid, rec)
        # Kept a while for a client that attaches again after labkitd's stream broke (--rm removes the record).
        self.svc.recent[cid] = exit_reply(rec)
        while len(self.svc.recent) > 256:
            self.svc.recent.pop(next(iter(self.svc.recent)))
        if rec.get("auto_remove"):  # gone from disk before anyone hears of the exit (`run --rm` waits for that)
            self.remove(cid, rec, group=False, volumes=True, soon=True)  # the group and files go right after the answer
        for callback in self.svc.waiters.pop(cid, []):
            callback(rec)

    def remove(self, cid: str, rec: dict, group: bool = True, volumes: bool = False, soon: bool = False) -> None:
        """volumes: its anonymous volumes go too (--rm, `rm -v`); named ones always stay. soon: its
        folder's files are deleted right after the answer (--rm at exit), not before it."""
        try:
            g = cgroups.group(rec["cgroup"]) if group else None
            if g is not None and g.exists():
                g.remove()
        except LabkitError:
            pass
        state.release_name(self.inst, rec.get("name", ""), cid)
        for _started, cancelled in self.svc.start_waiters.pop(cid, []):  # Docker API attaches that waited for a start
            cancelled()
        try:
            networking.release(self.inst, cid, list(rec.get("networks") or ()))
        except Exception:  # noqa: BLE001 - its addresses stay taken until reset; the rest goes on
            traceback.print_exc()
        bundle = state.bundle_dir(self.inst, cid)
        if not soon:
            shutil.rmtree(bundle, ignore_errors=True)
        else:
            # The folder leaves the lab's view in one rename (ps, inspect, names: gone); its files (the
            # writable layer, the log: ~1 ms of unlinks) are deleted from the loop right after the answer.
            gone = bundle.with_name(GONE + cid)
            try:
                os.rename(bundle, gone)
            except OSError:
                gone = bundle
            self.svc.loop.later(0, lambda: shutil.rmtree(gone, ignore_errors=True))
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
