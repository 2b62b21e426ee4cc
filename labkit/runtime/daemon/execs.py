"""exec: a command run in a running container, as `docker exec` (runc exec) does.

labkitd forks the exec shim (container/exec_shim.py), which joins the container's namespaces and
cgroup, sets up the process as PID 1 was (capabilities, seccomp, user, working directory) and
execs the command. The shim reports on a pipe as PID 1 does (starts.py's watch); its exit comes
through labkitd's reaping (exits.py's reap).

    spec: {"args": ["ps"], "env": ["A=1"], "workdir": "/", "user": "1000:1000", "tty": False,
           "stdin": False, "console_size": [24, 80]}
    fds:  the process's stdout and stderr (with stdin: stdin first; with tty: one console socket)
"""

from __future__ import annotations

import os

from ... import cgroups
from ...errors import Conflict, InvalidArgument
from ...exit_codes import of_wait_status
from ..container import exec_shim
from ..container.init import keyring_name
from ..options import check_console_size, check_path, env_list, parse_user, split_command
from . import failures
from .create import lookup_user
from .loop import close_fd


class Execs:
    def __init__(self, svc):
        self.svc = svc
        self.running: dict[int, object] = {}  # exec shim PID -> exited(code), called when it is reaped

    def start(self, ident: str, spec: dict, fds: list[int], started, exited, failed) -> str:
        """Fork the shim; started(pid) once the command was exec'd, exited(code) at its end, or
        failed(error) if a step failed. `fds` are closed here whatever happens (and the list emptied)."""
        svc = self.svc
        try:
            cid, rec = svc.get(ident)
            if rec["status"] != "running":
                raise Conflict("error.runtime.container-exec-needs-running", rec_name=rec['name'], rec_status=rec['status'])
            cfg = svc.config(rec)
            req = self._check(cid, spec, fds, cfg)
            group = cgroups.group(rec["cgroup"])
            rep_r, rep_w = os.pipe()
            try:
                pid = os.fork()
                if pid == 0:
                    exec_shim.main(rec["pid"], cfg, [str(d) for d in group.dirs], req, rep_w, tuple(fds[:3]))
            except BaseException:
                os.close(rep_r)
                raise
            finally:
                os.close(rep_w)
        finally:
            for fd in fds:
                close_fd(fd)
            fds.clear()

        def reported(reports, st) -> None:
            failure = failures.failed(reports)
            if failure:
                failed(failures.error_of(failure))
                return
            started(st.pid)
            if st.status is not None:  # done already
                exited(of_wait_status(st.status))
            else:
                self.running[st.pid] = exited

        svc.starts.watch(pid, rep_r, reported, failed)
        return cid

    @staticmethod
    def _check(cid: str, spec: dict, fds: list[int], cfg: dict) -> dict:
        """The spec as the shim takes it, every value checked: a command, its environment, a user
        (a name looked up in the container's image, as at create), a working directory."""
        req = dict(spec, args=split_command(spec.get("args")), env=env_list(spec.get("env")), keyring=keyring_name(cid),
                   tty=bool(spec.get("tty")) and len(fds) == 1, stdin=bool(spec.get("stdin")) and len(fds) == 3,
                   console_size=check_console_size(spec.get("console_size")))
        if not req["args"]:
            raise InvalidArgument("error.runtime.exec-needs-command")
        if req.get("workdir") is not None:
            check_path(req["workdir"], "working directory")
        if req.get("user") is not None:
            user = parse_user(req["user"] if isinstance(req["user"], str) else ":".join(map(str, req["user"])))
            if isinstance(user, str):
                lower = cfg.get("annotations", {}).get("org.labkit.rootfs.lower", "")
                user = lookup_user(list(reversed(lower.split(":"))) if lower else [], user)
            req["user"] = list(user)
        return req

    def release(self) -> None:
        self.running = {}
