"""The default image, `busybox`, built offline from what the host has.

Where the root filesystem comes from, first found wins:
  1. a busybox binary on the host (Debian's busybox-static puts one at /bin/busybox);
     a dynamically linked one brings its shared libraries along;
  2. otherwise the host's own programs (sh, ls, cat, ...) and the libraries they load.

The result is a real OCI image with one layer, stored like any pulled image
(see store.py), so `lk.run("busybox", ...)` works without the internet and the
images issue can later pull the real one over it. The build is deterministic:
the same busybox binary always gives the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import struct
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FeatureMissing
from .store import MT_CONFIG, MT_LAYER_GZIP, MT_MANIFEST, Image, ImageStore, canonical_json

NAME = "busybox:latest"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox")
HOST_PROGRAMS = "sh ls cat echo true false sleep hostname id env uname mkdir rm cp mv head tail grep wc ps touch date".split()
# Directories every image gets, with their modes (/tmp is world-writable and sticky).
SKELETON = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
            "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "var": 0o755}
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass
class RootfsPlan:
    """What goes into the layer: files copied from the host and symlinks, by path inside the image."""

    source: str  # how the image was made, for its history
    files: dict[str, str] = field(default_factory=dict)  # image path -> host path
    symlinks: dict[str, str] = field(default_factory=dict)  # image path -> link target


def find_busybox() -> str | None:
    found = shutil.which("busybox")
    for cand in ([found] if found else []) + list(BUSYBOX_CANDIDATES):
        if cand and os.access(cand, os.X_OK):
            return os.path.realpath(cand)
    return None


def is_static(path: str) -> bool:
    """True if the ELF file at `path` has no PT_INTERP program header (no dynamic loader needed)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # 3 = PT_INTERP


def shared_libraries(path: str) -> list[str]:
    """The libraries `path` loads, from ldd's lines such as
    "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"."""
    try:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                libs.append(parts[i + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def plan_rootfs() -> RootfsPlan:
    bb = find_busybox()
    if bb:
        static = is_static(bb)
        plan = RootfsPlan(source=f"busybox from {bb} ({'static' if static else 'dynamic'})")
        plan.files["bin/busybox"] = bb
        if not static:
            for lib in shared_libraries(bb):
                plan.files[lib.lstrip("/")] = lib
        try:
            applets = subprocess.run([bb, "--list"], capture_output=True, text=True, timeout=10).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            applets = []
        for applet in applets or ["sh", "ls", "cat", "echo", "true", "sleep"]:
            if "/" not in applet and applet != "busybox":
                plan.symlinks[f"bin/{applet}"] = "busybox"
        return plan
    plan = RootfsPlan(source="host programs and their libraries (no busybox on this host)")
    for prog in HOST_PROGRAMS:
        host = shutil.which(prog)
        if not host:
            continue
        plan.files[f"bin/{prog}"] = os.path.realpath(host)
        for lib in shared_libraries(host):
            plan.files[lib.lstrip("/")] = lib
    if "bin/sh" not in plan.files:
        raise FeatureMissing("error.images.no-busybox-no-shell")
    return plan


def _tar_layer(plan: RootfsPlan) -> bytes:
    """The layer as an uncompressed tar: every entry owned by root, dated 0, in sorted order."""
    entries: dict[str, tarfile.TarInfo] = {}
    contents: dict[str, bytes] = {}

    def add_dir(name: str, mode: int = 0o755) -> None:
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in entries:
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode = tarfile.DIRTYPE, SKELETON.get(d, 0o755)
                entries[d] = ti
        entries[name].mode = mode

    for d, mode in SKELETON.items():
        add_dir(d, mode)
    for name, host in plan.files.items():
        add_dir(os.path.dirname(name))
        data = Path(host).read_bytes()
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), os.stat(host).st_mode & 0o755
        entries[name], contents[name] = ti, data
    for name, target in plan.symlinks.items():
        add_dir(os.path.dirname(name))
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
        entries[name] = ti
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(text), 0o644
        entries[name], contents[name] = ti, text.encode()

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            ti = entries[name]
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = 0
            tar.addfile(ti, io.BytesIO(contents[name]) if name in contents else None)
    return buf.getvalue()


def get_or_build(store: ImageStore, name: str) -> Image:
    """store.get(name); the offline default image, built now, if that is the one asked for and set-up did
    not make it (run, create and build's FROM find it so on a fresh lab). ImageNotFound for any other."""
    from ..errors import ImageNotFound
    from .reference import normalize

    try:
        return store.get(name)
    except ImageNotFound:
        if normalize(name) != normalize(NAME):
            raise
        return build(store)


def build(store: ImageStore, name: str = NAME) -> Image:
    """Build the default image into `store` and tag it `name`. Safe to run again: same bytes, same digests."""
    plan = plan_rootfs()
    tar = _tar_layer(plan)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    layer_digest, layer_size = store.put_blob(gzip.compress(tar, compresslevel=6, mtime=0))
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = {
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"], "Labels": {"org.labkit.source": plan.source}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"labkit: {plan.source}"}],
    }
    config_digest, config_size = store.put_blob(canonical_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": MT_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = store.put_blob(canonical_json(manifest))
    store.tag(name, manifest_digest, manifest_size, platform={"architecture": arch, "os": "linux"})
    return store.get(name)
