"""labkit: build and take apart containers with the real kernel, one notebook cell at a time.

    import labkit as lk
    lk.doctor()                                   # what this host can do
    lk.run("busybox", "echo hello from a container")
    c = lk.run("busybox", "sleep 60", detach=True, name="nap"); lk.ps(); c.stop()
    lk.reset()                                    # remove everything labkit made
"""

from __future__ import annotations

from .errors import boundary
from .errors import (CommandNotExecutable, CommandNotFound, Conflict, ContainerError, ContainerNotFound, FeatureMissing,
                     ImageNotFound, InvalidArgument, LabkitError, NotFound, NotPermitted, TimedOut)

__version__ = "0.1.0"

__all__ = ["doctor", "where", "language", "tidy", "run", "create", "container", "ps", "monitor", "controls", "check", "CheckFailed", "layers", "run_bundle", "escape_attempts", "reset", "pull", "push", "tag", "rmi", "build", "save", "load", "registry", "vm", "cgroup", "overlay", "unshare", "nsenter", "namespaces_of", "LabkitError", "NotPermitted", "FeatureMissing", "InvalidArgument",
           "NotFound", "ImageNotFound", "ContainerNotFound", "Conflict", "ContainerError", "CommandNotFound", "CommandNotExecutable", "TimedOut"]


# The public calls import their modules on first use, so `import labkit` stays quick. Each is a
# boundary (errors.py): an OSError from deep inside leaves it as a LabkitError with a hint.
@boundary("check-host")
def doctor():
    """A table of what this host can do for the lab; each failing row says what it breaks and how to fix it."""
    from .host.doctor import doctor as _doctor

    return _doctor()


def where():
    """Where this lab runs: on a host, or as root of a user namespace in an unprivileged container (a
    learner's in a room), where the kernel refuses what only the host's root may do (notebook 11).

        lk.where()          # an unprivileged LXD container: root here is uid 1000000 on the host
        lk.where().nested   # True there, False on a host"""
    from .host.where import place

    return place()


@boundary("run-container")
def run(image, command=None, *, rm=False, memory=None, cpus=None, pids_limit=None, name=None, hostname=None,
        env=None, workdir=None, user=None, log_opts=None, detach=False, stream=True, trace=False, network=None,
        ports=None, volumes=None, mounts=None, tmpfs=None, tty=False, input=None):
    """Run `command` in a new container of `image` and wait for it (`docker run`); returns a RunResult
    (exit_code, stdout, stderr), or with detach=True the running Container at once (`docker run -d`).

        lk.run("busybox", "echo hello from a container")
        lk.run("busybox", ["sh", "-c", "cat /proc/self/cgroup"], memory="64M", cpus=0.5, pids_limit=20)

    rm: remove the container when it exits. memory: "64M", "1.5G" or bytes (at least 6M); cpus: 0.5 is
    half a CPU; pids_limit: most processes at once. name: "web" (random if None); hostname (RFC 1123);
    env: {"K": "v"} or ["K=v", "HOME"] (a bare name takes this process's value); workdir: "/tmp";
    user: "65534", "65534:65534" or a name from the image ("nobody"). log_opts: {"max-size": "1m",
    "max-file": 2}. stream: print the output as it comes. trace: time each step of the run flow.
    network: "bridge" (default), "none", "host", "container:NAME" or a network from lk.network.create();
    ports: docker's -p, ["8080:80", "127.0.0.1:5353:53/udp"], or {"80/tcp": 8080}.
    volumes: docker's -v, ["/srv/site:/site:ro", "cache:/var/cache", "/scratch"] (a host path, a named
    volume, an anonymous one), or {"/srv/site": {"bind": "/site", "mode": "ro"}}; mounts: docker's
    --mount, ["type=tmpfs,target=/run,tmpfs-size=16m"]; tmpfs: ["/run:size=16m"]. tty: give it a
    terminal (docker's -t); input: bytes or text for its stdin (docker's -i), e.g. input="hello".
    """
    from .runtime.options import Options

    opts = Options.check(image, command, rm=rm, memory=memory, cpus=cpus, pids_limit=pids_limit, name=name,
                         hostname=hostname, env=env, workdir=workdir, user=user, log_opts=log_opts, network=network,
                         ports=ports, volumes=volumes, mounts=mounts, tmpfs=tmpfs, tty=tty, trace=trace)
    if detach:
        from .runtime.client.containers import run_detached

        return run_detached(opts)
    from .runtime.client.run import run as _run

    return _run(opts, stream=stream, input=input)


@boundary("create-container")
def create(image, command=None, *, rm=False, memory=None, cpus=None, pids_limit=None, name=None, hostname=None,
           env=None, workdir=None, user=None, log_opts=None, network=None, ports=None, volumes=None, mounts=None,
           tmpfs=None):
    """Create a container without starting it (`docker create`); c.start() starts it. Options as lk.run's."""
    from .runtime.client.containers import create as _create
    from .runtime.options import Options

    return _create(Options.check(image, command, rm=rm, memory=memory, cpus=cpus, pids_limit=pids_limit, name=name,
                                 hostname=hostname, env=env, workdir=workdir, user=user, log_opts=log_opts,
                                 network=network, ports=ports, volumes=volumes, mounts=mounts, tmpfs=tmpfs))


@boundary("find-container")
def container(ref):
    """The container called `ref`: a name, an ID or an ID's first characters (`docker inspect` finds it so)."""
    from .runtime.client.containers import get

    return get(ref)


@boundary("list-containers")
def ps(all=False):  # noqa: A002 - docker's flag name
    """This lab's running containers (all=True: every one), as `labkit ps` shows them."""
    from .runtime.client.containers import ps as _ps

    return _ps(all=all)


@boundary("monitor")
def monitor(*targets, interval=0.5, seconds=None, panels=("memory", "cpu", "pids"), refresh=0.4, keep=1200):
    """Sample containers' (or cgroups') figures every `interval` s and plot them live: memory, CPU and
    PIDs (`panels`), redrawn every `refresh` s, the last `keep` samples kept; see labkit.monitoring.

        m = lk.monitor(c1, c2)             # redraws while they run
        m = lk.monitor(c1, seconds=10)     # or: 10 s, then the final figure stays
    """
    from .monitoring import monitor as _monitor

    return _monitor(*targets, interval=interval, seconds=seconds, panels=panels, refresh=refresh, keep=keep)


@boundary("make-controls")
def controls(container, monitor=None):
    """Sliders for a running container's memory and CPU limits, and start/stop/pause buttons; with a
    monitor (lk.monitor), each change shows on its plot."""
    from .monitoring.controls import controls as _controls

    return _controls(container, monitor)


@boundary("try-escapes")
def escape_attempts(container):
    """Try to get out of a running container (a disk, a new namespace, mount, the host's keys and memory):
    a table of what the kernel answered and which rule held; see labkit.security.attempts."""
    from .security.attempts import escape_attempts as _attempts

    return _attempts(container)


@boundary("reset-lab")
def reset(all_instances=False, volumes=False):
    """Remove everything this lab created on this host: processes, mounts, cgroups, netns, links, rules,
    state. all_instances: every lab on the host; volumes: the named volumes too (kept otherwise: they
    are the learner's data)."""
    from .host.reset import reset as _reset

    return _reset(all_instances=all_instances, volumes=volumes)


def language(lang=None) -> str:
    """The language labkit speaks to you: lk.language() says which; lk.language("zh") switches this
    notebook's checks, hints, pictures and plots to Chinese, lk.language("en") back to English.
    Without a choice: $LABKIT_LANG, else the locale ($LANG=zh_CN.UTF-8), else English."""
    from . import catalog

    try:
        return catalog.choose(lang) if lang is not None else catalog.language()
    except ValueError:
        raise InvalidArgument("error.language.unknown", lang=lang, known=", ".join(catalog.available())) from None


def tidy(prefix):
    """Remove what an earlier run of a notebook left, by the names it gives ("nb03": containers,
    networks, volumes and cgroups named nb03-...); what others run is left alone (lk.reset() is not)."""
    from .host.tidy import tidy as _tidy

    return _tidy(prefix)


@boundary("run-bundle")
def run_bundle(bundle, *, rm=True, stream=True):
    """Run an OCI bundle from disk (e.g. made by `runc spec`), like `runc run`: rm removes it when it
    exits, stream prints its output as it comes; see labkit.runtime.client.run.run_bundle."""
    from .runtime.client.run import run_bundle as _run_bundle

    return _run_bundle(bundle, rm=rm, stream=stream)


@boundary("make-cgroup")
def cgroup(name: str, *, memory=None, memory_swap=None, memory_reservation=None, memory_high=None, cpus=None,
           cpu_weight=None, cpu_shares=None, cpuset_cpus=None, cpuset_mems=None, pids_limit=None, io=None):
    """A labkit cgroup called `name` ("demo", "web/db"; created if needed), with the limits given applied.

        g = lk.cgroup("demo", memory="64M", cpus=0.5, pids_limit=20)
        g.spawn("sh -c 'while :; do :; done'"); g.stats(); g.remove()

    The limits are CGroup.limit's: memory, memory_swap, memory_reservation, memory_high ("64M"),
    cpus (0.5), cpu_weight (1..10000) or cpu_shares (2..262144), cpuset_cpus ("0-1"), cpuset_mems,
    pids_limit (20, as run's), io ({"8:0": {"read_bps": "1M"}}).
    """
    from .cgroups.control import CGroup

    limits = {k: v for k, v in dict(memory=memory, memory_swap=memory_swap, memory_reservation=memory_reservation,
                                    memory_high=memory_high, cpus=cpus, cpu_weight=cpu_weight, cpu_shares=cpu_shares,
                                    cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems, pids_limit=pids_limit, io=io).items()
              if v is not None}
    from .cgroups import group
    from .cgroups.control import check_name
    from .paths import instance

    existed = group(f"{instance().tag}/{check_name(name)}").exists()
    g = CGroup(name)
    if limits:
        try:
            g.last_changes = g.update(**limits)
        except BaseException:
            if not existed:
                g.remove()  # a bad limit leaves no new group behind
            raise
    return g


@boundary("mount-overlay")
def overlay(lowers, name=None, upper=None, work=None, merged=None):
    """Mount an overlay (union filesystem) of `lowers`, bottom first, under the lab's data root
    (<root>/overlays/<name>/{upper,work,merged}, or the folders given); see labkit.filesystems.overlay."""
    from .filesystems.overlay import overlay as _overlay

    return _overlay(lowers, name, upper=upper, work=work, merged=merged)


@boundary("run-in-new-namespaces")
def unshare(kinds, command, *, hostname=None, mount_proc=True, uid_map=None, gid_map=None, time_offset=None,
            timeout=60):
    """Run a command in new namespaces (like unshare(1)): kinds such as ["uts", "pid", "mnt"];
    hostname for a new uts; mount_proc a fresh /proc for a new pid; uid_map/gid_map ("0 100000 1")
    for a new user; time_offset (seconds) for a new time; see labkit.namespaces.unshare."""
    from .namespaces import unshare as _unshare

    return _unshare(kinds, command, hostname=hostname, mount_proc=mount_proc, uid_map=uid_map, gid_map=gid_map,
                    time_offset=time_offset, timeout=timeout)


@boundary("enter-namespaces")
def nsenter(pid, kinds, command, *, timeout=60):
    """Run a command in a running process's namespaces (like nsenter(1)); see labkit.namespaces.nsenter."""
    from .namespaces import nsenter as _nsenter

    return _nsenter(pid, kinds, command, timeout=timeout)


@boundary("read-namespaces")
def namespaces_of(pid):
    """A process's namespaces beside the host's, like `lsns -p PID`."""
    from .namespaces import namespaces_of as _of

    return _of(pid)


@boundary("find-image-layers")
def layers(image):
    """The unpacked layer directories of a local image, bottom first: the lower dirs of its overlay.

        lk.overlay(lk.layers("busybox"), name="by-hand")   # a container's root filesystem, by hand
    """
    from pathlib import Path

    from .images.reference import normalize
    from .images.store import ImageStore
    from .paths import instance
    from .runtime.daemon.create import resolve_image

    return [Path(p) for p in resolve_image(ImageStore(instance()), normalize(image), None)[1]]


@boundary("pull-image")
def pull(image, *, platform=None, auth=None, progress=None):
    """Pull `image` from its registry into the local store (`docker pull`); returns the Image.

        lk.pull("localhost:5000/team/app:v1")
        lk.pull("alpine", platform="linux/arm64")       # another machine's image from an index

    platform: "os/architecture[/variant]" (default: this machine's); auth: (user, password), else
    what `labkit login` kept; progress: bars per layer (default: in a terminal or a notebook)."""
    from .images.commands import pull as _pull

    return _pull(image, platform=platform, auth=auth, progress=progress)


@boundary("push-image")
def push(image, *, auth=None):
    """Push the local `image` to the registry its name gives (`docker push`); returns the manifest digest."""
    from .images.commands import push as _push

    return _push(image, auth=auth)


@boundary("tag-image")
def tag(source, target):
    """Give the image `source` another name, e.g. lk.tag("busybox", "localhost:5000/busybox") (`docker tag`)."""
    from .images.store import ImageStore
    from .paths import instance

    return ImageStore(instance()).alias(source, target)


@boundary("remove-image")
def rmi(image, force=False):
    """Remove the name `image`, and the blobs and layers no other image or container needs (`docker rmi`).
    An image a container was made from is refused unless force=True."""
    from .images.commands import rmi as _rmi

    return _rmi(image, force=force)


@boundary("save-images")
def save(images, path):
    """Write images to one tar file, an OCI layout that `docker load` reads too; returns its size.

        lk.save(["busybox", "localhost:5000/team/app:v1"], "/media/usb/workshop.tar")"""
    from .images.archive import save as _save
    from .images.store import ImageStore
    from .paths import instance

    return _save([images] if isinstance(images, str) else list(images), path, ImageStore(instance()))


@boundary("load-images")
def load(path):
    """Load images from a `labkit save` or `docker save` tar, an OCI archive or layout; returns their names."""
    from .images.archive import load as _load
    from .images.store import ImageStore
    from .paths import instance

    return _load(path, ImageStore(instance()))


@boundary("build-image")
def build(context, tag=None, *, dockerfile="Dockerfile", quiet=False, out=None):
    """Build an image from `context`/Dockerfile (`docker build`): FROM, RUN, COPY, ADD, ENV, WORKDIR,
    USER, LABEL, EXPOSE, CMD, ENTRYPOINT; each step printed as docker prints it, cached as docker does.
    out: a function given each line instead (lines.append keeps them); quiet: no lines at all.

        lk.build("hello/", tag="localhost/hello:1"); lk.run("localhost/hello:1")"""
    from .images.build import build as _build
    from .images.store import ImageStore
    from .paths import instance
    from .runtime.client.containers import run_step

    return _build(context, ImageStore(instance()), run=run_step, tag=tag, dockerfile=dockerfile,
                  out=(lambda line: None) if quiet else (out or print))


def __getattr__(name):
    if name == "registry":  # lk.registry.start(), .stop(), .status(): the lab's registry server
        from .images import local_registry

        return local_registry
    if name == "network":  # lk.network.create(), .ls(), .topology(): the lab's networks
        import importlib

        return importlib.import_module(".network", __name__)
    if name == "vm":  # lk.vm.side_by_side(), .boot(): a small VM beside a container (notebook 01)
        import importlib

        return importlib.import_module(".virtualization", __name__)
    if name == "api":  # lk.api.request(), .requests(), .socket(): labkitd's Docker Engine API, looked at
        import importlib

        return importlib.import_module(".api", __name__)
    if name in ("exercise", "progress"):  # lk.exercise("02.uts-not-pid").verify(...); lk.progress()
        from . import exercises
        from .exercises import progress

        return exercises.exercise if name == "exercise" else progress.summary
    if name in ("predict", "reveal"):  # lk.predict("03.oom-threshold", 40) ... lk.reveal("03.oom-threshold", 38.1)
        from .exercises import predictions

        return getattr(predictions, name)
    if name == "pictures":  # lk.pictures.sees_and_uses(c), .client_server(): drawings
        import importlib

        return importlib.import_module(".pictures", __name__)
    if name == "volume":  # lk.volume.create(), .ls(), .inspect(), .rm(): named volumes
        from .filesystems import volume_api

        return volume_api
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


from .checks import CheckFailed, check  # noqa: E402
from . import ipython as _ipython  # noqa: E402

_ipython.install()
