"""`create`: check a container's description and lay it out on disk, without starting anything.

    options = Options.check(image="busybox", command="sleep 60", name="web", memory="64M")  # options.py
    record, config = create(inst, store, options)                                         # in labkitd

Everything is checked in Options.check, before anything is created: a bad memory size, a relative
working directory or a taken name changes nothing. create() then makes, in this order, the bundle
directory (config.json, upper/, work/, rootfs/), the name link and state.json ("created"); if any
step fails, what was made is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from ...cgroups.resources import Resources
from ...errors import InvalidArgument
from ...images.store import ImageStore
from ...paths import Instance
from .. import state
from ..options import Options, parse_user
from ..spec import ContainerConfig
from . import mounting, networking


def create(inst: Instance, store: ImageStore, opts: Options, images: dict | None = None,
           starting: bool = False) -> tuple[dict, dict]:
    """Lay out a new container on disk; returns (state record, OCI config). `images` caches resolved
    images between calls (the supervisor keeps one): name -> (image, lower dirs). starting=True
    (`run`) marks the record, so that a labkitd killed before the start finished is seen to have been."""
    img, lowerdirs = resolve_image(store, opts.image, images)
    cfg = img.config.get("config", {})
    args = opts.command or tuple(cfg.get("Cmd") or ())
    if not args:
        raise InvalidArgument("error.runtime.no-command-given-image")
    cid = state.new_id()
    bundle = state.bundle_dir(inst, cid)
    name, anonymous = None, []
    try:
        for sub in ("upper", "work", "rootfs"):
            (bundle / sub).mkdir(parents=True)
        name = state.claim_name(inst, opts.name, cid)
        # docker's order: -u, else the image's USER ("65534", "nobody:nogroup"), else root
        user = opts.user if opts.user is not None else parse_user(cfg.get("User") or None)
        uid, gid = user if not isinstance(user, str) else lookup_user(lowerdirs, user)
        config = ContainerConfig(
            id=cid, image=opts.image, args=tuple(args), lowerdirs=tuple(lowerdirs),
            env=tuple(cfg.get("Env") or ()) + opts.env, cwd=opts.workdir or cfg.get("WorkingDir") or "/",
            hostname=opts.hostname or "", uid=uid, gid=gid,
            resources=Resources(**opts.resources()), cgroup=f"{inst.tag}/{cid}", instance=inst.tag, terminal=opts.tty,
            console_size=opts.console_size or (24, 80),
        ).to_oci()
        if opts.trace:
            config["annotations"]["org.labkit.trace"] = "1"
        from ...host.where import place

        if place().nested:  # root of a user namespace: PID 1 binds the outer /dev's nodes (no mknod), mounts
            config["annotations"]["org.labkit.nested"] = "1"  # the overlay with userxattr; no device rules
        for key, value in opts.log_opts.items():  # docker's --log-opt, read by labkitd's output pump
            config["annotations"][f"org.labkit.log.{key}"] = str(value)
        net = networking.prepare(inst, cid, name, opts.network, opts.ports, config["hostname"], bundle, config)
        shown, anonymous = mounting.prepare(inst, opts.mounts, lowerdirs, config)
        # One line, by json's C encoder: with indent, json encodes in Python, ~1.5 ms for the seccomp
        # profile alone on every create. `labkit inspect` and lk.container(...).config show it laid out.
        (bundle / "config.json").write_text(json.dumps(config))
        record = {"id": cid, "name": name, "image": opts.image, "args": list(args), "status": "created",
                  "created": time.time(), "started_at": 0.0, "finished_at": 0.0, "exit_code": None,
                  "oom_killed": False, "pid": 0, "pid_start": 0, "auto_remove": opts.rm,
                  "cgroup": f"{inst.tag}/{cid}", "restart_count": 0, **net}
        if shown:
            record["mounts"], record["anonymous_volumes"] = shown, anonymous
        if opts.tty or opts.interactive:
            record["tty"], record["interactive"] = opts.tty, opts.interactive
        if starting:
            record["starting"] = True
        state.write(inst, record)
    except BaseException:
        if name:
            state.release_name(inst, name, cid)
        networking.release(inst, cid)
        mounting.release(inst, anonymous)
        shutil.rmtree(bundle, ignore_errors=True)
        raise
    return record, config


def resolve_image(store: ImageStore, name: str, cache: dict | None):
    """(image, lower dirs) of `name`. The cache holds while index.json is the same file: a pull,
    tag or rmi replaces it (a new inode), and then every name is looked up again."""
    if cache is not None:
        try:
            st = os.stat(store.dir / "index.json")
            key = (st.st_ino, st.st_mtime_ns)
        except OSError:
            key = None
        if cache.get("\0index") != key:
            cache.clear()
            cache["\0index"] = key
        if name in cache:
            return cache[name]
    from ...images import default

    img = default.get_or_build(store, name)
    found = (img, [str(p) for p in store.unpack(img)])
    if cache is not None:
        cache[name] = found
    return found


def lookup_user(lowerdirs: list[str], spec: str) -> tuple[int, int]:
    """docker's -u by name, looked up in the image's own /etc/passwd and /etc/group (never the host's):
    "nobody" -> (65534, 65534) from "nobody:x:65534:65534:nobody:/home:/bin/false";
    "nobody:0" -> (65534, 0); "1000:nogroup" -> (1000, 65534)."""
    user, _, group = spec.partition(":")

    def entries(name: str) -> list[list[str]]:
        for layer in reversed(lowerdirs):  # the top layer's file wins, as in the merged view
            path = os.path.join(layer, "etc", name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, errors="replace") as f:
                    return [line.split(":") for line in f.read().splitlines() if line and not line.startswith("#")]
        return []

    if user.isdigit():
        uid, gid = int(user), int(user)
    else:
        found = next((e for e in entries("passwd") if len(e) >= 4 and e[0] == user), None)
        if found is None or not (found[2].isdigit() and found[3].isdigit()):
            raise InvalidArgument("error.runtime.unable-find-user-no", user=user)
        uid, gid = int(found[2]), int(found[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = next((e for e in entries("group") if len(e) >= 3 and e[0] == group), None)
            if found is None or not found[2].isdigit():
                raise InvalidArgument("error.runtime.unable-find-group-no", group=group)
            gid = int(found[2])
    return uid, gid
