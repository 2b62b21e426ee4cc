"""What a container is, drawn: a process that sees through namespaces and uses through cgroups."""

from __future__ import annotations

import html
import os
import re

from .. import catalog
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


#: the files a limit is written to, and what the kernel counts, on each cgroup version
_FILES = {2: ("memory.max", "memory.current", "cpu.max", "pids.max", "pids.current", "cgroup.procs"),
          1: ("memory.limit_in_bytes", "memory.usage_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us", "pids.max",
              "pids.current", "cgroup.procs")}


def cgroup_files(container) -> Picture:
    """A running container's cgroup as the kernel shows it: a folder (one per controller on v1) and,
    in it, the files its limits were written to and the kernel's counts, with what each holds now."""
    from ..cgroups import group

    t = catalog.entry("picture.cgroup-files")
    e = html.escape
    g = group(container.attrs["cgroup"])
    rows = []  # (folder, [(file, value)])
    for d in g.dirs:
        files = [(f, (d / f).read_text().split("\n")[0].strip() if f != "cgroup.procs" else
                  " ".join((d / f).read_text().split()[:4])) for f in _FILES[g.version] if (d / f).exists()]
        if any(f != "cgroup.procs" for f, _ in files):  # v1: the controllers that hold a limit or a count
            rows.append((re.sub(r"([0-9a-f]{12})[0-9a-f]{52}", r"\1…", str(d)), files))  # a container's ID, shortened
    parts = [f"<text x='10' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>"]
    y, w = 30, 700
    for folder, files in rows:
        hgt = 30 + 20 * len(files)
        parts.append(f"<rect x='10' y='{y}' width='{w}' height='{hgt}' rx='6' fill='#fdf0d5' stroke='#c08a1e'/>"
                     f"<text x='20' y='{y + 20}' font-size='12' font-weight='bold' font-family='monospace'>{e(folder)}/</text>")
        for i, (name, value) in enumerate(files):
            parts.append(f"<text x='40' y='{y + 42 + i * 20}' font-size='12' font-family='monospace'>{e(name)}</text>"
                         f"<text x='260' y='{y + 42 + i * 20}' font-size='12' font-family='monospace' fill='#2b6cb0'>{e(value[:56])}</text>")
        y += hgt + 8
    text = "\n".join(f"{folder}/\n" + "\n".join(f"  {n:<24} {v}" for n, v in files) for folder, files in rows)
    return Picture(_svg(w + 20, y + 4, parts), text or t.get("none", "no cgroup files"))


def lifecycle() -> Picture:
    """A container's states and what moves it between them (docker's), and what its exit code says."""
    t = catalog.entry("picture.lifecycle")
    e = html.escape
    states = {"created": (20, 60), "running": (230, 60), "paused": (230, 170), "exited": (440, 60), "removed": (650, 60)}
    w, h = 140, 40
    parts = [f"<text x='10' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>"]
    for key, (x, y) in states.items():
        parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='20' fill='{'#e3f4e1' if key == 'running' else '#eef3fb'}' "
                     f"stroke='#4a6fa5'/><text x='{x + w / 2}' y='{y + 25}' font-size='13' font-weight='bold' "
                     f"text-anchor='middle'>{e(t.get(key, key))}</text>")
    moves = [("created", "running", "start"), ("running", "exited", "ends"), ("exited", "removed", "rm"),
             ("running", "paused", "pause"), ("paused", "running", "unpause")]
    for a, b, label in moves:
        (xa, ya), (xb, yb) = states[a], states[b]
        if ya == yb:
            parts.append(_arrow(xa + w + 2, ya + h / 2, xb - 2, yb + h / 2, t.get(label, label)))
        else:  # pause goes down on the left, unpause comes up on the right
            dx = 40 if label == "pause" else w - 40
            y1, y2 = (ya + h + 2, yb - 2) if yb > ya else (ya - 2, yb + h + 2)
            parts.append(_arrow(xa + dx, y1, xb + dx, y2, t.get(label, label)))
    codes = ("code_0", "code_n", "code_126", "code_127", "code_137", "code_143")
    parts.append(f"<text x='440' y='130' font-size='12' font-weight='bold'>{e(t.get('codes', 'its exit code'))}</text>")
    for i, c in enumerate(codes):
        parts.append(f"<text x='440' y='{150 + i * 17}' font-size='11' font-family='monospace'>{e(t.get(c, c))}</text>")
    text = " -> ".join(t.get(k, k) for k in ("created", "running", "exited", "removed")) + "\n" + "\n".join(t.get(c, c) for c in codes)
    return Picture(_svg(810, 260, parts), text)


def by_hand_levels(who: str | None = None) -> Picture:
    """Notebook 04's four levels, each on the one before, with the learner's ✔ where its check passed."""
    from ..exercises import progress

    t = catalog.entry("picture.by-hand")
    e = html.escape
    done = progress.load(who=who)
    parts = [f"<text x='10' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>"]
    w, h = 620, 40
    for i in range(4, 0, -1):  # level 4 on top
        y = 30 + (4 - i) * (h + 6)
        passed = done.get(f"04.level-{i}", {}).get("status") == "passed"
        parts.append(f"<rect x='{10 + (i - 1) * 12}' y='{y}' width='{w - (i - 1) * 24}' height='{h}' rx='6' "
                     f"fill='{('#eef3fb', '#e3f4e1', '#fdf0d5', '#f3e8fd')[i - 1]}' stroke='#888'/>"
                     f"<text x='{24 + (i - 1) * 12}' y='{y + 25}' font-size='12'><tspan font-weight='bold'>"
                     f"{e(t.get('level', 'level {n}').format(n=i))}</tspan>  {e(t.get(f'level_{i}', ''))}</text>"
                     f"<text x='{w - (i - 1) * 12 - 4}' y='{y + 26}' font-size='15' text-anchor='end' fill='#2a2'>{'✔' if passed else ''}</text>")
    text = "\n".join(f"{t.get('level', 'level {n}').format(n=i)}: {t.get(f'level_{i}', '')}"
                     f"{' ✔' if done.get(f'04.level-{i}', {}).get('status') == 'passed' else ''}" for i in range(4, 0, -1))
    return Picture(_svg(w + 20, 40 + 4 * (h + 6), parts), text)


#: the locks an escape attempt meets, outward (security/attempts.py names each attempt's)
_LOCKS = ("capabilities", "seccomp", "masked_path", "read-only_path", "devices")
#: nested (a learner's unprivileged container), the kernel's own wall for what only the host's root may do
_NESTED_LOCK = "user_namespace"


def walls(attempts) -> Picture:
    """lk.escape_attempts(c), drawn: each attempt an arrow from the container out towards the host,
    stopped (⊘: it held) at the lock whose rule answered, or let through (✔: allowed, harmless)."""
    t = catalog.entry("picture.walls")
    e = html.escape
    col, x0, row = 104, 300, 26
    locks = _LOCKS + ((_NESTED_LOCK,) if any(tuple(a)[5] == _NESTED_LOCK for a in attempts) else ())
    parts = [f"<text x='10' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>",
             f"<text x='{x0 - 10}' y='44' font-size='12' font-weight='bold' text-anchor='end'>{e(t.get('container', 'the container'))}</text>"]
    for i, lock in enumerate(locks):
        x = x0 + (i + 1) * col
        parts.append(f"<line x1='{x}' y1='50' x2='{x}' y2='{60 + row * len(attempts)}' stroke='#c08a1e' stroke-width='3'/>"
                     f"<text x='{x}' y='44' font-size='11' text-anchor='middle'>{e(t.get(lock, lock))}</text>")
    parts.append(f"<text x='{x0 + (len(locks) + 1) * col + 10}' y='44' font-size='12' font-weight='bold'>{e(t.get('host', 'the host'))}</text>")
    lines = []
    for j, (what, _command, _answer, _rule, held, lock, harmless) in enumerate(tuple(a)[:7] for a in attempts):
        y = 66 + j * row
        stop = x0 + (locks.index(lock) + 1) * col if lock in locks else x0 + len(locks) * col
        allowed = held and harmless
        color = "#2a2" if held else "#c33"
        parts.append(f"<text x='{x0 - 10}' y='{y + 4}' font-size='11' text-anchor='end'>{e(what[:48])}</text>"
                     + _arrow(x0, y, stop - 4, y, color=color)
                     + f"<text x='{stop + 6}' y='{y + 5}' font-size='13' fill='{color}'>{'✔' if allowed else '⊘' if held else '!'}</text>")
        lines.append(f"{what:<44} {lock:<16} {t.get('allowed' if allowed else 'stopped' if held else 'got_through')}")
    return Picture(_svg(x0 + (len(locks) + 2) * col + 60, 80 + row * len(attempts), parts), "\n".join(lines))
