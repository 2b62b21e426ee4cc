"""labkit-keeper: labkitd's parent, so that killing labkitd loses no container and no exit code.

    client --starts--> keeper (one per lab; holds the lock and the listening socket)
                          |--fork--> labkitd (supervisor.py): the server; every container's parent
                          '  a subreaper: when labkitd dies, its containers become the keeper's children

What it does, and nothing else:
  - starts labkitd, and starts it again at once if it dies (clients queue on the socket meanwhile:
    the keeper owns it, so a connection made during the restart waits instead of failing);
  - reaps the containers a dead labkitd left behind, and writes their exit codes into their records,
    which the new labkitd, watching them through pidfds, then reports;
  - exits with labkitd's clean shutdown when no container is left to keep.

It imports labkitd's modules before the first fork, so a restarted labkitd starts warm, and its
pages stay shared with labkitd's.
"""

from __future__ import annotations

import fcntl
import gc
import os
import signal
import socket
import sys
import time
import traceback

from ... import cgroups
from ...kernel import syscalls as sc
from ...errors import LabkitError
from ...paths import Instance, instance as get_instance
from .. import state
from ..client import labkitd
from ..container import init
from . import supervisor
from ...exit_codes import of_wait_status
from .journal import log as _log

NAME = "labkit-keeper"
LOCK, LOG, PIDFILE, KEEPER_PIDFILE = "labkitd.lock", "labkitd.log", "labkitd.pid", "labkit-keeper.pid"
#: Why the keeper could not start, as a typed error (daemon/wire.py's shape): the client raises it as
#: it is, with its hint, instead of a traceback from the log ("no usable cgroup hierarchy ...").
FAILED = "labkitd.failed.json"


def _write_whole(path, text: str) -> None:
    """`text` into `path`, whole or not at all: written beside it, then renamed over it. A reader (a
    client, `labkit reset`, a test) never sees the file empty, as it would between the truncation and
    the write of a write_text (seen: the keeper's PID file read as '' while a new keeper took over)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_pid(path) -> None:
    _write_whole(path, f"{os.getpid()}\n")

def group_name(inst: Instance) -> str:
    """The keeper's and labkitd's own cgroup, beside the containers': labkit.3f9c0a1b/labkitd."""
    return f"{inst.tag}/labkitd"


def main(argv: list[str] | None = None) -> None:
    """python -I -S -c "...; main()" ROOT: start the keeper and labkitd for the lab at ROOT.

    The process the client started forks the keeper and exits once the socket listens (or once it
    found another keeper holding the lock): the client waits for that exit, and the keeper is never
    the client's child. Exit status 0: labkitd is ready; anything else: see labkitd.log."""
    argv = sys.argv[1:] if argv is None else argv
    inst = get_instance(argv[0]) if argv else get_instance()
    inst.run.mkdir(parents=True, exist_ok=True)
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        ok = os.read(ready_r, 1)
        os._exit(0 if ok == b"1" else 1)
    os.close(ready_r)
    os.setsid()
    lock = os.open(inst.run / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another keeper runs (two clients started one at once): it serves
        os.write(ready_w, b"1")
        os._exit(0)
    log = os.open(inst.run / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    for fd, to in ((null, 0), (log, 1), (log, 2)):
        os.dup2(fd, to)
    os.close(null)
    os.close(log)
    try:
        listener = _setup(inst)
    except LabkitError as e:  # a host that cannot run it (no cgroups here, say): said, not a traceback
        _failed(inst, e)
        os._exit(1)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os.write(ready_w, b"1")  # the socket listens: a client may connect now, and waits for labkitd
    os.close(ready_w)
    _keep(inst, listener, _start_labkitd(inst, listener))


def _failed(inst: Instance, e: LabkitError) -> None:
    import json

    from .wire import error_reply

    _log(f"labkitd did not start: {e.message}")
    _write_whole(inst.run / FAILED, json.dumps(error_reply(e)["error"]))


def _setup(inst: Instance) -> socket.socket:
    with open("/proc/self/comm", "w") as f:
        f.write(NAME)
    os.chdir("/")
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    # Out of the caller's cgroup (a Jupyter server's systemd unit, say): when that is stopped, the
    # whole group is killed, and labkitd and the containers' parent with it.
    own = cgroups.group(group_name(inst))
    own.create()
    own.add(os.getpid())
    path = inst.run / labkitd.SOCKET
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)  # root only: whoever can talk to labkitd is root in effect
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(256)
    _write_pid(inst.run / KEEPER_PIDFILE)
    return listener


def _start_labkitd(inst: Instance, listener: socket.socket) -> int:
    keeper = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        with open("/proc/self/comm", "w") as f:
            f.write("labkitd")
        _write_pid(inst.run / PIDFILE)
        import resource

        # Every client and container costs labkitd descriptors: a few hundred clients at once must not
        # run it out of them (the usual soft limit is 1024). Its containers get the usual one back (pid1()).
        init.CONTAINER_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (init.CONTAINER_NOFILE[1],) * 2)
        sup = supervisor.Supervisor(inst, listener, keeper_pid=keeper)
        sup.recover()
        gc.collect()
        gc.freeze()  # what is loaded now is never walked by the collector: forks keep sharing its pages
        _log(f"labkitd {os.getpid()} serving {inst.run / labkitd.SOCKET}")
        sup.serve()
        if sup.orphaned:
            _take_over(inst, listener, sup)  # never returns
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        _log(f"labkitd {os.getpid()} stopped")
        os._exit(code)


def _take_over(inst: Instance, listener: socket.socket, sup) -> None:
    """The keeper died (killed, say): this labkitd becomes the keeper in its place. Its containers are
    its children already, so their exits are still seen; it starts a new labkitd, which adopts them.
    Without this, nothing would restart labkitd the next time it died, nor record those exits."""
    _log(f"keeper gone: labkitd {os.getpid()} becomes the keeper and starts a new labkitd")
    sup.release()
    # The lab's lock (labkitd.lock) needs no taking: the keeper's descriptor of it came with the fork,
    # and a flock belongs to the open file, so this process has held it all along.
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    with open("/proc/self/comm", "w") as f:
        f.write(NAME)
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    _write_pid(inst.run / KEEPER_PIDFILE)
    _keep(inst, listener, _start_labkitd(inst, listener))


def _keep(inst: Instance, listener: socket.socket, labkitd: int) -> None:
    crashes: list[float] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        pid = info.si_pid
        start = state.process_start(pid)  # read before reaping: with the PID it names the process
        _, status = os.waitpid(pid, 0)
        if pid != labkitd:
            _record_orphan(inst, pid, start, status)
            continue
        clean = of_wait_status(status) == 0
        if clean and not _has_children():
            break  # `shutdown`, and nothing left to keep
        crashes = [t for t in crashes if time.monotonic() - t < 10] + ([] if clean else [time.monotonic()])
        if len(crashes) > 5:
            _log("labkitd died 6 times in 10 s: giving up; the next client starts a new keeper")
            break
        _log(f"labkitd {pid} ended ({'shutdown' if clean else f'status {status}'}); starting a new one")
        labkitd = _start_labkitd(inst, listener)
    try:
        (inst.run / labkitd.SOCKET).unlink()
    except OSError:
        pass
    _log(f"keeper {os.getpid()} stopped")
    os._exit(0)


def _has_children() -> bool:
    """True while a child (a container labkitd left behind) still runs: a process whose parent
    (field 4 of /proc/PID/stat) is the keeper."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = state.proc_stat(int(entry))
            if st and int(st[1][1]) == me:
                return True
    return False


def _record_orphan(inst: Instance, pid: int, start: int, status: int) -> None:
    """A container labkitd left behind has exited: write its exit into its record."""
    for cid in state.all_ids(inst):
        rec = state.read(inst, cid)
        if rec and rec["status"] == "running" and rec.get("pid") == pid and rec.get("pid_start") == start:
            supervisor.record_lost(rec, status)
            rec.pop("error", None)
            state.write(inst, rec)
            _log(f"recorded the exit of container {rec['name']} (PID {pid}): {rec['exit_code']}")
            return
