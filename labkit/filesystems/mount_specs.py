"""What a container mounts besides its image: docker's -v, --mount and --tmpfs, as plain data.

    -v /srv/site:/usr/share/html:ro          {"type": "bind", "source": "/srv/site", "target": "/usr/share/html", "readonly": True}
    -v cache:/var/cache                      {"type": "volume", "source": "cache", "target": "/var/cache", "readonly": False}
    -v /data                                 {"type": "volume", "source": "", ...}   an anonymous volume, named at create
    --mount type=tmpfs,target=/run,tmpfs-size=16m
                                             {"type": "tmpfs", "source": "", "target": "/run", "size": 16777216, "mode": 1777}
    --tmpfs /run:size=16m                    the same

Checked on the client before anything is sent, and again in labkitd (check_all), which is the one
that decides: a bind source that does not exist is refused (docker -v would make an empty host
directory; a typo then mounts nothing and says nothing), and so is a target that is not a clean
absolute path, is "/" or lies under /proc or /sys (a mount there hides the kernel's files that
the masks protect). Nothing here touches the disk but os.path.exists; volumes.py keeps the named
volumes, container/rootfs.py makes the mounts.
"""

from __future__ import annotations

import os
import re

from ..errors import InvalidArgument

TYPES = ("bind", "volume", "tmpfs")
#: docker's rule for a volume name: "cache", "my_vol.1"; two characters at least.
VOLUME_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,127}$")
#: Targets refused: the kernel's own views, which the container's masks and read-only binds protect.
FORBIDDEN = ("/proc", "/sys")
DEFAULT_TMPFS_MODE = 0o1777


def mount(type_: str, target: str, source: str = "", readonly: bool = False, size: int | None = None,
          mode: int | None = None) -> dict:
    m = {"type": type_, "source": source, "target": target, "readonly": readonly}
    if type_ == "tmpfs":
        m["size"], m["mode"] = size, DEFAULT_TMPFS_MODE if mode is None else mode
    return m


def parse_volume(spec) -> dict:
    """docker's -v: "SOURCE:TARGET[:ro|rw]" or "TARGET" (an anonymous volume). SOURCE is a host path
    if it starts with "/", else a volume's name."""
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument("error.filesystems.volume-source-target-ro", spec=spec)
    parts = spec.split(":")
    if len(parts) == 1:
        return mount("volume", parts[0])
    if len(parts) > 3 or (len(parts) == 3 and parts[2] not in ("ro", "rw", "")):
        raise InvalidArgument("error.filesystems.volume-source-target-ro-2", spec=spec)
    source, target = parts[0], parts[1]
    kind = "bind" if source.startswith("/") else "volume"
    return mount(kind, target, source, readonly=len(parts) == 3 and parts[2] == "ro")


def parse_mount(spec) -> dict:
    """docker's --mount: "type=bind,source=/srv,target=/srv,readonly", "type=volume,src=cache,dst=/c",
    "type=tmpfs,target=/run,tmpfs-size=16m,tmpfs-mode=1770". A dict with the same keys works too."""
    from ..cgroups.units import parse_bytes

    if isinstance(spec, str):
        fields = {}
        for item in spec.split(","):
            key, eq, value = item.partition("=")
            fields[key.strip().lower()] = value if eq else "true"
    elif isinstance(spec, dict):
        fields = {str(k).lower(): v for k, v in spec.items()}
    else:
        raise InvalidArgument("error.filesystems.mount-key-value", spec=spec)
    type_ = str(fields.pop("type", "volume"))
    if type_ not in TYPES:
        raise InvalidArgument("error.filesystems.mount-type-one", type=type_, join=', '.join(TYPES))
    source = next((str(fields.pop(k)) for k in ("source", "src") if k in fields), "")
    target = next((fields.pop(k) for k in ("target", "destination", "dst") if k in fields), None)
    if target is None:
        raise InvalidArgument("error.filesystems.mount-has-no-target", spec=spec)
    readonly = False
    for key in ("readonly", "ro"):
        if key in fields:
            value = str(fields.pop(key)).lower()
            if value not in ("true", "1", "false", "0"):
                raise InvalidArgument("error.filesystems.mount-option-true-false", v_key=key, value=value)
            readonly = value in ("true", "1")
    size = mode = None
    if "tmpfs-size" in fields:
        size = parse_bytes(fields.pop("tmpfs-size"), "tmpfs size")
    if "tmpfs-mode" in fields:
        mode = _mode(fields.pop("tmpfs-mode"))
    fields.pop("volume-nocopy", None)  # labkit never copies the image's files into a new volume (see volumes.py)
    if fields.get("bind-propagation") in ("rprivate", "private"):  # what labkit does anyway: nothing propagates
        del fields["bind-propagation"]
    if fields:
        raise InvalidArgument("error.filesystems.mount-option-known-here", sorted_fields_0=sorted(fields)[0])
    if type_ == "tmpfs" and source:
        raise InvalidArgument("error.filesystems.tmpfs-mount-has-no")
    if type_ != "tmpfs" and (size is not None or mode is not None):
        raise InvalidArgument("error.filesystems.tmpfs-size-tmpfs-mode")
    if type_ == "bind" and not source:
        raise InvalidArgument("error.filesystems.bind-mount-needs-source")
    return mount(type_, str(target), source, readonly, size, mode)


def parse_tmpfs(spec) -> dict:
    """docker's --tmpfs: "/run" or "/run:size=16m,mode=1770"."""
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument("error.filesystems.tmpfs-target-size", spec=spec)
    target, _, opts = spec.partition(":")
    extra = ",".join(f"tmpfs-{o.strip()}" for o in opts.split(",") if o.strip())
    return parse_mount(f"type=tmpfs,target={target}" + ("," + extra if extra else ""))


def _mode(value) -> int:
    try:
        mode = int(str(value), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise InvalidArgument("error.filesystems.tmpfs-mode-octal-permissions", value=value)
    return mode


def parse_all(volumes=None, mounts=None, tmpfs=None) -> list[dict]:
    """Every mount of -v, --mount and --tmpfs, checked together (a target given twice is refused).
    volumes: ["/srv:/srv:ro", "cache:/c"], or docker-py's {"/srv": {"bind": "/srv", "mode": "ro"}}."""
    out = []
    if isinstance(volumes, dict):
        for source, v in volumes.items():
            if not isinstance(v, dict) or not isinstance(v.get("bind"), str):
                raise InvalidArgument("error.filesystems.volume", source=source, v=v)
            out.append(parse_volume(f"{source}:{v['bind']}:{v.get('mode', 'rw')}"))
    else:
        out += [parse_volume(v) for v in _listed(volumes, "volumes")]
    out += [parse_mount(m) for m in _listed(mounts, "mounts")]
    out += [parse_tmpfs(t) for t in _listed(tmpfs, "tmpfs")]
    return check_all(out)


def _listed(value, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InvalidArgument("error.filesystems.list", what=what, value=value)


def check_all(mounts) -> list[dict]:
    """The checks of every mount list, from this module's parsers or straight off the wire (labkitd)."""
    if not isinstance(mounts, list) or not all(isinstance(m, dict) for m in mounts):
        raise InvalidArgument("error.filesystems.mounts-are-list-mounts", mounts=mounts)
    seen, out = set(), []
    for m in mounts:
        type_, source, target = m.get("type"), m.get("source", ""), m.get("target")
        if type_ not in TYPES or not isinstance(source, str) or not isinstance(m.get("readonly", False), bool):
            raise InvalidArgument("error.filesystems.mount-mount", m=m)
        target = check_target(target)
        if target in seen:
            raise InvalidArgument("error.filesystems.mounted-twice", target=target)
        seen.add(target)
        if type_ == "bind":
            if not source.startswith("/") or "\0" in source:
                raise InvalidArgument("error.filesystems.bind-source-absolute-path", source=source)
            if not os.path.exists(source):
                raise InvalidArgument("error.filesystems.bind-source-path-does", source=source)
        elif type_ == "volume" and source and not VOLUME_NAME_RE.match(source):
            raise InvalidArgument("error.filesystems.volume-name-valid", source=source)
        clean = mount(type_, target, source, m.get("readonly", False), m.get("size"), m.get("mode"))
        if type_ == "tmpfs":
            if clean["size"] is not None and (type(clean["size"]) is not int or clean["size"] < 4096):
                raise InvalidArgument("error.filesystems.tmpfs-size-below-kib", clean_size=clean['size'])
            if type(clean["mode"]) is not int or not 0 <= clean["mode"] <= 0o7777:
                raise InvalidArgument("error.filesystems.tmpfs-mode-permissions", clean_mode=clean['mode'])
        out.append(clean)
    # Shallow targets first, as docker sorts them: /data before /data/cache, which lands inside it.
    return sorted(out, key=lambda m: m["target"].count("/"))


def check_target(target) -> str:
    """A clean absolute path inside the container: "/data" passes; "data", "/a/../b" and "/" do not."""
    if not isinstance(target, str) or not target.startswith("/") or "\0" in target:
        raise InvalidArgument("error.filesystems.mount-target-absolute-path", target=target)
    parts = [p for p in target.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidArgument("error.filesystems.mount-target-has", target=target)
    clean = "/" + "/".join(parts)
    if clean == "/":
        raise InvalidArgument("error.filesystems.mount-cannot-replace-container")
    for f in FORBIDDEN:
        if clean == f or clean.startswith(f + "/"):
            raise InvalidArgument("error.filesystems.mount-would-hide-kernel", clean=clean, f=f)
    return clean
