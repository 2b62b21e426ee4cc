"""The container verbs of the `labkit` command, in docker's shape and with docker's exit codes.

    labkit run -d --name web -m 64M busybox httpd -f     prints the new container's ID
    labkit ps -a                                          CONTAINER ID  IMAGE  COMMAND  CREATED  STATUS  PORTS  NAMES
    labkit stop -t 2 web                                  prints "web"

Each function takes argparse's namespace (cli.py) and returns the exit status. They talk to
labkitd through labkitd.py; only `logs` reads the log file itself.
"""

from __future__ import annotations

import json
import sys
import time

from ...errors import LabkitError
from . import labkitd


def run(args) -> int:
    from ..options import Options

    opts = Options.from_args(args)
    if args.detach:
        from .containers import run_detached

        print(run_detached(opts).id)
        return 0
    from .run import run as run_fg

    result = run_fg(opts, inherit_stdio=True, interactive=args.interactive)
    if args.trace:
        print(result.trace_table(), file=sys.stderr)
    return result.exit_code


def create(args) -> int:
    from ..options import Options
    from .containers import create as make

    print(make(Options.from_args(args)).id)
    return 0


def _each(refs, op: str, **extra) -> int:
    """Apply `op` to each container, as docker does: print each one done, report each failure, go on."""
    status = 0
    for ref in refs:
        try:
            reply = labkitd.call(op, id=ref, **extra)
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
        print(e.hint_line(), file=sys.stderr)


def start(args) -> int:
    return _each(args.containers, "start")


def stop(args) -> int:
    from ..options import parse_timeout

    parse_timeout(args.time)
    return _each(args.containers, "stop", timeout=float(args.time))


def restart(args) -> int:
    from ..options import parse_timeout

    parse_timeout(args.time)
    return _each(args.containers, "restart", timeout=float(args.time))


def kill(args) -> int:
    return _each(args.containers, "kill", signal=args.signal)


def rm(args) -> int:
    return _each(args.containers, "rm", force=args.force, volumes=args.volumes)


def pause(args) -> int:
    return _each(args.containers, "pause")


def unpause(args) -> int:
    return _each(args.containers, "unpause")


def wait(args) -> int:
    return _each(args.containers, "wait")


def ps(args) -> int:
    from .containers import ContainerList

    records = labkitd.call("ps", all=args.all)["containers"]
    if args.quiet:
        print("\n".join(r["id"][:12] for r in records))
    else:
        print(repr(ContainerList(records, None)))
    return 0


def inspect(args) -> int:
    """Docker's inspect shape (State.Pid, HostConfig.Memory, Mounts, NetworkSettings...), so scripts
    written for `docker inspect` work; labkit's own record and the OCI config.json under "Labkit"."""
    from ...api.shapes import inspect as docker_shape

    out, status = [], 0
    for ref in args.containers:
        try:
            info = labkitd.call("inspect", id=ref)
            out.append(dict(docker_shape(info["record"], info["config"]),
                            Labkit={"Record": info["record"], "Spec": info["config"], "Bundle": info["bundle"],
                                    "Log": info["log"]}))
        except LabkitError as e:
            _error(e)
            status = 1
    print(json.dumps(out, indent=2))
    return status


def top(args) -> int:
    from .containers import Container, state
    from ...paths import instance

    print(repr(Container(state.resolve(instance(), args.container), "").top()))
    return 0


def diff(args) -> int:
    from .containers import Container, state
    from ...paths import instance

    for kind, path in Container(state.resolve(instance(), args.container), "").diff().rows:
        print(f"{kind} {path}")
    return 0


def commit(args) -> int:
    from .containers import Container, state
    from ...images.reference import familiar
    from ...paths import instance

    name = Container(state.resolve(instance(), args.container), "").commit(
        args.image, comment=args.message or "", author=args.author or "")
    print(f"{familiar(name)}")
    return 0


def exec_(args) -> int:
    from ..options import env_list, parse_user, split_command

    argv = split_command(args.command)
    if not argv:
        from ...errors import InvalidArgument

        raise InvalidArgument("error.runtime.exec-needs-command")
    from .run import Output, exec_attached

    request = dict(env=env_list(args.env), workdir=args.workdir, user=parse_user(args.user) if args.user else None)
    if args.tty:
        from .terminal import exec_in_terminal

        return exec_in_terminal(None, args.container, argv, interactive=args.interactive, **request)
    return exec_attached(None, args.container, argv, Output(True, keep=False, raw=True),
                         feed=0 if args.interactive else None, **request)


def logs(args) -> int:
    """Print the log as labkitd sends it, a piece at a time (never the whole of it in memory); with
    -f, then each line as it is printed, until the container stops. A closed stdout (`| head`) ends
    it quietly."""
    from .containers import log_stream

    out = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    try:
        for stream, data in log_stream(None, args.container, tail=args.tail, timestamps=args.timestamps,
                                       follow=args.follow):
            out[stream].write(data)
            if args.follow:
                out[stream].flush()
        return 0
    except BrokenPipeError:
        # Whoever read our output is gone (`| head -3`): stop as other Unix tools do, without a traceback.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        return 141
    finally:
        for f in out.values():
            try:
                f.flush()
            except BrokenPipeError:
                pass


def update(args) -> int:
    from .containers import Container, state as st
    from ...paths import instance

    status = 0
    for ref in args.containers:
        try:
            Container(st.resolve(instance(), ref)).update(memory=args.memory, cpus=args.cpus, pids_limit=args.pids_limit)
            print(ref)
        except LabkitError as e:
            _error(e)
            status = 1
    return status


def build(args) -> int:
    from ...images.build import build as _build
    from ...images.store import ImageStore
    from ...paths import instance
    from .containers import run_step

    _build(args.context, ImageStore(instance()), run=run_step, tag=args.tag, dockerfile=args.file,
           out=lambda line: print(line, flush=True))
    return 0


def stats(args) -> int:
    """A live table like `docker stats`: redrawn every second on a terminal, once with --no-stream."""
    from ...cgroups.units import format_bytes
    from ...monitoring.sampler import Sampler
    from ...paths import instance
    from .containers import Container
    from .. import state as st

    inst = instance()
    if args.containers:
        targets = [Container(st.resolve(inst, ref), "", inst) for ref in args.containers]
    else:
        targets = [Container(r["id"], r["name"], inst) for r in labkitd.call("ps")["containers"]]
    if not targets:
        from ...catalog import text

        print(text("cli.say", "none-running"))
        return 0
    sampler = Sampler(*targets, interval=0.5, keep=4, host=False)
    tty = sys.stdout.isatty() and not args.no_stream
    try:
        sampler.sample_once()
        while True:
            time.sleep(0.5)
            seen = sampler.sample_once()
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J")
            print(f"{'NAME':<22}{'CPU %':>8}  {'MEM USAGE / LIMIT':<24}{'MEM %':>7}  {'PIDS':>5}  {'BLOCK I/O':<20}")
            for label in sampler.labels:
                f = sampler.latest(label)
                if f is None:
                    print(f"{label:<22}{'--':>8}  {'(not running)':<24}")
                    continue
                mem, lim = f.get("memory_current"), f.get("memory_limit")
                pct = f"{100 * mem / lim:.2f}%" if mem is not None and lim else "--"
                usage = f"{format_bytes(mem) if mem is not None else '--'} / {format_bytes(lim) if lim else 'no limit'}"
                cpu = f"{f['cpu_percent']:.2f}%" if f.get("cpu_percent") is not None else "--"
                io = f"{format_bytes(f.get('io_read_bytes') or 0)} / {format_bytes(f.get('io_write_bytes') or 0)}"
                print(f"{label:<22}{cpu:>8}  {usage:<24}{pct:>7}  {f.get('pids_current', '--'):>5}  {io:<20}")
            sys.stdout.flush()
            if args.no_stream or not seen:
                return 0
            time.sleep(0.5)
    finally:
        sampler.stop()
