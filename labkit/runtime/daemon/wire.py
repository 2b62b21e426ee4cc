"""What goes back to a client: an exit as a reply, any error as a typed one (the client raises the same
LabkitError class with its hint), and a failed step of a starting process as the error a learner should see.
"""

from __future__ import annotations

import errno
import time
import traceback

from ...errors import ContainerError, InvalidArgument, LabkitError


def exit_reply(rec: dict) -> dict:
    reply = {"id": rec["id"], "exit_code": rec.get("exit_code"), "oom_killed": rec.get("oom_killed", False),
             "finished_at": rec.get("finished_at"), "t": time.monotonic()}
    if rec.get("error"):  # e.g. its exit was not seen: labkitd and its keeper were both gone
        reply["error"] = rec["error"]
    return reply


def error_reply(e: BaseException) -> dict:
    if isinstance(e, LabkitError):
        # "types": the class and its bases, most specific first, e.g. ["UnsafeLayer", "LabkitError"]: the
        # client takes the first it knows (errors defined in images/ are not all imported there).
        # "modules": where each is defined, so a client that has that module loaded keeps the exact class.
        mro = [c for c in type(e).__mro__ if issubclass(c, LabkitError)]
        return {"error": {"type": type(e).__name__, "types": [c.__name__ for c in mro],
                          "modules": [c.__module__ for c in mro],
                          "message": e.message, "hint": e.hint, "exit_code": e.exit_code}}
    if isinstance(e, OSError):
        from ...errors import translate_oserror

        traceback.print_exc()  # unexpected here: the log shows where
        return error_reply(translate_oserror(e, "serve the request"))
    traceback.print_exc()
    return {"error": {"type": "LabkitError", "message": f"labkitd failed: {type(e).__name__}: {e}",
                      "hint": "its log is labkitd.log in the lab's run folder; `labkit reset` starts afresh."}}


def failure_error(info: dict) -> LabkitError:
    """A container's (or an exec's) report of a failed step as the error a learner should see."""
    from ...errors import CommandNotExecutable, CommandNotFound, translate_oserror

    step, errno_, msg, args = info.get("step"), info.get("errno"), info.get("message"), info.get("args", ["?"])
    if step == "compile the seccomp profile":
        return InvalidArgument(f"config.json's linux.seccomp cannot be used: {msg}",
                               hint="labkit's filter takes SCMP_ACT_ALLOW/ERRNO/KILL/LOG and EQ, NE, MASKED_EQ tests.")
    if str(step).startswith("create working directory") and errno_ in (errno.ENOTDIR, errno.EEXIST):
        where = str(step)[len("create working directory "):]
        return ContainerError(f"the working directory {where} is not a directory in the container ({msg})",
                              hint="give a directory with -w / workdir=, e.g. /tmp; a missing one is created.")
    if str(step).startswith("bind /etc/") and errno_ == errno.ELOOP:  # container/rootfs.py's bind_file
        return ContainerError(f"the image's {str(step)[5:]} is a symlink: labkit will not mount through it ({msg})",
                              hint="a symlink there could aim the mount at a file outside the container; "
                                   "rebuild the image with a plain file in its place.")
    if str(step).startswith("mount ") and errno_ == errno.ELOOP:  # container/rootfs.py's mount_volume
        target = str(step).rsplit(" on ", 1)[-1]
        return ContainerError(f"cannot mount on {target}: {msg}",
                              hint="the container's files have a symlink on that path (the image's, or one the container "
                                   "made before this start); labkit mounts only on real directories: mount elsewhere.")
    if step == "exec":
        if errno_ == errno.ENOENT:
            return CommandNotFound(f"{args[0]!r}: executable file not found in the container's $PATH")
        return CommandNotExecutable(f"{args[0]!r} cannot be executed: {msg}")
    return translate_oserror(OSError(errno_ or 0, msg), step) if errno_ else ContainerError(f"{step}: {msg}")
