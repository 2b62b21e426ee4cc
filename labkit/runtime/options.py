"""What `docker create` takes, checked on the client's side before anything is sent or made.

    opts = Options.check("busybox", "sleep 60", name="web", memory="64M")   # InvalidArgument if bad
    opts.to_json()  ->  {"image": "docker.io/library/busybox:latest", "command": ["sleep", "60"], ...}

Plain data that travels from a client to labkitd (create.py acts on it there). Kept light on
imports (no dataclasses, no image store): the CLI imports it on every `labkit run`.
"""

from __future__ import annotations

import shlex

from ..cgroups.units import check_memory_fits, parse_bytes, parse_count, parse_cpus
from ..errors import InvalidArgument
from ..images.reference import normalize
from . import state

FIELDS = ("image", "command", "name", "resources", "hostname", "env", "workdir", "user", "auto_remove", "trace")


class Options:
    """image: full name; command: argv or None (the image's Cmd); resources: Resources fields,
    e.g. {"memory": 67108864, "pids": 20}; env: ("K=V", ...); user: (uid, gid)."""

    __slots__ = FIELDS

    def __init__(self, image: str, command=None, name=None, resources=None, hostname=None, env=(), workdir=None,
                 user=(0, 0), auto_remove=False, trace=False):
        self.image, self.command, self.name = image, tuple(command) if command is not None else None, name
        self.resources, self.hostname, self.env = dict(resources or {}), hostname, tuple(env or ())
        self.workdir, self.user = workdir, tuple(user or (0, 0))
        self.auto_remove, self.trace = bool(auto_remove), bool(trace)

    @classmethod
    def check(cls, image: str, command=None, *, name=None, memory=None, cpus=None, pids_limit=None, hostname=None,
              env=None, workdir=None, user=None, rm=False, trace=False) -> "Options":
        if not isinstance(image, str) or not image:
            raise InvalidArgument(f"image {image!r} is not an image name", hint='e.g. "busybox".')
        res = resources(memory=memory, cpus=cpus, pids_limit=pids_limit)
        if workdir is not None and not str(workdir).startswith("/"):
            raise InvalidArgument(f"working directory {workdir!r} is not absolute", hint='give a path such as "/tmp".')
        if hostname is not None and not (0 < len(hostname) <= 64):
            raise InvalidArgument(f"hostname {hostname!r} must be 1 to 64 characters")
        if name:
            state.check_name(name)
        return cls(image=normalize(image), command=split_command(command), name=name or None, resources=res,
                   hostname=hostname, env=env_list(env), workdir=workdir, user=parse_user(user), auto_remove=rm,
                   trace=trace)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in FIELDS}

    @classmethod
    def from_json(cls, d: dict) -> "Options":
        return cls(**{k: d[k] for k in FIELDS if k in d})

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in FIELDS) + ")"


def resources(*, memory=None, cpus=None, pids_limit=None) -> dict:
    """docker's -m, --cpus and --pids-limit, checked, as Resources fields: memory="64M", cpus=0.5,
    pids_limit=20 -> {"memory": 67108864, "cpu_quota": 50000, "pids": 20}."""
    res = {}
    if memory is not None:
        res["memory"] = parse_bytes(memory)
        check_memory_fits(res["memory"])
    if cpus is not None:
        res["cpu_quota"] = parse_cpus(cpus)
    if pids_limit is not None:
        res["pids"] = parse_count(pids_limit)
    return res


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
