"""Checks a learner can trust: each one asks the kernel, never the output printed for the learner.

    lk.check.isolated(c.pid, ["pid", "net"])        # the namespace inodes differ from the host's
    lk.check.cgroup_limit(c, "memory", 32 << 20)    # the limit file in the container's cgroup says so
    lk.check.oom_killed(c); lk.check.exit_code(c, 137)
    lk.check.in_upper(ov, "etc/motd"); lk.check.whiteout(ov, "bin/vi")
    lk.check(condition, "what is true", hint="what to change if it is not")

A check that holds shows a green ✔ line; one that does not raises CheckFailed, whose hint names
what is wrong, so the notebook shows one red line, not a traceback (ipython.py).

The sentences are the message catalog's (labkit/messages/<lang>.toml), one entry per check:

    ["check.exit_code"]
    passed = "{name} exited with {code}"            what holds, shown with ✔ (or after "not yet:")
    hint = "it exited with {got}{why}."             what was found instead, and what to change
"""

from __future__ import annotations

import os
import stat
import time

from .errors import LabkitError


class CheckFailed(LabkitError):
    """A notebook exercise's check did not hold."""

    exit_code = 1


class Passed:
    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"✔ {self.what}"

    def _repr_html_(self) -> str:
        import html

        return f"<span style='color:#2a2'>✔ {html.escape(self.what)}</span>"


def text(check: str, field: str, **values) -> str:
    """A sentence of the catalog's entry "check.<check>", filled in: text("exit_code", "passed", name="web", code=0)."""
    from . import catalog

    return catalog.text(f"check.{check}", field, f"{check}: {field}", **values)


def _mib(value) -> str:
    """A byte count as a learner reads it: 33554432 -> "32 MiB", 1610612736 -> "1536 MiB"; None -> "none"."""
    if value is None:
        return "none"
    return f"{value / 2**20:g} MiB" if isinstance(value, int) else str(value)


class Check:
    def __call__(self, condition, what: str, hint: str = "") -> Passed:
        if not condition:
            from .catalog import Text

            raise CheckFailed(Text("check.any", "not_yet", what=what), hint=hint or Text("check.any", "hint"))
        return Passed(what)

    def _verdict(self, condition, check: str, **values) -> Passed:
        return self(condition, text(check, "passed", **values), text(check, "hint", **values))

    # -- namespaces -------------------------------------------------------------------------------
    def isolated(self, pid: int, kinds) -> Passed:
        """Process `pid` is in namespaces of its own of each kind (its /proc/PID/ns inodes differ from ours)."""
        from .namespaces import namespaces_of

        view = namespaces_of(pid)
        shared = [k for k in kinds if k in view.shared()]
        return self._verdict(not shared, "isolated", pid=pid, kinds=", ".join(kinds), shared=", ".join(shared),
                             shared_list=shared)

    # -- cgroups ----------------------------------------------------------------------------------
    def cgroup_limit(self, container, kind: str, expected) -> Passed:
        """The container's cgroup has this limit: kind "memory" (bytes), "cpus" (CPUs) or "pids"."""
        from . import cgroups
        from .monitoring.probe import read_once

        rec = container.attrs
        fig = read_once(cgroups.group(rec["cgroup"]))
        key = {"memory": "memory_limit", "cpus": "cpu_limit", "pids": "pids_limit"}[kind]
        got = fig.get(key)
        shown = _mib if kind == "memory" else (lambda v: v)  # 32 MiB, not 33554432
        return self._verdict(got == expected, "cgroup_limit", name=rec["name"], kind=kind, expected=shown(expected),
                             got=shown(got))

    # -- containers --------------------------------------------------------------------------------
    def exit_code(self, container, code: int) -> Passed:
        got = container.wait(timeout=120)
        return self._verdict(got == code, "exit_code", name=container.name, code=code, got=got,
                             why=text("exit_code", "sigkill") if got == 137 else "")

    def oom_killed(self, container, timeout: float = 120) -> Passed:
        """The kernel's OOM killer acted in the container's cgroup. A container that goes on running
        (its PID 1 outlived the kill of a child) is asked through its cgroup's own counter (v2
        memory.events oom_kill, v1 memory.oom_control), up to `timeout` s; one that ends, at its exit."""
        deadline = time.monotonic() + timeout
        while container.status in ("running", "paused") and time.monotonic() < deadline:
            st = container.stats()
            if st is not None and (st.oom_kills or 0) > 0:
                return Passed(text("oom_killed", "passed_running", name=container.name, kills=st.oom_kills))
            time.sleep(0.2)
        if container.status in ("running", "paused"):
            return self(False, text("oom_killed", "passed", name=container.name),
                        text("oom_killed", "hint_running", seconds=f"{timeout:g}"))
        rec = container.attrs
        return self._verdict(rec.get("oom_killed"), "oom_killed", name=rec["name"])

    def running(self, container) -> Passed:
        status = container.status
        return self._verdict(status == "running", "running", name=container.name, status=status)

    # -- union filesystems ---------------------------------------------------------------------------
    def in_upper(self, ov, path: str) -> Passed:
        """`path` (relative to the overlay's root) was copied up: it is in the upper dir."""
        p = ov.upper / path.lstrip("/")
        return self._verdict(p.exists() and not _is_whiteout(p), "in_upper", path=path)

    def whiteout(self, ov, path: str) -> Passed:
        """`path` was deleted through the overlay: a whiteout (a 0/0 character device) hides it."""
        return self._verdict(_is_whiteout(ov.upper / path.lstrip("/")), "whiteout", path=path)


def _is_whiteout(p) -> bool:
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


check = Check()
