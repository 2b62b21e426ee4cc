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
from ..container.report import STEPS, describe, failure


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
        return InvalidArgument(f"config.json's linux.seccomp cannot be used: {msg}",
                               hint="labkit's filter takes SCMP_ACT_ALLOW/ERRNO/KILL/LOG and EQ, NE, MASKED_EQ tests.")
    if code == "workdir" and name in ("ENOTDIR", "EEXIST"):
        return ContainerError(f"the working directory {path} is not a directory in the container ({msg})",
                              hint="give a directory with -w / workdir=, e.g. /tmp; a missing one is created.")
    if code == "bind-file" and name == "ELOOP":  # container/rootfs.py's bind_file
        return ContainerError(f"the image's {path} is a symlink: labkit will not mount through it ({msg})",
                              hint="a symlink there could aim the mount at a file outside the container; "
                                   "rebuild the image with a plain file in its place.")
    if code == "mount" and name == "ELOOP":  # container/rootfs.py's mount_volume
        return ContainerError(f"cannot mount on {path}: {msg}",
                              hint="the container's files have a symlink on that path (the image's, or one the container "
                                   "made before this start); labkit mounts only on real directories: mount elsewhere.")
    if code == "exec":
        if name == "ENOENT":
            return CommandNotFound(f"{args[0]!r}: executable file not found in the container's $PATH")
        return CommandNotExecutable(f"{args[0]!r} cannot be executed: {msg}")
    what = STEPS.get(code, str(code)).replace("{path}", str(path))
    return translate_oserror(OSError(number, msg), what) if number else ContainerError(describe(line))
