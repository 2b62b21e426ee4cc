"""The container verbs of the `labkit` command, in docker's shape and with docker's exit codes.

    labkit run -d --name web -m 64M busybox httpd -f     prints the new container's ID
    labkit ps -a                                          CONTAINER ID  IMAGE  COMMAND  CREATED  STATUS  NAMES
    labkit stop -t 2 web                                  prints "web"

Each function takes argparse's namespace (cli.py) and returns the exit status. They talk to
labkitd through client.py; only `logs` reads the log file itself.
"""

from __future__ import annotations

import json
import sys
import time

from ..errors import LabkitError
from . import client


def _options(args) -> dict:
    return dict(name=args.name, memory=args.memory, cpus=args.cpus, pids_limit=args.pids_limit, hostname=args.hostname,
                env=args.env, workdir=args.workdir, user=args.user, rm=args.rm)


def run(args) -> int:
    if args.detach:
        from .containers import run_detached

        print(run_detached(args.image, args.command or None, **_options(args)).id)
        return 0
    from .run import run as run_fg

    result = run_fg(args.image, args.command or None, inherit_stdio=True, trace=args.trace, **_options(args))
    if args.trace:
        print(result.trace_table(), file=sys.stderr)
    return result.exit_code


def create(args) -> int:
    from .containers import create as make

    print(make(args.image, args.command or None, **_options(args)).id)
    return 0


def _each(refs, op: str, **extra) -> int:
    """Apply `op` to each container, as docker does: print each one done, report each failure, go on."""
    status = 0
    for ref in refs:
        try:
            reply = client.call(op, id=ref, **extra)
            if op == "wait":
                print(reply["exit_code"])
            else:
                print(ref)
        except LabkitError as e:
            _error(e)
            status = 1
    return status


def _error(e: LabkitError) -> None:
    print(f"labkit: {e.message}", file=sys.stderr)
    if e.hint:
        print(f"hint: {e.hint}", file=sys.stderr)


def start(args) -> int:
    return _each(args.containers, "start")


def stop(args) -> int:
    return _each(args.containers, "stop", timeout=args.time)


def restart(args) -> int:
    return _each(args.containers, "restart", timeout=args.time)


def kill(args) -> int:
    return _each(args.containers, "kill", signal=args.signal)


def rm(args) -> int:
    return _each(args.containers, "rm", force=args.force)


def pause(args) -> int:
    return _each(args.containers, "pause")


def unpause(args) -> int:
    return _each(args.containers, "unpause")


def wait(args) -> int:
    return _each(args.containers, "wait")


def ps(args) -> int:
    from .containers import ContainerList

    records = client.call("ps", all=args.all)["containers"]
    if args.quiet:
        print("\n".join(r["id"][:12] for r in records))
    else:
        print(repr(ContainerList(records, None)))
    return 0


def inspect(args) -> int:
    out, status = [], 0
    for ref in args.containers:
        try:
            out.append(client.call("inspect", id=ref))
        except LabkitError as e:
            _error(e)
            status = 1
    print(json.dumps(out, indent=2))
    return status


def top(args) -> int:
    from .containers import Container, state
    from ..paths import instance

    print(repr(Container(state.resolve(instance(), args.container), "").top()))
    return 0


def exec_(args) -> int:
    from .options import env_list, parse_user, split_command

    argv = split_command(args.command)
    if not argv:
        from ..errors import InvalidArgument

        raise InvalidArgument("exec needs a command", hint="e.g. `labkit exec web ps`.")
    with client.open_call("exec", fds=(1, 2), id=args.container, args=list(argv), env=env_list(args.env),
                          workdir=args.workdir, user=parse_user(args.user) if args.user else None) as conn:
        conn.reply()
        return conn.reply()["exit_code"]


def logs(args) -> int:
    from ..paths import instance
    from . import state
    from .containers import format_log

    inst = instance()
    cid = state.resolve(inst, args.container)
    path = state.bundle_dir(inst, cid) / "log.json"
    offset = 0
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.splitlines():
            entry = json.loads(line)
            (sys.stdout if entry["stream"] == "stdout" else sys.stderr).write(format_log(entry, args.timestamps))
        sys.stdout.flush()
        sys.stderr.flush()
        if not args.follow:
            return 0
        rec = state.read(inst, cid)
        if rec is None or rec["status"] not in ("running", "created"):
            if not complete:
                return 0
            continue  # one more pass for lines written just before the exit
        time.sleep(0.1)


def stats(args) -> int:
    from ..cgroups.units import format_bytes

    refs = args.containers or [r["id"] for r in client.call("ps")["containers"]]
    while True:
        rows = []
        for ref in refs:
            try:
                got = client.call("stats", id=ref)
            except LabkitError as e:
                _error(e)
                return 1
            s = got["stats"] or {}
            mem, lim = s.get("memory_current"), s.get("memory_limit")
            rows.append((got["id"][:12], got["name"], "-" if mem is None else format_bytes(mem),
                         "-" if not lim else format_bytes(lim), str(s.get("pids_current", "-")),
                         f"{(s.get('cpu_usage_us') or 0) / 1e6:.2f}s"))
        print(f"{'CONTAINER ID':<14}{'NAME':<22}{'MEM USAGE':<12}{'LIMIT':<12}{'PIDS':<6}CPU TIME")
        for r in rows:
            print(f"{r[0]:<14}{r[1]:<22}{r[2]:<12}{r[3]:<12}{r[4]:<6}{r[5]}")
        if args.no_stream:
            return 0
        time.sleep(1)
        print()
