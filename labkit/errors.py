"""labkit's errors: one hierarchy, each with a hint that says what to do.

Every error a learner can meet is a LabkitError, so `except labkit.NotPermitted` works and a
notebook shows one line of explanation instead of a traceback from ctypes. An OSError becomes one
by `translate_oserror`, the one table of errno -> class and hint, called where the failing path is
known (a cgroup file, a mount: cgroups/, filesystems/), or else at the public call's edge
(`boundary`). labkitd sends an error as its class names and the client raises the same class
(runtime/daemon/wire.py, runtime/client/labkitd.py); a container's failed start arrives as a step
code and an errno name (runtime/container/report.py), turned into an error in one place
(runtime/daemon/failures.py).
"""

from __future__ import annotations

import errno as _errno


class LabkitError(Exception):
    """Base of every labkit error. `hint` says what to do about it."""

    hint = ""
    #: CLI exit code, as docker's: 125 means "the engine failed", not the container.
    exit_code = 125

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return self.args[0] if self.args else ""

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def _repr_html_(self) -> str:  # shown when a notebook cell returns an error object
        import html

        return (
            f"<div style='border-left:4px solid #c33;padding:4px 8px'>"
            f"<b>{type(self).__name__}</b>: {html.escape(self.message)}"
            + (f"<br><i>hint:</i> {html.escape(self.hint)}" if self.hint else "")
            + "</div>"
        )


class NotPermitted(LabkitError):
    """The call needs a privilege this process does not have (usually root)."""

    hint = (
        "run it as root: `sudo labkit ...`, or start the lab with `sudo ./lab start`. "
        "On a hosted notebook without privileges (e.g. mybinder.org) this cell can only be read."
    )


class FeatureMissing(LabkitError):
    """The host's kernel or tools lack something the call needs."""

    hint = "run `labkit doctor` to see what this host can do and how to fix each missing row."


class InvalidArgument(LabkitError):
    """Bad input, refused before anything was changed."""


class LimitRefused(InvalidArgument):
    """The kernel refused a new limit for a running group: cgroup v1 will not set a memory limit
    below what the group holds at that moment (EBUSY). Raised where the limit is written (cgroups/
    base.py); lk.controls tries again when usage falls."""


class NotFound(LabkitError):
    """An image, container or other named object does not exist."""


class ImageNotFound(NotFound):
    hint = "list the images with `labkit images`; `busybox` is built by `./lab setup` (or `labkit image build-default`)."


class ContainerError(LabkitError):
    """The container could not be started."""


class CommandNotFound(ContainerError):
    """The container's command does not exist in its image (docker's exit code 127)."""

    exit_code = 127
    hint = "check the spelling, or run `sh -c 'ls /bin'` in the container to see what the image has."


class CommandNotExecutable(ContainerError):
    """The command exists but cannot be executed (docker's exit code 126)."""

    exit_code = 126
    hint = "the file must be a program or script with the execute bit set, built for this machine."


class ContainerNotFound(NotFound):
    hint = "list the containers with `labkit ps -a` (or lk.ps(all=True)); give a name, an ID or an ID's first characters."


class Conflict(LabkitError):
    """The call does not fit the object's state: a name already used, stopping a stopped container."""

    hint = "`labkit ps -a` shows each container's state."


class ServerGone(LabkitError):
    """labkitd closed the connection before it answered: it was stopped, killed, or the lab reset."""

    hint = "its keeper starts a new one at once, and the next call reaches it; `labkit ps -a` shows what is left."


class TimedOut(LabkitError, TimeoutError):
    """A wait ran out of time (`c.wait(timeout=5)`); what was waited for goes on. Also a TimeoutError."""

    hint = "wait longer, or look at it: `labkit ps -a`, `labkit logs`."


_PRIVILEGE_ERRNOS = {_errno.EPERM, _errno.EACCES}


def translate_oserror(err: OSError, doing: str) -> LabkitError:
    """Turn an OSError raised while `doing` something into the matching LabkitError.

    `doing` is a short phrase for the message, e.g. "mount overlay on /var/lib/labkit/...".
    """
    import os

    reason = os.strerror(err.errno) if err.errno else str(err)
    if err.errno in _PRIVILEGE_ERRNOS:
        who = "root" if os.geteuid() != 0 else "a privilege this process lacks (a container or seccomp may forbid it)"
        e: LabkitError = NotPermitted(f"could not {doing}: {reason}; this needs {who}")
    elif err.errno in (_errno.ENOSYS, _errno.EINVAL, _errno.ENODEV, _errno.EOPNOTSUPP):
        e = FeatureMissing(f"could not {doing}: {reason}")
    elif err.errno == _errno.ENOENT:
        e = NotFound(f"could not {doing}: {reason}", hint="run `labkit doctor` to check the host.")
    elif err.errno == _errno.ENOSPC:
        e = LabkitError(f"could not {doing}: {reason}", hint="free disk space under the data root (`labkit doctor` shows it).")
    else:
        e = LabkitError(f"could not {doing}: {reason}", hint="run `labkit doctor`; if it looks healthy, `labkit reset` and try again.")
    e.__cause__ = err
    e.errno = err.errno  # kept: a caller's `raise ... from None` drops __cause__
    return e


def boundary(doing: str):
    """The edge between labkit and its caller (psutil's wrap_exceptions idea): an OSError that
    reaches a public call from deep inside leaves it as the matching LabkitError, with a hint,
    never as a raw traceback. Errors labkit raises on purpose pass as they are.

        @boundary("run a container")
        def run(image, command=None, ...): ...
    """
    import functools

    def wrap(fn):
        @functools.wraps(fn)  # keeps the signature and docstring for Jupyter's Shift-Tab help
        def call(*args, **kw):
            try:
                return fn(*args, **kw)
            except OSError as e:
                if isinstance(e, LabkitError):  # TimedOut is a TimeoutError, so an OSError too
                    raise
                raise translate_oserror(e, doing) from e
        return call
    return wrap


def boundary_methods(cls):
    """Class decorator: boundary() around each public method, e.g. "run Container.stop()"."""
    import types  # not inspect: ~4 ms of imports on every `labkit` command

    for name, fn in list(vars(cls).items()):
        if not name.startswith("_") and isinstance(fn, types.FunctionType):
            setattr(cls, name, boundary(f"run {cls.__name__}.{name}()")(fn))
    return cls


def require_root(doing: str) -> None:
    """Refuse, before anything changes, a call that needs root when we are not root."""
    import os

    if os.geteuid() != 0:
        raise NotPermitted(f"{doing} needs root (this process runs as uid {os.geteuid()})")
