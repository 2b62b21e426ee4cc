"""labkit's records in the Docker Engine API's JSON shapes, and Docker's create body as labkit's
Options. Pure data: no kernel, no socket.

    container_summary(rec)   one row of GET /containers/json (`docker ps`)
    inspect(rec, cfg)        GET /containers/{id}/json (`docker inspect`): Id, Name, State, Config,
                             HostConfig, NetworkSettings, as scripts written for docker read them
    options_from_create(body, name)   POST /containers/create's body -> Options (checked as lk.run's)
"""

from __future__ import annotations

import platform
import shlex
import time

from ..images.reference import familiar
from .http import API_VERSION, MIN_API_VERSION

LABKIT_VERSION = "0.13"


def iso(t: float) -> str:
    """Docker's timestamps: "2026-11-28T17:20:05.123456789Z"; 0 is Go's zero time."""
    if not t:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def version() -> dict:
    uname = platform.uname()
    return {"Platform": {"Name": "labkit"}, "Version": LABKIT_VERSION, "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION, "GitCommit": "labkit", "GoVersion": "python" + platform.python_version(),
            "Os": "linux", "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(uname.machine, uname.machine),
            "KernelVersion": uname.release, "Components": [{"Name": "Engine", "Version": LABKIT_VERSION,
                                                             "Details": {"ApiVersion": API_VERSION}}]}


def status_text(rec: dict) -> str:
    from ..texts import describe

    return describe(rec)


def ports(rec: dict) -> list[dict]:
    return [{"IP": p.get("host_ip") or "0.0.0.0", "PrivatePort": p["port"], "PublicPort": p["host_port"],
             "Type": p["proto"]} for p in rec.get("ports", []) if rec.get("status") in ("running", "paused")]


def container_summary(rec: dict) -> dict:
    return {"Id": rec["id"], "Names": ["/" + rec["name"]], "Image": familiar(rec["image"]), "ImageID": "",
            "Command": shlex.join(rec["args"]), "Created": int(rec.get("created", 0)), "Ports": ports(rec),
            "Labels": {}, "State": rec["status"], "Status": status_text(rec),
            "HostConfig": {"NetworkMode": rec.get("network_mode", "default")},
            "NetworkSettings": {"Networks": networks(rec)}, "Mounts": rec.get("mounts", [])}


def networks(rec: dict) -> dict:
    return {name: {"IPAddress": ep["ip"], "IPPrefixLen": ep["prefix"], "Gateway": ep["gateway"], "MacAddress": ep["mac"],
                   "NetworkID": "", "EndpointID": ""} for name, ep in (rec.get("networks") or {}).items()}


def epoch(text) -> int:
    """An image config's "created" ("2026-11-27T23:59:59.123456789Z") as Unix seconds; 0 if none."""
    import calendar

    try:
        return calendar.timegm(time.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


def inspect(rec: dict, cfg: dict) -> dict:
    res = cfg.get("linux", {}).get("resources", {})
    proc = cfg.get("process", {})
    cpu = res.get("cpu", {})
    nano = int(cpu["quota"] * 1e9 / cpu["period"]) if cpu.get("quota") and cpu.get("period") else 0
    running = rec["status"] in ("running", "paused")
    first = next(iter(networks(rec).values()), {})
    return {
        "Id": rec["id"], "Name": "/" + rec["name"], "Created": iso(rec.get("created", 0)),
        "Path": rec["args"][0] if rec["args"] else "", "Args": rec["args"][1:],
        "State": {"Status": rec["status"], "Running": running, "Paused": rec["status"] == "paused",
                  "Restarting": False, "OOMKilled": bool(rec.get("oom_killed")), "Dead": False,
                  "Pid": rec.get("pid", 0) if running else 0, "ExitCode": rec.get("exit_code") or 0,
                  "Error": rec.get("error", ""), "StartedAt": iso(rec.get("started_at", 0)),
                  "FinishedAt": iso(rec.get("finished_at", 0))},
        "Image": rec["image"], "RestartCount": rec.get("restart_count", 0), "Driver": "overlay2",
        "Config": {"Hostname": cfg.get("hostname", ""), "Env": proc.get("env", []), "Cmd": rec["args"],
                   "Image": familiar(rec["image"]), "WorkingDir": proc.get("cwd", "/"), "Tty": bool(proc.get("terminal")),
                   "OpenStdin": bool(rec.get("interactive")), "AttachStdin": bool(rec.get("interactive")),
                   "User": f"{proc.get('user', {}).get('uid', 0)}:{proc.get('user', {}).get('gid', 0)}", "Labels": {}},
        "HostConfig": {"Memory": res.get("memory", {}).get("limit", 0), "NanoCpus": nano,
                       "PidsLimit": res.get("pids", {}).get("limit", 0), "AutoRemove": bool(rec.get("auto_remove")),
                       "NetworkMode": rec.get("network_mode", "default"),
                       "Binds": [f"{m.get('Name') or m['Source']}:{m['Destination']}{'' if m['RW'] else ':ro'}"
                                 for m in rec.get("mounts", []) if m["Type"] != "tmpfs"] or None,
                       "LogConfig": {"Type": "json-file", "Config": {
                           k[len("org.labkit.log."):]: v for k, v in cfg.get("annotations", {}).items()
                           if k.startswith("org.labkit.log.")}},
                       "PortBindings": {f"{p['port']}/{p['proto']}": [{"HostIp": p.get("host_ip", ""),
                                                                       "HostPort": str(p["host_port"])}]
                                        for p in rec.get("ports", [])}},
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": cfg.get("annotations", {}).get("org.labkit.rootfs.lower", "")}},
        "Mounts": rec.get("mounts", []),
        "NetworkSettings": {"IPAddress": first.get("IPAddress", ""), "Gateway": first.get("Gateway", ""),
                            "MacAddress": first.get("MacAddress", ""), "Networks": networks(rec),
                            "Ports": {f"{p['port']}/{p['proto']}": [{"HostIp": p.get("host_ip") or "0.0.0.0",
                                                                     "HostPort": str(p["host_port"])}]
                                      for p in rec.get("ports", [])}},
    }


def options_from_create(body: dict, name: str | None):
    """POST /containers/create's body as labkit's Options, checked as lk.run's are:
    {"Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["K=V"], "WorkingDir": "/tmp", "User": "65534",
     "Hostname": "box", "HostConfig": {"AutoRemove": true, "Memory": 67108864, "NanoCpus": 500000000,
     "PidsLimit": 50, "NetworkMode": "bridge", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}}"""
    from ..errors import InvalidArgument
    from ..runtime.options import Options

    if not isinstance(body, dict):
        raise InvalidArgument("error.api.create-body-json-object")
    hc = _typed(body, "HostConfig", dict) or {}

    def typed(key, kind):  # a wrong type is a 400 that names the field, never a 500 from deep inside
        return _typed(hc, key, kind, "HostConfig.")

    ports = []
    for cport, binds in (typed("PortBindings", dict) or {}).items():
        if binds is not None and (not isinstance(binds, list) or not all(isinstance(b, dict) or b is None for b in binds)):
            raise InvalidArgument("error.api.hostconfig-portbindings-list", cport=cport)
        for b in binds or [{}]:
            hip, hport = (b or {}).get("HostIp", ""), (b or {}).get("HostPort", "")
            ports.append(f"{hip + ':' if hip else ''}{hport}:{cport}" if hport else f"{cport}")
    binds = list(typed("Binds", list) or [])
    listed = typed("Mounts", list) or []
    if not all(isinstance(m, dict) for m in listed):
        raise InvalidArgument("error.api.hostconfig-mounts-list-mounts")
    mounts = [{"type": m.get("Type"), "source": m.get("Source", ""), "target": m.get("Target"),
               "readonly": bool(m.get("ReadOnly")), **_tmpfs_options(m)} for m in listed]
    # Config "Volumes": {"/data": {}} is -v /data (an anonymous volume), unless a bind or mount has that target.
    taken = {str(b).split(":")[1] for b in binds if str(b).count(":") >= 1} | {m["target"] for m in mounts}
    binds += [t for t in (_typed(body, "Volumes", (dict, list)) or {}) if t not in taken]
    tmpfs = [f"{t}:{o}" if o else t for t, o in (typed("Tmpfs", dict) or {}).items()]
    pids = typed("PidsLimit", int)
    typed("Memory", (int, str))
    cpus = _cpus(hc)
    log_opts = _log_opts(typed("LogConfig", dict) or {})
    _refuse_what_labkit_does_not_do(body, hc)
    mode = hc.get("NetworkMode") or "bridge"
    cmd = body.get("Cmd")
    entry = body.get("Entrypoint")
    if entry:
        cmd = (list(entry) if isinstance(entry, list) else [entry]) + list(cmd or [])
    return Options.check(
        body.get("Image", ""), cmd or None, name=name or None,
        memory=hc.get("Memory") or None, cpus=cpus, log_opts=log_opts,
        pids_limit=pids if pids and pids > 0 else None,
        hostname=body.get("Hostname") or None, env=body.get("Env") or None, workdir=body.get("WorkingDir") or None,
        user=body.get("User") or None, rm=bool(hc.get("AutoRemove")),
        network="bridge" if mode == "default" else mode, ports=ports or None, volumes=binds or None,
        mounts=mounts or None, tmpfs=tmpfs or None, tty=bool(body.get("Tty")), interactive=bool(body.get("OpenStdin")),
        console_size=typed("ConsoleSize", list) if body.get("Tty") else None)


def _cpus(hc: dict) -> float | None:
    """--cpus (NanoCpus: 500000000 is half a CPU), or --cpu-quota with --cpu-period (CpuQuota 50000 of
    CpuPeriod 100000, both in microseconds) as the same share of a CPU, checked as dockerd checks them
    (a period of 1 ms to 1 s, a quota of at least 1 ms, -1 or 0 for none; not both ways at once).
    labkit keeps the kernel's 100 ms period and sets the quota that gives the same share.
    --cpu-shares is a relative weight labkit does not set: refused, never dropped."""
    from ..cgroups.resources import CPU_PERIOD_US
    from ..errors import InvalidArgument

    nano, quota, period, shares = (_typed(hc, k, int, "HostConfig.") or 0 for k in ("NanoCpus", "CpuQuota", "CpuPeriod", "CpuShares"))
    if nano < 0:
        raise InvalidArgument("error.api.hostconfig-nanocpus-below-zero", nano=nano)
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("error.api.hostconfig-cpuperiod-between-ms", period=period)
    if quota and quota != -1 and quota < 1000:
        raise InvalidArgument("error.api.hostconfig-cpuquota-below-ms", quota=quota)
    if nano and (quota > 0 or period):
        raise InvalidArgument("error.api.hostconfig-nanocpus-hostconfig-cpuquota")
    if period and quota <= 0:
        raise InvalidArgument("error.api.hostconfig-cpuperiod-without-cpuquota", period=period)
    if shares:
        raise InvalidArgument("error.api.hostconfig-cpushares-labkit-does", shares=shares)
    if nano:
        return nano / 1e9
    if quota > 0:
        return quota / (period or CPU_PERIOD_US)
    return None


def _log_opts(cfg: dict) -> dict | None:
    """--log-driver json-file --log-opt max-size=1m: {"Type": "json-file", "Config": {"max-size": "1m"}};
    labkit's log is json-file's, so only that driver (or none named) is taken."""
    from ..errors import InvalidArgument

    if (cfg.get("Type") or "json-file") != "json-file":
        raise InvalidArgument("error.api.hostconfig-logconfig-type-labkit", cfg_type=cfg['Type'])
    opts = cfg.get("Config")
    if opts is not None and not isinstance(opts, dict):
        raise InvalidArgument("error.api.hostconfig-logconfig-config-object", opts=opts)
    return opts or None


#: Fields of a create labkit carries out (options_from_create above reads them), and those that
#: change nothing a container does: ExposedPorts only documents ports unless PublishAllPorts (-P),
#: ContainerIDFile and Attach*/StdinOnce are the client's own. ConsoleSize is the terminal's first size.
_TAKEN = {"Image", "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Hostname", "Tty", "OpenStdin", "Volumes",
          "HostConfig", "ExposedPorts", "AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"}
_HOST_TAKEN = {"Binds", "Mounts", "Tmpfs", "PortBindings", "NetworkMode", "AutoRemove", "Memory", "NanoCpus", "PidsLimit",
               "CpuQuota", "CpuPeriod", "CpuShares", "LogConfig", "ConsoleSize", "ContainerIDFile"}
#: Values that ask for what labkit does anyway, beyond empty ones (the docker CLI 28 sends these
#: for flags not given): "RestartPolicy": {"Name": "no"}, "MemorySwappiness": -1, ...
_ASKS_NOTHING = {"RestartPolicy": ({"Name": "no", "MaximumRetryCount": 0}, {"Name": "no"}),
                 "MemorySwappiness": (-1,), "CgroupnsMode": ("private",), "IpcMode": ("private", "shareable"),
                 "Isolation": ("default",)}


def _asks_nothing(key: str, value) -> bool:
    """A field's value that asks for nothing: null, "", 0, false, [], {} or an object of only such
    ({"EndpointsConfig": {"default": {"IPAMConfig": null, "Aliases": null, ...}}})."""
    if value is None or value in ("", 0, False, [], {}):
        return True
    if isinstance(value, dict) and all(_asks_nothing(k, v) for k, v in value.items()):
        return True
    return value in _ASKS_NOTHING.get(key, ())


def _refuse_what_labkit_does_not_do(body: dict, hc: dict) -> None:
    """`docker run --privileged`, `--cap-add`, `--restart always`, `-l k=v`, `--ip`: a field labkit
    does not carry out, given a value that asks for something, is a 400 naming it. Dropping it would
    run a container other than the one asked for, and say nothing."""
    from ..errors import InvalidArgument

    for key, value in body.items():
        if key not in _TAKEN and not _asks_nothing(key, value):
            raise InvalidArgument("error.api.not-done", v_key=key, value=_short(value))
    for key, value in hc.items():
        if key not in _HOST_TAKEN and not _asks_nothing(key, value):
            raise InvalidArgument("error.api.not-done", v_key=f"HostConfig.{key}", value=_short(value))


def _short(value) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _typed(d: dict, key: str, kind, prefix: str = ""):
    """d[key] if it is missing, null or of `kind`; else InvalidArgument naming the field."""
    from ..errors import InvalidArgument

    value = d.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    names = {dict: "an object", list: "a list", int: "a whole number", str: "text"}
    want = " or ".join(names.get(k, k.__name__) for k in (kind if isinstance(kind, tuple) else (kind,)))
    raise InvalidArgument("error.api.value", prefix=prefix, v_key=key, value=value, want=want)


def _tmpfs_options(m: dict) -> dict:
    """--mount type=tmpfs,tmpfs-size=16m,tmpfs-mode=1770 arrives as {"TmpfsOptions": {"SizeBytes":
    16777216, "Mode": 1016}}: the mode in decimal."""
    opts = m.get("TmpfsOptions") or {}
    out = {}
    if opts.get("SizeBytes"):
        out["tmpfs-size"] = opts["SizeBytes"]
    if opts.get("Mode"):
        out["tmpfs-mode"] = oct(opts["Mode"])[2:] if isinstance(opts["Mode"], int) else opts["Mode"]
    return out


def image_inspect(img, tags: list[str], size: int) -> dict:
    """GET /images/{name}/json: the config's fields where docker keeps them."""
    cfg = img.config
    return {"Id": img.id, "RepoTags": tags, "RepoDigests": [], "Parent": "", "Comment": "",
            "Created": cfg.get("created", "0001-01-01T00:00:00Z"), "Author": cfg.get("author", ""),
            "Config": cfg.get("config", {}), "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", "linux"),
            "Size": size, "GraphDriver": {"Name": "overlay2", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": [d for _, d in img.layers]}, "Metadata": {"LastTagTime": ""}}
