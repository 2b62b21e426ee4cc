"""The union filesystem: overlayfs, layers stacked into one tree.

    ov = lk.overlay(["/path/base", "/path/app"])    # lower layers, bottom first; read-only
    ov.merged                                         # the union: what a container sees as "/"
    (ov.merged / "etc/motd").write_text("hi")         # copy-on-write: the file is copied up to ov.upper
    ov.changes()                                      # what the upper layer now holds: new, copied up, deleted, opaque
    ov.views()                                        # lower(s), upper and merged side by side
    ov.unmount()

The seed names AUFS (Advanced Multi-Layered Unification Filesystem), Docker's first union
filesystem. AUFS was never merged into mainline Linux; overlayfs (mainline since 3.18) is its
successor and what Docker uses today (the overlay2 driver). `aufs_available()` tells whether this
kernel has AUFS anyway.

What overlay leaves in the upper directory, seen from the host:
  - a file changed through `merged` is copied up whole from its lower layer (copy-on-write);
  - a deleted lower file becomes a *whiteout*: a character device with device number 0/0;
  - a lower directory removed and made again becomes *opaque*: the xattr trusted.overlay.opaque="y"
    hides everything the lower layers had in it.

mount(2) takes its options in one page (4096 bytes). A long stack of long paths does not fit:
Docker answers with short relative paths after chdir; labkit gives each lower layer as
/proc/self/fd/N of a directory it holds open, which needs no chdir (unsafe with threads, as in a
notebook kernel) and fits 200+ layers in a page. The kernel itself stops at 500 layers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument, require_root, translate_oserror
from ..kernel import syscalls as sc
from ..paths import Instance, instance as current_instance
from .mounts import mounts

PAGE = 4096
MAX_LAYERS = 500  # OVL_MAX_STACK in fs/overlayfs


@dataclass(frozen=True)
class Change:
    path: str  # inside the tree, e.g. "etc/motd"
    kind: str  # "new", "copied up", "deleted" (a whiteout), "opaque dir"

    def __repr__(self) -> str:
        from ..catalog import pad, text

        return f"{pad(text('overlay', self.kind), 10)} {self.path}"  # the kind in the learner's words; .kind stays the ID


def is_whiteout(path: Path) -> bool:
    """A whiteout: a character device with device number 0/0, which hides the same name below."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


#: overlayfs's own marks: trusted.overlay.* for the host's root; as root of a user namespace, who may
#: not write trusted.* xattrs, the mount takes "userxattr" and the marks are user.overlay.* (kernel 5.11)
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")


def opaque_xattr(nested: bool) -> str:
    """The xattr that makes a directory opaque, for a lab nested (host/where.py) or not."""
    return "user.overlay.opaque" if nested else "trusted.overlay.opaque"


def is_opaque(path: Path) -> bool:
    """An opaque directory: trusted.overlay.opaque = "y" (or user.overlay.opaque) hides everything below it."""
    for name in (opaque_xattr(False), opaque_xattr(True)):
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def aufs_available() -> bool:
    try:
        return "aufs" in Path("/proc/filesystems").read_text().split()
    except OSError:
        return False


class Overlay:
    def __init__(self, lowers, upper: Path, work: Path, merged: Path, source: str):
        self.lowers = [Path(p) for p in lowers]  # bottom first
        self.upper, self.work, self.merged, self.source = Path(upper), Path(work), Path(merged), source
        self.steps: list[str] = []  # what was done, for a learner to read
        self.options = ""

    @property
    def opaque_xattr(self) -> str:
        """The xattr this mount marks an opaque directory with: "trusted.overlay.opaque" on a host,
        "user.overlay.opaque" as root of a user namespace (mounted with userxattr)."""
        return opaque_xattr("userxattr" in self.options.split(","))

    # -- mounting ------------------------------------------------------------------------------
    def mount(self) -> "Overlay":
        require_root("mounting-overlay")
        if not self.lowers:
            raise InvalidArgument("error.filesystems.overlay-needs-least-one")
        if len(self.lowers) > MAX_LAYERS:
            raise InvalidArgument("error.filesystems.lower-layers-kernel-stacks", n_lowers=len(self.lowers), max_layers=MAX_LAYERS)
        for p in self.lowers:
            if not p.is_dir():
                raise InvalidArgument("error.filesystems.lower-layer-directory", p=p)
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
            self.steps.append(f"mkdir -p {d}")
        # overlay lists lowerdir top first: the last layer given is the first one named.
        try:
            from ..host.where import place

            opts = mount_overlay(self.source, self.merged, list(reversed(self.lowers)), self.upper, self.work,
                                 userxattr=place().nested)
        except OSError as e:
            raise translate_oserror(e, "mount-overlay-on", merged=self.merged) from None
        if "/proc/self/fd/" in opts:
            self.steps.append(f"open {len(self.lowers)} lower dirs (O_PATH): the full paths would not fit in one page")
        self.options = opts
        self.steps.append(f'mount("{self.source}", "{self.merged}", "overlay", 0, "{_short(opts)}")')
        return self

    @property
    def mounted(self) -> bool:
        return any(m.mountpoint == str(self.merged) and m.fstype == "overlay" for m in mounts())

    def unmount(self, remove: bool = False) -> None:
        """Unmount; with remove=True also delete upper, work and merged (the lower layers stay)."""
        if self.mounted:
            try:
                sc.umount2(str(self.merged), sc.MNT_DETACH)
                self.steps.append(f"umount {self.merged}")
            except OSError as e:
                raise translate_oserror(e, "unmount", merged=self.merged) from None
        if remove:
            for d in (self.upper, self.work, self.merged):
                shutil.rmtree(d, ignore_errors=True)

    def __enter__(self) -> "Overlay":
        return self

    def __exit__(self, *exc) -> None:
        self.unmount(remove=True)

    # -- looking at it ---------------------------------------------------------------------------
    def changes(self) -> list[Change]:
        """What the upper layer holds, relative to the lower layers: the container's diff."""
        out = []
        for root, dirs, files in os.walk(self.upper):
            for name in sorted(dirs + files):
                p = Path(root) / name
                rel = str(p.relative_to(self.upper))
                if is_whiteout(p):
                    out.append(Change(rel, "deleted"))
                elif p.is_dir() and not p.is_symlink():
                    if is_opaque(p):
                        out.append(Change(rel, "opaque dir"))
                    elif not self._in_lowers(rel):
                        out.append(Change(rel, "new"))
                else:
                    out.append(Change(rel, "copied up" if self._in_lowers(rel) else "new"))
        return sorted(out, key=lambda c: c.path)

    def _in_lowers(self, rel: str) -> bool:
        return any(os.path.lexists(lower / rel) for lower in self.lowers)

    def views(self, subdir: str = "") -> list[dict]:
        """Each name in `subdir` of any layer: what every lower layer, the upper and the merged tree show."""
        layers = [(f"lower {i}", p) for i, p in enumerate(self.lowers)] + [("upper", self.upper), ("merged", self.merged)]
        names: set[str] = set()
        for _, base in layers:
            try:
                names.update(os.listdir(base / subdir))
            except OSError:
                pass
        rows = []
        for name in sorted(names):
            row = {"name": name}
            for label, base in layers:
                row[label] = _describe(base / subdir / name)
            rows.append(row)
        return rows

    def __repr__(self) -> str:
        from ..catalog import text

        state = text("overlay", "mounted" if self.mounted else "not mounted")
        return f"<Overlay {text('overlay', 'layers', n=len(self.lowers), merged=self.merged, state=state)}>"

    def _repr_html_(self) -> str:
        import html

        rows = self.views()
        heads = [k for k in (rows[0].keys() if rows else ["name", "upper", "merged"])]
        th = "".join(f"<th style='text-align:left'>{html.escape(_heading(h))}</th>" for h in heads)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(_said(r[h]))}</code></td>"
                                        for h in heads) + "</tr>" for r in rows)
        return f"<p>{html.escape(repr(self))}</p><table><tr>{th}</tr>{body}</table>"


def _heading(key: str) -> str:
    """A column of views() as a learner reads it: "lower 0" -> "下层 0" (the rows keep the keys)."""
    from ..catalog import text

    if key.startswith("lower "):
        return text("overlay", "lower", n=key[6:])
    return text("overlay", key)


def _said(value: str) -> str:
    """A cell of views() in the learner's words: "whiteout (c 0/0)", "file: hello" (the rows keep _describe's)."""
    from ..catalog import text

    if value.startswith("file: "):
        return text("overlay", "file", text=value[6:])
    if value.startswith("-> ") or not value:
        return value
    return text("overlay", value)


def _describe(p: Path) -> str:
    if is_whiteout(p):
        return "whiteout (c 0/0)"
    if not os.path.lexists(p):
        return ""
    if p.is_symlink():
        return f"-> {os.readlink(p)}"
    if p.is_dir():
        return "dir (opaque)" if is_opaque(p) else "dir"
    try:
        text = p.read_bytes()[:24].decode(errors="replace").strip()
    except OSError:
        text = "?"
    return f"file: {text}"


def _short(opts: str, limit: int = 300) -> str:
    return opts if len(opts) <= limit else opts[:limit] + f"... ({len(opts)} characters)"


def mount_overlay(source: str, target, lowers_top_first: list, upper, work, userxattr: bool = False) -> str:
    """mount(2) an overlay of `lowers_top_first` (the image's last layer first) with its writable
    `upper` and `work` dirs on `target`; returns the option string used. The one routine for
    lk.overlay and for a container's root (runtime/container/rootfs.py). Raises OSError.

    mount(2) takes at most one page of options: with many or deep layers the paths do not fit, so
    each lower dir is opened (O_PATH) and named by its descriptor, /proc/self/fd/N, which is short:
    "lowerdir=/proc/self/fd/5:/proc/self/fd/6,upperdir=...,workdir=...". `userxattr`: nested (see
    OVERLAY_XATTRS): without it, removing a lower directory there fails with EIO.
    """
    extra = ",userxattr" if userxattr else ""
    opts = f"lowerdir={':'.join(map(str, lowers_top_first))},upperdir={upper},workdir={work}{extra}"
    fds: list[int] = []
    try:
        if len(opts) >= PAGE:
            fds = [os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for p in lowers_top_first]
            opts = f"lowerdir={':'.join(f'/proc/self/fd/{fd}' for fd in fds)},upperdir={upper},workdir={work}{extra}"
        sc.mount(source, str(target), "overlay", 0, opts)
    finally:
        for fd in fds:  # the mount holds the layers now; the descriptors are no longer needed
            os.close(fd)
    return opts


def overlay(lowers, name: str | None = None, upper=None, work=None, merged=None,
            inst: Instance | None = None) -> Overlay:
    """Mount an overlay of `lowers` (bottom first). upper, work and merged default to new folders
    under the lab's data root: <root>/overlays/<name>/{upper,work,merged}."""
    require_root("mounting-overlay")
    if isinstance(lowers, (str, os.PathLike)):
        lowers = [lowers]
    if not isinstance(lowers, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in lowers):
        raise InvalidArgument("error.filesystems.lower-layers-are-list", lowers=lowers)
    for what, p in (("upper", upper), ("work", work), ("merged", merged)):
        if p is not None and not isinstance(p, (str, os.PathLike)):
            raise InvalidArgument("error.filesystems.directory-path", what=what, p=p)
    inst = inst or current_instance()
    if name is not None and not isinstance(name, str):
        raise InvalidArgument("error.filesystems.overlay-name-text", name=name)
    name = name or secrets.token_hex(4)
    if "/" in name or name in ("", ".", ".."):
        raise InvalidArgument("error.filesystems.bad-overlay-name", name=name)
    base = inst.root / "overlays" / name
    ov = Overlay(lowers, upper or base / "upper", work or base / "work", merged or base / "merged", inst.tag)
    if ov.mounted:
        raise InvalidArgument("error.filesystems.overlay-already-mounted", merged=ov.merged)
    return ov.mount()
