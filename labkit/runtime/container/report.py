"""What a starting process (a container's PID 1, or an exec) tells labkitd on its report pipe: a
code, never a sentence. One JSON line per message:

    {"trace": "pivot-root", "t": 5123.204}                                  a step done (org.labkit.trace)
    {"failed": "workdir", "path": "/srv", "errno": "ENOTDIR",
     "message": "Not a directory", "args": ["sh", "-c", "..."]}              a step failed; then it exits

`failed` is one of STEPS, `errno` a name from the errno module ("ELOOP", not 40): labkitd
(daemon/failures.py) turns the pair into the error the learner sees, and the texts come from there.
The exit code of a process that could not start: 127 when exec found no command, 126 when it could
not execute it, 125 for every other step (exit_codes.py).

Imported by init.py before the fork, so that nothing is imported after pivot_root.
"""

from __future__ import annotations

import errno as _errno
import json
import os

from ...exit_codes import FAILED_TO_START, of_exec_error

# Every step a start can fail in, e.g. "mount" for the -v, --tmpfs and /proc mounts: {path} is its
# subject. The English here is for labkitd's log and for reports it does not know; what a learner
# reads is daemon/failures.py's.
STEPS = {
    "start": "start the process",
    "seccomp-compile": "compile the seccomp profile",
    "netns-join": "join the network namespace labkitd prepared",
    "unshare": "make the container's namespaces",
    "cgroups-open": "open the container's cgroups",
    "cgroup-join": "join the cgroup {path}",
    "private-root": "make / private",
    "overlay": "mount the overlay root filesystem",
    "root-bind": "bind-mount the root filesystem",
    "mount": "mount on {path}",
    "bind-file": "bind the file {path}",
    "mkdir": "create {path}",
    "mknod": "create the device {path}",
    "symlink": "link {path}",
    "pivot-root": "pivot_root into the container's root filesystem",
    "old-root": "detach the old root",
    "mask": "mask {path}",
    "read-only": "make {path} read-only",
    "cgroupns": "unshare the cgroup namespace",
    "terminal": "make the container's terminal",
    "terminal-receive": "receive the container's terminal",
    "hostname": "set the hostname",
    "lo": "bring up lo",
    "workdir": "create the working directory {path}",
    "rlimit": "set {path}",
    "keyring": "join a session keyring of its own",
    "seccomp-load": "load the seccomp filter",
    "capabilities": "set capabilities",
    "user": "change to the container's user",
    "no-new-privs": "set no_new_privs",
    "exec": "exec",
    "enter": "enter the container's namespaces",
    "timeout": "start in time",
}

class StepFailed(Exception):
    """A step of a start failed: its code (one of STEPS), the OSError, and the path it concerned."""

    def __init__(self, code: str, err: OSError, path: str | None = None):
        super().__init__(code, err, path)
        self.code, self.err, self.path = code, err, path


def step(code: str, fn, *args, path: str | None = None):
    """fn(*args); an OSError becomes StepFailed(code, error, path)."""
    try:
        return fn(*args)
    except OSError as e:
        raise StepFailed(code, e, path) from None


def errno_name(number: int | None) -> str:
    """40 -> "ELOOP"; 0 or None -> "" (a failure that was not a system call's)."""
    return _errno.errorcode.get(number, f"E{number}") if number else ""


def exit_code(code: str, err_name: str) -> int:
    """The exit code of a process that did not start (exit_codes.py): 127, 126 or 125."""
    if code == "exec":
        return of_exec_error(getattr(_errno, err_name, None))
    return FAILED_TO_START


def failure(code: str, err: OSError | BaseException | None = None, path: str | None = None,
            args: list | None = None) -> dict:
    """The failure line's fields, e.g. failure("workdir", NotADirectoryError(20, "Not a directory"), "/srv")."""
    number = getattr(err, "errno", None) if isinstance(err, OSError) else None
    message = (err.strerror or str(err)) if isinstance(err, OSError) else (f"{type(err).__name__}: {err}" if err else "")
    line = {"failed": code, "errno": errno_name(number), "message": message, "args": list(args or ["?"])}
    if path is not None:
        line["path"] = path
    return line


def send_failure(fd: int, line: dict) -> None:
    """Write the failure line and exit with its code: the end of a process that could not start."""
    try:
        os.write(fd, json.dumps(line).encode() + b"\n")
    except OSError:
        pass  # labkitd is gone; the exit code still says it
    os._exit(exit_code(line["failed"], line["errno"]))


def describe(line: dict) -> str:
    """A failure line in English, for labkitd's log: "create the working directory /srv: Not a directory"."""
    what = STEPS.get(line.get("failed"), str(line.get("failed"))).replace("{path}", str(line.get("path", "")))
    return f"{what}: {line.get('message')}" if line.get("message") else what
