"""The `labkit` command, in docker's shape.

    labkit doctor [--json]
    labkit run [-d] [-it] [--name N] [--rm] [--trace] [-m 64M] [--cpus 0.5] [--pids-limit 20] [-e K=V] [--hostname H]
               [-w DIR] [-u UID[:GID]] [-v SRC:DST[:ro]] [--mount ...] [--tmpfs DST] IMAGE [CMD...]
    labkit create [same options] IMAGE [CMD...]      labkit start CONTAINER...
    labkit ps [-a] [-q]                              labkit logs [-f] [-t] CONTAINER
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

import argparse
import sys

from .cli_parser import Only as _Only, Parser as _Parser, lines as _lines


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line parser; with `only`, just that subcommand's (the full one for help)."""
    p = _Parser(prog="labkit", description="A container lab on the real kernel.")
    sub = _Only(p.add_subparsers(dest="cmd", metavar="COMMAND"), only)

    d = sub.add_parser("doctor", help="check what this host can do")
    d.add_argument("--json", action="store_true", help="print the checks as JSON")

    for verb, text in (("run", "run a command in a new container"), ("create", "create a container, not started")):
        r = sub.add_parser(verb, help=text)
        if verb == "run":
            r.add_argument("-d", "--detach", action="store_true", help="run in the background, print the container's ID")
            r.add_argument("-i", "--interactive", action="store_true", help="this command's stdin is the container's")
            r.add_argument("--trace", action="store_true", help="print each step of the run flow with its duration (on stderr)")
        r.add_argument("-t", "--tty", action="store_true", help="give the container a terminal (-it: a shell to type in)")
        r.add_argument("--name", help="a name for the container")
        r.add_argument("--rm", action="store_true", help="remove the container when it exits")
        r.add_argument("-m", "--memory", help='memory limit, e.g. "64M"')
        r.add_argument("--cpus", help="CPU limit, e.g. 0.5 for half a CPU")
        r.add_argument("--pids-limit", type=str, help="most processes at once")
        r.add_argument("-e", "--env", action="append", default=[], help="set an environment variable, NAME=value")
        r.add_argument("--hostname", help="the container's hostname")
        r.add_argument("-w", "--workdir", help="working directory inside the container")
        r.add_argument("-u", "--user", help="UID[:GID] or a user name of the image's")
        # Each option's dest is its name in Options (runtime/options.py): the CLI hands them on as they are.
        r.add_argument("--log-opt", dest="log_opts", action="append", default=None, metavar="KEY=VALUE",
                       help="json-file log options: max-size=10m, max-file=3 (the lab's defaults)")
        r.add_argument("--network", "--net", default=None,
                       help='"bridge" (default), "none", "host", "container:NAME" or a network\'s name')
        r.add_argument("-p", "--publish", dest="ports", action="append", default=None, metavar="[IP:]HOST_PORT:PORT[/PROTO]",
                       help="publish a container's port on the host, e.g. 8080:80, 127.0.0.1:8080:80, 5353:53/udp")
        r.add_argument("-v", "--volume", dest="volumes", action="append", default=None, metavar="SOURCE:TARGET[:ro]",
                       help="mount a host directory (/srv/site:/site) or a named volume (cache:/cache); TARGET alone: an anonymous volume")
        r.add_argument("--mount", dest="mounts", action="append", default=None, metavar="type=bind|volume|tmpfs,source=...,target=...",
                       help="docker's --mount, e.g. type=tmpfs,target=/run,tmpfs-size=16m")
        r.add_argument("--tmpfs", action="append", default=None, metavar="TARGET[:size=16m]", help="a tmpfs at TARGET")
        r.add_argument("image")
        r.add_argument("command", nargs=argparse.REMAINDER)

    ps = sub.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="every container, not only running ones")
    ps.add_argument("-q", "--quiet", action="store_true", help="only the IDs")

    lg = sub.add_parser("logs", help="what a container printed")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing until the container stops")
    lg.add_argument("-t", "--timestamps", action="store_true", help="show when each line was printed")
    lg.add_argument("-n", "--tail", type=_lines, default=None, metavar="N", help="only the last N lines")
    lg.add_argument("container")

    ex = sub.add_parser("exec", help="run a command in a running container")
    ex.add_argument("-i", "--interactive", action="store_true", help="this command's stdin is the process's")
    ex.add_argument("-t", "--tty", action="store_true", help="give it a terminal (-it: a shell to type in)")
    ex.add_argument("-e", "--env", action="append", default=[], help="set an environment variable, NAME=value")
    ex.add_argument("-w", "--workdir", help="working directory inside the container")
    ex.add_argument("-u", "--user", help="UID[:GID] to run as")
    ex.add_argument("container")
    ex.add_argument("command", nargs=argparse.REMAINDER)

    st = sub.add_parser("stop", help="stop containers: SIGTERM, then SIGKILL after a timeout")
    st.add_argument("-t", "--time", default="10", help="seconds to wait before SIGKILL (default 10; -1: never)")
    st.add_argument("containers", nargs="+")
    rs = sub.add_parser("restart", help="stop, then start containers")
    rs.add_argument("-t", "--time", default="10", help="seconds to wait before SIGKILL (default 10; -1: never)")
    rs.add_argument("containers", nargs="+")
    k = sub.add_parser("kill", help="send a signal to containers' main process")
    k.add_argument("-s", "--signal", default="KILL", help="signal name or number (default KILL)")
    k.add_argument("containers", nargs="+")
    rm = sub.add_parser("rm", help="remove containers")
    rm.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    rm.add_argument("-v", "--volumes", action="store_true", help="remove its anonymous volumes too (named ones stay)")
    rm.add_argument("containers", nargs="+")
    for verb, text in (("start", "start created or stopped containers"), ("pause", "freeze every process of containers"),
                       ("unpause", "thaw paused containers"), ("wait", "wait for containers to exit, print their exit codes"),
                       ("inspect", "print containers in docker inspect's shape (labkit's record and config.json under Labkit)")):
        sub.add_parser(verb, help=text).add_argument("containers", nargs="+")
    df = sub.add_parser("diff", help="what a container changed in its filesystem (A added, C changed, D deleted)")
    df.add_argument("container")
    cm = sub.add_parser("commit", help="save a container's changes as a new image")
    cm.add_argument("-m", "--message", help="a comment for the image's history")
    cm.add_argument("-a", "--author")
    cm.add_argument("container")
    cm.add_argument("image")
    tp = sub.add_parser("top", help="the processes inside a container")
    tp.add_argument("container")
    up = sub.add_parser("update", help="change running containers' limits")
    up.add_argument("-m", "--memory", help='memory limit, e.g. "64M"')
    up.add_argument("--cpus", help="CPU limit, e.g. 0.5")
    up.add_argument("--pids-limit", help="most processes at once")
    up.add_argument("containers", nargs="+")
    sts = sub.add_parser("stats", help="a live table of containers' CPU, memory, PIDs and I/O")
    sts.add_argument("--no-stream", action="store_true", help="print once and exit")
    sts.add_argument("containers", nargs="*")

    ims = sub.add_parser("images", help="list the local images")
    ims.add_argument("-q", "--quiet", action="store_true", help="only the image IDs")
    im = sub.add_parser("image", help="manage images")
    isub = im.add_subparsers(dest="image_cmd", metavar="COMMAND", required=True)
    bd = isub.add_parser("build-default", help="build the offline busybox image (skipped if present)")
    bd.add_argument("--force", action="store_true", help="build it again even if present")
    bd.add_argument("-q", "--quiet", action="store_true")
    ii = isub.add_parser("inspect", help="an image's config, manifest and layers, as JSON")
    ii.add_argument("images", nargs="+")
    pl = sub.add_parser("pull", help="pull an image from a registry")
    pl.add_argument("--platform", help="os/architecture[/variant], e.g. linux/arm64 (default: this machine's)")
    pl.add_argument("image")
    ph = sub.add_parser("push", help="push an image to the registry its name names")
    ph.add_argument("image")
    tg = sub.add_parser("tag", help="give an image another name")
    tg.add_argument("source")
    tg.add_argument("target")
    rmi = sub.add_parser("rmi", help="remove images (and the layers nothing else needs)")
    rmi.add_argument("-f", "--force", action="store_true", help="even if a container was made from it")
    rmi.add_argument("images", nargs="+")
    hs = sub.add_parser("history", help="the steps an image was made by")
    hs.add_argument("image")
    bu = sub.add_parser("build", help="build an image from a Dockerfile (each instruction a layer or a config change)")
    bu.add_argument("-t", "--tag", help="the new image's name")
    bu.add_argument("-f", "--file", default="Dockerfile", help="the Dockerfile's name in the context")
    bu.add_argument("context")
    sv = sub.add_parser("save", help="write images to a tar file (OCI layout and docker's manifest.json)")
    sv.add_argument("-o", "--output", required=True)
    sv.add_argument("images", nargs="+")
    ld = sub.add_parser("load", help="load images from a tar file or an OCI layout directory")
    ld.add_argument("-i", "--input", required=True)
    lg = sub.add_parser("login", help="log in to a registry (the credentials are kept, root-only)")
    lg.add_argument("-u", "--username", required=True)
    lg.add_argument("-p", "--password", help="better: --password-stdin")
    lg.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    lg.add_argument("registry")
    rg = sub.add_parser("registry", help="the lab's own registry server, on 127.0.0.1")
    rsub = rg.add_subparsers(dest="registry_cmd", metavar="COMMAND", required=True)
    rs = rsub.add_parser("start", help="start it")
    rs.add_argument("--port", type=int, default=5000)
    rs.add_argument("--user", action="append", metavar="NAME:PASSWORD", help="make it private (repeatable)")
    rf = rsub.add_parser("fill", help="push every image of an archive (labkit save, docker save) into it")
    rf.add_argument("archive")
    rsub.add_parser("stop", help="stop it (its images stay)")
    rsub.add_parser("ls", help="where it runs and what it holds")

    nw = sub.add_parser("network", help="manage networks (bridges, addresses, who is on which)")
    nsub = nw.add_subparsers(dest="network_cmd", metavar="COMMAND", required=True)
    nc = nsub.add_parser("create", help="make a network: a bridge and a subnet of its own")
    nc.add_argument("--subnet", help="e.g. 10.231.7.0/24 (a free one is picked if left out)")
    nc.add_argument("name")
    nl = nsub.add_parser("ls", help="list networks")
    nl.add_argument("-q", "--quiet", action="store_true", help="only the names")
    ni = nsub.add_parser("inspect", help="a network's record, as JSON")
    ni.add_argument("names", nargs="+")
    nr = nsub.add_parser("rm", help="remove networks (refused while containers are on them)")
    nr.add_argument("names", nargs="+")
    for verb in ("connect", "disconnect"):
        nv = nsub.add_parser(verb, help=f"{verb} a container {'to' if verb == 'connect' else 'from'} a network")
        nv.add_argument("network")
        nv.add_argument("container")
    nsub.add_parser("topology", help="draw the lab's networks, and print the ip/iptables commands that build them")

    pg = sub.add_parser("progress", help="the notebooks' exercises passed, by notebook (an instructor: --all)")
    pg.add_argument("--all", action="store_true", help="every learner of this lab, not only you")

    ap = sub.add_parser("api", help="labkitd's Docker Engine API (docker -H unix://.../docker.sock)")
    asub = ap.add_subparsers(dest="api_cmd", metavar="COMMAND", required=True)
    asub.add_parser("socket", help="print the API's Unix socket (for docker -H unix://...)")
    at = asub.add_parser("tcp", help="also serve it on tcp://127.0.0.1:PORT (root on this host for every local user)")
    at.add_argument("port", help='a port, e.g. 2375, or "off"')
    asub.add_parser("log", help="the last requests it answered (the docker CLI's too)")

    vo = sub.add_parser("volume", help="manage named volumes (directories that outlive containers)")
    vsub = vo.add_subparsers(dest="volume_cmd", metavar="COMMAND", required=True)
    vsub.add_parser("create", help="make a volume").add_argument("name", nargs="?")
    vl = vsub.add_parser("ls", help="list volumes")
    vl.add_argument("-q", "--quiet", action="store_true", help="only the names")
    vsub.add_parser("inspect", help="a volume's record, as JSON").add_argument("names", nargs="+")
    vsub.add_parser("rm", help="remove volumes and their files (refused while a container has one)").add_argument("names", nargs="+")

    z = sub.add_parser("reset", help="remove everything labkit created on this host")
    z.add_argument("-y", "--yes", action="store_true", help="do not ask")
    z.add_argument("--all", action="store_true", help="every lab instance on this host, not only this LABKIT_ROOT's")
    z.add_argument("--volumes", action="store_true", help="remove the named volumes too (kept otherwise: they are your data)")
    return p


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
            print(f"hint: {e.hint}", file=sys.stderr)
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
        note = "already present"
    except ImageNotFound:
        img = None
    if img is None:
        img, note = default.build(store), "built"
    if not args.quiet or note == "built":
        print(f"default image {default.NAME} {note}: {img.digest} ({img.config['config']['Labels']['org.labkit.source']})")
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
        raise InvalidArgument(f"{args.port!r} is not a port or \"off\"", hint="e.g. `labkit api tcp 2375`.")
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
    print(reset(all_instances=args.all, volumes=args.volumes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
