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
# texts come from its own catalog, and so do argparse's in another language: gettext's msgid (the
# English phrase, as argparse's source names it) -> the field of the catalog's "cli.argparse" entry.
ARGPARSE = {"usage: ": "usage", "positional arguments": "positional", "options": "options",
            "show this help message and exit": "help", "argument %(argument_name)s: %(message)s": "argument",
            "the following arguments are required: %s": "required", "unrecognized arguments: %s": "unrecognized",
            "expected one argument": "one-argument", "invalid choice: %(value)r (choose from %(choices)s)": "choice",
            "invalid %(type)s value: %(value)r": "invalid-value"}


def _phrase(*words) -> str:
    english = words[0] if len(words) < 3 or words[2] == 1 else words[1]
    if english not in ARGPARSE:
        return english
    from .catalog import language, text

    return english if language() == "en" else text("cli.argparse", ARGPARSE[english], english)


argparse._ = argparse.ngettext = _phrase


def said(key: str) -> str:
    """A help text of the catalog's "cli" entry (labkit/messages/cli/en.toml), in the reader's language."""
    from .catalog import text

    return text("cli", key)


class Formatter(argparse.HelpFormatter):
    """The help's width from os (argparse's default imports shutil for it, on every add_argument), and
    its texts from the catalog: the parser holds IDs (help="remove-containers"), looked up only when
    help is printed, so a command that prints none loads no catalog."""

    def _get_help_string(self, action):
        return said(action.help)

    def add_text(self, text):
        super().add_text(said(text) if text else text)

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
        from .catalog import text

        self.print_usage(sys.stderr)
        hint = text("error.any", "hint_line", hint=text("cli", "see-help", prog=self.prog))
        self.exit(125, f"{self.prog}: {text('cli', 'error', message=message)}\n{hint}\n")


def lines(text: str) -> int | None:
    """--tail's value, as docker's: a number of lines, or "all"."""
    if text == "all":
        return None
    if not text.isdigit():
        from .catalog import text as said_text

        raise argparse.ArgumentTypeError(said_text("cli", "not-lines", value=text))
    return int(text)


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line parser; with `only`, just that subcommand's (the full one for help)."""
    p = Parser(prog="labkit", description="container-lab-real-kernel")
    sub = Only(p.add_subparsers(dest="cmd", metavar="COMMAND"), only)

    d = sub.add_parser("doctor", help="check-what-this-host")
    d.add_argument("--json", action="store_true", help="print-checks-as-json")

    for verb, text in (("run", "run-command-new-container"), ("create", "create-container-not-started")):
        r = sub.add_parser(verb, help=text)
        if verb == "run":
            r.add_argument("-d", "--detach", action="store_true", help="run-background-print-container")
            r.add_argument("-i", "--interactive", action="store_true", help="this-command-stdin-is-2")
            r.add_argument("--trace", action="store_true", help="print-each-step-run")
        r.add_argument("-t", "--tty", action="store_true", help="give-container-terminal-shell")
        r.add_argument("--name", help="name-for-container")
        r.add_argument("--rm", action="store_true", help="remove-container-when-exits")
        r.add_argument("-m", "--memory", help="memory-limit-64m")
        r.add_argument("--cpus", help="cpu-limit-0-5-2")
        r.add_argument("--pids-limit", type=str, help="most-processes-at-once")
        r.add_argument("-e", "--env", action="append", default=[], help="set-environment-variable-name")
        r.add_argument("--hostname", help="container-hostname")
        r.add_argument("-w", "--workdir", help="working-directory-inside-container")
        r.add_argument("-u", "--user", help="uid-gid-user-name")
        # Each option's dest is its name in Options (runtime/options.py): the CLI hands them on as they are.
        r.add_argument("--log-opt", dest="log_opts", action="append", default=None, metavar="KEY=VALUE",
                       help="json-file-log-options")
        r.add_argument("--network", "--net", default=None,
                       help="bridge-default-none-host")
        r.add_argument("-p", "--publish", dest="ports", action="append", default=None, metavar="[IP:]HOST_PORT:PORT[/PROTO]",
                       help="publish-container-port-host")
        r.add_argument("-v", "--volume", dest="volumes", action="append", default=None, metavar="SOURCE:TARGET[:ro]",
                       help="mount-host-directory-srv")
        r.add_argument("--mount", dest="mounts", action="append", default=None, metavar="type=bind|volume|tmpfs,source=...,target=...",
                       help="docker-mount-type-tmpfs")
        r.add_argument("--tmpfs", action="append", default=None, metavar="TARGET[:size=16m]", help="tmpfs-at-target")
        r.add_argument("image")
        r.add_argument("command", nargs=argparse.REMAINDER)

    ps = sub.add_parser("ps", help="list-containers")
    ps.add_argument("-a", "--all", action="store_true", help="every-container-not-only")
    ps.add_argument("-q", "--quiet", action="store_true", help="only-ids")

    lg = sub.add_parser("logs", help="what-container-printed")
    lg.add_argument("-f", "--follow", action="store_true", help="keep-printing-until-container")
    lg.add_argument("-t", "--timestamps", action="store_true", help="show-when-each-line")
    lg.add_argument("-n", "--tail", type=lines, default=None, metavar="N", help="only-last-n-lines")
    lg.add_argument("container")

    ex = sub.add_parser("exec", help="run-command-running-container")
    ex.add_argument("-i", "--interactive", action="store_true", help="this-command-stdin-is")
    ex.add_argument("-t", "--tty", action="store_true", help="give-terminal-shell-type")
    ex.add_argument("-e", "--env", action="append", default=[], help="set-environment-variable-name")
    ex.add_argument("-w", "--workdir", help="working-directory-inside-container")
    ex.add_argument("-u", "--user", help="uid-gid-run-as")
    ex.add_argument("container")
    ex.add_argument("command", nargs=argparse.REMAINDER)

    st = sub.add_parser("stop", help="stop-containers-sigterm-then")
    st.add_argument("-t", "--time", default="10", help="seconds-wait-before-sigkill")
    st.add_argument("containers", nargs="+")
    rs = sub.add_parser("restart", help="stop-then-start-containers")
    rs.add_argument("-t", "--time", default="10", help="seconds-wait-before-sigkill")
    rs.add_argument("containers", nargs="+")
    k = sub.add_parser("kill", help="send-signal-containers-main")
    k.add_argument("-s", "--signal", default="KILL", help="signal-name-number-default")
    k.add_argument("containers", nargs="+")
    rm = sub.add_parser("rm", help="remove-containers")
    rm.add_argument("-f", "--force", action="store_true", help="kill-running-container-first")
    rm.add_argument("-v", "--volumes", action="store_true", help="remove-anonymous-volumes-too")
    rm.add_argument("containers", nargs="+")
    for verb, text in (("start", "start-created-stopped-containers"), ("pause", "freeze-every-process-containers"),
                       ("unpause", "thaw-paused-containers"), ("wait", "wait-for-containers-exit"),
                       ("inspect", "print-containers-docker-inspect")):
        sub.add_parser(verb, help=text).add_argument("containers", nargs="+")
    df = sub.add_parser("diff", help="what-container-changed-filesystem")
    df.add_argument("container")
    cm = sub.add_parser("commit", help="save-container-changes-as")
    cm.add_argument("-m", "--message", help="comment-for-image-history")
    cm.add_argument("-a", "--author")
    cm.add_argument("container")
    cm.add_argument("image")
    tp = sub.add_parser("top", help="processes-inside-container")
    tp.add_argument("container")
    up = sub.add_parser("update", help="change-running-containers-limits")
    up.add_argument("-m", "--memory", help="memory-limit-64m")
    up.add_argument("--cpus", help="cpu-limit-0-5")
    up.add_argument("--pids-limit", help="most-processes-at-once")
    up.add_argument("containers", nargs="+")
    sts = sub.add_parser("stats", help="live-table-containers-cpu")
    sts.add_argument("--no-stream", action="store_true", help="print-once-exit")
    sts.add_argument("containers", nargs="*")

    ims = sub.add_parser("images", help="list-local-images")
    ims.add_argument("-q", "--quiet", action="store_true", help="only-image-ids")
    im = sub.add_parser("image", help="manage-images")
    isub = im.add_subparsers(dest="image_cmd", metavar="COMMAND", required=True)
    bd = isub.add_parser("build-default", help="build-offline-busybox-image")
    bd.add_argument("--force", action="store_true", help="build-again-even-if")
    bd.add_argument("-q", "--quiet", action="store_true")
    ii = isub.add_parser("inspect", help="image-config-manifest-layers")
    ii.add_argument("images", nargs="+")
    pl = sub.add_parser("pull", help="pull-image-from-registry")
    pl.add_argument("--platform", help="os-architecture-variant-linux")
    pl.add_argument("image")
    ph = sub.add_parser("push", help="push-image-registry-name")
    ph.add_argument("image")
    tg = sub.add_parser("tag", help="give-image-another-name")
    tg.add_argument("source")
    tg.add_argument("target")
    rmi = sub.add_parser("rmi", help="remove-images-layers-nothing")
    rmi.add_argument("-f", "--force", action="store_true", help="even-if-container-was")
    rmi.add_argument("images", nargs="+")
    hs = sub.add_parser("history", help="steps-image-was-made")
    hs.add_argument("image")
    bu = sub.add_parser("build", help="build-image-from-dockerfile")
    bu.add_argument("-t", "--tag", help="new-image-name")
    bu.add_argument("-f", "--file", default="Dockerfile", help="dockerfile-name-context")
    bu.add_argument("context")
    sv = sub.add_parser("save", help="write-images-tar-file")
    sv.add_argument("-o", "--output", required=True)
    sv.add_argument("images", nargs="+")
    ld = sub.add_parser("load", help="load-images-from-tar")
    ld.add_argument("-i", "--input", required=True)
    lg = sub.add_parser("login", help="log-registry-credentials-are")
    lg.add_argument("-u", "--username", required=True)
    lg.add_argument("-p", "--password", help="better-password-stdin")
    lg.add_argument("--password-stdin", action="store_true", help="read-password-from-standard")
    lg.add_argument("registry")
    rg = sub.add_parser("registry", help="lab-own-registry-server")
    rsub = rg.add_subparsers(dest="registry_cmd", metavar="COMMAND", required=True)
    rs = rsub.add_parser("start", help="start")
    rs.add_argument("--port", type=int, default=5000)
    rs.add_argument("--user", action="append", metavar="NAME:PASSWORD", help="make-private-repeatable")
    rf = rsub.add_parser("fill", help="push-every-image-archive")
    rf.add_argument("archive")
    rsub.add_parser("stop", help="stop-images-stay")
    rsub.add_parser("ls", help="where-runs-what-holds")

    nw = sub.add_parser("network", help="manage-networks-bridges-addresses")
    nsub = nw.add_subparsers(dest="network_cmd", metavar="COMMAND", required=True)
    nc = nsub.add_parser("create", help="make-network-bridge-subnet")
    nc.add_argument("--subnet", help="10-231-7-0")
    nc.add_argument("name")
    nl = nsub.add_parser("ls", help="list-networks")
    nl.add_argument("-q", "--quiet", action="store_true", help="only-names")
    ni = nsub.add_parser("inspect", help="network-record-as-json")
    ni.add_argument("names", nargs="+")
    nr = nsub.add_parser("rm", help="remove-networks-refused-while")
    nr.add_argument("names", nargs="+")
    for verb in ("connect", "disconnect"):
        nv = nsub.add_parser(verb, help=f"{verb}-container-network")
        nv.add_argument("network")
        nv.add_argument("container")
    nsub.add_parser("topology", help="draw-lab-networks-print")

    pg = sub.add_parser("progress", help="notebooks-exercises-passed-by")
    pg.add_argument("--all", action="store_true", help="every-learner-this-lab")

    ap = sub.add_parser("api", help="labkitd-docker-engine-api")
    asub = ap.add_subparsers(dest="api_cmd", metavar="COMMAND", required=True)
    asub.add_parser("socket", help="print-api-unix-socket")
    at = asub.add_parser("tcp", help="also-serve-tcp-127")
    at.add_argument("port", help="port-2375-off")
    asub.add_parser("log", help="last-requests-answered-docker")

    vo = sub.add_parser("volume", help="manage-named-volumes-directories")
    vsub = vo.add_subparsers(dest="volume_cmd", metavar="COMMAND", required=True)
    vsub.add_parser("create", help="make-volume").add_argument("name", nargs="?")
    vl = vsub.add_parser("ls", help="list-volumes")
    vl.add_argument("-q", "--quiet", action="store_true", help="only-names")
    vsub.add_parser("inspect", help="volume-record-as-json").add_argument("names", nargs="+")
    vsub.add_parser("rm", help="remove-volumes-their-files").add_argument("names", nargs="+")

    z = sub.add_parser("reset", help="remove-everything-labkit-created")
    z.add_argument("-y", "--yes", action="store_true", help="do-not-ask")
    z.add_argument("--all", action="store_true", help="every-lab-instance-this")
    z.add_argument("--volumes", action="store_true", help="remove-named-volumes-too")
    return p
