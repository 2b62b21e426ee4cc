"""What `docker create` takes, checked on the client's side before anything is sent or made.

    opts = Options.check("busybox", "sleep 60", name="web", memory="64M")   # InvalidArgument if bad
    opts.to_json()  ->  {"image": "docker.io/library/busybox:latest", "command": ["sleep", "60"],
                         "memory": 67108864, ...}

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

#: The options of a container, by the names lk.run takes (docker's -m is memory, --pids-limit is pids_limit,
#: --rm is rm): one name per idea, from lk.run's arguments to the wire and to labkitd's create.
FIELDS = ("image", "command", "name", "hostname", "env", "workdir", "user", "rm", "memory", "cpus", "pids_limit",
          "log_opts", "network", "ports", "mounts", "tty", "interactive", "console_size", "trace")


class Options:
    """A container's options, checked. image: full name; command: argv or None (the image's Cmd);
    memory: bytes; cpus: a number of CPUs; pids_limit: a count; env: ("K=V", ...); user: None (the image's USER, else root), (uid, gid),
    or a name such as "nobody" or "nobody:nogroup" that create.py looks up in the image; network:
    "bridge", "none", "host", "container:NAME" or a network's name; ports: network/ports.py's
    published ports; mounts: filesystems/mount_specs.py's checked mounts (-v, --mount, --tmpfs alike);
    tty: -t, a terminal; interactive: -i, stdin open (daemon/stdin.py); console_size: -t's (rows,
    columns) at the start; trace: time each step of the start."""

    __slots__ = FIELDS

    def __init__(self, image: str, command=None, name=None, hostname=None, env=(), workdir=None, user=None,
                 rm=False, memory=None, cpus=None, pids_limit=None, log_opts=None, network="bridge", ports=(),
                 mounts=(), tty=False, interactive=False, console_size=None, trace=False):
        self.image, self.command, self.name = image, tuple(command) if command is not None else None, name
        self.hostname, self.env, self.workdir = hostname, tuple(env or ()), workdir
        self.user = user if isinstance(user, str) or user is None else tuple(user)  # None: the image's USER
        self.rm, self.memory, self.cpus, self.pids_limit = bool(rm), memory, cpus, pids_limit
        self.log_opts = dict(log_opts or {})  # {"max-size": 10485760, "max-file": 3}: checked by parse_log_opts
        self.network, self.ports = network, [dict(p) for p in ports or ()]
        self.mounts = [dict(m) for m in mounts or ()]
        self.tty, self.interactive, self.trace = bool(tty), bool(interactive), bool(trace)
        self.console_size = tuple(console_size) if console_size else None

    #: the options `labkit run` and `create` take, by their names here (the CLI parser's dests are the same)
    CLI = ("name", "memory", "cpus", "pids_limit", "hostname", "env", "workdir", "user", "rm", "log_opts", "network",
           "ports", "volumes", "mounts", "tmpfs", "tty")

    @classmethod
    def from_args(cls, args, environ=None) -> "Options":
        """The CLI's parsed `run`/`create` (argparse's namespace), checked. environ: the caller's
        environment, for -e NAME without a value (labkitd's own is not the caller's)."""
        given = {k: getattr(args, k) for k in cls.CLI}
        if environ is not None and given["env"]:
            given["env"] = [e if "=" in e else f"{e}={environ[e]}" for e in given["env"] if "=" in e or e in environ]
        return cls.check(args.image, args.command or None, trace=getattr(args, "trace", False), **given)

    @classmethod
    def check(cls, image: str, command=None, *, name=None, hostname=None, env=None, workdir=None, user=None,
              rm=False, memory=None, cpus=None, pids_limit=None, log_opts=None, network=None, ports=None,
              volumes=None, mounts=None, tmpfs=None, tty=False, interactive=False, console_size=None,
              trace=False) -> "Options":
        """lk.run's options as a learner gives them ("64M", "8080:80", "/srv:/site:ro"), checked; the
        one check, on the client and again in labkitd (from_json)."""
        from ..filesystems.mount_specs import parse_all
        from ..network.networks import parse_mode
        from ..network.ports import parse_ports

        if not isinstance(image, str) or not image.strip():
            raise InvalidArgument("error.runtime.image-image-name", image=image)
        checked = limits(memory=memory, cpus=cpus, pids_limit=pids_limit)
        if workdir is not None:
            workdir = check_path(workdir, "working directory")
        if hostname is not None:
            check_hostname(hostname)
        if name is not None and name != "":
            if not isinstance(name, str):
                raise InvalidArgument("error.runtime.container-name-text", name=name)
            state.check_name(name)
        for flag, value in (("rm", rm), ("tty", tty), ("interactive", interactive), ("trace", trace)):
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise InvalidArgument("error.runtime.true-false", flag=flag, value=value)
        return cls(image=normalize(image), command=split_command(command), name=name or None, hostname=hostname,
                   env=env_list(env), workdir=workdir, user=parse_user(user) if user not in (None, "") else None, rm=rm,
                   memory=checked.get("memory"), cpus=checked.get("cpus"), pids_limit=checked.get("pids_limit"), log_opts=parse_log_opts(log_opts), network=parse_mode(network),
                   ports=parse_ports(ports) if ports else [],
                   mounts=parse_all(volumes, mounts, tmpfs) if volumes or mounts or tmpfs else [], tty=tty,
                   interactive=interactive, console_size=check_console_size(console_size), trace=trace)

    def resources(self) -> dict:
        """The cgroup's settings (Resources fields): memory=67108864, cpus=0.5, pids_limit=20 ->
        {"memory": 67108864, "cpu_quota": 50000, "pids": 20}."""
        return resources(memory=self.memory, cpus=self.cpus, pids_limit=self.pids_limit)

    def to_json(self) -> dict:
        """What travels to labkitd: the checked values, by the same names."""
        return {k: getattr(self, k) for k in FIELDS}

    @classmethod
    def from_json(cls, d) -> "Options":
        """labkitd's side: the same checks again, on the checked forms (any process that can reach
        the socket can send anything: a hand-made request, a fuzzer). Refuses what check() refuses."""
        from ..filesystems.mount_specs import check_all
        from ..network.ports import check_published

        if not isinstance(d, dict) or not isinstance(d.get("image"), str) or not d["image"]:
            raise InvalidArgument("error.runtime.request-s-options-have")
        unknown = set(d) - set(FIELDS)
        if unknown:
            raise InvalidArgument("error.runtime.unknown-options", sorted_unknown=sorted(unknown), join=', '.join(FIELDS))
        env = d.get("env") or []
        if not isinstance(env, (list, tuple)) or not all(isinstance(e, str) and "=" in e for e in env):
            raise InvalidArgument("error.runtime.environment-list-name-value", env=env)
        for flag in ("rm", "trace", "tty", "interactive"):
            if not isinstance(d.get(flag, False), bool):
                raise InvalidArgument("error.runtime.true-false-2", flag=flag, d_flag=d[flag])
        for key in ("memory", "pids_limit"):
            if d.get(key) is not None and type(d[key]) is not int:
                raise InvalidArgument("error.runtime.whole-number", v_key=key, d_key=d[key])
        opts = cls.check(d["image"], d.get("command"), name=d.get("name"), hostname=d.get("hostname"), env=list(env),
                         workdir=d.get("workdir"), user=d.get("user"), rm=d.get("rm", False), memory=d.get("memory"),
                         cpus=d.get("cpus"), pids_limit=d.get("pids_limit"), log_opts=d.get("log_opts"),
                         network=d.get("network"), tty=d.get("tty", False), interactive=d.get("interactive", False),
                         console_size=d.get("console_size"), trace=d.get("trace", False))
        opts.ports = check_published(d.get("ports") or [])
        opts.mounts = check_all(d["mounts"]) if d.get("mounts") else []
        return opts

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in FIELDS) + ")"


def limits(*, memory=None, cpus=None, pids_limit=None) -> dict:
    """docker's -m, --cpus and --pids-limit, checked, the ones given: memory="64M", cpus=0.5,
    pids_limit=20 -> {"memory": 67108864, "cpus": 0.5, "pids_limit": 20}. The one check for run,
    create and update, on the client and again in labkitd (which gets these forms back: 67108864
    passes as "64M" did, 1 or 10**20 is refused)."""
    out = {}
    if memory is not None:
        out["memory"] = parse_bytes(memory)
        if out["memory"] < MIN_MEMORY:
            raise InvalidArgument("error.runtime.memory-limit-below-docker", memory=memory)
        check_memory_fits(out["memory"])
    if cpus is not None:
        parse_cpus(cpus)  # refuses what the kernel or docker would
        out["cpus"] = float(cpus)
    if pids_limit is not None:
        out["pids_limit"] = parse_count(pids_limit)
        check_pids_fit(out["pids_limit"])
    return out


def resources(*, memory=None, cpus=None, pids_limit=None) -> dict:
    """The same, checked, as the cgroup's settings (Resources fields): memory="64M", cpus=0.5,
    pids_limit=20 -> {"memory": 67108864, "cpu_quota": 50000, "pids": 20}."""
    checked = limits(memory=memory, cpus=cpus, pids_limit=pids_limit)
    names = {"memory": "memory", "cpus": "cpu_quota", "pids_limit": "pids"}
    return {names[k]: parse_cpus(v) if k == "cpus" else v for k, v in checked.items()}


def check_console_size(size) -> tuple[int, int] | None:
    """A terminal's size when the command starts: [30, 100] (rows, columns), as `docker run -it`
    sends its window's in ConsoleSize; None or [0, 0] for the classic 24 x 80."""
    if size is None or (isinstance(size, (list, tuple)) and list(size) == [0, 0]):
        return None
    if (not isinstance(size, (list, tuple)) or len(size) != 2 or not all(type(n) is int and 0 < n < 65536 for n in size)):
        raise InvalidArgument("error.runtime.terminal-size-rows-columns", size=size)
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
                raise InvalidArgument("error.runtime.log-option-key-value", o=o)
            pairs.append(o.split("=", 1))
        opts = dict(pairs)
    if not isinstance(opts, dict):
        raise InvalidArgument("error.runtime.log-options-are-key", opts=opts)
    out = {}
    for key, value in opts.items():
        if key == "max-size":
            out[key] = parse_bytes(value, "log max-size")
            if out[key] < 4096:
                raise InvalidArgument("error.runtime.log-max-size-below", value=value)
        elif key == "max-file":
            out[key] = parse_count(value, "log max-file")
            if out[key] > 64:
                raise InvalidArgument("error.runtime.log-max-file-above", value=value)
        else:
            raise InvalidArgument("error.runtime.log-option-known", v_key=key)
    return out


def parse_timeout(value) -> float | None:
    """Seconds for stop/restart's -t: 10, "2.5", 0; -1 means wait forever (None), as docker's.
    Refuses nan, inf and other negatives: a stop that never sends SIGKILL must be asked for."""
    try:
        if isinstance(value, bool):
            raise ValueError
        t = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument("error.runtime.timeout-number-seconds", value=value) from None
    if t == -1:
        return None
    if not math.isfinite(t) or t < 0 or t > MAX_TIMEOUT:
        raise InvalidArgument("error.runtime.timeout-must-between-seconds", value=value, max_timeout=MAX_TIMEOUT)
    return t


def check_hostname(hostname) -> None:
    """RFC 1123, as docker checks --hostname: labels of letters, digits and '-', not starting or
    ending with '-', at most 63 characters each, 253 in all: "box", "web-1.lab"."""
    if not isinstance(hostname, str) or not HOSTNAME_RE.match(hostname) or len(hostname) > 253:
        raise InvalidArgument("error.runtime.hostname-valid-rfc", hostname=hostname)


def check_path(path, what: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise InvalidArgument("error.runtime.absolute-path", what=what, path=path)
    return path


def split_command(command) -> tuple[str, ...] | None:
    """"echo hi" or ["echo", "hi"] -> ("echo", "hi"); None or "" -> None (the image's command)."""
    if command is None or command == "" or command == [] or command == ():
        return None
    if isinstance(command, str):
        try:
            args = shlex.split(command)
        except ValueError as e:
            raise InvalidArgument("error.runtime.cannot-split-command", command=command, e=e) from None
    elif isinstance(command, (list, tuple)) and all(isinstance(a, str) for a in command):
        args = list(command)
    else:
        raise InvalidArgument("error.runtime.command-text-list-text", command=command)
    if not args:
        raise InvalidArgument("error.runtime.empty-command")
    if not args[0] or any("\0" in a for a in args):
        from ..errors import CommandNotFound

        raise CommandNotFound("error.runtime.command", args_0=args[0])
    return tuple(args)


def parse_user(user) -> tuple[int, int] | str:
    """docker's -u: "65534", "65534:65534" -> (65534, 65534); a name ("nobody", "nobody:nogroup")
    is kept as text and looked up in the image's /etc/passwd and /etc/group when the container is made."""
    if user is None or user == "":
        return 0, 0
    if isinstance(user, (list, tuple)):  # the checked form, [65534, 65534], as it travels to labkitd
        if len(user) != 2 or not all(type(i) is int for i in user):
            raise InvalidArgument("error.runtime.user-uid-gid", user=user)
        user = f"{user[0]}:{user[1]}"
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    if not isinstance(user, str):
        raise InvalidArgument("error.runtime.user-user", user=user)
    u, _, g = user.partition(":")
    if u.isdigit() and (not g or g.isdigit()):
        uid, gid = int(u), int(g or u)
        if uid > MAX_ID or gid > MAX_ID:
            raise InvalidArgument("error.runtime.user-ids-go-up", user=user, max_id=MAX_ID)
        return uid, gid
    if not all(NAME_ID_RE.match(part) for part in (u, g) if part or part is u):
        raise InvalidArgument("error.runtime.user-uid-gid-name", user=user)
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
                raise InvalidArgument("error.runtime.environment-entry-name-text", k=k, v=v)
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
        raise InvalidArgument("error.runtime.environment-dict-list-name", env=env)
    for e in items:
        name = e.split("=", 1)[0]
        if not name or "\0" in e:
            raise InvalidArgument("error.runtime.environment-entry-has-no", e=e)
    return items
