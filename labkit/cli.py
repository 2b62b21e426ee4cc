"""The `labkit` command, in docker's shape.

    labkit doctor [--json]
    labkit run [-d] [-it] [--name N] [--rm] [--trace] [-m 64M] [--cpus 0.5] [--pids-limit 20] [-e K=V] [--hostname H]
               [-w DIR] [-u UID[:GID]] [-v SRC:DST[:ro]] [--mount ...] [--tmpfs DST] IMAGE [CMD...]
    labkit create [same options] IMAGE [CMD...]      labkit start CONTAINER...
    labkit ps [-a] [-q]                              labkit logs [-f] [-t] [-n N] CONTAINER
    labkit exec [-it] [-e K=V] [-w DIR] [-u UID] CONTAINER CMD...
    labkit stop [-t 10] CONTAINER...                 labkit kill [-s KILL] CONTAINER...
    labkit pause|unpause|wait|restart CONTAINER...   labkit rm [-f] CONTAINER...
    labkit inspect CONTAINER... (docker's shape)     labkit top CONTAINER
    labkit diff CONTAINER                            labkit commit [-m MSG] CONTAINER IMAGE
    labkit stats [--no-stream] [CONTAINER...]       labkit update [-m 32M] [--cpus 0.5] [--pids-limit N] CONTAINER...
    labkit images [-q]                               labkit image inspect IMAGE...
    labkit pull [--platform linux/arm64] IMAGE       labkit push IMAGE
    labkit tag SOURCE TARGET                         labkit rmi [-f] IMAGE...
    labkit history IMAGE                             labkit login -u USER [--password-stdin] REGISTRY
    labkit save -o FILE IMAGE...                     labkit load -i FILE
    labkit build [-t NAME] [-f Dockerfile] CONTEXT
    labkit registry start [--port 5000] [--user NAME:PASSWORD] | fill ARCHIVE | stop | ls
    labkit image build-default [--force]
    labkit volume create|ls|inspect|rm [NAME...]     labkit api socket|log|tcp PORT|tcp off
    labkit progress [--all]
    labkit reset [--yes] [--all] [--volumes]

Exit codes as docker's: a container's own exit code; 125 when labkit itself failed;
126 when the command cannot be executed; 127 when it is not found.
"""

from __future__ import annotations

import sys

from .cli_parser import parser as _parser


_IMAGE_VERBS = ("pull", "push", "images", "tag", "rmi", "history", "save", "load", "login", "registry")  # images/commands.py
_ALL = ("doctor", "run", "create", "start", "ps", "logs", "exec", "stop", "restart", "kill", "rm", "pause", "unpause",
        "wait", "inspect", "top", "stats", "update", "diff", "commit", "build", "image", "network", "volume", "api", "progress", "reset") + _IMAGE_VERBS
_VERBS = ("run", "create", "start", "ps", "logs", "exec", "stop", "restart", "kill", "rm", "pause", "unpause", "wait",
          "inspect", "top", "stats", "update", "diff", "commit", "build")  # runtime/client/commands.py


def main(argv: list[str] | None = None) -> int:
    from .errors import LabkitError

    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), None)
    args = _parser(verb if verb in _ALL else None).parse_args(argv)
    try:
        if args.cmd == "doctor":
            return _doctor(args)
        if args.cmd in _VERBS:
            from .runtime.client import commands

            return getattr(commands, "exec_" if args.cmd == "exec" else args.cmd)(args)
        if args.cmd in _IMAGE_VERBS:
            from .images import commands as image_commands

            return getattr(image_commands, f"cmd_{args.cmd}")(args)
        if args.cmd == "image":
            if args.image_cmd == "inspect":
                from .images import commands as image_commands

                return image_commands.cmd_image_inspect(args)
            return _build_default(args)
        if args.cmd == "network":
            from .network import commands as network_commands

            return getattr(network_commands, f"cmd_{args.network_cmd}")(args)
        if args.cmd == "api":
            return _api(args)
        if args.cmd == "progress":
            from .exercises.progress import cmd_progress

            return cmd_progress(args)
        if args.cmd == "volume":
            from .filesystems import volume_api

            return getattr(volume_api, f"cmd_{args.volume_cmd}")(args)
        if args.cmd == "reset":
            return _reset(args)
        _parser().print_help()
        return 0
    except LabkitError as e:
        from .errors import NotFound

        print(f"labkit: {e.message}", file=sys.stderr)
        if e.hint:
            print(e.hint_line(), file=sys.stderr)
        if isinstance(e, NotFound) and args.cmd not in ("run", "create"):
            return 1  # docker: "No such container" exits 1 from every verb but run
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def _doctor(args) -> int:
    from .host.doctor import doctor

    report = doctor()
    print(report.to_json() if args.json else report)
    return 0 if report.ok else 1


def _build_default(args) -> int:
    from .errors import ImageNotFound
    from .images import default
    from .images.store import ImageStore
    from .paths import instance

    store = ImageStore(instance())
    try:
        img = None if args.force else store.get(default.NAME)
        note = "present"
    except ImageNotFound:
        img = None
    if img is None:
        img, note = default.build(store), "built"
    if not args.quiet or note == "built":
        from .catalog import text

        print(text("cli.say", f"default-{note}", name=default.NAME, digest=img.digest,
                   source=img.config["config"]["Labels"]["org.labkit.source"]))
    return 0


def _api(args) -> int:
    from . import api
    from .errors import InvalidArgument

    if args.api_cmd == "socket":
        print(api.socket())
    elif args.api_cmd == "log":
        print(repr(api.requests(50)))
    elif args.port == "off":
        api.listen_tcp(None)
    elif args.port.isdigit():
        print(api.listen_tcp(int(args.port)))
    else:
        raise InvalidArgument("error.cli.port-off", port=args.port)
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
            from .catalog import text

            print(text("cli.say", "reset-declined"), file=sys.stderr)
            return 1
    print(reset(all_instances=args.all, volumes=args.volumes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
