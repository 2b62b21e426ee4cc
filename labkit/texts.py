"""The words docker's lists use, for containers and images alike, written once:

    ago(200)                   "3 minutes"               CREATED, STATUS ("Up 3 minutes")
    describe(record)           "Exited (137) 2 seconds ago", "Up 5 seconds (Paused)"
    ports_text(record)         "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"
    network_text(record)       "172.29.0.2 on bridge; 0.0.0.0:8080->80/tcp", or "network none"
    size(1234567)              "1.2MB"                   docker's decimal units

A record is a container's state.json (runtime/state.py). Pure functions of their arguments: the
client, the Docker API's shapes and the image commands all use them, and import nothing for it.
"""

from __future__ import annotations

import time


def ago(seconds: float) -> str:
    s = max(0, int(seconds))
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= n:
            k = s // n
            return f"{k} {unit}{'s' if k > 1 else ''}"
    return "Less than a second" if s < 1 else f"{s} second{'s' if s > 1 else ''}"


def describe(r: dict, now: float | None = None) -> str:
    """docker's STATUS column: "Up 3 minutes", "Exited (137) 2 seconds ago", "Up 5 seconds (Paused)"."""
    now = now or time.time()
    if r["status"] == "running":
        return f"Up {ago(now - r['started_at'])}"
    if r["status"] == "paused":
        return f"Up {ago(now - r['started_at'])} (Paused)"
    if r["status"] == "exited":
        oom = ", OOM-killed" if r.get("oom_killed") else ""
        return f"Exited ({r['exit_code']}{oom}) {ago(now - r['finished_at'])} ago"
    return r["status"].capitalize()


def network_text(r: dict) -> str:
    """"172.29.0.2 on bridge, 10.230.0.3 on backend; 0.0.0.0:8080->80/tcp", or the mode ("network none")."""
    eps = r.get("networks") or {}
    parts = [", ".join(f"{ep['ip']} on {net}" for net, ep in eps.items())] if eps else []
    if not eps and r.get("network_mode"):
        parts.append(f"network {r['network_mode'][:22]}")
    if ports_text(r):
        parts.append(ports_text(r))
    return "; ".join(parts)


def ports_text(r: dict) -> str:
    """docker's PORTS column, for a running container: "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"."""
    if r.get("status") not in ("running", "paused"):
        return ""
    return ", ".join(f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}->{p['port']}/{p['proto']}" for p in r.get("ports", []))


def size(n: float) -> str:
    """docker's SIZE: 532 -> "532B", 1234567 -> "1.2MB" (decimal units, as docker images shows them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n}"
