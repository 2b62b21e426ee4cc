"""Namespaces as callable cells: start a process in new namespaces, or enter a running one's.

    r = lk.unshare(["uts", "pid", "mnt"], "hostname inside; hostname; ps", hostname="inside", mount_proc=True)
    r            # what it printed, and a table: each namespace kind, the host's inode, the process's, shared or not
    r.steps      # the raw steps: unshare(CLONE_NEWUTS|...), write /proc/PID/uid_map, fork, mount, sethostname
    lk.unshare(["user"], "id")                         # uid 0 inside ...
    r.outside["uid"]                                   # ... is uid 100000 outside (uid_map "0 100000 65536")
    lk.nsenter(pid, ["net", "uts"], "hostname")        # like nsenter(1): join a running process's namespaces
    lk.namespaces_of(pid)                              # like lsns for one process

The kinds (man 7 namespaces): mnt, uts, ipc, pid, net, user, cgroup, time. Every call runs in a
child process; the caller (a notebook kernel) never changes namespace.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field

from ..errors import FeatureMissing, InvalidArgument, LabkitError, NotFound, require_root
from .. import catalog
from ..catalog import pad
from ..helper import interpreter
from ..kernel import namespace_kinds
from .child import KINDS, ns_inodes




_say = catalog.speaker("namespaces")  # its tables' words, in the learner's language


def _isolates(kind: str) -> str:
    """What a kind isolates, as the pictures say it (the catalog's "picture.sees-and-uses" ns_<kind>)."""
    return catalog.text("picture.sees-and-uses", f"ns_{kind}", namespace_kinds.BY_NAME[kind].isolates)


@dataclass(frozen=True)
class NamespaceView:
    """The namespaces of one process beside the host's (this Python process's)."""

    pid: int | None
    process: dict
    host: dict

    def rows(self) -> list[tuple[str, str, str, bool]]:
        return [(k, self.host.get(k, "?"), self.process.get(k, "?"), self.host.get(k) == self.process.get(k))
                for k in KINDS if k in self.host]

    def shared(self) -> list[str]:
        return [k for k, _h, _p, same in self.rows() if same]

    def isolated(self) -> list[str]:
        return [k for k, _h, _p, same in self.rows() if not same]

    def __repr__(self) -> str:
        lines = [f"{pad(_say('kind'), 7)} {pad(_say('host'), 22)} {pad(_say('process'), 22)} "]
        for k, h, p, same in self.rows():
            lines.append(f"{k:<7} {h:<22} {p:<22} {_say('shared') if same else _say('new')}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td style='text-align:left'><b>{k}</b></td><td style='text-align:left'><code>{html.escape(h)}</code></td>"
            f"<td style='text-align:left'><code>{html.escape(p)}</code></td>"
            f"<td style='text-align:left;color:{'#888' if same else '#2a2'}'>"
            f"{html.escape(_say('shared_with_host') if same else _say('new_isolates', what=_isolates(k)))}</td></tr>"
            for k, h, p, same in self.rows())
        head = "".join(f"<th style='text-align:left'>{html.escape(_say(f)) if f else ''}</th>" for f in ("kind", "host", "process", ""))
        return f"<table><tr>{head}</tr>" + rows + "</table>"


@dataclass(frozen=True)
class NamespaceRun:
    """What lk.unshare() / lk.nsenter() did: output, exit code, the namespaces, the raw steps."""

    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    view: NamespaceView
    inside: dict = field(default_factory=dict)  # pid, uid, gid, hostname as the process saw them
    outside: dict = field(default_factory=dict)  # pid, uid, gid as the host sees the same process
    steps: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"$ {shlex.join(self.command)}   ({_say('exit', code=self.exit_code)})\n{self.stdout}{self.stderr}\n{self.view!r}\n"
                + "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(self.steps)))

    def _repr_html_(self) -> str:
        import html

        ids = ""
        if self.inside and self.outside:
            ids = (f"<p>{html.escape(_say('inside', pid=self.inside.get('pid'), uid=self.inside.get('uid')))} &nbsp;|&nbsp; "
                   f"{html.escape(_say('outside', pid=self.outside.get('pid'), uid=self.outside.get('uid')))}</p>")
        steps = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in self.steps)
        return (f"<pre>$ {html.escape(shlex.join(self.command))}\n{html.escape(self.stdout + self.stderr)}</pre>"
                f"{ids}{self.view._repr_html_()}<details><summary>{html.escape(_say('steps'))}</summary><ol>{steps}</ol></details>")


def _check_kinds(kinds) -> list[str]:
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, (list, tuple, set, frozenset)) or not all(isinstance(k, str) for k in kinds):
        raise InvalidArgument("error.namespaces.namespace-kinds-are-list", kinds=kinds, join=', '.join(KINDS))
    kinds = list(dict.fromkeys(kinds))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InvalidArgument("error.namespaces.unknown-namespace-kind-s", unknown=unknown, join=', '.join(KINDS))
    missing = [k for k in kinds if not os.path.exists(f"/proc/self/ns/{k}")]
    if missing:
        raise FeatureMissing("error.namespaces.kernel-has-no-namespace", join=', '.join(missing))
    return kinds


def _command(command) -> list[str]:
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    if not isinstance(command, (list, tuple)) or not all(isinstance(a, (str, int, float)) for a in command):
        raise InvalidArgument("error.namespaces.command-shell-line-list", command=command)
    args = [str(a) for a in command]
    if not args:
        raise InvalidArgument("error.namespaces.empty-command")
    return args


def _launch(plan: dict, command: list[str], timeout: float) -> NamespaceRun:
    r, w = os.pipe()
    try:
        proc = subprocess.Popen([*interpreter("labkit.namespaces.child"), json.dumps(plan), str(w)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, pass_fds=(w,))
    finally:
        os.close(w)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise LabkitError("error.namespaces.command-did-finish-s", timeout=timeout)
    finally:
        with os.fdopen(r) as f:
            raw = f.read()
    result = json.loads(raw) if raw else {"error": err.strip() or "the helper process failed"}
    if result.get("error"):
        raise LabkitError("error.namespaces.namespace-setup-failed", result_error=result['error'])
    view = NamespaceView(result.get("outside", {}).get("pid"), result.get("inside", {}).get("ns", {}), ns_inodes())
    steps = tuple(_merge_steps(result, command))
    return NamespaceRun(tuple(command), result.get("exit_code", 125), out, err, view,
                        result.get("inside", {}), result.get("outside", {}), steps)


def _merge_steps(result: dict, command: list[str]) -> list[str]:
    """The child's steps with the helper's (maps written, setns calls) in the order they happened."""
    inner, outer = list(result.get("steps", [])), list(result.get("host_steps", []))
    at = next((i + 1 for i, s in enumerate(inner) if s.startswith("unshare(")), 0)
    return inner[:at] + outer + inner[at:] + [f"execve({shlex.join(command)})"]


def unshare(kinds, command, *, hostname: str | None = None, mount_proc: bool = True,
            uid_map: str | None = None, gid_map: str | None = None, time_offset: int | None = None,
            timeout: float = 60) -> NamespaceRun:
    """Run `command` (a shell line or a list) in new namespaces of `kinds`, like unshare(1).

    hostname: set inside a new uts namespace. mount_proc: with new pid and mnt namespaces, mount a
    fresh /proc (so ps shows only the new PID namespace). uid_map/gid_map: for a new user namespace,
    "INSIDE OUTSIDE COUNT" (default "0 100000 65536"). time_offset: seconds added to the monotonic
    and boot-time clocks in a new time namespace.
    """
    require_root("creating-namespaces")
    kinds = _check_kinds(kinds)
    if not kinds:
        raise InvalidArgument("error.namespaces.no-namespace-kind-given")
    for name, m in (("uid_map", uid_map), ("gid_map", gid_map)):
        if m is not None and (len(m.split()) != 3 or not all(x.isdigit() for x in m.split())):
            raise InvalidArgument("error.namespaces.inside-outside-count", name=name, m=m)
    args = _command(command)
    plan = {"kinds": kinds, "command": args, "hostname": hostname, "mount_proc": mount_proc and "mnt" in kinds,
            "uid_map": uid_map, "gid_map": gid_map, "time_offset": time_offset}
    return _launch(plan, args, timeout)


def nsenter(pid: int, kinds, command, *, timeout: float = 60) -> NamespaceRun:
    """Run `command` inside the namespaces of `kinds` of the running process `pid`, like nsenter(1)."""
    require_root("entering-namespaces")
    kinds = _check_kinds(kinds)
    if type(pid) is not int or pid <= 0:
        raise InvalidArgument("error.namespaces.pid-process-id", pid=pid)
    if not os.path.exists(f"/proc/{pid}"):
        raise NotFound("error.namespaces.no-process", pid=pid)
    args = _command(command)
    return _launch({"target": int(pid), "kinds": kinds, "command": args}, args, timeout)


def namespaces_of(pid: int) -> NamespaceView:
    """The namespaces of process `pid` beside this process's, like `lsns -p PID`."""
    if type(pid) is not int or pid <= 0:
        raise InvalidArgument("error.namespaces.pid-process-id", pid=pid)
    if not os.path.exists(f"/proc/{pid}"):
        raise NotFound("error.namespaces.no-process-2", pid=pid)
    return NamespaceView(pid, ns_inodes(pid), ns_inodes())
