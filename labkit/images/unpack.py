"""Unpack an image layer (a tar, gzip'd, zstd'd or plain) into a directory overlayfs can stack.

    unpack_layer(open("blobs/sha256/3f9a...", "rb"), Path("layers/.unpack-x1"))  -> "sha256:<diff_id>"

A layer is an attack surface: whoever made the image chose every name in it. So nothing here
follows a path given by the layer. Each entry's parent directory is reached one component at a
time from the layer's root with O_NOFOLLOW (a symlink on the way is refused, never followed), and
the entry is made relative to that directory's descriptor. Refused, with nothing written outside:

    ../x, a/../../x          a name that climbs out            (the name is checked as written)
    link -> /etc, link/x     writing through a symlink         (O_NOFOLLOW on every component)
    hard link to ../../x     a hard link to something outside  (its target is reached the same way)
    .wh.x in a symlinked dir a whiteout through a symlink      (as any other entry)
    trusted.overlay.* xattrs the layer faking overlay metadata (a redirect, an opaque mark); user.overlay.* too
    more than max_bytes      a decompression bomb              (counted as the tar is read)

OCI whiteouts become overlayfs's own: `a/.wh.b` (b is deleted in this layer) becomes a character
device 0/0 named a/b; `a/.wh..wh..opq` (a's lower contents are hidden) sets the xattr
trusted.overlay.opaque="y" on a. Modes (setuid, sticky), owners, times, symlinks, hard links,
device nodes and extended attributes are kept. The caller unpacks into a fresh directory and
renames it into place when this returns: a layer is all there or not there at all.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile

from ..errors import LabkitError
from ..kernel import syscalls as sc

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_BYTES = 16 << 30  # what one layer may unpack to, at most: a bomb stops here
GZIP_MAGIC, ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


class UnsafeLayer(LabkitError):
    """A layer that would write outside its directory, or could not be what it claims."""



def decompressor(f):
    """A reader of the uncompressed tar in f, told apart by its first bytes (gzip, zstd or plain)."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else b""
    if head.startswith(GZIP_MAGIC):
        try:  # ISA-L's inflate: ~2.5x zlib's here (0.16 s against 0.43 s for 150 MB)
            from isal import igzip as gzip
        except ImportError:
            import gzip
        return gzip.GzipFile(fileobj=f, mode="rb")
    if head.startswith(ZSTD_MAGIC):
        try:
            import zstandard
        except ImportError:
            raise LabkitError("error.images.layer-zstd-compressed-zstandard") from None
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
    return f


class _Inflating:
    """The uncompressed tar, read for tarfile from a second thread that decompresses and hashes it
    (the diff_id) ahead of the writes, and stops a bomb at max_bytes.

    Why a thread: inflating and hashing 100 MB take ~0.27 s here and both let go of the GIL, so they
    run beside tarfile's parsing and the file writes instead of before them (2 CPUs: ~35 % less
    time). The thread is the only reader of `f`; chunks pass through a short queue (8 MiB at most
    in flight), and close() stops it wherever it is.
    """

    CHUNK = 1 << 20
    # tarfile's stream reads this much at a time: its default, 10 KiB, is a Python call per 10 KiB;
    # 1 MiB makes it copy the unread rest of its buffer on every 512-byte header. 64 KiB: least CPU.
    TARBUF = 64 << 10

    def __init__(self, f, max_bytes: int):
        import queue
        import threading

        self.f, self.max_bytes, self.n = f, max_bytes, 0
        self.h = hashlib.sha256()
        self.q: queue.Queue = queue.Queue(maxsize=8)
        self.buf, self.off, self.eof, self.stop = b"", 0, False, False
        self.thread = threading.Thread(target=self._produce, name="labkit-unpack-inflate", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            while not self.stop:
                data = self.f.read(self.CHUNK)
                self.n += len(data)
                if self.n > self.max_bytes:
                    raise UnsafeLayer("error.images.layer-unpacks-more-than", self_max_bytes_20=self.max_bytes >> 20)
                self.h.update(data)
                self._hand(data)
                if not data:
                    return
        except BaseException as e:  # handed to the reader, raised in its thread
            self._hand(e)

    def _hand(self, item) -> None:
        """Queue item for the reader, unless close() said stop meanwhile (then nobody reads it)."""
        import queue

        while not self.stop:
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        if self.off >= len(self.buf):
            if self.eof:
                return b""
            item = self.q.get()
            if isinstance(item, BaseException):
                self.eof = True
                raise item
            if not item:
                self.eof = True
                return b""
            self.buf, self.off = item, 0
        if size is None or size < 0 or (self.off == 0 and size >= len(self.buf)):
            out = self.buf[self.off:] if self.off else self.buf
            self.off = len(self.buf)
            return out
        out = self.buf[self.off:self.off + size]
        self.off += len(out)
        return out

    def drain(self) -> None:
        while self.read(self.CHUNK):
            pass

    def close(self) -> None:
        self.stop = True
        self.thread.join()


def unpack_layer(blob, dest, max_bytes: int = MAX_BYTES) -> str:
    """Unpack the layer read from the binary file `blob` into the empty directory `dest`; returns
    its diff_id ("sha256:" + the sha256 of the uncompressed tar). Raises UnsafeLayer."""
    import io

    src = _Inflating(decompressor(io.BufferedReader(blob) if not hasattr(blob, "peek") else blob), max_bytes)
    try:
        root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except BaseException:
        src.close()
        raise
    parents = _Parents(root)
    try:
        with tarfile.open(fileobj=src, mode="r|", errorlevel=2, bufsize=src.TARBUF) as tar:
            dirs: list[tuple[str, tarfile.TarInfo]] = []
            for member in tar:
                _entry(tar, member, root, dirs, parents)
            for name, member in sorted(dirs, key=lambda d: d[0], reverse=True):  # deepest first: a 0555 dir
                fd = _walk(root, name, create=False)                                 # still takes its files
                try:
                    _attrs(fd, None, member)
                finally:
                    os.close(fd)
        src.drain()  # tar's end-of-archive padding counts in the diff_id too
    except (tarfile.TarError, EOFError, OSError) as e:
        if isinstance(e, LabkitError):
            raise
        raise UnsafeLayer("error.images.layer-readable-tar", e=e) from None
    finally:
        src.close()
        parents.close()
        os.close(root)
    return "sha256:" + src.h.hexdigest()


class _Parents:
    """The last parent directory walked to, kept open: a tar lists a directory's files one after
    another, so most entries need no walk at all. Forgotten as soon as an entry names it or one of
    its ancestors (it may be replaced: a directory by a symlink, say)."""

    def __init__(self, root: int):
        self.root, self.parts, self.fd = root, None, None

    def get(self, up: list[str]) -> int:
        if up != self.parts:
            self.close()
            self.fd, self.parts = _walk(self.root, up), up
        return self.fd

    def touched(self, parts: list[str]) -> None:
        if self.parts is not None and self.parts[: len(parts)] == parts:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.parts = self.fd = None


def _clean(name: str, what: str = "entry") -> list[str]:
    """A layer path as components, refusing any that climbs out: "./usr//bin/" -> ["usr", "bin"]."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafeLayer("error.images.layer-points-outside-layer", what=what, name=name)
        parts.append(part)
    return parts


_OPENAT2 = [True]  # until the kernel says ENOSYS (before Linux 5.6)


def _walk(root: int, path: str | list[str], create: bool = True) -> int:
    """Open the directory `path` below root, never through a symlink: in one openat2 call with
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else one component at a time
    with O_NOFOLLOW (a symlink is ELOOP or ENOTDIR, and refused). create: make missing directories."""
    parts = path if isinstance(path, list) else _clean(path)
    if _OPENAT2[0] and parts:
        try:
            return sc.openat2(root, "/".join(parts), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                              sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)
        except OSError as e:
            if e.errno == errno.ENOSYS:
                _OPENAT2[0] = False
            elif e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
                raise UnsafeLayer("error.images.layer-path-goes-through", join='/'.join(parts)) from None
            elif e.errno != errno.ENOENT:
                raise
            # ENOENT: a part is missing; the walk below makes it
    fd = os.dup(root)
    try:
        for part in parts:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeLayer("error.images.layer-path-goes-through-2", path_if_isinstance_p=path if isinstance(path, str) else '/'.join(path), part=part) from None
                raise
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _remove(parent: int, name: str) -> None:
    """Remove what `name` is in `parent`, a whole tree if a directory (a later entry replaces it)."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        for child in os.listdir(fd):
            _remove(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def _entry(tar: tarfile.TarFile, member: tarfile.TarInfo, root: int, dirs: list, parents: _Parents) -> None:
    parts = _clean(member.name)
    if not parts:
        if member.isdir():
            dirs.append(("", member))  # the layer's root itself: its mode and owner
        return
    *up, base = parts
    # This entry may replace the directory kept open, or one above it (a whiteout removes its name).
    parents.touched(up + [base[len(WHITEOUT):]] if base.startswith(WHITEOUT) and base != OPAQUE else parts)
    parent = parents.get(up)
    if base == OPAQUE:  # the parent hides every lower entry of the same path
        from ..filesystems.overlay import opaque_xattr
        from ..host.where import place

        os.setxattr(parent, opaque_xattr(place().nested), b"y")
        return
    if base.startswith(WHITEOUT):  # "this name is deleted in this layer": overlayfs's 0/0 device
        name = base[len(WHITEOUT):]
        if name in ("", ".", ".."):
            raise UnsafeLayer("error.images.whiteout-names-no-entry", name=member.name)
        _remove(parent, name)
        os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
        return
    if member.isdir():
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                _remove(parent, base)
                os.mkdir(base, 0o700, dir_fd=parent)
        except FileNotFoundError:
            os.mkdir(base, 0o700, dir_fd=parent)
        dirs.append(("/".join(parts), member))  # its mode and times are set at the end
        return
    _remove(parent, base)
    if member.isreg():
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
        try:
            data = tar.extractfile(member)
            while chunk := data.read(1 << 20):
                os.write(fd, chunk)
            _attrs(fd, None, member)
        finally:
            os.close(fd)
    elif member.issym():
        os.symlink(member.linkname, base, dir_fd=parent)  # made, never followed here
        _attrs(parent, base, member)
    elif member.islnk():
        target = _clean(member.linkname, "hard link target")
        if not target:
            raise UnsafeLayer("error.images.hard-link-has-no", name=member.name)
        *lup, lbase = target
        src = _walk(root, lup, create=False)
        try:
            os.link(lbase, base, src_dir_fd=src, dst_dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise UnsafeLayer("error.images.hard-link-no-such", name=member.name, linkname=member.linkname) from None
        finally:
            os.close(src)
    elif member.ischr() or member.isblk() or member.isfifo():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent)
        _attrs(parent, base, member)
    else:
        raise UnsafeLayer("error.images.layer-entry-has-type", name=member.name, type=member.type)


def _attrs(dir_fd: int, name: str | None, member: tarfile.TarInfo) -> None:
    """Owner, extended attributes, mode and times: of the open fd itself (name None), or of `name` in
    dir_fd without following it. chown before chmod: chown clears setuid bits."""
    target, kw = (dir_fd, {}) if name is None else (name, {"dir_fd": dir_fd, "follow_symlinks": False})
    os.chown(target, member.uid, member.gid, **kw)  # lchown for a symlink
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            attr = key[len("SCHILY.xattr."):]
            if attr.startswith(("trusted.overlay.", "user.overlay.")):  # either is overlayfs's, nested or not
                raise UnsafeLayer("error.images.layer-entry-carries-overlayfs", name=member.name, attr=attr)
            path = target if name is None else f"/proc/self/fd/{dir_fd}/{name}"
            try:
                os.setxattr(path, attr, value.encode("utf-8", "surrogateescape"),
                            **({} if name is None else {"follow_symlinks": False}))
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
    if not member.issym():  # a symlink's mode means nothing on Linux, and Linux has no lchmod; the
        # others here are what we just made in a directory we hold, not a symlink: chmod may follow
        os.chmod(target, member.mode & 0o7777, **({} if name is None else {"dir_fd": dir_fd}))
    os.utime(target, (member.mtime, member.mtime), **kw)
