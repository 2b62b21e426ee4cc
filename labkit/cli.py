"""The `labkit` command, in docker's shape.

    labkit doctor [--json]
    labkit run [--rm] [--trace] [-m 64M] [--pids-limit 20] [-e K=V] [--hostname H] [-w DIR] [-u UID[:GID]] IMAGE [CMD...]
    labkit images
    labkit image build-default [--force]
    labkit reset [--yes] [--all]

Exit codes as docker's: a container's own exit code; 125 when labkit itself failed;
126 when the command cannot be executed; 127 when it is not found.
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit", description="A container lab on the real kernel.")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    d = sub.add_parser("doctor", help="check what this host can do")
    d.add_argument("--json", action="store_true", help="print the checks as JSON")

    r = sub.add_parser("run", help="run a command in a new container")
    r.add_argument("--rm", action="store_true", help="remove the container when it exits")
    r.add_argument("-m", "--memory", help='memory limit, e.g. "64M"')
    r.add_argument("--pids-limit", type=str, help="most processes at once")
    r.add_argument("-e", "--env", action="append", default=[], help="set an environment variable, NAME=value")
    r.add_argument("--hostname", help="the container's hostname")
    r.add_argument("-w", "--workdir", help="working directory inside the container")
    r.add_argument("-u", "--user", help="UID[:GID] to run as")
    r.add_argument("--trace", action="store_true", help="print each step of the run flow with its duration (on stderr)")
    r.add_argument("image")
    r.add_argument("command", nargs=argparse.REMAINDER)

    sub.add_parser("images", help="list the local images")
    im = sub.add_parser("image", help="manage images")
    isub = im.add_subparsers(dest="image_cmd", metavar="COMMAND", required=True)
    bd = isub.add_parser("build-default", help="build the offline busybox image (skipped if present)")
    bd.add_argument("--force", action="store_true", help="build it again even if present")
    bd.add_argument("-q", "--quiet", action="store_true")

    z = sub.add_parser("reset", help="remove everything labkit created on this host")
    z.add_argument("-y", "--yes", action="store_true", help="do not ask")
    z.add_argument("--all", action="store_true", help="every lab instance on this host, not only this LABKIT_ROOT's")
    return p


def main(argv: list[str] | None = None) -> int:
    from .errors import LabkitError

    args = _parser().parse_args(argv)
    try:
        if args.cmd == "doctor":
            return _doctor(args)
        if args.cmd == "run":
            return _run(args)
        if args.cmd == "images":
            return _images()
        if args.cmd == "image":
            return _build_default(args)
        if args.cmd == "reset":
            return _reset(args)
        _parser().print_help()
        return 0
    except LabkitError as e:
        print(f"labkit: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def _doctor(args) -> int:
    from .host.doctor import doctor

    report = doctor()
    print(report.to_json() if args.json else report)
    return 0 if report.ok else 1


def _run(args) -> int:
    from .runtime.run import run

    result = run(args.image, args.command or None, rm=args.rm, memory=args.memory, pids_limit=args.pids_limit,
                 hostname=args.hostname, env=args.env, workdir=args.workdir, user=args.user, inherit_stdio=True,
                 trace=args.trace)
    if args.trace:
        print(result.trace_table(), file=sys.stderr)
    return result.exit_code


def _images() -> int:
    from .images.reference import familiar
    from .images.store import ImageStore
    from .paths import instance

    store = ImageStore(instance())
    print(f"{'IMAGE':<40} {'ID':<14} LAYERS")
    for name in store.names():
        img = store.get(name)
        print(f"{familiar(name):<40} {img.id[7:19]:<14} {len(img.layers)}")
    return 0


def _build_default(args) -> int:
    from .errors import ImageNotFound
    from .images import default
    from .images.store import ImageStore
    from .paths import instance

    store = ImageStore(instance())
    try:
        img = None if args.force else store.get(default.NAME)
        note = "already present"
    except ImageNotFound:
        img = None
    if img is None:
        img, note = default.build(store), "built"
    if not args.quiet or note == "built":
        print(f"default image {default.NAME} {note}: {img.digest} ({img.config['config']['Labels']['org.labkit.source']})")
    return 0


def _reset(args) -> int:
    from .host.reset import reset

    if not args.yes:
        scope = "every labkit lab on this host" if args.all else "this lab"
        prompt = f"Remove everything {scope} created (containers, mounts, cgroups, netns, links, firewall rules, state)? [y/N] "
        try:
            answer = input(prompt)
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("reset: nothing removed", file=sys.stderr)
            return 1
    print(reset(all_instances=args.all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
