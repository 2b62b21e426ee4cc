"""Questions about containers that change nothing: ping, ps, inspect, top, stats.
"""

from __future__ import annotations

import os
from pathlib import Path

from ... import cgroups
from ...errors import LabkitError
from ...paths import Instance
from .. import state
from ..logs import LOG_NAME


class Queries:
    """Looking at containers."""

    def op_ping(self, conn, req, fds) -> dict:
        return {"pid": os.getpid(), "containers": len(self.live)}

    def op_ps(self, conn, req, fds) -> dict:
        out = []
        for rec in state.read_all(self.inst, self.record_cache):
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
