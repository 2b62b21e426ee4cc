"""labkitd: the supervisor, one per lab on a host, as dockerd is docker's server side.

    client (notebook, CLI, script) --JSON lines on a Unix socket--> labkitd --fork--> PID 1 of a container
                                    /run/labkit/labkitd.sock          (one process, one thread)
    docker CLI, docker-py ----------HTTP, the Docker Engine API-----> /run/labkit/docker.sock
    labkit-keeper (keeper.py): labkitd's parent; restarts it; reaps the containers it left behind

labkitd in parts, each a module of this folder:

    loop.py        the event loop, the clients' connections, a request to its op_ method
    connection.py  one client: non-blocking reads and writes, the frames of an attached stream
    operations.py  create, run, start, attach, wait, stop, restart, kill, pause, unpause, rm, update, exec
    queries.py     ping, ps, inspect, top, stats
    network_ops.py network create, rm, connect, disconnect; networking.py a container's network, create to rm
    docker_ops.py  the Docker Engine API's routes, over the same operations (labkit/api/: HTTP, JSON shapes)
    starts.py      a container's start (and an exec's), from fork to exec, waited for in the loop
    exits.py       a container's exit, and recovery after a restart
    wire.py        replies and errors as they travel
    create.py      a container laid out on disk (bundle, config.json, record)
    keeper.py      labkitd's parent

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
import selectors
import signal
import socket

from ...images.store import ImageStore
from ...paths import Instance
from .connection import Connection
from .docker_ops import DockerApi
from .exits import Exits, Live, record_lost
from .loop import Loop, close_fd
from .network_ops import NetworkOps
from .operations import Operations
from .queries import Queries
from .starts import Starting, Starts

__all__ = ["Supervisor", "record_lost"]


class Supervisor(Loop, Operations, NetworkOps, DockerApi, Queries, Starts, Exits):
    def __init__(self, inst: Instance, listener: socket.socket, keeper_pid: int | None = None):
        self.inst = inst
        # The keeper's pidfd turns readable if it dies: serve() then returns with orphaned set, and
        # keeper.py makes this process the keeper (nothing would restart labkitd otherwise).
        self.orphaned = False
        self.keeper_fd = None
        if keeper_pid:
            try:
                self.keeper_fd = os.pidfd_open(keeper_pid)
            except ProcessLookupError:
                self.orphaned = True
        self.store = ImageStore(inst)
        self.record_cache: dict = {}  # cid -> (state.json's inode, mtime, size), record: state.read_all
        self.images: dict = {}  # image name -> (image, lower dirs), resolved once (create.py)
        self.sel = selectors.DefaultSelector()
        self.listener = listener
        self.live: dict[str, Live] = {}  # cid -> a running container
        self.by_pid: dict[int, str] = {}  # PID 1 (our child) -> container id
        self.waiters: dict[str, list] = {}  # cid -> callbacks run with the record when it exits
        self.execs: dict[int, Connection] = {}  # exec shim PID -> the client waiting for its exit code
        self.timers: list[tuple[float, int, object]] = []  # a heap of (monotonic deadline, sequence, callback)
        self.timer_seq = 0
        self.watched: dict[int, tuple] = {}  # fd -> (owner, callback, events) registered in `sel`
        self.owned: dict[object, set[int]] = {}  # owner (a Connection, Live, Starting, the loop) -> its fds there
        self.dirty: set = set()  # owners whose wants may have changed since the loop's last pass
        self.attached: set[Live] = set()  # containers whose output an attached client is taking
        self.conns: dict[int, Connection] = {}  # fd -> a client's connection
        self.recent: dict[str, dict] = {}  # cid -> the exit reply of a container that exited lately
        self.starting: dict[int, Starting] = {}  # PID -> a process forked, its command not exec'd yet
        self.starting_ids: set[str] = set()  # containers whose start is under way
        self.docker_execs: dict[str, dict] = {}  # Docker API exec instances, by ID (docker_ops.py)
        self.pending_attach: dict[str, list] = {}  # cid -> Docker API attach requests waiting for its start
        self.transfers: set = set()  # Docker API pulls and pushes under way, each in a helper process (docker_images.py)
        self.docker_listener = None  # the Docker Engine API's socket (docker_ops.py), made in serve()
        self.docker_tcp = None  # ... and its TCP listener on 127.0.0.1, only while asked for (docker_tcp.py)
        self.running = True
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def _container_wants(self, owner) -> dict:
        """What a container or a starting process waits for now (loop.py's _rewatch): a running
        container's FIFOs (none while its attached client has too much waiting), the pidfd of one an
        earlier labkitd started, and the report pipe of each process between fork and exec."""
        if isinstance(owner, Starting):
            return {} if owner.finished else {owner.fd: (owner, lambda ev, st=owner: self._start_readable(st),
                                                         selectors.EVENT_READ)}
        if hasattr(owner, "loop_wants"):  # a pull's or an exec's output on its way to a client, a TCP listener
            want = owner.loop_wants()
            if want is None:  # over
                self.transfers.discard(owner)
                self.attached.discard(owner)
            return want or {}
        if not isinstance(owner, Live) or self.live.get(owner.cid) is not owner:
            self.attached.discard(owner)
            return {}
        (self.attached.add if owner.pump.client is not None else self.attached.discard)(owner)
        want = {}
        if owner.pidfd is not None:  # an adopted container: its pidfd is readable once it exited
            want[owner.pidfd] = (owner, lambda ev, lv=owner: self._await_record(lv), selectors.EVENT_READ)
        for fd in owner.pump.want_read():
            want[fd] = (owner, lambda ev, fd=fd, lv=owner: self._pump_readable(lv, fd), selectors.EVENT_READ)
        if owner.stdin is not None and owner.stdin.wants_write():  # input the container has not taken yet
            want[owner.stdin.fd] = (owner, lambda ev, lv=owner: lv.stdin.flush(), selectors.EVENT_WRITE)
        return want

    def _pump_readable(self, lv: Live, fd: int) -> None:
        lv.pump.readable(fd)
        if fd in lv.pump.eof:
            self.dirty.add(lv)  # no writer left on that FIFO: stop waiting on it

    def release(self) -> None:
        """Let go of every client, pump and descriptor of the loop (keeper.py, before this process
        becomes the keeper): clients see their stream end and attach again to the next labkitd."""
        for conn in list(self.conns.values()):
            conn.close()
        if self.docker_listener is not None:
            self.docker_listener.close()
            self.docker_listener = None
        if self.docker_tcp is not None:
            self.docker_tcp.close()
            self.docker_tcp = None
        for lv in list(self.live.values()):
            lv.pump.close()
            if lv.stdin is not None:
                lv.stdin.close()
            if lv.pidfd is not None:
                close_fd(lv.pidfd)
        for conn in self.execs.values():
            conn.close()
        for st in self.starting.values():
            close_fd(st.fd)  # its start is cut off: the next labkitd's recover() finishes it
        for t in self.transfers:
            t.proc.stdout.close()  # the helper finishes on its own; its client's stream ends with this labkitd
        self.transfers = set()
        self.live, self.conns, self.execs, self.waiters, self.timers = {}, {}, {}, {}, []
        self.watched, self.owned, self.dirty, self.attached = {}, {}, set(), set()
        self.starting, self.starting_ids = {}, set()
        self.sel.close()
        signal.set_wakeup_fd(-1)
        for fd in (*getattr(self, "wake", ()), self.keeper_fd):
            if fd is not None:
                close_fd(fd)
