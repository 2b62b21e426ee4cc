"""`lk.run(image, command)`: run a container in the foreground, as `docker run` without -d.

The steps, as the seed's `docker run` flow lists them:
  1. (here) check the input; send it to labkitd with this process's pipes for the output
  2. (labkitd) find the image locally (the default busybox is built if missing); create the
     writable layer: a bundle dir with config.json, upper/, work/, rootfs/
  3. (labkitd) create the cgroup and write its limits; fork PID 1
  4. (PID 1) the namespaces, the overlay, pivot_root, exec the command
  5. (here) stream the output as it comes; (labkitd) record the exit code, remove the cgroup;
     (labkitd) with rm=True remove the container; (here) the exit code

The container belongs to labkitd, not to this process: if this process dies, it runs on.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from ...catalog import Text, columns, pad, text
from ...errors import ContainerError, FeatureMissing, ImageNotFound, InvalidArgument, NotFound, ServerGone, require_root
from ...images.reference import familiar
from ...paths import Instance
from . import labkitd
from ..options import Options


class RunResult:
    """What `lk.run` returns: the container's exit code and what it printed.
    (A plain class: the CLI imports this module on every `labkit run`, and dataclasses costs ~8 ms.)"""

    __slots__ = ("id", "image", "args", "exit_code", "stdout", "stderr", "seconds", "config", "trace", "name",
                 "oom_killed", "steps")

    def __init__(self, id: str, image: str, args: tuple[str, ...], exit_code: int, stdout: str, stderr: str,  # noqa: A002
                 seconds: float, config: dict, trace: tuple[tuple[str, float], ...] = (), name: str = "",
                 oom_killed: bool = False, steps: tuple[str, ...] = ()):
        self.id, self.image, self.args, self.exit_code = id, image, args, exit_code
        self.stdout, self.stderr, self.seconds, self.config = stdout, stderr, seconds, config
        self.trace = trace  # (what was done, milliseconds), with trace=True: for a learner to read
        self.steps = steps  # each of those steps' ID, e.g. ("check", "create", "cgroup", ...): for code (runtime/flow.py)
        self.name, self.oom_killed = name, oom_killed

    def trace_table(self) -> str:
        """The `docker run` flow as it happened: each step and how long it took."""
        total = sum(ms for _, ms in self.trace) or 1.0
        width = max((columns(step) for step, _ in self.trace), default=10)
        lines = [f"{pad(step, width)}  {ms:8.2f} ms  {'#' * max(1, round(30 * ms / total))}" for step, ms in self.trace]
        return "\n".join(lines + [f"{pad(text('trace', 'total'), width)}  {total:8.2f} ms"])

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return (f"<RunResult {self.id[:12]} {familiar(self.image)} {shlex.join(self.args)!r}: "
                f"exit {self.exit_code} in {self.seconds * 1000:.1f} ms>")

    def _repr_html_(self) -> str:
        import html

        color = "#2a2" if self.ok else "#c33"
        said = text("repr", "ran", id=self.id[:12], image=familiar(self.image), command=shlex.join(self.args),
                    code=self.exit_code, ms=f"{self.seconds * 1000:.1f}")
        head = f"<div style='font-family:monospace;color:{color}'>{html.escape(said)}</div>"
        if not self.trace:
            return head
        total = sum(ms for _, ms in self.trace) or 1.0
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(step)}</td><td style='text-align:right'>{ms:.2f} ms</td>"
            f"<td style='text-align:left'><div style='background:#4a90d9;height:10px;width:{max(1, round(300 * ms / total))}px'>"
            f"</div></td></tr>" for step, ms in self.trace)
        return head + f"<table>{rows}</table>"


def run(opts: Options, *, stream: bool = True, inherit_stdio: bool = False, interactive: bool = False, input=None,
        inst: Instance | None = None) -> RunResult:
    """Run a container of these checked options (Options.check: lk.run's arguments) and wait for it.

    Output is printed as it comes (stream=False to only return it); inherit_stdio: the output goes to
    this process's fd 1 and 2 as bytes (the CLI). interactive: -i, this process's stdin is its input
    (with inherit_stdio); input: bytes or text for its stdin instead, as subprocess.run's. opts.trace
    times each step of the flow (result.trace, result.trace_table()). In the background (`labkit run
    -d`): containers.run_detached.
    """
    t0 = time.monotonic()
    require_root("running-container")
    trace = opts.trace
    opts.interactive = bool(opts.interactive or interactive or input is not None)
    if input is not None:
        feed = input.encode() if isinstance(input, str) else bytes(input)
    else:
        feed = 0 if interactive and inherit_stdio else b"" if interactive else None
    extra = {"stdin": True, "feed": feed} if feed is not None else {}
    try:
        return _attached("run", inst, stream, inherit_stdio, trace, t0, options=opts.to_json(), **extra)
    except ImageNotFound:  # step 1 of the flow: not here, so pull it, then run (as docker's CLI does)
        from .pulling import pull_missing

        pulled = pull_missing(opts.image, inst)
        result = _attached("run", inst, stream, inherit_stdio, trace, time.monotonic(), options=opts.to_json(), **extra)
        if trace:
            result.trace = ((str(Text("trace", "pull", registry=pulled)),
                             (time.monotonic() - t0) * 1000 - sum(ms for _, ms in result.trace)),) + result.trace
            result.steps = ("pull",) + result.steps
        return result


def run_bundle(bundle, *, rm: bool = True, stream: bool = True, inherit_stdio: bool = False,
               inst: Instance | None = None) -> RunResult:
    """Run an OCI bundle from disk, e.g. one made by `runc spec` (config.json + its root.path), like `runc run`.

    The bundle is used as it is and never changed. Its cgroupsPath is ignored: the container always
    gets a labkit cgroup of its own (an empty path would put it in the caller's cgroup). Not yet
    supported: namespaces given by "path", a user namespace, a terminal (the command runs with pipes).
    """
    require_root("running-container")
    bundle = Path(bundle).absolute()
    try:
        config = json.loads((bundle / "config.json").read_text())
    except FileNotFoundError:
        raise InvalidArgument("error.runtime.no-config-json", bundle=bundle) from None
    except ValueError as e:
        raise InvalidArgument("error.runtime.valid-json", bundle_config_json=bundle / 'config.json', e=e) from None
    root = bundle / config.get("root", {}).get("path", "rootfs")
    if not root.is_dir():
        raise InvalidArgument("error.runtime.bundle-s-root-filesystem", root=root)
    spaces = config.get("linux", {}).get("namespaces", [])
    if any("path" in ns for ns in spaces) or any(ns.get("type") == "user" for ns in spaces):
        raise FeatureMissing("error.runtime.bundle-joins-existing-namespaces")
    if not config.get("process", {}).get("args"):
        raise InvalidArgument("error.runtime.bundle-s-process-args")
    return _attached("run_bundle", inst, stream, inherit_stdio, False, time.monotonic(), bundle=str(bundle), rm=rm)


def _attached(op: str, inst, stream: bool, inherit_stdio: bool, trace: bool, t0: float, **args) -> RunResult:
    """Send `op`, copy the container's output as it comes (to this process's fd 1 and 2 with
    inherit_stdio, else to sys.stdout/sys.stderr and into the result), and wait for the exit.

    If labkitd's stream breaks (it was killed; its keeper starts another), attach again and go on
    from the last byte received: the new labkitd replays the rest from log.json. Ctrl-C
    (KeyboardInterrupt) kills the container, as docker's sig-proxy does; a closed stdout
    (`labkit run ... | head -1`) kills it too, and the run ends as a pipeline's writer would (141)."""
    from contextlib import nullcontext

    from .terminal import RawTerminal, send_input

    started = time.monotonic()
    out = Output(stream, keep=not inherit_stdio, raw=inherit_stdio)
    feed = args.pop("feed", None)
    options = args.get("options") or {}
    if options.get("tty") and inherit_stdio and not options.get("console_size"):
        from .terminal import window_size

        options["console_size"] = window_size()  # as docker's ConsoleSize: no resize to race the shell
    conn = labkitd.open_call(op, inst=inst, attach=True, t0=t0, **args)
    with conn:
        try:
            first = conn.reply()
        except ServerGone as e:
            raise ContainerError("error.runtime.server-gone-at-start", hint=e.hint_text()) from None
        if feed is not None:  # -i / input=: the container runs now; its input goes on this connection
            send_input(conn.sock, feed)
        tty = (args.get("options") or {}).get("tty") and inherit_stdio
        terminal = RawTerminal(lambda rows, cols: labkitd.call("resize", inst=inst, id=first["id"], rows=rows, cols=cols)) \
            if tty else nullcontext()
        try:
            with terminal:
                last = _relay(conn, out)
        except ServerGone:
            last = _reattach(inst, first, out)
        except StdoutClosed:
            _kill(inst, first["id"])
            last = {"exit_code": 141, "t": time.monotonic()}  # 128 + SIGPIPE, as a shell reports `yes | head -1`
        except KeyboardInterrupt:
            _kill(inst, first["id"])
            raise
    ended = time.monotonic()
    if last.get("error"):
        raise ContainerError("error.runtime.container", first_get_name_or_fi=first.get('name') or first['id'][:12], last_error=last['error'])
    removed = args.get("rm") or (args.get("options") or {}).get("rm")
    # (what was done, when, its step ID: runtime/flow.py): what as the catalog's words, said in this
    # client's language; a labkitd older than the IDs sends sentences
    marks = [(str(Text.unwire(m[0]) or m[0]), m[1], m[2] if len(m) > 2 else "") for m in first.get("trace") or []]
    if marks:
        marks.append((str(Text("trace", "run")), last["t"], "run"))
        if removed:
            marks.append((str(Text("trace", "remove")), ended, "remove"))
    steps = tuple((text, (t - prev) * 1000) for (text, t, _id), prev in zip(marks, [t0] + [m[1] for m in marks]))
    image = args.get("bundle") or (args.get("options") or {}).get("image", "")
    return RunResult(first["id"], image, tuple(first.get("args") or ()), last["exit_code"], out.text(1), out.text(2),
                     ended - started, first.get("config") or {}, steps if trace else (), name=first.get("name", ""),
                     oom_killed=last.get("oom_killed", False), steps=tuple(m[2] for m in marks) if trace else ())


class StdoutClosed(Exception):
    """Whoever reads our stdout closed it (`| head -1`)."""


class Output:
    """Where an attached container's output goes. raw: bytes to this process's fd 1 and 2, as they
    are (the CLI: a file, /dev/null, a pipe or a terminal alike); else text to sys.stdout/sys.stderr
    (a notebook's cell output) when `stream`. `seen` counts the bytes of each stream received, so
    that a new attach can go on where a broken one stopped."""

    def __init__(self, stream: bool, keep: bool, raw: bool):
        import codecs

        self.stream, self.keep, self.raw = stream, keep, raw
        self.seen = {1: 0, 2: 0}
        self.kept: dict[int, list[bytes]] = {1: [], 2: []}
        self.decoders = {n: codecs.getincrementaldecoder("utf-8")(errors="replace") for n in (1, 2)}
        self.closed: set[int] = set()

    def write(self, n: int, data: bytes) -> None:
        self.seen[n] += len(data)
        if self.keep:
            self.kept[n].append(data)
        if self.raw:
            from .terminal import write_all

            if n not in self.closed:
                try:
                    write_all(n, data)
                except BrokenPipeError:
                    self.closed.add(n)
                    if n == 1:
                        raise StdoutClosed from None
        elif self.stream:
            target = sys.stdout if n == 1 else sys.stderr
            target.write(self.decoders[n].decode(data))
            target.flush()

    def text(self, n: int) -> str:
        return b"".join(self.kept[n]).decode(errors="replace")


def _relay(conn, out: Output) -> dict:
    """Frames until the last reply (connection.py): stdout and stderr to `out`, then the exit."""
    while True:
        n, data = conn.frame()
        if n == 3:
            return json.loads(data)
        out.write(n, data)


def _reattach(inst, first: dict, out: Output, tries: int = 25) -> dict:
    """labkitd's stream broke before the exit: attach again (the keeper restarts labkitd; the first
    call starts a new keeper if that is gone too) and receive the rest, from where it broke."""
    name = first.get("name") or first["id"][:12]
    from ...catalog import text

    print(f"labkit: {text('cli.say', 'reattach', name=name)}", file=sys.stderr)
    for _ in range(tries):  # ~5 s: a reset under way holds labkitd's lock that long
        try:
            with labkitd.open_call("attach", inst=inst, id=first["id"], seen={"stdout": out.seen[1], "stderr": out.seen[2]}) as conn:
                conn.reply()
                return _relay(conn, out)
        except (ServerGone, labkitd.ServerStartFailed):  # e.g. a reset under way: its keeper cannot start yet
            time.sleep(0.2)
        except NotFound:
            raise ContainerError("error.runtime.container-gone-labkitd-stopped", name=name) from None
    raise ContainerError("error.runtime.output-container-was-cut", name=name)


def reattach(cid: str, name: str, seen: dict[int, int], inst: Instance | None = None) -> dict:
    """The quick client's stream broke (client/quick.py): attach again from the `seen` bytes of each
    stream, copy the rest to this process's fd 1 and 2, and return the last reply."""
    out = Output(False, keep=False, raw=True)
    out.seen = dict(seen)
    return _reattach(inst, {"id": cid, "name": name}, out)


def _kill(inst, cid: str) -> None:
    try:
        labkitd.call("kill", inst=inst, id=cid, signal="KILL")
    except Exception:  # noqa: BLE001 - it may have exited meanwhile
        pass


def pump_pipes(out_r: int, err_r: int, out: Output) -> None:
    """Copy what a process writes to two pipes (an exec's stdout and stderr) to `out`, until both
    reach EOF; closes them."""
    import selectors

    sel = selectors.DefaultSelector()
    streams = {out_r: 1, err_r: 2}
    for fd in streams:
        sel.register(fd, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                    continue
                out.write(streams[key.fd], data)
    finally:
        sel.close()
        os.close(out_r)
        os.close(err_r)


def exec_attached(inst, cid: str, args, out: Output, feed=None, **request) -> int:
    """`exec` with its output copied to `out`; returns the exit code. The process inside gets pipes
    of ours, never this process's own descriptors (a terminal handed into a container could have
    input pushed into it with TIOCSTI). feed: its input (-i), bytes or a descriptor to read to its end."""
    from .terminal import send_fd_input

    (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
    in_r, in_w = os.pipe() if feed is not None else (None, None)
    given = (in_r, out_w, err_w) if feed is not None else (out_w, err_w)
    try:
        conn = labkitd.open_call("exec", fds=given, inst=inst, id=cid, args=list(args), stdin=feed is not None, **request)
    except BaseException:
        for fd in (out_r, err_r, in_w):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in given:
            os.close(fd)
    with conn:
        try:
            conn.reply()
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            if in_w is not None:
                os.close(in_w)
            raise
        if in_w is not None:
            send_fd_input(in_w, feed)
        try:
            pump_pipes(out_r, err_r, out)
        except StdoutClosed:  # our reader is gone: the process gets SIGPIPE at its next write (141)
            pass
        return conn.reply()["exit_code"]
