"""A learner's container: made once from the learner image, with the room's limits; its Jupyter
server started and stopped in it by the hub's spawner; its work kept between sessions.

    labkit-ada (LXD, unprivileged, security.nesting=true)
      /sbin/labkit-learner-init     its init: on cgroup v2 it moves itself into a leaf group (as
                                    systemd sits in init.scope), so labkit inside gets the
                                    controllers (cgroups/v2.py, "no internal processes"); then sleeps
      /work/labkit (read-only)      the lab's checkout and venv, bound from the host at the same path
      /root/notebooks               the learner's own copy of the notebooks, made at the first start
      proxy "hub"                   127.0.0.1:<port> on the host -> 127.0.0.1:8888 inside: the hub's
                                    proxy reaches the server over loopback alone, on no network

The server runs detached inside (setsid), its PID in /run/labkit-room/server.pid, its log beside it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabkitError
from .lxd import Lxd
from .settings import Limits

#: the learner's container's init, pushed before its first start (LXD's lxc.init.cmd runs it)
INIT = """#!/bin/sh
# labkit's learner init: on cgroup v2, sit in a leaf group, as systemd sits in init.scope, so that the
# namespace's root can hand its controllers down to labkit's groups; then wait, as PID 1 does.
if [ -f /sys/fs/cgroup/cgroup.type ]; then
  mkdir -p /sys/fs/cgroup/init && echo $$ > /sys/fs/cgroup/init/cgroup.procs
fi
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"""
INIT_PATH = "/sbin/labkit-learner-init"
SERVER_PORT = 8888  # inside the container, on its loopback
RUN = "/run/labkit-room"


@dataclass(frozen=True)
class Room:
    """Where the room's learners live: LXD, the image, the pool, the lab bound in, their limits."""

    api: Lxd
    image: str  # an LXD image alias: "labkit-learner"
    lab: Path  # the checkout, bound read-only at the same path (its venv runs on the image's python3)
    limits: Limits
    pool: str = "default"
    cgroups_v1: bool = False  # on a v1 host the container needs its hierarchies mounted for it

    def ensure(self, container: str, port: int) -> bool:
        """Make the learner's container if it is not there; True if it was made now."""
        if container in self.api.names():
            return False
        raw = f"lxc.init.cmd = {INIT_PATH}" + ("\nlxc.mount.auto = cgroup:rw:force" if self.cgroups_v1 else "")
        config = {"security.nesting": "true", "raw.lxc": raw, **self.limits.lxd_config()}
        devices = {
            "root": self.limits.lxd_root_disk(self.pool),
            "lab": {"type": "disk", "source": str(self.lab), "path": str(self.lab), "readonly": "true"},
            "hub": {"type": "proxy", "listen": f"tcp:127.0.0.1:{port}", "connect": f"tcp:127.0.0.1:{SERVER_PORT}", "bind": "host"},
        }
        self.api.create(container, self.image, config=config, devices=devices, profiles=[])
        self.api.write(container, INIT_PATH, INIT.encode(), 0o755)
        return True

    def running(self, container: str) -> bool:
        return self.api.usage(container).status == "Running"

    def start_server(self, container: str, command: list[str], env: dict[str, str]) -> None:
        """Start the container if it is stopped, give the learner their notebooks the first time,
        then the server, detached (the exec returns at once)."""
        if not self.running(container):
            self.api.start(container)
        self.api.exec(container, ["ip", "link", "set", "lo", "up"])  # no init of the image brings it up
        notebooks = self.lab / "notebooks"
        first = f"[ -d /root/notebooks ] || cp -r {shlex.quote(str(notebooks))} /root/notebooks"
        line = " ".join(shlex.quote(a) for a in command)
        script = (f"{first}; mkdir -p {RUN}; cd /root/notebooks; "
                  f"setsid sh -c 'echo $$ > {RUN}/server.pid; exec {line}' > {RUN}/server.log 2>&1 < /dev/null &")
        done = self.api.exec(container, ["sh", "-c", script], env=env)
        if done.code != 0:
            raise LabkitError("error.room.server-not-started", container=container, said=done.stderr.decode(errors="replace")[-300:])

    def server_pid(self, container: str) -> int | None:
        """The server's PID inside, if it runs."""
        if not self.running(container):
            return None
        done = self.api.exec(container, ["sh", "-c", f"p=$(cat {RUN}/server.pid 2>/dev/null) && kill -0 $p && echo $p"])
        return int(done.stdout) if done.code == 0 and done.stdout.strip().isdigit() else None

    def stop_server(self, container: str, timeout: int = 10) -> None:
        """End the server (TERM, then KILL after `timeout` s); the container and its work stay."""
        if self.server_pid(container) is None:
            return
        self.api.exec(container, ["sh", "-c", f"p=$(cat {RUN}/server.pid) && kill $p; i=0; "
                                                f"while kill -0 $p 2>/dev/null && [ $i -lt {timeout * 10} ]; do sleep 0.1; i=$((i+1)); done; "
                                                f"kill -9 $p 2>/dev/null; rm -f {RUN}/server.pid; true"])

    def stop(self, container: str) -> None:
        """The whole container stopped (`./lab room stop`): its disk, the learner's work, is kept."""
        if self.running(container):
            self.api.stop(container)

    def remove(self, container: str) -> None:
        """Gone with its work (`./lab room reset`)."""
        if container in self.api.names():
            self.api.delete(container)
