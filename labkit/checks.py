"""Checks a learner can trust: each one asks the kernel, never the output printed for the learner.

    lk.check.isolated(c.pid, ["pid", "net"])        # the namespace inodes differ from the host's
    lk.check.cgroup_limit(c, "memory", 32 << 20)    # the limit file in the container's cgroup says so
    lk.check.oom_killed(c); lk.check.exit_code(c, 137)
    lk.check.in_upper(ov, "etc/motd"); lk.check.whiteout(ov, "bin/vi")
    lk.check(condition, "what is true", hint="what to change if it is not")

A check that holds shows a green ✔ line; one that does not raises CheckFailed, whose hint names
what is wrong, so the notebook shows one red line, not a traceback (ipython.py).
"""

from __future__ import annotations

import os
import stat

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


class Check:
    def __call__(self, condition, what: str, hint: str = "") -> Passed:
        if not condition:
            raise CheckFailed(f"not yet: {what}", hint=hint or "look again at the cells above, change them, re-run.")
        return Passed(what)

    # -- namespaces -------------------------------------------------------------------------------
    def isolated(self, pid: int, kinds) -> Passed:
        """Process `pid` is in namespaces of its own of each kind (its /proc/PID/ns inodes differ from ours)."""
        from .namespaces import namespaces_of

        view = namespaces_of(pid)
        shared = [k for k in kinds if k in view.shared()]
        return self(not shared, f"process {pid} has its own {', '.join(kinds)} namespace(s)",
                    f"it shares the host's {', '.join(shared)} namespace: add {shared} to the kinds you unshare.")

    # -- cgroups ----------------------------------------------------------------------------------
    def cgroup_limit(self, container, kind: str, expected) -> Passed:
        """The container's cgroup has this limit: kind "memory" (bytes), "cpus" (CPUs) or "pids"."""
        from . import cgroups
        from .monitoring.probe import Probe

        rec = container.attrs
        p = Probe(cgroups.group(rec["cgroup"]))
        try:
            fig = p.read()
        finally:
            p.close()
        key = {"memory": "memory_limit", "cpus": "cpu_limit", "pids": "pids_limit"}[kind]
        got = fig.get(key)
        return self(got == expected, f"{rec['name']}'s cgroup limits {kind} to {expected}",
                    f"the kernel's file says {got}: give {kind}= when you start the container, or c.update(...).")

    # -- containers --------------------------------------------------------------------------------
    def exit_code(self, container, code: int) -> Passed:
        got = container.wait(timeout=120)
        return self(got == code, f"{container.name} exited with {code}",
                    f"it exited with {got}" + (" (137 = killed by SIGKILL)" if got == 137 else "") + ".")

    def oom_killed(self, container, timeout: float = 120) -> Passed:
        """The kernel's OOM killer acted in the container's cgroup. A container that goes on running
        (its PID 1 outlived the kill of a child) is asked through its cgroup's own counter (v2
        memory.events oom_kill, v1 memory.oom_control), up to `timeout` s; one that ends, at its exit."""
        import time

        deadline = time.monotonic() + timeout
        while container.status in ("running", "paused") and time.monotonic() < deadline:
            st = container.stats()
            if st is not None and (st.oom_kills or 0) > 0:
                return Passed(f"the kernel's OOM killer acted in {container.name}'s cgroup ({st.oom_kills} kill(s) so far)")
            time.sleep(0.2)
        if container.status in ("running", "paused"):
            return self(False, f"the kernel's OOM killer acted in {container.name}'s cgroup",
                        f"its cgroup counted no OOM kill in {timeout:g} s: the memory limit must be below what it asks for.")
        rec = container.attrs
        return self(rec.get("oom_killed"), f"the kernel's OOM killer acted in {rec['name']}'s cgroup",
                    "no OOM kill was recorded: the memory limit must be below what the command asks for.")

    def running(self, container) -> Passed:
        status = container.status
        return self(status == "running", f"{container.name} is running",
                    f"it is {status}: c.start() (or c.unpause() if it is paused).")

    # -- union filesystems ---------------------------------------------------------------------------
    def in_upper(self, ov, path: str) -> Passed:
        """`path` (relative to the overlay's root) was copied up: it is in the upper dir."""
        p = ov.upper / path.lstrip("/")
        return self(p.exists() and not _is_whiteout(p), f"{path} is in the upper (writable) layer",
                    "write to it through the merged view (ov.merged / path): that copies it up.")

    def whiteout(self, ov, path: str) -> Passed:
        """`path` was deleted through the overlay: a whiteout (a 0/0 character device) hides it."""
        p = ov.upper / path.lstrip("/")
        return self(_is_whiteout(p), f"{path} is hidden by a whiteout in the upper layer",
                    "delete it through the merged view (os.remove(ov.merged / path)), not in a lower layer.")


def _is_whiteout(p) -> bool:
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


check = Check()
