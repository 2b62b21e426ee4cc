"""What `docker create` takes, checked on the client's side before anything is sent or made.

    opts = Options.check("busybox", "sleep 60", name="web", memory="64M")   # InvalidArgument if bad
    opts.to_json()  ->  {"image": "docker.io/library/busybox:latest", "command": ["sleep", "60"], ...}

Plain data that travels from a client to labkitd (create.py acts on it there). Kept light on
imports (no dataclasses, no image store): the CLI imports it on every `labkit run`.
"""

from __future__ import annotations

import math
import re
import shlex

from ..cgroups.units import check_memory_fits, check_pids_fit, parse_bytes, parse_count, parse_cpus
from ..errors import InvalidArgument
from ..images.reference import normalize
from . import state

MIN_MEMORY = 6 << 20  # docker refuses a smaller -m
MAX_TIMEOUT = 10**6  # seconds (11 days): beyond that, say -1
MAX_ID = 2**32 - 2  # (uid_t)-1 means "no change" to setuid
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
NAME_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")  # a user or group name, as useradd takes

FIELDS = ("image", "command", "name", "resources", "hostname", "env", "workdir", "user", "auto_remove", "trace", "log_opts",
          "network", "ports", "mounts", "tty", "interactive", "console_size")


class Options:
    """image: full name; command: argv or None (the image's Cmd); resources: Resources fields,
    e.g. {"memory": 67108864, "pids": 20}; env: ("K=V", ...); user: (uid, gid), or a name such as
    "nobody" or "nobody:nogroup" that create.py looks up in the image; network: "bridge", "none",
    "host", "container:NAME" or a network's name; ports: network/ports.py's published ports; mounts:
    filesystems/mount_specs.py's checked mounts (-v, --mount, --tmpfs); tty: -t, a terminal;
    interactive: -i, stdin open (daemon/stdin.py)."""

    __slots__ = FIELDS

    def __init__(self, image: str, command=None, name=None, resources=None, hostname=None, env=(), workdir=None,
                 user=(0, 0), auto_remove=False, trace=False, log_opts=None, network="bridge", ports=(), mounts=(),
                 tty=False, interactive=False, console_size=None):
        self.image, self.command, self.name = image, tuple(command) if command is not None else None, name
        self.resources, self.hostname, self.env = dict(resources or {}), hostname, tuple(env or ())
        self.workdir, self.user = workdir, user if isinstance(user, str) else tuple(user or (0, 0))
        self.auto_remove, self.trace = bool(auto_remove), bool(trace)
        self.log_opts = dict(log_opts or {})  # {"max-size": 10485760, "max-file": 3}: checked by parse_log_opts
        self.network, self.ports = network, [dict(p) for p in ports or ()]
        self.mounts = [dict(m) for m in mounts or ()]
        self.tty, self.interactive = bool(tty), bool(interactive)
        self.console_size = tuple(console_size) if console_size else None  # -t: (rows, cols) at the start

    @classmethod
    def check(cls, image: str, command=None, *, name=None, memory=None, cpus=None, pids_limit=None, hostname=None,
              env=None, workdir=None, user=None, rm=False, trace=False, log_opts=None, network=None,
              ports=None, volumes=None, mounts=None, tmpfs=None, tty=False, interactive=False,
              console_size=None) -> "Options":
        from ..filesystems.mount_specs import parse_all
        from ..network.networks import parse_mode
        from ..network.ports import parse_ports

        if not isinstance(image, str) or not image.strip():
            raise InvalidArgument(f"image {image!r} is not an image name", hint='e.g. "busybox".')
        res = resources(memory=memory, cpus=cpus, pids_limit=pids_limit)
        if workdir is not None:
            workdir = check_path(workdir, "working directory")
        if hostname is not None:
            check_hostname(hostname)
        if name is not None and name != "":
            if not isinstance(name, str):
                raise InvalidArgument(f"container name {name!r} is not text", hint='give a name such as "web".')
            state.check_name(name)
        return cls(image=normalize(image), command=split_command(command), name=name or None, resources=res,
                   hostname=hostname, env=env_list(env), workdir=workdir, user=parse_user(user), auto_remove=rm,
                   trace=trace, log_opts=parse_log_opts(log_opts), network=parse_mode(network),
                   ports=parse_ports(ports) if ports else [],
                   mounts=parse_all(volumes, mounts, tmpfs) if volumes or mounts or tmpfs else [], tty=tty,
                   interactive=interactive, console_size=check_console_size(console_size))

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in FIELDS}

    @classmethod
    def from_json(cls, d) -> "Options":
        """labkitd's side: the same checks again, since any process that can reach the socket can send
        anything (a hand-made request, a fuzzer). Refuses what check() would have refused."""
        if not isinstance(d, dict) or not isinstance(d.get("image"), str) or not d["image"]:
            raise InvalidArgument("the request's options have no image name")
        user = d.get("user") or (0, 0)
        if isinstance(user, (list, tuple)):
            if len(user) != 2 or not all(type(i) is int for i in user):
                raise InvalidArgument(f"user {user!r} is not [uid, gid]")
            user = f"{user[0]}:{user[1]}"
        env = d.get("env") or []
        if not isinstance(env, (list, tuple)) or not all(isinstance(e, str) and "=" in e for e in env):
            raise InvalidArgument(f"environment {env!r} is not a list of NAME=value")
        for flag in ("auto_remove", "trace", "tty", "interactive"):
            if not isinstance(d.get(flag, False), bool):
                raise InvalidArgument(f"{flag} {d[flag]!r} is not true or false")
        ports = d.get("ports") or []
        if not isinstance(ports, list) or not all(isinstance(p, dict) for p in ports):
            raise InvalidArgument(f"ports {ports!r} are not a list of published ports")
        try:  # back to docker's text form, checked again
            texts = [f"{p.get('host_ip') + ':' if p.get('host_ip') else ''}{int(p['host_port'])}:{int(p['port'])}/{p['proto']}"
                     for p in ports]
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(f"ports {ports!r} are not published ports") from None
        if any(p.get("host_port") == 0 for p in ports):
            raise InvalidArgument("a published port's host port is 0", hint="the client picks one: send it.")
        opts = cls.check(d["image"], d.get("command"), name=d.get("name"), hostname=d.get("hostname"), env=list(env),
                         workdir=d.get("workdir"), user=user, rm=d.get("auto_remove", False), trace=d.get("trace", False),
                         log_opts=d.get("log_opts"), network=d.get("network"), ports=texts, tty=d.get("tty", False),
                         interactive=d.get("interactive", False), console_size=d.get("console_size"))
        opts.resources = check_resources(d.get("resources") or {})
        if d.get("mounts"):
            from ..filesystems.mount_specs import check_all

            opts.mounts = check_all(d["mounts"])
        return opts

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in FIELDS) + ")"


def resources(*, memory=None, cpus=None, pids_limit=None) -> dict:
    """docker's -m, --cpus and --pids-limit, checked, as Resources fields: memory="64M", cpus=0.5,
    pids_limit=20 -> {"memory": 67108864, "cpu_quota": 50000, "pids": 20}. The one check for
    run, create and update, on the client and again in labkitd (check_resources)."""
    res = {}
    if memory is not None:
        res["memory"] = parse_bytes(memory)
        if res["memory"] < MIN_MEMORY:
            raise InvalidArgument(f"memory limit {memory!r} is below docker's minimum of 6 MiB",
                                  hint="a container's own start needs a few MiB: give at least \"6M\".")
        check_memory_fits(res["memory"])
    if cpus is not None:
        res["cpu_quota"] = parse_cpus(cpus)
    if pids_limit is not None:
        res["pids"] = parse_count(pids_limit)
        check_pids_fit(res["pids"])
    return res


def check_resources(res) -> dict:
    """labkitd's check of Resources fields a client sent (it may not have used resources() above):
    {"memory": 33554432} passes, {"memory": 1} or {"pids": 10**20} is refused."""
    from ..cgroups.resources import CPU_PERIOD_US

    if not isinstance(res, dict) or set(res) - {"memory", "cpu_quota", "pids"}:
        raise InvalidArgument(f"resources {res!r} are not memory, cpu_quota and pids",
                              hint='give memory="32M", cpus=0.5 or pids_limit=20.')
    for key, value in res.items():
        if type(value) is not int:
            raise InvalidArgument(f"{key} {value!r} is not a whole number")
    out = resources(memory=res.get("memory"), pids_limit=res.get("pids"))
    if "cpu_quota" in res:
        out["cpu_quota"] = parse_cpus(res["cpu_quota"] / CPU_PERIOD_US)
    return out


def check_console_size(size) -> tuple[int, int] | None:
    """A terminal's size when the command starts: [30, 100] (rows, columns), as `docker run -it`
    sends its window's in ConsoleSize; None or [0, 0] for the classic 24 x 80."""
    if size is None or (isinstance(size, (list, tuple)) and list(size) == [0, 0]):
        return None
    if (not isinstance(size, (list, tuple)) or len(size) != 2 or not all(type(n) is int and 0 < n < 65536 for n in size)):
        raise InvalidArgument(f"terminal size {size!r} is not [rows, columns]", hint="both between 1 and 65535, e.g. [24, 80].")
    return int(size[0]), int(size[1])


def parse_log_opts(opts) -> dict:
    """docker's --log-opt for the json-file driver: ["max-size=1m", "max-file=2"] or {"max-size": "1m"}
    -> {"max-size": 1048576, "max-file": 2}. Unset ones keep the lab's default (logs.py: 10m, 3)."""
    if opts is None:
        return {}
    if isinstance(opts, (list, tuple)):
        pairs = []
        for o in opts:
            if not isinstance(o, str) or "=" not in o:
                raise InvalidArgument(f"log option {o!r} is not KEY=VALUE", hint="e.g. --log-opt max-size=10m.")
            pairs.append(o.split("=", 1))
        opts = dict(pairs)
    if not isinstance(opts, dict):
        raise InvalidArgument(f"log options {opts!r} are not KEY=VALUE", hint='e.g. log_opts={"max-size": "10m"}.')
    out = {}
    for key, value in opts.items():
        if key == "max-size":
            out[key] = parse_bytes(value, "log max-size")
            if out[key] < 4096:
                raise InvalidArgument(f"log max-size {value!r} is below 4 KiB", hint="e.g. max-size=1m.")
        elif key == "max-file":
            out[key] = parse_count(value, "log max-file")
            if out[key] > 64:
                raise InvalidArgument(f"log max-file {value!r} is above 64", hint="e.g. max-file=3.")
        else:
            raise InvalidArgument(f"log option {key!r} is not known", hint="the json-file driver takes max-size and max-file.")
    return out


def parse_timeout(value) -> float | None:
    """Seconds for stop/restart's -t: 10, "2.5", 0; -1 means wait forever (None), as docker's.
    Refuses nan, inf and other negatives: a stop that never sends SIGKILL must be asked for."""
    try:
        if isinstance(value, bool):
            raise ValueError
        t = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"timeout {value!r} is not a number of seconds", hint="e.g. -t 10; -t -1 waits forever.") from None
    if t == -1:
        return None
    if not math.isfinite(t) or t < 0 or t > MAX_TIMEOUT:
        raise InvalidArgument(f"timeout {value!r} must be between 0 and {MAX_TIMEOUT} seconds, or -1",
                              hint="e.g. -t 10 (SIGKILL after 10 s); -t -1 waits forever.")
    return t


def check_hostname(hostname) -> None:
    """RFC 1123, as docker checks --hostname: labels of letters, digits and '-', not starting or
    ending with '-', at most 63 characters each, 253 in all: "box", "web-1.lab"."""
    if not isinstance(hostname, str) or not HOSTNAME_RE.match(hostname) or len(hostname) > 253:
        raise InvalidArgument(f"hostname {hostname!r} is not valid (RFC 1123)",
                              hint='use letters, digits and "-", in dot-separated parts: "box", "web-1.lab".')


def check_path(path, what: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise InvalidArgument(f"{what} {path!r} is not an absolute path", hint='give a path such as "/tmp".')
    return path


def split_command(command) -> tuple[str, ...] | None:
    """"echo hi" or ["echo", "hi"] -> ("echo", "hi"); None or "" -> None (the image's command)."""
    if command is None or command == "" or command == [] or command == ():
        return None
    if isinstance(command, str):
        try:
            args = shlex.split(command)
        except ValueError as e:
            raise InvalidArgument(f"cannot split command {command!r}: {e}", hint="check the quotes.") from None
    elif isinstance(command, (list, tuple)) and all(isinstance(a, str) for a in command):
        args = list(command)
    else:
        raise InvalidArgument(f"command {command!r} is not text or a list of text",
                              hint='give "echo hi" or ["echo", "hi"].')
    if not args:
        raise InvalidArgument("empty command", hint='give one: lk.run("busybox", "echo hi").')
    if not args[0] or any("\0" in a for a in args):
        from ..errors import CommandNotFound

        raise CommandNotFound(f"{args[0]!r} is not a command", hint='give a program name, e.g. "echo hi".')
    return tuple(args)


def parse_user(user) -> tuple[int, int] | str:
    """docker's -u: "65534", "65534:65534" -> (65534, 65534); a name ("nobody", "nobody:nogroup")
    is kept as text and looked up in the image's /etc/passwd and /etc/group when the container is made."""
    if user is None or user == "":
        return 0, 0
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    if not isinstance(user, str):
        raise InvalidArgument(f"user {user!r} is not a user", hint='give "65534", "65534:65534" or "nobody".')
    u, _, g = user.partition(":")
    if u.isdigit() and (not g or g.isdigit()):
        uid, gid = int(u), int(g or u)
        if uid > MAX_ID or gid > MAX_ID:
            raise InvalidArgument(f"user {user!r}: IDs go up to {MAX_ID}", hint='e.g. user="65534:65534".')
        return uid, gid
    if not all(NAME_ID_RE.match(part) for part in (u, g) if part or part is u):
        raise InvalidArgument(f"user {user!r} is not UID[:GID] or a name", hint='e.g. "65534:65534" or "nobody".')
    return user


def env_list(env) -> list[str]:
    """{"K": "v"} or ["K=v", "HOME"] -> ["K=v", ...]; a bare name takes the caller's value (docker's
    -e NAME), and is left out if the caller has none."""
    import os

    if env is None:
        return []
    if isinstance(env, dict):
        items = []
        for k, v in env.items():
            if not isinstance(k, str) or not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise InvalidArgument(f"environment entry {k!r}: {v!r} is not a name and a text value",
                                      hint='e.g. env={"GREETING": "hi"}.')
            items.append(f"{k}={v}")
    elif isinstance(env, (list, tuple)) and all(isinstance(e, str) for e in env):
        items = []
        for e in env:
            if "=" in e:
                items.append(e)
            elif e in os.environ:
                items.append(f"{e}={os.environ[e]}")
            elif not e:
                items.append("=")  # refused below
    else:
        raise InvalidArgument(f"environment {env!r} is not a dict or a list of NAME=value",
                              hint='e.g. env={"GREETING": "hi"} or ["GREETING=hi"].')
    for e in items:
        name = e.split("=", 1)[0]
        if not name or "\0" in e:
            raise InvalidArgument(f"environment entry {e!r} has no name", hint='give NAME=value, e.g. "GREETING=hi".')
    return items
