"""Containers as objects a learner holds: create, start, look inside, stop, remove.

    c = lk.create("busybox", "sh -c 'while :; do date; sleep 1; done'", name="clock")
    c.start()            # or at once: c = lk.run(..., detach=True) / `labkit run -d`
    c.logs(); c.top(); c.exec("ps"); c.pause(); c.unpause()
    c.stop(timeout=2)    # SIGTERM, then SIGKILL after 2 s
    c.wait(); c.remove()
    lk.ps(all=True)      # every container of this lab, as `labkit ps -a`

Every call asks labkitd (labkitd.py), so a Container made in a notebook and one found with
lk.container("clock") from another process are the same container.
"""

from __future__ import annotations

import html
import shlex
import time
from pathlib import Path

from ...errors import InvalidArgument, boundary_methods, require_root
from ...results import ProcessResult
from ...texts import ago, describe, network_text, ports_text
from ...images.reference import familiar
from ...paths import Instance, instance as current_instance
from .. import state
from . import labkitd
from .pulling import pulling
from ..logs import read_log as _read_log
from ..options import Options, env_list, parse_user, split_command


@boundary_methods
class Container:
    def __init__(self, cid: str, name: str = "", inst: Instance | None = None):
        self.id, self._name = cid, name
        self.inst = inst or current_instance()

    def _call(self, op: str, fds=(), reply_timeout=None, **args) -> dict:
        return labkitd.call(op, fds, inst=self.inst, reply_timeout=reply_timeout, id=self.id, **args)

    # -- what it is ---------------------------------------------------------------------------------
    def inspect(self) -> dict:
        """The record (state, exit code, PIDs, times), the OCI config.json, and where its files are."""
        return self._call("inspect")

    @property
    def attrs(self) -> dict:
        return self.inspect()["record"]

    @property
    def ip(self) -> str | None:
        """The container's address on its first network ("172.29.0.2"), or None (--network none/host)."""
        eps = self.attrs.get("networks") or {}
        return next(iter(eps.values()))["ip"] if eps else None

    @property
    def name(self) -> str:
        if not self._name:
            self._name = self.attrs["name"]
        return self._name

    @property
    def status(self) -> str:
        """created, running, paused, exited (or dead: PID 1 is gone and its exit is not yet recorded)."""
        return self.attrs["status"]

    @property
    def config(self) -> dict:
        """The container's OCI runtime-spec config.json."""
        return self.inspect()["config"]

    @property
    def pid(self) -> int:
        """The host PID of the container's PID 1 (0 when it is not running)."""
        return self.attrs.get("pid") or 0

    @property
    def exit_code(self) -> int | None:
        return self.attrs.get("exit_code")

    # -- what it does ---------------------------------------------------------------------------------
    def start(self) -> "Container":
        self._call("start")
        return self

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM to PID 1; SIGKILL if it has not exited after `timeout` seconds (-1: never). Returns the exit code."""
        from ..options import parse_timeout

        parse_timeout(timeout)
        return self._call("stop", timeout=timeout)["exit_code"]

    def restart(self, timeout: float = 10) -> "Container":
        from ..options import parse_timeout

        parse_timeout(timeout)
        self._call("restart", timeout=timeout)
        return self

    def update(self, *, memory=None, cpus=None, pids_limit=None) -> list[str]:
        """Change its limits while it runs (`docker update`): memory "32M", cpus 0.5, pids_limit 20.
        Returns each cgroup file written, e.g. "/sys/fs/cgroup/memory/labkit/3f9a.../memory.limit_in_bytes <- '33554432'"."""
        from ..options import limits

        changes = limits(memory=memory, cpus=cpus, pids_limit=pids_limit)
        if not changes:
            raise InvalidArgument("error.runtime.nothing-update")
        return self._call("update", **changes)["written"]

    def kill(self, signal="KILL") -> None:
        """Send a signal to PID 1 ("KILL", "TERM", "HUP", 9, ...)."""
        self._call("kill", signal=signal)

    def pause(self) -> None:
        """Freeze every process of the container (the cgroup freezer)."""
        self._call("pause")

    def unpause(self) -> None:
        self._call("unpause")

    def wait(self, timeout: float | None = None) -> int:
        """Block until the container exits; its exit code (128+N if killed by signal N). With `timeout`
        (seconds), lk.TimedOut if it is still running then (it goes on running)."""
        from ...errors import TimedOut

        try:
            return self._call("wait", reply_timeout=timeout)["exit_code"]
        except TimedOut:
            raise TimedOut("error.runtime.container-did-exit-within", name=self.name, timeout=timeout) from None

    def remove(self, force: bool = False, volumes: bool = False) -> None:
        """Remove the container and its writable layer; force=True kills it first if it runs;
        volumes=True removes its anonymous volumes too (`docker rm -v`)."""
        self._call("rm", force=force, volumes=volumes)

    rm = remove

    def exec(self, command, *, env=None, workdir: str | None = None, user=None, stream: bool = False) -> "ExecResult":
        """Run a second process inside the running container, as `docker exec`."""
        from .run import Output, exec_attached

        args = split_command(command)
        if not args:
            raise InvalidArgument("error.runtime.exec-needs-command-2")
        out = Output(stream, keep=True, raw=False)
        code = exec_attached(self.inst, self.id, args, out, env=env_list(env), workdir=workdir,
                             user=parse_user(user) if user else None)
        out, err = out.text(1), out.text(2)
        return ExecResult(tuple(args), code, out, err)

    def logs(self, stdout: bool = True, stderr: bool = True, timestamps: bool = False, tail: int | None = None) -> str:
        """What the container printed, from its log (kept after it exits, until it is removed): the
        last `tail` lines, each after its time with timestamps, as `docker logs`."""
        return "".join(data.decode(errors="replace")
                       for _stream, data in log_stream(self.inst, self.id, stdout=stdout, stderr=stderr, tail=tail,
                                                       timestamps=timestamps))

    def log_entries(self) -> list[dict]:
        """The log as docker's json-file driver keeps it: [{"log": ..., "stream": "stdout", "time": ...}]."""
        return read_log(self.inst, self.id)

    def diff(self) -> "Table":
        """What the container changed in its filesystem, as `docker diff`: A added, C changed, D deleted.
        Read from its overlay's upper directory: the only place a container writes."""
        from ...images.commit import changes

        upper, lowers = self._layers()
        return Table(["", "PATH"], [list(c) for c in changes(upper, lowers)])

    def commit(self, name: str, comment: str = "", cmd=None, author: str = "") -> str:
        """Save the container's changes as a new image `name` (`docker commit`): its image plus one layer
        made of the upper directory. cmd: the new image's command (a list). Returns the full name."""
        from ...images.commit import commit_upper
        from ...images.reference import normalize
        from ...images.store import ImageStore

        target = normalize(name)  # a bad name is refused before anything is paused or written
        upper, _ = self._layers()
        paused = self.status == "running"
        if paused:
            self.pause()  # nothing writes to the upper directory while it is read
        try:
            return commit_upper(ImageStore(self.inst), self.attrs["image"], upper, target, comment=comment,
                                changes_config={"Cmd": list(cmd)} if cmd else None, author=author)
        finally:
            if paused:
                self.unpause()

    @property
    def upper(self) -> Path:
        """Its writable layer: the overlay's upper directory, where everything it writes lands
        (/var/lib/labkit/containers/<id>/upper)."""
        return self._layers()[0]

    @property
    def lower(self) -> list[Path]:
        """Its image's read-only layers, as overlayfs stacks them: the top one first."""
        return [Path(p) for p in self._layers()[1]]

    def _layers(self) -> tuple[Path, list[str]]:
        bundle = state.bundle_dir(self.inst, self.id)
        notes = self.config.get("annotations", {})
        return bundle / notes.get("org.labkit.rootfs.upper", "upper"), \
            [p for p in notes.get("org.labkit.rootfs.lower", "").split(":") if p]

    def top(self) -> "Table":
        """The processes inside: host PID, PID inside, user, state, command."""
        rows = self._call("top")["processes"]
        return Table(["PID", "PID IN CONTAINER", "PPID", "UID", "STATE", "COMMAND"],
                     [[p["pid"], p["pid_in_container"], p["ppid"], p["uid"], p["state"], p["command"]] for p in rows])

    def stats(self):
        """Memory, CPU, PIDs and I/O from the container's cgroup (a cgroups.stats.Stats)."""
        from ...cgroups.stats import Stats

        got = self._call("stats")["stats"]
        return Stats(**got) if got else None

    # -- how it shows ------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        try:
            r = self.attrs
        except Exception as e:  # noqa: BLE001 - a repr must not raise
            return f"<Container {self.id[:12]}: {type(e).__name__}>"
        net = network_text(r)
        return (f"<Container {r['name']} {self.id[:12]} {familiar(r['image'])} {shlex.join(r['args'])!r}: {describe(r)}"
                f"{'; ' + net if net else ''}>")

    def _repr_html_(self) -> str:
        """In a notebook: in the learner's language (the CLI's and the Docker API's words stay docker's)."""
        from ...catalog import text

        r = self.attrs
        color = {"running": "#2a2", "paused": "#d90", "exited": "#c33" if r.get("exit_code") else "#666"}.get(r["status"], "#666")
        return (f"<div style='font-family:monospace'>{html.escape(text('repr', 'container'))} <b>{html.escape(r['name'])}</b> "
                f"{self.id[:12]} ({html.escape(familiar(r['image']))}) <code>{html.escape(shlex.join(r['args']))}</code>: "
                f"<span style='color:{color}'>{html.escape(status_said(r))}</span>"
                f"{'<br>' + html.escape(network_text(r)) if network_text(r) else ''}</div>")

    def __eq__(self, other) -> bool:
        return isinstance(other, Container) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def status_said(r: dict, now: float | None = None) -> str:
    """A container's state in the learner's words: "Up 3 minutes", "运行中，已 3 分钟", "已退出（137），2 秒前"."""
    from ...catalog import text

    now = now or time.time()

    def ago(seconds: float) -> str:
        s = max(0, int(seconds))
        for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
            if s >= n:
                return text("repr", unit, n=s // n)
        return text("repr", "moment")

    if r["status"] in ("running", "paused"):
        return text("repr", r["status"], since=ago(now - r["started_at"]))
    if r["status"] == "exited":
        return text("repr", "exited-oom" if r.get("oom_killed") else "exited", code=r["exit_code"], ago=ago(now - r["finished_at"]))
    return text("repr", r["status"], since="")


class ExecResult(ProcessResult):
    """What Container.exec returns: the command, its exit code and what it printed (results.py)."""

    __slots__ = ()


class Table:
    """Rows with a header, shown as text (print) or as an HTML table in a notebook."""

    def __init__(self, header: list[str], rows: list[list]):
        self.header, self.rows = header, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self) -> str:
        cells = [self.header] + [[str(c) for c in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                       for row in self.rows)
        return f"<table><tr>{head}</tr>{body}</table>"


class ContainerList(list):
    """What lk.ps() returns: Containers, shown as `docker ps` shows them."""

    def __init__(self, records: list[dict], inst: Instance | None):
        inst = inst or current_instance()  # once, not once per container
        super().__init__(Container(r["id"], r["name"], inst) for r in records)
        self.records = records

    def table(self) -> Table:
        now = time.time()
        return Table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
                     [[r["id"][:12], familiar(r["image"]), _short(shlex.join(r["args"]), 30), ago(now - r["created"]) + " ago",
                       describe(r, now), ports_text(r), r["name"]] for r in self.records])

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def log_stream(inst: Instance, ident: str, stdout: bool = True, stderr: bool = True, tail: int | None = None,
               timestamps: bool = False, follow: bool = False):
    """(1 or 2, bytes) pieces of a container's log as labkitd sends them (the code that answers
    `docker logs` too); with follow, until the container exits."""
    with labkitd.open_call("logs", inst=inst, id=ident, stdout=stdout, stderr=stderr, tail=tail, timestamps=timestamps,
                           follow=follow) as call:
        call.reply()
        while True:
            stream, data = call.frame()
            if stream not in (1, 2):
                return
            yield stream, data


def read_log(inst: Instance, cid: str, stdout: bool = True, stderr: bool = True, tail: int | None = None) -> list[dict]:
    return _read_log(state.bundle_dir(inst, cid), stdout, stderr, tail)


# -- the calls labkit's top level offers ------------------------------------------------------------------
def create(opts: Options, inst: Instance | None = None) -> Container:
    """Create a container of these checked options without starting it (`docker create`)."""
    require_root("creating-container")
    reply = pulling(lambda: labkitd.call("create", inst=inst, options=opts.to_json()), opts.image, inst)
    return Container(reply["id"], reply["name"], inst)


def run_detached(opts: Options, inst: Instance | None = None) -> Container:
    """Create and start a container of these checked options in the background (`docker run -d`)."""
    require_root("running-container")
    reply = pulling(lambda: labkitd.call("run", inst=inst, options=opts.to_json()), opts.image, inst)
    return Container(reply["id"], reply["name"], inst)


def run_step(image: str, argv: list[str], env: list[str], workdir: str, user: str | None) -> Container:
    """A build's RUN step (images/build.py): its container, detached; the build waits for it."""
    return run_detached(Options.check(image, argv, env=env, workdir=workdir, user=user))


def get(ref: str, inst: Instance | None = None) -> Container:
    """The container called `ref` (a name, an ID, or an ID's first characters)."""
    inst = inst or current_instance()
    cid = state.resolve(inst, ref)
    return Container(cid, "", inst)


def ps(all: bool = False, inst: Instance | None = None) -> ContainerList:  # noqa: A002 - docker's flag name
    """The running containers (all=True: every one, as `docker ps -a`), newest first."""
    require_root("listing-containers")
    inst = inst or current_instance()
    return ContainerList(labkitd.call("ps", inst=inst, all=all)["containers"], inst)
