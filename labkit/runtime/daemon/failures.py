"""A starting process's report (container/report.py) read, and its failure turned into the error a
learner sees: chosen by the step's code and the errno's name, never by a sentence.

    b'{"failed": "workdir", "path": "/etc/passwd", "errno": "ENOTDIR", ...}\\n'
        -> ContainerError("the working directory /etc/passwd is not a directory in the container ...")
    b'{"failed": "exec", "errno": "ENOENT", "args": ["nosuch"], ...}\\n'
        -> CommandNotFound("'nosuch': executable file not found in the container's $PATH")
"""

from __future__ import annotations

import errno
import json

from ...errors import CommandNotExecutable, CommandNotFound, ContainerError, InvalidArgument, LabkitError, translate_oserror
from ...catalog import Text
from ..container.report import STEPS, failure


def parse(data: bytes) -> list[dict]:
    """The lines a starting process wrote; one that is not JSON counts as a failure of the start."""
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(failure("start", RuntimeError(line.decode(errors="replace")[:200])))
    return out


def failed(reports: list[dict]) -> dict | None:
    """The failure among a start's reports, if there is one."""
    return next((r for r in reports if r.get("failed")), None)


def timed_out() -> bytes:
    """What a start that took too long is taken to have said."""
    return json.dumps({"failed": "timeout", "errno": "", "message": "timed out", "args": ["?"]}).encode() + b"\n"


def error_of(line: dict) -> LabkitError:
    """The error for a failure line: the steps a learner can cause have their own words; any other
    is the OSError's usual translation (errors.translate_oserror), naming the step."""
    code, name, msg = line.get("failed"), line.get("errno") or "", line.get("message", "")
    path, args = line.get("path", ""), line.get("args") or ["?"]
    number = getattr(errno, name, 0) if name else 0
    if code == "seccomp-compile":
        return InvalidArgument("error.runtime.config-json-s-linux", msg=msg)
    if code == "workdir" and name in ("ENOTDIR", "EEXIST"):
        return ContainerError("error.runtime.working-directory-directory-container", path=path, msg=msg)
    if code == "bind-file" and name == "ELOOP":  # container/rootfs.py's bind_file
        return ContainerError("error.runtime.image-s-symlink-labkit", path=path, msg=msg)
    if code == "mount" and name == "ELOOP":  # container/rootfs.py's mount_volume
        return ContainerError("error.runtime.cannot-mount", path=path, msg=msg)
    if code == "exec":
        if name == "ENOENT":
            return CommandNotFound("error.runtime.executable-file-found-container", args_0=args[0])
        return CommandNotExecutable("error.runtime.cannot-executed", args_0=args[0], msg=msg)
    what = Text("step", code, path=path) if code in STEPS else Text("step", "unknown", code=code)
    if number:
        return translate_oserror(OSError(number, msg), what)
    return ContainerError("error.runtime.step-failed", what=what, msg=msg or "-")
