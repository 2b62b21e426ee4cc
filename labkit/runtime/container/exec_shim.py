"""`exec`: a second process inside a running container, as `docker exec` and `nsenter` make one.

Forked by labkitd; never execs itself until its child is inside:

    exec shim: open /proc/<PID 1>/ns/{cgroup,ipc,uts,net,pid,mnt} and the container's cgroup member files (cgroups.base.open_procs)
               setns() into each (mnt last: after it, the host's files are out of sight)
               fork  (a PID namespace applies to children: this child is a process of the container)
        child: join the cgroups, chdir to the working directory, drop to the container's
               capabilities and user, no_new_privs, exec the command
    exec shim: wait for it, exit with its exit code; labkitd reaps that and tells the client

The descriptors it is given (passed over the socket, or labkitd's own for the Docker API):
    (stdout, stderr)           stdin is /dev/null                 labkit exec, docker exec
    (stdin, stdout, stderr)    req["stdin"]: a pipe for input     -i
    (console socket,)          req["tty"]: the process makes a terminal in the container's /dev/pts,
                               its fds 0, 1, 2 and controlling terminal (Ctrl-C is SIGINT inside),
                               and sends the master back over the socket (console.py)            -it
docker keeps no log of an exec's output, and neither do we.
"""

from __future__ import annotations

import os

from ...cgroups.base import join, open_procs
from ...kernel import namespace_kinds, syscalls as sc
from ...exit_codes import FAILED_TO_START, of_wait_status
from . import init
from .console import make_terminal
from .report import failure, send_failure

#: The kinds a container has, in the order to join them (kernel/namespace_kinds.py): mnt last.
KINDS = tuple(k for k in namespace_kinds.ENTER if k in ("cgroup", "ipc", "uts", "net", "pid", "mnt"))


def main(pid1: int, config: dict, cgroup_dirs: list[str], req: dict, report_fd: int, fds: tuple[int, ...]) -> None:
    """Never returns."""
    code = FAILED_TO_START
    try:
        init.leave_labkitd()
        report_fd, *kept = init.keep_only_fds(report_fd, *fds)
        code = _main(pid1, config, cgroup_dirs, req, report_fd, tuple(kept))
    except BaseException as e:  # noqa: BLE001 - report, never raise into the supervisor's loop
        send_failure(report_fd, failure("start", e, None, req.get("args")))
    finally:
        os._exit(code)


def _main(pid1, config, cgroup_dirs, req, report_fd, fds) -> int:
    with open("/proc/self/comm", "w") as f:
        f.write("labkit-exec")
    proc = dict(config["process"])
    proc["args"] = list(req["args"])
    if req.get("env"):
        proc["env"] = list(proc.get("env", [])) + list(req["env"])
    if req.get("workdir"):
        proc["cwd"] = req["workdir"]
    if req.get("user"):
        uid, gid = req["user"]
        proc["user"] = {"uid": uid, "gid": gid}
    config = dict(config, process=proc)
    bpf = init.seccomp_program(config)  # before setns(mnt): the host's modules are still in view
    try:
        spaces = [os.open(f"/proc/{pid1}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC) for k in KINDS]
        procs = open_procs(cgroup_dirs)
        for fd in spaces:
            sc.setns(fd, 0)
            os.close(fd)
    except OSError as e:
        send_failure(report_fd, failure("enter", e, None, proc["args"]))
    null = os.open(os.devnull, os.O_RDWR)
    pid = os.fork()
    if pid == 0:
        if req.get("tty") and fds:
            try:  # in the container's mount namespace: its own /dev/pts
                make_terminal(fds[0], *(req.get("console_size") or (24, 80)))
            except OSError as e:
                send_failure(report_fd, failure("terminal", e, None, proc["args"]))
        else:
            stdin, out = (fds[0], fds[1:]) if req.get("stdin") and fds else (null, fds)
            os.dup2(stdin, 0)
            if out:
                os.dup2(out[0], 1)
                os.dup2(out[1] if len(out) > 1 else out[0], 2)
        try:
            join(procs)
        except OSError as e:
            send_failure(report_fd, failure("cgroup-join", e, None, proc["args"]))
        init.exec_process(config, report_fd, keyring=req.get("keyring"), seccomp_bpf=bpf)  # never returns
    for fd in (null, report_fd, *fds, *procs):
        os.close(fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    return of_wait_status(status)
