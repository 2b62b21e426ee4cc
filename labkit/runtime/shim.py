"""The shim: one small process per running container, forked by the supervisor, as containerd-shim
or conmon are for docker and podman.

It owns what must outlive the supervisor: it is the parent of the container's PID 1, holds the
container's stdout and stderr pipes, writes them to log.json, and records the exit code in
state.json. So killing the supervisor loses neither a container nor a record: the shim keeps going,
and the next supervisor finds its record. It is a fork of the supervisor that never execs, which
costs ~1 MiB per container (measured: bench/many_containers.py) instead of a fresh interpreter's ~10.

    supervisor --fork--> shim: unshare(CLONE_NEWPID), fork --> PID 1: init.child(), exec the command
                          |  reports (trace steps, the start or the error) on REPORT_FD, then closes it
                          |  pumps PID 1's output: log.json, and the client's pipes if attached
                          |  waits for PID 1; reads the OOM count; removes the cgroup
                          '  writes state.json: "exited", exit code, OOM; exits with the same code
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import time

from ..kernel import syscalls as sc
from . import init, state

SHIM_NAME = init.SHIM_NAME
LOG_NAME = "log.json"


def main(inst, record: dict, config: dict, group, report_fd: int, attach: tuple[int, int] | None) -> None:
    """Run in the supervisor's freshly forked child. Never returns."""
    code = 125
    try:
        code = _main(inst, record, config, group, report_fd, attach)
    finally:
        os._exit(code)


def _main(inst, record, config, group, report_fd, attach) -> int:
    gc.disable()  # a collection would touch (and so copy) pages shared with the supervisor
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    with open("/proc/self/comm", "w") as f:
        f.write(SHIM_NAME)
    keep = {report_fd, *(attach or ())}
    _close_all_but(keep)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd not in keep:
            os.dup2(null, fd)
    bundle = str(state.bundle_dir(inst, record["id"]))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    rep_r, rep_w = os.pipe()
    flags = init.unshare_flags(config)
    try:
        if flags & sc.CLONE_NEWPID:
            sc.unshare(sc.CLONE_NEWPID)  # our next child is PID 1 of a new PID namespace
    except OSError as e:
        _send(report_fd, {"error": True, "step": "unshare", "errno": e.errno, "message": e.strerror or str(e),
                          "args": config["process"]["args"]})
        return 125
    pid = os.fork()
    if pid == 0:
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for fd in {out_r, out_w, err_r, err_w, rep_r, null, report_fd, *(attach or ())} - {0, 1, 2}:
            os.close(fd)
        init.child(config, bundle, rep_w, [str(d) for d in group.dirs])
        os._exit(125)
    for fd in (out_w, err_w, rep_w, null):
        os.close(fd)
    # A signal to the shim goes on to the container (its PID 1 decides what to do with it).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda s, _f: _kill(pid, s))
    reports = _read_all(rep_r)  # EOF: the command was exec'd, or a step failed
    failed = any(b'"error"' in line for line in reports.splitlines())
    if not failed:
        record.update(status="running", pid=pid, shim_pid=os.getpid(), shim_start=state.process_start(os.getpid()),
                      started_at=time.time(), exit_code=None, oom_killed=False, finished_at=0.0)
        state.write(inst, record)
        reports += json.dumps({"started": pid, "t": time.monotonic()}).encode() + b"\n"
    _send_raw(report_fd, reports)
    os.close(report_fd)
    _pump(os.path.join(bundle, LOG_NAME), out_r, err_r, attach)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
    if failed:
        return code  # the supervisor cleans up a start that failed
    oom = False
    try:
        oom = bool(group.stats().oom_kills)
        group.remove()
    except Exception:  # noqa: BLE001 - the record below matters more; reset finds a group left over
        pass
    record.update(status="exited", exit_code=code, oom_killed=oom, finished_at=time.time(), pid=0)
    state.write(inst, record)
    return code


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _close_all_but(keep: set[int]) -> None:
    """The supervisor's listening socket, its clients, other shims' pipes: none of it is ours."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the directory's own fd, closed already


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _send(fd: int, msg: dict) -> None:
    _send_raw(fd, json.dumps(msg).encode() + b"\n")


def _send_raw(fd: int, data: bytes) -> None:
    try:
        _write_all(fd, data)
    except OSError:
        pass  # the supervisor is gone: the record on disk still tells


def _stamp() -> str:
    """RFC 3339 time with microseconds, in UTC, as docker's logs: 2026-11-27T23:59:59.123456Z."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def _pump(log_path: str, out_r: int, err_r: int, attach: tuple[int, int] | None) -> None:
    """Copy the container's output to log.json, one JSON line per line, stdout and stderr kept apart;
    and to the attached client as it comes. A client that goes away stops getting it; the log goes on."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    streams = {out_r: "stdout", err_r: "stderr"}
    targets = dict(zip((out_r, err_r), attach)) if attach else {}
    partial = {out_r: b"", err_r: b""}
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    open_fds = set(streams)
    while open_fds:
        for fd, _ev in poller.poll():
            data = os.read(fd, 65536)
            if data and fd in targets:
                try:
                    _write_all(targets[fd], data)
                except OSError:
                    os.close(targets.pop(fd))
            if data:
                *lines, partial[fd] = (partial[fd] + data).split(b"\n")
                lines = [line + b"\n" for line in lines]
                if len(partial[fd]) > 16384:  # a very long line is logged in pieces, as docker does
                    lines.append(partial[fd])
                    partial[fd] = b""
            else:  # EOF: what is left is a last line without a newline
                lines, partial[fd] = [partial[fd]] if partial[fd] else [], b""
                poller.unregister(fd)
                open_fds.discard(fd)
                os.close(fd)
                if fd in targets:
                    os.close(targets.pop(fd))  # the client sees EOF
            if lines:
                stamp = _stamp()
                os.write(log, "".join(json.dumps({"log": line.decode(errors="replace"), "stream": streams[fd],
                                                  "time": stamp}) + "\n" for line in lines).encode())
    os.close(log)



def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
