"""Steps 4-8 of a container's start (init.py): build its filesystem tree and make it "/".

    setup_rootfs(config, "/var/lib/labkit/containers/3f9a.../")

mounts the overlay on BUNDLE/rootfs, then config.json's mounts (/proc, /dev, ..., the bundle's
/etc/hosts, and the learner's -v/--mount/--tmpfs), makes the device nodes, pivot_roots into it and
masks what the container must not see. A failed step raises report.StepFailed("mount", OSError,
"/data"), which init.py reports to labkitd. Runs in the container's first process, before the fork's imports are
cut off: it imports nothing after it starts.
"""

from __future__ import annotations

import errno
import json
import os
import stat

from ...filesystems.overlay import mount_overlay
from ...kernel import syscalls as sc
from ..devices import REQUIRED as REQUIRED_DEVICES
from .report import step

#: OCI mount options that are mount(2) flags; the others go into the data string.
MOUNT_FLAGS = {
    "ro": sc.MS_RDONLY, "nosuid": sc.MS_NOSUID, "nodev": sc.MS_NODEV, "noexec": sc.MS_NOEXEC,
    "bind": sc.MS_BIND, "rbind": sc.MS_BIND | sc.MS_REC, "strictatime": sc.MS_STRICTATIME,
}
DEV_SYMLINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"),
                ("/proc/self/fd/2", "/dev/stderr"), ("pts/ptmx", "/dev/ptmx"))


def parse_options(options: list[str]) -> tuple[int, str]:
    flags, data = 0, []
    for opt in options:
        if opt in MOUNT_FLAGS:
            flags |= MOUNT_FLAGS[opt]
        elif opt not in ("rw", "private", "rprivate"):
            data.append(opt)
    return flags, ",".join(data)


def bind_device(outer: str, path: str) -> None:
    """The outer /dev's node at `path`, as rootless runc makes a container's devices: root of a user
    namespace may not mknod one (EPERM), but may bind one it can already open. An empty file first,
    the mount point: /dev/null -> rootfs/dev/null."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
    sc.mount(outer, path, None, sc.MS_BIND, None)


def setup_rootfs(config: dict, bundle: str, trace=lambda step, text=None, **values: None) -> None:
    """Steps 4-7: build the container's filesystem tree and make it "/"."""
    rootfs = os.path.join(bundle, config["root"]["path"])
    ann = config.get("annotations", {})
    step("private-root", sc.mount, None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    lower = ann.get("org.labkit.rootfs.lower")
    if lower:
        # lower is top first: "/var/lib/labkit/layers/43b1...:/var/lib/labkit/layers/9c2e..."
        upper = os.path.join(bundle, ann.get("org.labkit.rootfs.upper", "upper"))
        work = os.path.join(bundle, ann.get("org.labkit.rootfs.work", "work"))
        step("overlay", mount_overlay, ann.get("org.labkit.instance", "labkit"), rootfs,
             lower.split(":"), upper, work, ann.get("org.labkit.nested") == "1")
    else:
        # A plain bundle (e.g. from `runc spec`): pivot_root needs rootfs to be a mount point.
        step("root-bind", sc.mount, rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    volumes = set(json.loads(ann.get("org.labkit.volumes", "[]")))
    for m in config.get("mounts", []):
        target = rootfs + m["destination"]
        flags, data = parse_options(m.get("options", []))
        fstype, source = m.get("type"), m.get("source")
        if fstype == "cgroup":
            continue  # the container's own cgroups: mounted once it has joined them (cgroupfs.py)
        if m["destination"] in volumes:  # -v, --mount, --tmpfs (runtime/daemon/mounting.py)
            step("mount", mount_volume, rootfs, m, path=m["destination"])
            continue
        if fstype == "bind" and os.path.isfile(source):  # /etc/hosts and friends (network/etc_files.py)
            step("bind-file", bind_file, rootfs, source, m["destination"], flags, path=m["destination"])
            continue
        step("mkdir", os.makedirs, target, 0o755, True, path=m["destination"])
        step("mount", sc.mount, source, target, fstype, flags, data or None, path=m["destination"])
    old = os.umask(0)
    try:
        listed = config.get("linux", {}).get("devices", [])
        required = [{"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666}
                    for p, ma, mi in REQUIRED_DEVICES if p not in {d["path"] for d in listed}]
        bind = config.get("annotations", {}).get("org.labkit.nested") == "1"  # host/where.py
        for dev in listed + required:
            path = rootfs + dev["path"]
            if bind:
                step("mknod", bind_device, dev["path"], path, path=dev["path"])
            else:
                step("mknod", os.mknod, path, stat.S_IFCHR | dev.get("fileMode", 0o666),
                     os.makedev(dev["major"], dev["minor"]), path=dev["path"])
    finally:
        os.umask(old)
    for target, link in DEV_SYMLINKS:
        if not os.path.lexists(rootfs + link):
            step("symlink", os.symlink, target, rootfs + link, path=link)
    os.chdir(rootfs)
    trace("rootfs")
    step("pivot-root", sc.pivot_root, ".", ".")
    # The old root now sits on top of the new one at "/": detach it, and the host's tree is gone.
    step("old-root", sc.umount2, ".", sc.MNT_DETACH)
    os.chdir("/")
    trace("pivot-root")
    linux = config.get("linux", {})
    for path in linux.get("maskedPaths", []):
        if os.path.isdir(path):  # an empty, read-only tmpfs hides a directory
            step("mask", sc.mount, "tmpfs", path, "tmpfs", sc.MS_RDONLY, None, path=path)
        elif os.path.exists(path):  # /dev/null hides a file: reads give nothing, writes vanish
            step("mask", sc.mount, "/dev/null", path, None, sc.MS_BIND, None, path=path)
    for path in linux.get("readonlyPaths", []):
        if os.path.exists(path):  # bind it onto itself, then make that bind read-only
            step("read-only", sc.mount, path, path, None, sc.MS_BIND | sc.MS_REC, None, path=path)
            step("read-only", sc.mount, path, path, None, sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT | sc.MS_RDONLY, None,
                 path=path)
    if config.get("root", {}).get("readonly"):
        step("read-only", sc.mount, None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY, None, path="/")
    trace("mask")


def bind_file(rootfs: str, source: str, dest: str, flags: int) -> None:
    """Bind the host file `source` over `dest` inside rootfs, e.g. BUNDLE/hosts over /etc/hosts.

    The image chose every name under rootfs: /etc could be a symlink to the host's /etc, and a
    plain mount on rootfs + "/etc/hosts" would follow it out. So the parent is opened with
    openat2(RESOLVE_IN_ROOT) (symlinks resolve inside rootfs, as they will after pivot_root), the
    file is made there if missing, never through a symlink (O_NOFOLLOW), and the mount goes onto
    the descriptor (/proc/self/fd/N), not a path."""
    bind(rootfs, source, dest, sc.MS_BIND | flags, is_file=True, resolve=sc.RESOLVE_IN_ROOT)


def mount_volume(rootfs: str, m: dict) -> None:
    """A -v/--mount/--tmpfs mount, e.g. {"destination": "/data", "type": "bind", "source":
    "/srv/site", "options": ["rbind", "nosuid", "nodev", "ro"]}. Stricter than bind_file: no part of
    the target may be a symlink (ELOOP), so a learner's files land exactly where they look."""
    flags, data = parse_options(m.get("options", []))
    is_file = m["type"] == "bind" and not os.path.isdir(m["source"])
    if m["type"] == "bind":
        bind(rootfs, m["source"], m["destination"], flags, is_file=is_file, resolve=sc.RESOLVE_NO_SYMLINKS)
        return
    fd = open_target(rootfs, m["destination"], is_file=False, resolve=sc.RESOLVE_NO_SYMLINKS)
    try:
        sc.mount(m.get("source"), f"/proc/self/fd/{fd}", m["type"], flags, data or None)
    finally:
        os.close(fd)


def bind(rootfs: str, source: str, dest: str, flags: int, is_file: bool, resolve: int) -> None:
    """A bind takes only MS_BIND|MS_REC at first; ro, nosuid, nodev and noexec need a second call
    (a remount). The descriptor the first mount went onto still names the file *under* the new
    mount, so the remount walks to dest again, and lands on the bind's root."""
    fd = open_target(rootfs, dest, is_file=is_file, resolve=resolve)
    try:
        sc.mount(source, f"/proc/self/fd/{fd}", None, flags & (sc.MS_BIND | sc.MS_REC), None)
    finally:
        os.close(fd)
    extra = flags & ~(sc.MS_BIND | sc.MS_REC)
    if extra:
        fd = open_target(rootfs, dest, is_file=is_file, resolve=resolve)
        try:
            sc.mount(None, f"/proc/self/fd/{fd}", None, sc.MS_BIND | sc.MS_REMOUNT | extra, None)
        finally:
            os.close(fd)


def open_target(rootfs: str, dest: str, is_file: bool, resolve: int) -> int:
    """An O_PATH descriptor of dest inside rootfs, its missing parts made (directories; the last one
    a file if is_file). Each part is opened from its parent's descriptor, never from a path:
    resolve=RESOLVE_IN_ROOT lets the image's symlinks lead only inside rootfs; RESOLVE_NO_SYMLINKS
    refuses any (ELOOP). The last part is never followed if it is a symlink."""
    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    parent = root
    try:
        parts = [p for p in dest.split("/") if p]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                nxt = _open_part(parent, part, last and is_file, resolve)
            except FileNotFoundError:
                try:
                    if last and is_file:
                        os.close(os.open(f"/proc/self/fd/{parent}/{part}", os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                         | os.O_CLOEXEC, 0o644))
                    else:
                        os.mkdir(f"/proc/self/fd/{parent}/{part}", 0o755)
                except FileExistsError:  # there, but leads nowhere inside the root: a dangling symlink
                    raise OSError(errno.ELOOP, f"{dest}: {part} is a symlink that leads nowhere in the image") from None
                nxt = _open_part(parent, part, last and is_file, resolve)
            except OSError as e:
                if e.errno == errno.ELOOP:  # a symlink where a real file or directory must be
                    where = "/" + "/".join(parts[: i + 1])
                    raise OSError(errno.ELOOP, f"{where} is a symlink in the image: labkit will not mount through it") from None
                raise
            if parent != root:
                os.close(parent)
            parent = nxt
        return os.dup(parent) if parent == root else parent
    except BaseException:
        if parent != root:
            os.close(parent)
        raise
    finally:
        os.close(root)


def _open_part(parent: int, part: str, is_file: bool, resolve: int) -> int:
    if not is_file:  # a symlinked directory: followed inside the root (RESOLVE_IN_ROOT) or ELOOP (NO_SYMLINKS)
        return sc.openat2(parent, part, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, resolve)
    # O_PATH|O_NOFOLLOW opens a symlink itself rather than failing: look first.
    if stat.S_ISLNK(os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode):
        raise OSError(errno.ELOOP, f"{part} is a symlink")
    return sc.openat2(parent, part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, resolve)
