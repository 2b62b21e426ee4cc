"""labkitd: the supervisor, one per lab on a host, as dockerd is docker's server side.

    client (notebook, CLI, script) --JSON lines on a Unix socket--> labkitd --fork--> PID 1 of a container
                                    /run/labkit/labkitd.sock          (one process, one thread)
    docker CLI, docker-py ----------HTTP, the Docker Engine API-----> /run/labkit/docker.sock
    labkit-keeper (keeper.py): labkitd's parent; restarts it; reaps the containers it left behind

labkitd in parts, each a module of this folder, in the order a request meets them:

    loop.py            the event loop: owners' descriptors, timers, listeners; knows no protocol
    connection.py      one client: non-blocking reads and writes, the frames of an attached stream
    labkit_protocol.py labkit's JSON-lines protocol: each op a call of the service's, nothing more
    docker_api.py      the Docker Engine API's routes, the same (labkit/api/: HTTP, JSON shapes);
                       its parts docker_images.py, docker_exec.py, docker_resources.py, docker_stats.py
    service.py         the container service: the live containers, their waiters, every operation
      starts.py        a container's start (and an exec's), from fork to exec, waited for in the loop;
                       zygote.py the small process that forks each PID 1 (labkitd's child all the same)
      exits.py         a container's exit, its removal, and recovery after a restart
      execs.py         exec; network_ops.py a container's networks; networking.py its network, create to rm
      live.py          a running container as labkitd holds it; pump.py its output, FIFOs to log and clients
      create.py        a container laid out on disk (bundle, config.json, record)
    wire.py            replies and errors as they travel; failures.py PID 1's reports as errors
    keeper.py          labkitd's parent

Why a server, and why this shape:
  - Containers are the host's, not a notebook's: every container's PID 1 is labkitd's child, in
    labkit's own cgroups, so a notebook kernel that restarts or dies takes no container with it,
    and `labkit ps` in a shell sees what a notebook started.
  - Speed: a Jupyter kernel has threads, so it may not fork and keep running Python; it would have
    to exec a fresh interpreter per container (~40 ms). labkitd is single-threaded and warm: it
    forks PID 1 directly (unshare(CLONE_NEWPID) for the one fork, then back), and keeps resolved
    images in memory.
  - Cost: nothing of ours per container but a few file descriptors and a dict. No shim process
    per container (docker's containerd-shim, podman's conmon): labkitd pumps every container's output
    from one event loop. bench/many_containers.py measures it.
  - Nothing is lost when labkitd dies: records are files (state.py); output waits in named FIFOs
    that the next labkitd reopens (logs.py); the containers it leaves are reparented to the keeper
    (a subreaper), which records their exit codes and starts a new labkitd at once. If the keeper
    dies instead, labkitd takes its place (keeper.py).
  - No client can stall it: every socket is non-blocking (connection.py); a start or an exec is
    waited for in the loop, not in a call (starts.py); a slow reader holds back only its own
    container's output.

The protocol, one request per connection: the client sends one JSON line (with file descriptors
attached, SCM_RIGHTS, for exec: the pipes the process inside writes to), and reads JSON lines back:

    -> {"op": "run", "options": {...}, "attach": true}
    <- {"id": "3f9a...", "name": "brave_curie", "pid": 4242, "trace": [...]}    when it started
    <- frames: stdout, stderr, then the last reply {"exit_code": 0, ...}        (connection.py)
    <- {"error": {"type": "Conflict", "message": "...", "hint": "..."}}          on failure

`logs` needs no server: the client reads log.json.
"""

from __future__ import annotations

import os
import socket

from ...images.store import ImageStore
from ...paths import Instance
from .docker_api import DockerApi
from .exits import record_lost
from .labkit_protocol import LabkitProtocol
from .loop import Loop, close_fd
from .service import ContainerService
from .zygote import Zygote

__all__ = ["Supervisor", "record_lost"]


class Supervisor:
    """labkitd: a loop, the container service, and the two protocols that reach it."""

    def __init__(self, inst: Instance, listener: socket.socket, keeper_pid: int | None = None):
        self.inst = inst
        self.loop = Loop()
        self.svc = ContainerService(inst, self.loop, ImageStore(inst))
        self.labkit = LabkitProtocol(self.svc, self)
        self.docker = DockerApi(self.svc, self.loop)
        self.listener = listener
        # The keeper's pidfd turns readable if it dies: serve() then returns with orphaned set, and
        # keeper.py makes this process the keeper (nothing would restart labkitd otherwise).
        self.orphaned = False
        self.keeper_fd = None
        if keeper_pid:
            try:
                self.keeper_fd = os.pidfd_open(keeper_pid)
            except ProcessLookupError:
                self.orphaned = True

    def recover(self) -> None:
        """After a restart: adopt the containers still running, finish what was cut off (exits.py)."""
        self.svc.exits.recover()

    def serve(self) -> None:
        zygote = Zygote()
        zygote.start()  # before any client: it holds no descriptor of theirs
        self.svc.starts.zygote = zygote
        self.loop.listen(self.listener, self.labkit.connection)
        self.docker.listen()
        if self.keeper_fd is not None:
            self.loop.watch_fd(self.keeper_fd, lambda ev: setattr(self, "orphaned", True))
        self.loop.on_signal = self.svc.exits.reap
        self.loop.serve(stop=lambda: self.orphaned)

    def shutdown(self) -> None:
        self.loop.running = False

    def release(self) -> None:
        """Let go of every client, pump and descriptor (keeper.py, before this process becomes the
        keeper): clients see their stream end and attach again to the next labkitd."""
        self.docker.close()
        if self.svc.starts.zygote is not None:
            self.svc.starts.zygote.close()
        for lv in list(self.svc.live.values()):
            lv.pump.close()
            if lv.stdin is not None:
                lv.stdin.close()
            if lv.pidfd is not None:
                close_fd(lv.pidfd)
        self.svc.live, self.svc.waiters = {}, {}
        self.svc.starts.release()  # a start cut off here: the next labkitd's recover() finishes it
        self.svc.execs.release()
        self.loop.close()
        if self.keeper_fd is not None:
            close_fd(self.keeper_fd)
