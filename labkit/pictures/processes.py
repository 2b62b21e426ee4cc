"""What a container is, drawn: a process that sees through namespaces and uses through cgroups."""

from __future__ import annotations

import html
import os

from ..exercises import catalog
from ..kernel import namespace_kinds
from .drawing import Picture, _arrow, _box, _svg

NAMESPACES = namespace_kinds.NAMES
CONTROLLERS = ("memory", "cpu", "pids", "io", "freezer", "devices")


def sees_and_uses(container=None) -> Picture:
    """Namespaces beside cgroups. With a running container: each namespace's inode from
    /proc/PID/ns/ (marked where it is the host's), and each limit from its cgroup's files."""
    t = catalog.entry("picture.sees-and-uses")
    seen = {k: t.get(f"ns_{k}", k) for k in NAMESPACES}
    used = {k: t.get(f"cg_{k}", k) for k in CONTROLLERS}
    who = t.get("process", "a process")
    if container is not None:
        from ..cgroups import group
        from ..monitoring.probe import read_once

        pid, who = container.pid, f"{container.name} (PID {container.pid})"
        for k in NAMESPACES:
            try:
                mine, host = os.readlink(f"/proc/{pid}/ns/{k}"), os.readlink(f"/proc/self/ns/{k}")  # this process: the host's namespaces
                seen[k] += f" · {t.get('shared', 'the host’s')}" if mine == host else f" · {mine.split(':', 1)[1].strip('[]')}"
            except OSError:
                pass
        fig = read_once(group(container.attrs["cgroup"]))
        none = t.get("no_limit", "no limit")
        used["memory"] = f"{fig['memory_limit'] >> 20} MiB" if fig.get("memory_limit") else none
        used["cpu"] = f"{fig['cpu_limit']:g} CPU" if fig.get("cpu_limit") else none
        used["pids"] = str(fig["pids_limit"]) if fig.get("pids_limit") else none
    parts = [_box(10, 40, 400, 230, "#eef3fb", "#4a6fa5", t.get("sees", "namespaces: what it sees"), seen.items()),
             _box(560, 40, 280, 230, "#fdf0d5", "#c08a1e", t.get("uses", "cgroups: what it may use"), used.items()),
             "<ellipse cx='485' cy='155' rx='66' ry='34' fill='#e3f4e1' stroke='#3a7d44'/>",
             f"<text x='485' y='151' font-size='11' text-anchor='middle' font-weight='bold'>{html.escape(who[:24])}</text>",
             f"<text x='485' y='166' font-size='10' text-anchor='middle'>{html.escape(t.get('kernel', 'one kernel'))}</text>",
             _arrow(419, 155, 412, 155), _arrow(551, 155, 558, 155),
             f"<text x='10' y='22' font-size='12' fill='#555'>{html.escape(t.get('caption', ''))}</text>"]
    text = "\n".join([t.get("sees", "namespaces"), *(f"  {k:<7} {v}" for k, v in seen.items()),
                      t.get("uses", "cgroups"), *(f"  {k:<7} {v}" for k, v in used.items())])
    return Picture(_svg(850, 285, parts), text)
