"""`create`: check a container's description and lay it out on disk, without starting anything.

    options = Options.check(image="busybox", command="sleep 60", name="web", memory="64M")
    record, config = create(inst, store, options)

Everything is checked in Options.check, before anything is created: a bad memory size, a relative
working directory or a taken name changes nothing. create() then makes, in this order, the bundle
directory (config.json, upper/, work/, rootfs/), the name link and state.json ("created"); if any
step fails, what was made is removed.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from dataclasses import dataclass, field

from ..cgroups.resources import Resources
from ..cgroups.units import check_memory_fits, parse_bytes, parse_count, parse_cpus
from ..errors import ImageNotFound, InvalidArgument
from ..images.reference import normalize
from ..images.store import ImageStore
from ..paths import Instance
from . import state
from .spec import ContainerConfig


@dataclass(frozen=True)
class Options:
    """What `docker create` takes, checked: plain data that travels from a client to the supervisor."""

    image: str
    command: tuple[str, ...] | None = None
    name: str | None = None
    resources: dict = field(default_factory=dict)  # Resources fields, e.g. {"memory": 67108864, "pids": 20}
    hostname: str | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: tuple[int, int] = (0, 0)
    auto_remove: bool = False
    trace: bool = False

    @classmethod
    def check(cls, image: str, command=None, *, name=None, memory=None, cpus=None, pids_limit=None, hostname=None,
              env=None, workdir=None, user=None, rm=False, trace=False) -> "Options":
        if not isinstance(image, str) or not image:
            raise InvalidArgument(f"image {image!r} is not an image name", hint='e.g. "busybox".')
        res = {}
        if memory is not None:
            res["memory"] = parse_bytes(memory)
            check_memory_fits(res["memory"])
        if pids_limit is not None:
            res["pids"] = parse_count(pids_limit)
        if cpus is not None:
            res["cpu_quota"] = parse_cpus(cpus)
        if workdir is not None and not str(workdir).startswith("/"):
            raise InvalidArgument(f"working directory {workdir!r} is not absolute", hint='give a path such as "/tmp".')
        if hostname is not None and not (0 < len(hostname) <= 64):
            raise InvalidArgument(f"hostname {hostname!r} must be 1 to 64 characters")
        if name:
            state.check_name(name)
        return cls(image=normalize(image), command=split_command(command), name=name or None, resources=res,
                   hostname=hostname, env=tuple(env_list(env)), workdir=workdir, user=parse_user(user),
                   auto_remove=bool(rm), trace=bool(trace))

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, d: dict) -> "Options":
        d = dict(d)
        d["command"] = tuple(d["command"]) if d.get("command") is not None else None
        d["env"], d["user"] = tuple(d.get("env") or ()), tuple(d.get("user") or (0, 0))
        return cls(**d)


def create(inst: Instance, store: ImageStore, opts: Options, images: dict | None = None) -> tuple[dict, dict]:
    """Lay out a new container on disk; returns (state record, OCI config). `images` caches resolved
    images between calls (the supervisor keeps one): name -> (image, lower dirs)."""
    img, lowerdirs = _image(store, opts.image, images)
    cfg = img.config.get("config", {})
    args = opts.command or tuple(cfg.get("Cmd") or ())
    if not args:
        raise InvalidArgument("no command given and the image has none", hint='give one: lk.run("busybox", "echo hi").')
    cid = state.new_id()
    bundle = state.bundle_dir(inst, cid)
    name = None
    try:
        for sub in ("upper", "work", "rootfs"):
            (bundle / sub).mkdir(parents=True)
        name = state.claim_name(inst, opts.name, cid)
        config = ContainerConfig(
            id=cid, image=opts.image, args=tuple(args), lowerdirs=tuple(lowerdirs),
            env=tuple(cfg.get("Env") or ()) + opts.env, cwd=opts.workdir or cfg.get("WorkingDir") or "/",
            hostname=opts.hostname or "", uid=opts.user[0], gid=opts.user[1],
            resources=Resources(**opts.resources), cgroup=f"{inst.tag}/{cid}", instance=inst.tag,
        ).to_oci()
        if opts.trace:
            config["annotations"]["org.labkit.trace"] = "1"
        (bundle / "config.json").write_text(json.dumps(config, indent=1))
        record = {"id": cid, "name": name, "image": opts.image, "args": list(args), "status": "created",
                  "created": time.time(), "started_at": 0.0, "finished_at": 0.0, "exit_code": None,
                  "oom_killed": False, "pid": 0, "pid_start": 0, "auto_remove": opts.auto_remove,
                  "cgroup": f"{inst.tag}/{cid}", "restart_count": 0}
        state.write(inst, record)
    except BaseException:
        if name:
            state.release_name(inst, name, cid)
        shutil.rmtree(bundle, ignore_errors=True)
        raise
    return record, config


def _image(store: ImageStore, name: str, cache: dict | None):
    if cache is not None and name in cache:
        return cache[name]
    from ..images import default

    try:
        img = store.get(name)
    except ImageNotFound:
        if name != normalize(default.NAME):
            raise
        img = default.build(store)  # the offline default image is made on first use if set-up did not
    found = (img, [str(p) for p in store.unpack(img)])
    if cache is not None:
        cache[name] = found
    return found


def split_command(command) -> tuple[str, ...] | None:
    if command is None or command == "" or command == [] or command == ():
        return None
    if isinstance(command, str):
        try:
            args = shlex.split(command)
        except ValueError as e:
            raise InvalidArgument(f"cannot split command {command!r}: {e}", hint="check the quotes.") from None
    else:
        args = [str(a) for a in command]
    if not args:
        raise InvalidArgument("empty command", hint='give one: lk.run("busybox", "echo hi").')
    return tuple(args)


def parse_user(user) -> tuple[int, int]:
    if user is None or user == "":
        return 0, 0
    u, _, g = str(user).partition(":")
    if not u.isdigit() or (g and not g.isdigit()):
        raise InvalidArgument(f"user {user!r} must be numeric, as UID or UID:GID", hint='e.g. user="65534:65534".')
    return int(u), int(g or u)


def env_list(env) -> list[str]:
    if env is None:
        return []
    if isinstance(env, dict):
        return [f"{k}={v}" for k, v in env.items()]
    out = [str(e) for e in env]
    for e in out:
        if "=" not in e:
            raise InvalidArgument(f"environment entry {e!r} is not NAME=value", hint='e.g. env={"GREETING": "hi"}.')
    return out
