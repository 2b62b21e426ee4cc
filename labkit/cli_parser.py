"""The `labkit` command's grammar: every verb and option, in argparse, made cheap to start (the
CLI's `run` is timed against runc's, and every import and every phrase looked up counts), with
docker's conventions (exit code 125 for a bad flag, --tail's "all"). cli.py says what each verb
does; labkitd parses the quick client's `run` with this same parser (daemon/cli_run.py).
"""

from __future__ import annotations

import argparse
import sys


class Skip:
    """Stands in for the parser of a subcommand nobody asked for: building all of them costs ~15 ms
    of argparse and gettext, on every command (`labkit run` is timed against runc)."""

    def add_argument(self, *args, **kw):
        return None

    def add_subparsers(self, *args, **kw):
        return self

    def add_parser(self, *args, **kw):
        return self


class Only:
    def __init__(self, sub, only: str | None):
        self.sub, self.only = sub, only

    def add_parser(self, name: str, **kw):
        return self.sub.add_parser(name, **kw) if self.only in (None, name) else Skip()


# argparse asks gettext for each of its own phrases ("options", "usage: "): a locale import and a search
# for .mo files on every call, ~2 ms per command, for phrases Python ships in English only. labkit's
# texts come from its own catalog.
argparse._ = argparse.ngettext = lambda *words: words[0] if len(words) < 3 or words[2] == 1 else words[1]


class Formatter(argparse.HelpFormatter):
    """The help's width from os (argparse's default imports shutil for it, on every add_argument)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            import os

            try:
                width = os.get_terminal_size(2).columns - 2
            except OSError:
                width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kw)

    def error(self, message):  # docker's exit code for a bad flag or a missing argument is 125, not argparse's 2
        self.print_usage(sys.stderr)
        self.exit(125, f"{self.prog}: error: {message}\nhint: `{self.prog} --help` lists the options.\n")


def lines(text: str) -> int | None:
    """--tail's value, as docker's: a number of lines, or "all"."""
    if text == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines or \"all\"")
    return int(text)


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line parser; with `only`, just that subcommand's (the full one for help)."""
    p = Parser(prog="labkit", description="A container lab on the real kernel.")
    sub = Only(p.add_subparsers(dest="cmd", metavar="COMMAND"), only)

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
    lg.add_argument("-n", "--tail", type=lines, default=None, metavar="N", help="only the last N lines")
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
