"""LXC beside labkit (notebook 04): the same container made by the tool early Docker drove.

    box = lxc_execute("nb04-lxc", ["sh", "-c", "echo ready; exec sleep 30"], memory=32 << 20)
    box.config          # the LXC configuration it was given (lxc.container.conf(5)), one key a line
    box.pid             # the command's PID on the host
    box.stop()

`lxc-execute` runs one command in a new container, as `docker run` does. Its configuration names the same kernel pieces as an OCI config.json, under
other keys:

    lxc.uts.name = nb04-lxc                          "hostname"                   the UTS namespace
    lxc.rootfs.path = dir:/var/lib/labkit/...        "root": {"path": ...}        pivot_root into it
    lxc.net.0.type = empty                           a "network" namespace        only lo in it
    lxc.mount.auto = proc:mixed sys:ro               "mounts": /proc, /sys        mounted inside
    lxc.cgroup.memory.limit_in_bytes = 33554432      "resources": {"memory": ...} the memory cgroup
    (lxc.cgroup2.memory.max on cgroup v2)

LXC makes its groups in every hierarchy, the name=systemd one too, and a "pivot" group for its
monitor: all of them go under this lab's parent group (lxc.cgroup.dir.*), so `lk.tidy` and `labkit
reset` find them, and nothing is made at a hierarchy's root.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import FeatureMissing, TimedOut


class LxcRun:
    """A running `lxc-execute`: its configuration, the command's host PID, and stop()."""

    def __init__(self, name: str, config: str, proc: subprocess.Popen, path: Path, overlay):
        self.name, self.config, self._proc, self._path, self._overlay = name, config, proc, path, overlay
        self.pid = 0

    def stop(self) -> int:
        """End it (its init and command), and remove what it used: the overlay, LXC's folder, its groups."""
        from .. import tidy

        if self._proc.poll() is None:
            subprocess.run(["lxc-stop", "-n", self.name, "-P", str(self._path), "--kill"], capture_output=True, timeout=30)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._overlay.unmount(remove=True)
        shutil.rmtree(self._path, ignore_errors=True)
        tidy(self.name)  # its groups under this lab's parent, in every hierarchy
        return self._proc.returncode

    def __repr__(self) -> str:
        from ..catalog import text

        return f"<LXC {text('lxc', 'repr', name=self.name, pid=self.pid)}>\n{self.config}"


def lxc_execute(name: str, command: list[str], memory: int | None = None, image: str = "busybox") -> LxcRun:
    """Start `command` in an LXC container called `name`, on an overlay of `image`'s layers; returns
    once the command has printed its first line (it should print one: "ready")."""
    import psutil

    import labkit as lk
    from ..cgroups import layout
    from ..paths import instance

    if shutil.which("lxc-execute") is None:
        raise FeatureMissing("error.runtime.lxc-installed-here")
    tag, v2 = instance().tag, layout().version == 2
    ov = lk.overlay(lk.layers(image), name=name)
    path = Path(tempfile.mkdtemp(prefix=f"labkit-{name}-"))
    lines = [f"lxc.uts.name = {name}", f"lxc.rootfs.path = dir:{ov.merged}", "lxc.net.0.type = empty",
             "lxc.mount.auto = proc:mixed sys:ro", "lxc.apparmor.profile = unconfined",
             f"lxc.cgroup.dir.container = {tag}/{name}", f"lxc.cgroup.dir.monitor = {tag}/{name}-monitor",
             f"lxc.cgroup.dir.monitor.pivot = {tag}/{name}-pivot"]
    if memory:
        lines.append(f"{'lxc.cgroup2.memory.max' if v2 else 'lxc.cgroup.memory.limit_in_bytes'} = {memory}")
    config = "\n".join(lines)
    (path / "config").write_text(config + "\n")
    proc = subprocess.Popen(["lxc-execute", "-n", name, "-P", str(path), "-f", str(path / "config"), "--", *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = LxcRun(name, config, proc, path, ov)
    first = proc.stdout.readline()
    if not first:
        err = proc.stderr.read().strip()
        run.stop()
        raise FeatureMissing("error.runtime.lxc-execute-did-start", err_300_or_no_messag=err[-300:] or 'no message')
    deadline = time.monotonic() + 10
    while not run.pid:  # the command: the child of LXC's init, the child of lxc-execute
        kids = [p for p in psutil.Process(proc.pid).children(recursive=True)
                if p.name() != "lxc-execute" and not p.name().startswith("init.lxc")]  # its monitor, its init
        run.pid = kids[-1].pid if kids else 0
        if time.monotonic() > deadline:
            run.stop()
            raise TimedOut("error.runtime.lxc-container-s-command")
        time.sleep(0.01)
    return run
