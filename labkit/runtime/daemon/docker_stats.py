"""`docker stats`: GET /containers/{id}/stats, a container's cgroup figures in Docker's shape.

    GET /containers/web/stats?stream=false   -> one answer, about half a second after the request
    GET /containers/web/stats                -> one JSON object a second, until the client goes

The CLI works out CPU % from two samples: (container CPU time delta / host CPU time delta) x CPUs,
so every answer carries the sample before it (precpu_stats). The second sample is taken by a
timer of labkitd's loop, never by sleeping in it. Example answer (abridged):

    {"read": "2026-12-05T22:30:00.5Z", "name": "/web", "id": "3f9a...",
     "cpu_stats": {"cpu_usage": {"total_usage": 51200000}, "system_cpu_usage": 9120000000000, "online_cpus": 4},
     "precpu_stats": {...}, "memory_stats": {"usage": 1204224, "limit": 67108864, "stats": {}},
     "pids_stats": {"current": 1, "limit": 50},
     "blkio_stats": {"io_service_bytes_recursive": [{"major": 0, "minor": 0, "op": "read", "value": 0}, ...]},
     "networks": {"eth0": {"rx_bytes": 1048, "tx_bytes": 0, ...}}}
"""

from __future__ import annotations

import json
import os
import time

from ... import cgroups, errors
from ...api import shapes

INTERVAL = 1.0  # seconds between streamed answers, as dockerd's
FIRST = 0.5  # seconds between the two samples of a one-shot answer


def host_cpu_ns() -> int:
    """All CPUs' time since boot, in ns: the first line of /proc/stat ("cpu  4705 150 1120 16250 ..."), in clock ticks."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (10**9 // os.sysconf("SC_CLK_TCK"))


def host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def net_dev(pid: int) -> dict:
    """/proc/<pid>/net/dev of the container's namespace: {"eth0": {"rx_bytes": ..., "tx_bytes": ...}}."""
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        v = [int(x) for x in rest.split()]
        if name.strip() != "lo" and len(v) >= 16:
            out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                                 "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def sample(rec: dict) -> dict:
    group = cgroups.group(rec["cgroup"])
    s = group.stats() if group.exists() else None
    cpu = {"cpu_usage": {"total_usage": (s.cpu_usage_us or 0) * 1000 if s else 0}, "system_cpu_usage": host_cpu_ns(),
           "online_cpus": len(os.sched_getaffinity(0)),
           "throttling_data": {"periods": (s.cpu_periods or 0) if s else 0, "throttled_periods": (s.cpu_throttled or 0) if s else 0,
                               "throttled_time": (s.cpu_throttled_us or 0) * 1000 if s else 0}}
    return {"read": shapes.iso(time.time()), "cpu": cpu, "stats": s}


class DockerStats:
    def __init__(self, api):
        self.api = api

    def stats(self, conn, req, ident) -> None:
        cid, rec = self.api.record(ident)
        stream = req.flag("stream", True) and not req.flag("one-shot")
        conn.open_stream(200)
        before = sample(rec)

        def tick(prev=before):
            if conn.closed:
                return
            try:
                now = sample(rec)
            except errors.LabkitError:
                conn.send_last_frame({})
                return
            conn.send_raw((json.dumps(self._shape(rec, now, prev)) + "\n").encode(), last=not stream)
            if stream and rec["id"] in self.api.svc.live:
                self.api.loop.later(INTERVAL, lambda: tick(now))
            elif stream:
                conn.send_last_frame({})

        self.api.loop.later(FIRST if not stream else 0.0, tick)

    def _shape(self, rec: dict, now: dict, prev: dict) -> dict:
        s = now["stats"]
        pid = self.api.svc.live[rec["id"]].pid if rec["id"] in self.api.svc.live else 0
        io = [{"major": 0, "minor": 0, "op": op, "value": (getattr(s, f"io_{op}_bytes") or 0) if s else 0}
              for op in ("read", "write")]
        return {"read": now["read"], "preread": prev["read"], "name": "/" + rec["name"], "id": rec["id"],
                "num_procs": 0, "cpu_stats": now["cpu"], "precpu_stats": prev["cpu"],
                "memory_stats": {"usage": (s.memory_current or 0) if s else 0, "max_usage": (s.memory_peak or 0) if s else 0,
                                 "limit": (s.memory_limit or host_memory()) if s else host_memory(), "stats": {},
                                 "failcnt": (s.oom_kills or 0) if s else 0},
                "pids_stats": {"current": (s.pids_current or 0) if s else 0, **({"limit": s.pids_limit} if s and s.pids_limit else {})},
                "blkio_stats": {"io_service_bytes_recursive": io},
                "networks": net_dev(pid) if pid else {}}
