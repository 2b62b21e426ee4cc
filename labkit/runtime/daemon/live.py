"""A running container as labkitd holds it: PID 1, its output pump, its stdin, and for one an
earlier labkitd started (now the keeper's child) a pidfd that turns readable when it exits.

What it asks the loop to watch (loop.py's loop_wants): its FIFOs (none while its attached client
has too much waiting: it is polled then, so it starts reading again once that client catches up),
the pidfd, and its stdin pipe while input waits for the container to take it.
"""

from __future__ import annotations

import selectors

from ... import cgroups
from ...errors import LabkitError
from ...paths import Instance
from .. import state
from .pump import Pump


class Live:
    def __init__(self, svc, cid: str, pid: int, pump: Pump, pidfd: int | None = None, group=None, stdin=None):
        self.svc, self.cid, self.pid, self.pump, self.pidfd, self.group = svc, cid, pid, pump, pidfd, group
        self.stdin = stdin  # -i or -t: where the attached client's input goes (stdin.py)
        if stdin is not None:
            stdin.on_change = self._stdin_changed

    def loop_wants(self) -> dict | None:
        svc = self.svc
        if svc.live.get(self.cid) is not self:
            return None
        (svc.loop.poll if self.pump.client is not None else svc.loop.unpoll)(self)
        want = {}
        if self.pidfd is not None:  # an adopted container: its pidfd is readable once it exited
            want[self.pidfd] = (self, lambda ev: svc.exits.await_record(self), selectors.EVENT_READ)
        for fd in self.pump.want_read():
            want[fd] = (self, lambda ev, fd=fd: self._readable(fd), selectors.EVENT_READ)
        if self.stdin is not None and self.stdin.wants_write():  # input the container has not taken yet
            want[self.stdin.fd] = (self, lambda ev: self.stdin.flush(), selectors.EVENT_WRITE)
        return want

    def _readable(self, fd: int) -> None:
        self.pump.readable(fd)
        if fd in self.pump.eof:
            self.svc.loop.touch(self)  # no writer left on that FIFO: stop waiting on it

    def _stdin_changed(self) -> None:
        self.svc.loop.touch(self)
        if self.stdin.conn is not None:
            self.svc.loop.touch(self.stdin.conn)

    def close(self) -> None:
        """Out of the loop, then its descriptors closed (at its exit, or when labkitd lets go)."""
        self.svc.loop.forget(self)
        self.pump.close()
        if self.stdin is not None:
            self.stdin.close()


def with_status(inst: Instance, rec: dict, live: dict | None = None) -> dict:
    """The record with its status as true now: "paused" comes from the freezer; a "running" record
    whose PID 1 is gone (and not yet recorded) shows as "dead"."""
    rec = dict(rec)
    if rec["status"] == "running":
        if (live is None or rec["id"] not in live) and state.process_start(rec.get("pid") or 0) != rec.get("pid_start"):
            rec["status"] = "dead"
        else:
            lv = live.get(rec["id"]) if live else None
            try:  # the group a running container's Live holds spares building one (1,000 for `ps`)
                if (lv.group if lv is not None and lv.group is not None else cgroups.group(rec["cgroup"])).frozen():
                    rec["status"] = "paused"
            except LabkitError:
                pass
    return rec
