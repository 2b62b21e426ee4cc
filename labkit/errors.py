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
    """Base of every labkit error. `hint` says what to do about it.

    Its words come from the catalog (labkit/messages/errors/en.toml, zh.toml), in the
    language of the moment it is shown, its values filled in:

        raise NotFound("error.cgroups.no-group", name="web")
            ["error.cgroups.no-group"]
            message = "no cgroup {name!r}"
            hint = "lk.cgroup(name, ...) makes it"     (optional: else the class's hint)

    A class's own hint is the field of "error.hint" named as the class (NotPermitted). A text that is
    not a key (an old labkitd's reply) is shown as it is.
    """

    #: CLI exit code, as docker's: 125 means "the engine failed", not the container.
    exit_code = 125

    def __init__(self, message, hint=None, **values):
        super().__init__(message)
        self._hint = hint  # a key's hint, a catalog Text, or a text made elsewhere
        self.values = values

    # -- the words, made when shown ----------------------------------------------------------------
    def text(self):
        """The message as a catalog Text (None: a text made elsewhere)."""
        from .catalog import Text, has

        key = self.args[0] if self.args else ""
        if isinstance(key, Text):
            return key
        return Text(key, "message", **self.values) if has(key) else None

    def hint_text(self):
        """The hint as a catalog Text, or a plain text, or None."""
        from .catalog import Text, entry, has

        h = self._hint
        if isinstance(h, Text) or (h is not None and not has(h)):
            return h or None
        if h is not None:
            return Text(h, "hint", **self.values)
        key = self.args[0] if self.args else ""
        if has(key) and "hint" in entry(key):
            return Text(key, "hint", **self.values)
        hints = entry("error.hint")
        for cls in type(self).__mro__:
            if cls.__name__ in hints:
                return Text("error.hint", cls.__name__)
        return None

    @property
    def message(self) -> str:
        made = self.text()
        return str(made) if made is not None else str(self.args[0] if self.args else "")

    @property
    def hint(self) -> str:
        made = self.hint_text()
        return str(made) if made is not None else ""

    def hint_line(self) -> str:
        """ "hint: ..." in the learner's language ("提示：..."), or "" when there is no hint."""
        from .catalog import text

        hint = self.hint
        return text("error.any", "hint_line", hint=hint) if hint else ""

    def __str__(self) -> str:
        line = self.hint_line()
        return f"{self.message}\n  {line}" if line else self.message

    def _repr_html_(self) -> str:  # shown when a notebook cell returns an error object
        import html

        from .catalog import text

        hint = self.hint
        return (
            f"<div style='border-left:4px solid #c33;padding:4px 8px'>"
            f"<b>{type(self).__name__}</b>: {html.escape(self.message)}"
            + (f"<br><i>{html.escape(text('error.any', 'hint'))}:</i> {html.escape(hint)}" if hint else "")
            + "</div>"
        )


class NotPermitted(LabkitError):
    """The call needs a privilege this process does not have (usually root)."""


class FeatureMissing(LabkitError):
    """The host's kernel or tools lack something the call needs."""


class InvalidArgument(LabkitError):
    """Bad input, refused before anything was changed."""


class LimitRefused(InvalidArgument):
    """The kernel refused a new limit for a running group: cgroup v1 will not set a memory limit
    below what the group holds at that moment (EBUSY). Raised where the limit is written (cgroups/
    base.py); lk.controls tries again when usage falls."""


class NotFound(LabkitError):
    """An image, container or other named object does not exist."""


class ImageNotFound(NotFound):
    """No image of that name here."""


class ContainerError(LabkitError):
    """The container could not be started."""


class CommandNotFound(ContainerError):
    """The container's command does not exist in its image (docker's exit code 127)."""

    exit_code = 127


class CommandNotExecutable(ContainerError):
    """The command exists but cannot be executed (docker's exit code 126)."""

    exit_code = 126


class ContainerNotFound(NotFound):
    """No container of that name or ID."""


class Conflict(LabkitError):
    """The call does not fit the object's state: a name already used, stopping a stopped container."""


class ServerGone(LabkitError):
    """labkitd closed the connection before it answered: it was stopped, killed, or the lab reset."""


class TimedOut(LabkitError, TimeoutError):
    """A wait ran out of time (`c.wait(timeout=5)`); what was waited for goes on. Also a TimeoutError."""


_PRIVILEGE_ERRNOS = {_errno.EPERM, _errno.EACCES}


def translate_oserror(err: OSError, doing: str, **values) -> LabkitError:
    """Turn an OSError raised while `doing` something into the matching LabkitError.

    `doing` names a phrase of the catalog's "doing" entry, its values given as keywords:
    translate_oserror(e, "mount-overlay-on", merged=path) -> "could not mount an overlay on /var/...: ...";
    or it is a catalog Text already (a start's step: Text("step", "mount", path="/data")).
    """
    import os

    from .catalog import Text

    what = doing if isinstance(doing, Text) else Text("doing", doing, **values)
    reason = os.strerror(err.errno) if err.errno else str(err)
    if err.errno in _PRIVILEGE_ERRNOS:
        who = Text("error.oserror", "root" if os.geteuid() != 0 else "privilege")
        e: LabkitError = NotPermitted("error.oserror.not-permitted", doing=what, reason=reason, who=who)
    elif err.errno in (_errno.ENOSYS, _errno.EINVAL, _errno.ENODEV, _errno.EOPNOTSUPP):
        e = FeatureMissing("error.oserror.missing", doing=what, reason=reason)
    elif err.errno == _errno.ENOENT:
        e = NotFound("error.oserror.not-found", doing=what, reason=reason)
    elif err.errno == _errno.ENOSPC:
        e = LabkitError("error.oserror.no-space", doing=what, reason=reason)
    else:
        e = LabkitError("error.oserror.other", doing=what, reason=reason)
    e.__cause__ = err
    e.errno = err.errno  # kept: a caller's `raise ... from None` drops __cause__
    return e


def boundary(doing: str, **values):
    """The edge between labkit and its caller (psutil's wrap_exceptions idea): an OSError that
    reaches a public call from deep inside leaves it as the matching LabkitError, with a hint,
    never as a raw traceback. Errors labkit raises on purpose pass as they are. `doing` is a phrase
    of the catalog's "doing" entry:

        @boundary("run-container")
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
                raise translate_oserror(e, doing, **values) from e
        return call
    return wrap


def boundary_methods(cls):
    """Class decorator: boundary() around each public method, e.g. "run Container.stop()"."""
    import types  # not inspect: ~4 ms of imports on every `labkit` command

    for name, fn in list(vars(cls).items()):
        if not name.startswith("_") and isinstance(fn, types.FunctionType):
            setattr(cls, name, boundary("run-method", cls=cls.__name__, method=name)(fn))
    return cls


def require_root(doing: str) -> None:
    """Refuse, before anything changes, a call that needs root when we are not root. `doing` is a
    phrase of the catalog's "doing" entry: require_root("creating-container")."""
    import os

    from .catalog import Text

    if os.geteuid() != 0:
        raise NotPermitted("error.needs-root", doing=Text("doing", doing), uid=os.geteuid())
