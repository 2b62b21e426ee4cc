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
import selectors
import shlex
import sys
import time
from pathlib import Path

from ..errors import ContainerError, FeatureMissing, InvalidArgument, ServerGone, require_root
from ..images.reference import familiar
from ..paths import Instance, instance as current_instance
from . import client
from .options import Options


class RunResult:
    """What `lk.run` returns: the container's exit code and what it printed.
    (A plain class: the CLI imports this module on every `labkit run`, and dataclasses costs ~8 ms.)"""

    __slots__ = ("id", "image", "args", "exit_code", "stdout", "stderr", "seconds", "config", "trace", "name",
                 "oom_killed")

    def __init__(self, id: str, image: str, args: tuple[str, ...], exit_code: int, stdout: str, stderr: str,  # noqa: A002
                 seconds: float, config: dict, trace: tuple[tuple[str, float], ...] = (), name: str = "",
                 oom_killed: bool = False):
        self.id, self.image, self.args, self.exit_code = id, image, args, exit_code
        self.stdout, self.stderr, self.seconds, self.config = stdout, stderr, seconds, config
        self.trace = trace  # (step, milliseconds), with trace=True
        self.name, self.oom_killed = name, oom_killed

    def trace_table(self) -> str:
        """The `docker run` flow as it happened: each step and how long it took."""
        total = sum(ms for _, ms in self.trace) or 1.0
        width = max((len(step) for step, _ in self.trace), default=10)
        lines = [f"{step:<{width}}  {ms:8.2f} ms  {'#' * max(1, round(30 * ms / total))}" for step, ms in self.trace]
        return "\n".join(lines + [f"{'total':<{width}}  {total:8.2f} ms"])

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return (f"<RunResult {self.id[:12]} {familiar(self.image)} {shlex.join(self.args)!r}: "
                f"exit {self.exit_code} in {self.seconds * 1000:.1f} ms>")

    def _repr_html_(self) -> str:
        import html

        color = "#2a2" if self.ok else "#c33"
        head = (f"<div style='font-family:monospace'>container <b>{self.id[:12]}</b> "
                f"({html.escape(familiar(self.image))}) ran <code>{html.escape(shlex.join(self.args))}</code>: "
                f"<span style='color:{color}'>exit {self.exit_code}</span> in {self.seconds * 1000:.1f} ms</div>")
        if not self.trace:
            return head
        total = sum(ms for _, ms in self.trace) or 1.0
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(step)}</td><td style='text-align:right'>{ms:.2f} ms</td>"
            f"<td style='text-align:left'><div style='background:#4a90d9;height:10px;width:{max(1, round(300 * ms / total))}px'>"
            f"</div></td></tr>" for step, ms in self.trace)
        return head + f"<table>{rows}</table>"


def run(image: str, command=None, *, rm: bool = False, memory=None, cpus=None, pids_limit=None, name: str | None = None,
        hostname: str | None = None, env: dict | list | None = None, workdir: str | None = None,
        user: str | None = None, stream: bool = True, inherit_stdio: bool = False, trace: bool = False,
        detach: bool = False, inst: Instance | None = None):
    """Run `command` in a new container of `image` and wait for it.

        lk.run("busybox", "echo hello from a container")
        lk.run("busybox", ["sh", "-c", "cat /proc/self/cgroup"], memory="64M", pids_limit=20)

    memory: "64M", "1.5G" or bytes; cpus: 0.5 for half a CPU; pids_limit: most processes at once.
    Output is printed as it comes (stream=False to only return it). rm=True removes the container
    when it exits. trace=True times each step of the flow (result.trace, result.trace_table()).
    detach=True starts it in the background (`labkit run -d`) and returns its Container at once.
    """
    t0 = time.monotonic()
    require_root("running a container")
    if detach:
        from .containers import run_detached

        return run_detached(image, command, rm=rm, memory=memory, cpus=cpus, pids_limit=pids_limit, name=name,
                            hostname=hostname, env=env, workdir=workdir, user=user, inst=inst)
    opts = Options.check(image, command, name=name, memory=memory, cpus=cpus, pids_limit=pids_limit,
                         hostname=hostname, env=env, workdir=workdir, user=user, rm=rm, trace=trace)
    return _attached("run", inst, stream, inherit_stdio, trace, t0, options=opts.to_json())


def run_bundle(bundle, *, rm: bool = True, stream: bool = True, inherit_stdio: bool = False,
               inst: Instance | None = None) -> RunResult:
    """Run an OCI bundle from disk, e.g. one made by `runc spec` (config.json + its root.path), like `runc run`.

    The bundle is used as it is and never changed. Its cgroupsPath is ignored: the container always
    gets a labkit cgroup of its own (an empty path would put it in the caller's cgroup). Not yet
    supported: namespaces given by "path", a user namespace, a terminal (the command runs with pipes).
    """
    require_root("running a container")
    bundle = Path(bundle).absolute()
    try:
        config = json.loads((bundle / "config.json").read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"no config.json in {bundle}", hint="make one with `runc spec --bundle DIR`.") from None
    except ValueError as e:
        raise InvalidArgument(f"{bundle / 'config.json'} is not valid JSON: {e}") from None
    root = bundle / config.get("root", {}).get("path", "rootfs")
    if not root.is_dir():
        raise InvalidArgument(f"the bundle's root filesystem {root} is not a directory",
                              hint="unpack an image into it, e.g. the busybox layer under /var/lib/labkit/layers/.")
    spaces = config.get("linux", {}).get("namespaces", [])
    if any("path" in ns for ns in spaces) or any(ns.get("type") == "user" for ns in spaces):
        raise FeatureMissing("this bundle joins existing namespaces or asks for a user namespace: not supported yet",
                             hint="remove those entries from linux.namespaces.")
    if not config.get("process", {}).get("args"):
        raise InvalidArgument("the bundle's process.args is empty")
    return _attached("run_bundle", inst, stream, inherit_stdio, False, time.monotonic(), bundle=str(bundle), rm=rm)


def _attached(op: str, inst, stream: bool, inherit_stdio: bool, trace: bool, t0: float, **args) -> RunResult:
    """Send `op` with this process's output pipes (or its own stdout/stderr), stream what comes,
    and wait for the exit. Ctrl-C (KeyboardInterrupt) kills the container, as docker's sig-proxy does."""
    started = time.monotonic()
    if inherit_stdio:
        fds, pipes = (1, 2), None
    else:
        pipes = (os.pipe(), os.pipe())
        fds = (pipes[0][1], pipes[1][1])
    try:
        conn = client.open_call(op, fds=fds, inst=inst, attach=True, t0=t0, **args)
    finally:
        if pipes:
            os.close(pipes[0][1])
            os.close(pipes[1][1])
    with conn:
        try:
            first = conn.reply()
        except BaseException as e:
            if pipes:
                for r, _w in pipes:
                    os.close(r)
            if isinstance(e, ServerGone):
                raise ContainerError("the container did not start: labkitd stopped before it answered "
                                     "(was the lab reset?)", hint=e.hint) from None
            raise
        try:
            stdout, stderr = _pump(pipes[0][0], pipes[1][0], stream) if pipes else ("", "")
            try:
                last = conn.reply()
            except ServerGone:  # labkitd went away: its record may still tell (the keeper writes it)
                last = _exit_from_record(inst, first)
        except KeyboardInterrupt:
            try:
                client.call("kill", inst=inst, id=first["id"], signal="KILL")
            except Exception:  # noqa: BLE001 - it may have exited meanwhile
                pass
            raise
    ended = time.monotonic()
    removed = args.get("rm") or (args.get("options") or {}).get("auto_remove")
    marks = [(step, t) for step, t in first.get("trace") or []]
    if marks:
        marks.append(("the command runs and exits; labkitd records the exit code and removes the cgroup", last["t"]))
        if removed:
            marks.append(("labkitd removes the container (rm)", ended))
    steps = tuple((step, (t - prev) * 1000) for (step, t), prev in zip(marks, [t0] + [t for _, t in marks]))
    image = args.get("bundle") or (args.get("options") or {}).get("image", "")
    return RunResult(first["id"], image, tuple(first.get("args") or ()), last["exit_code"], stdout, stderr,
                     ended - started, first.get("config") or {}, steps if trace else (), name=first.get("name", ""),
                     oom_killed=last.get("oom_killed", False))


def _exit_from_record(inst, first: dict) -> dict:
    from . import state

    inst = inst or current_instance()
    for _ in range(500):  # the keeper writes the exit a moment after the output ends
        rec = state.read(inst, first["id"])
        if rec is None:
            break
        if rec["status"] == "exited":
            return {"exit_code": rec["exit_code"], "oom_killed": rec["oom_killed"], "t": time.monotonic()}
        time.sleep(0.01)
    raise ContainerError(f"container {first.get('name') or first['id'][:12]} ended without an exit record: "
                         "labkitd was stopped and the record removed (was the lab reset?)",
                         hint="`labkit ps -a` shows what is left; run the container again.")


def _pump(out_r: int, err_r: int, stream: bool) -> tuple[str, str]:
    """Copy the container's stdout and stderr to ours as they come, and keep a copy of each."""
    sel = selectors.DefaultSelector()
    got: dict[int, list[bytes]] = {out_r: [], err_r: []}
    outs = {out_r: sys.stdout, err_r: sys.stderr}
    for fd in got:
        sel.register(fd, selectors.EVENT_READ)
    try:
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                    continue
                got[key.fd].append(data)
                if stream:
                    outs[key.fd].write(data.decode(errors="replace"))
                    outs[key.fd].flush()
    finally:
        sel.close()
        os.close(out_r)
        os.close(err_r)
    return b"".join(got[out_r]).decode(errors="replace"), b"".join(got[err_r]).decode(errors="replace")
