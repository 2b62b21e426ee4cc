"""labkit: build and take apart containers with the real kernel, one notebook cell at a time.

    import labkit as lk
    lk.doctor()                                   # what this host can do
    lk.run("busybox", "echo hello from a container")
    c = lk.run("busybox", "sleep 60", detach=True, name="nap"); lk.ps(); c.stop()
    lk.reset()                                    # remove everything labkit made
"""

from __future__ import annotations

from .errors import (CommandNotExecutable, CommandNotFound, Conflict, ContainerError, ContainerNotFound, FeatureMissing,
                     ImageNotFound, InvalidArgument, LabkitError, NotFound, NotPermitted)

__version__ = "0.1.0"

__all__ = ["doctor", "run", "create", "container", "ps", "monitor", "controls", "check", "CheckFailed", "layers", "run_bundle", "escape_attempts", "reset", "images", "cgroup", "overlay", "unshare", "nsenter", "namespaces_of", "LabkitError", "NotPermitted", "FeatureMissing", "InvalidArgument",
           "NotFound", "ImageNotFound", "ContainerNotFound", "Conflict", "ContainerError", "CommandNotFound", "CommandNotExecutable"]


# The public calls import their modules on first use, so `import labkit` stays quick.
def doctor(**kw):
    """A table of what this host can do for the lab; each failing row says what it breaks and how to fix it."""
    from .host.doctor import doctor as _doctor

    return _doctor(**kw)


def run(image, command=None, **kw):
    from .runtime.run import run as _run

    return _run(image, command, **kw)


run.__doc__ = ("Run a command in a new container and wait for it; detach=True: start it in the background "
               "and return the Container. See labkit.runtime.run.run.")


def create(image, command=None, **kw):
    """Create a container without starting it (`docker create`); c.start() starts it."""
    from .runtime.containers import create as _create

    return _create(image, command, **kw)


def container(ref):
    """The container called `ref`: a name, an ID or an ID's first characters (`docker inspect` finds it so)."""
    from .runtime.containers import get

    return get(ref)


def ps(all=False):  # noqa: A002 - docker's flag name
    """This lab's running containers (all=True: every one), as `labkit ps` shows them."""
    from .runtime.containers import ps as _ps

    return _ps(all=all)


def monitor(*targets, **kw):
    """Sample containers' cgroup figures and plot them live; see labkit.monitoring.monitor.

        m = lk.monitor(c1, c2)             # redraws while they run
        m = lk.monitor(c1, seconds=10)     # or: 10 s, then the final figure stays
    """
    from .monitoring import monitor as _monitor

    return _monitor(*targets, **kw)


def controls(container, monitor=None, **kw):
    """Sliders for a running container's memory and CPU limits, and start/stop/pause buttons."""
    from .monitoring.controls import controls as _controls

    return _controls(container, monitor, **kw)


def escape_attempts(container):
    """Try to get out of a running container (a disk, a new namespace, mount, the host's keys and memory):
    a table of what the kernel answered and which rule held; see labkit.security.attempts."""
    from .security.attempts import escape_attempts as _attempts

    return _attempts(container)


def reset(**kw):
    """Remove everything labkit created on this host: processes, mounts, cgroups, netns, links, rules, state."""
    from .host.reset import reset as _reset

    return _reset(**kw)


def run_bundle(bundle, **kw):
    """Run an OCI bundle from disk (e.g. made by `runc spec`), like `runc run`; see labkit.runtime.run.run_bundle."""
    from .runtime.run import run_bundle as _run_bundle

    return _run_bundle(bundle, **kw)


def cgroup(name: str, **limits):
    """A labkit cgroup called `name` (created if needed), with `limits` applied if given.

        g = lk.cgroup("demo", memory="64M", cpus=0.5)
        g.spawn("sh -c 'while :; do :; done'"); g.stats(); g.remove()
    """
    from .cgroups.control import CGroup

    g = CGroup(name)
    if limits:
        g.last_changes = g.limit(**limits)
    return g


def overlay(lowers, name=None, **kw):
    """Mount an overlay (union filesystem) of `lowers`, bottom first; see labkit.filesystems.overlay."""
    from .filesystems.overlay import overlay as _overlay

    return _overlay(lowers, name, **kw)


def unshare(kinds, command, **kw):
    """Run a command in new namespaces (like unshare(1)); see labkit.namespaces.unshare."""
    from .namespaces import unshare as _unshare

    return _unshare(kinds, command, **kw)


def nsenter(pid, kinds, command, **kw):
    """Run a command in a running process's namespaces (like nsenter(1)); see labkit.namespaces.nsenter."""
    from .namespaces import nsenter as _nsenter

    return _nsenter(pid, kinds, command, **kw)


def namespaces_of(pid):
    """A process's namespaces beside the host's, like `lsns -p PID`."""
    from .namespaces import namespaces_of as _of

    return _of(pid)


def layers(image):
    """The unpacked layer directories of a local image, bottom first: the lower dirs of its overlay.

        lk.overlay(lk.layers("busybox"), name="by-hand")   # a container's root filesystem, by hand
    """
    from pathlib import Path

    from .images.reference import normalize
    from .images.store import ImageStore
    from .paths import instance
    from .runtime.create import resolve_image

    return [Path(p) for p in resolve_image(ImageStore(instance()), normalize(image), None)[1]]


def images():
    """The names of the images in the local store."""
    from .images.store import ImageStore
    from .paths import instance

    return ImageStore(instance()).names()


from .checks import CheckFailed, check  # noqa: E402
from . import ipython as _ipython  # noqa: E402

_ipython.install()
