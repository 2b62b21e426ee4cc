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
        raise InvalidArgument(f"volume {spec!r} is not SOURCE:TARGET[:ro]", hint='e.g. -v /srv/site:/site:ro or -v cache:/cache.')
    parts = spec.split(":")
    if len(parts) == 1:
        return mount("volume", parts[0])
    if len(parts) > 3 or (len(parts) == 3 and parts[2] not in ("ro", "rw", "")):
        raise InvalidArgument(f"volume {spec!r} is not SOURCE:TARGET[:ro|rw]",
                              hint='e.g. -v /srv/site:/site:ro; the mode is "ro" or "rw".')
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
        raise InvalidArgument(f"mount {spec!r} is not KEY=VALUE,...", hint="e.g. --mount type=bind,source=/srv,target=/srv.")
    type_ = str(fields.pop("type", "volume"))
    if type_ not in TYPES:
        raise InvalidArgument(f"mount type {type_!r} is not one of {', '.join(TYPES)}", hint="e.g. type=bind.")
    source = next((str(fields.pop(k)) for k in ("source", "src") if k in fields), "")
    target = next((fields.pop(k) for k in ("target", "destination", "dst") if k in fields), None)
    if target is None:
        raise InvalidArgument(f"mount {spec!r} has no target", hint="add target=/path/in/the/container.")
    readonly = False
    for key in ("readonly", "ro"):
        if key in fields:
            value = str(fields.pop(key)).lower()
            if value not in ("true", "1", "false", "0"):
                raise InvalidArgument(f"mount option {key}={value!r} is not true or false", hint="e.g. readonly or readonly=true.")
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
        raise InvalidArgument(f"mount option {sorted(fields)[0]!r} is not known here",
                              hint="labkit takes type, source, target, readonly, tmpfs-size and tmpfs-mode.")
    if type_ == "tmpfs" and source:
        raise InvalidArgument("a tmpfs mount has no source", hint="drop source=: type=tmpfs,target=/run.")
    if type_ != "tmpfs" and (size is not None or mode is not None):
        raise InvalidArgument("tmpfs-size and tmpfs-mode are for type=tmpfs")
    if type_ == "bind" and not source:
        raise InvalidArgument("a bind mount needs a source", hint="e.g. type=bind,source=/srv/site,target=/site.")
    return mount(type_, str(target), source, readonly, size, mode)


def parse_tmpfs(spec) -> dict:
    """docker's --tmpfs: "/run" or "/run:size=16m,mode=1770"."""
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument(f"tmpfs {spec!r} is not TARGET[:size=...]", hint="e.g. --tmpfs /run:size=16m.")
    target, _, opts = spec.partition(":")
    extra = ",".join(f"tmpfs-{o.strip()}" for o in opts.split(",") if o.strip())
    return parse_mount(f"type=tmpfs,target={target}" + ("," + extra if extra else ""))


def _mode(value) -> int:
    try:
        mode = int(str(value), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise InvalidArgument(f"tmpfs mode {value!r} is not octal permissions", hint="e.g. tmpfs-mode=1777.")
    return mode


def parse_all(volumes=None, mounts=None, tmpfs=None) -> list[dict]:
    """Every mount of -v, --mount and --tmpfs, checked together (a target given twice is refused).
    volumes: ["/srv:/srv:ro", "cache:/c"], or docker-py's {"/srv": {"bind": "/srv", "mode": "ro"}}."""
    out = []
    if isinstance(volumes, dict):
        for source, v in volumes.items():
            if not isinstance(v, dict) or not isinstance(v.get("bind"), str):
                raise InvalidArgument(f"volume {source!r}: {v!r} is not {{'bind': TARGET, 'mode': 'ro'|'rw'}}",
                                      hint='e.g. volumes={"/srv/site": {"bind": "/site", "mode": "ro"}}.')
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
    raise InvalidArgument(f"{what} {value!r} is not a list", hint=f'e.g. {what}=["/srv/site:/site:ro"].')


def check_all(mounts) -> list[dict]:
    """The checks of every mount list, from this module's parsers or straight off the wire (labkitd)."""
    if not isinstance(mounts, list) or not all(isinstance(m, dict) for m in mounts):
        raise InvalidArgument(f"mounts {mounts!r} are not a list of mounts")
    seen, out = set(), []
    for m in mounts:
        type_, source, target = m.get("type"), m.get("source", ""), m.get("target")
        if type_ not in TYPES or not isinstance(source, str) or not isinstance(m.get("readonly", False), bool):
            raise InvalidArgument(f"mount {m!r} is not a mount", hint="give type, source, target and readonly.")
        target = check_target(target)
        if target in seen:
            raise InvalidArgument(f"{target} is mounted twice", hint="give each target once.")
        seen.add(target)
        if type_ == "bind":
            if not source.startswith("/") or "\0" in source:
                raise InvalidArgument(f"bind source {source!r} is not an absolute path on the host",
                                      hint="e.g. -v /srv/site:/site (a name without / is a volume).")
            if not os.path.exists(source):
                raise InvalidArgument(f"bind source path does not exist: {source}",
                                      hint=f"make it first (mkdir -p {source}), or check the spelling.")
        elif type_ == "volume" and source and not VOLUME_NAME_RE.match(source):
            raise InvalidArgument(f"volume name {source!r} is not valid",
                                  hint='letters, digits, "_", "." and "-", starting with a letter or digit: "cache".')
        clean = mount(type_, target, source, m.get("readonly", False), m.get("size"), m.get("mode"))
        if type_ == "tmpfs":
            if clean["size"] is not None and (type(clean["size"]) is not int or clean["size"] < 4096):
                raise InvalidArgument(f"tmpfs size {clean['size']!r} is below 4 KiB", hint="e.g. tmpfs-size=16m.")
            if type(clean["mode"]) is not int or not 0 <= clean["mode"] <= 0o7777:
                raise InvalidArgument(f"tmpfs mode {clean['mode']!r} is not permissions")
        out.append(clean)
    # Shallow targets first, as docker sorts them: /data before /data/cache, which lands inside it.
    return sorted(out, key=lambda m: m["target"].count("/"))


def check_target(target) -> str:
    """A clean absolute path inside the container: "/data" passes; "data", "/a/../b" and "/" do not."""
    if not isinstance(target, str) or not target.startswith("/") or "\0" in target:
        raise InvalidArgument(f"mount target {target!r} is not an absolute path", hint='e.g. "/data".')
    parts = [p for p in target.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidArgument(f"mount target {target!r} has . or .. in it", hint="give the plain path, e.g. /data.")
    clean = "/" + "/".join(parts)
    if clean == "/":
        raise InvalidArgument("a mount cannot replace the container's root /", hint="mount on a directory such as /data.")
    for f in FORBIDDEN:
        if clean == f or clean.startswith(f + "/"):
            raise InvalidArgument(f"a mount on {clean} would hide the kernel's files under {f}",
                                  hint="those are the container's view of the kernel, masked and read-only on purpose.")
    return clean
